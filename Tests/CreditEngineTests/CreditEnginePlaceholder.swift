import Testing
@Test func CreditEnginePlaceholder() { #expect(Bool(true)) }
