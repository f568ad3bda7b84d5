// CreditJournal: placeholder until its issue lands.
enum CreditJournalModule {}
