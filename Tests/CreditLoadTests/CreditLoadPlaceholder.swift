import Testing
@Test func CreditLoadPlaceholder() { #expect(Bool(true)) }
