import Testing
@Test func CreditJournalPlaceholder() { #expect(Bool(true)) }
