// CreditEngine: placeholder until its issue lands.
enum CreditEngineModule {}
