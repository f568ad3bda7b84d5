// CreditLoad: placeholder until its issue lands.
enum CreditLoadModule {}
