// The README's embedding snippet, compiled and run, so that the README stays true.
import CreditCore
import Testing

@Test func readmeSnippetRuns() {
    // --- README snippet begins ---
    var ledger = Ledger()
    var alerts: [Alert] = []
    let t: Milliseconds = 1_772_409_600_000  // the caller's clock
    _ = ledger.apply(.account(id: "acme", limits: LimitsSpec(overdraft: 0, alerts: [100])), at: t)
    _ = ledger.apply(.grant(GrantRequest(account: "acme", id: "pack-1", amount: 1_000, paid: 10_00)), at: t)

    // Before the model call: hold an estimate.
    let hold = ledger.apply(
        .reserve(ReserveRequest(account: "acme", id: "req-42", cost: .amount(300), ttlMilliseconds: 60_000)),
        at: t + 1, alerts: &alerts)
    guard case .success(.reserved(let held, let available, _, _, _)) = hold.result else {
        // .failure(Refusal) carries the code: .paused, .insufficientCredits (with figures), .periodCap, ...
        return
    }
    // After it: settle the real cost, above or below the hold.
    let settled = ledger.apply(.commit(id: "req-42", .amount(950)), at: t + 2_000, alerts: &alerts)
    // alerts now holds .lowBalance(account: "acme", threshold: 100, available: 50, t: ...)
    // --- README snippet ends ---
    #expect(held == 300)
    #expect(available == 700)
    #expect(settled.result == .success(.charged(charged: 950, available: 50, item: nil, downgraded: false, overCap: false, late: false)))
    #expect(alerts == [.lowBalance(account: "acme", threshold: 100, available: 50, t: t + 2_000)])
}
