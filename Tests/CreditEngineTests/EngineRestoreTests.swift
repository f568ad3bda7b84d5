// A restored engine (`CreditEngine.restored(from:)`) answers commits by usage of reservations
// priced before the snapshot exactly as the core does: the hot path's per-event pricing is not
// in snapshots, so the restored engine must not price them with whatever its event tables hold.

import CreditCore
@testable import CreditEngine
import Testing

@Suite struct EngineRestoreTests {
    @Test func commitsByUsageOfReservationsOpenAcrossARestoreAnswerAsTheCore() throws {
        let engine = try EngineItemTests.engine()
        var ledger = Ledger()
        let t = EngineItemTests.t0
        _ = try EngineItemTests.both(engine, &ledger, .account(id: "a", limits: nil), at: t)
        _ = try EngineItemTests.both(engine, &ledger, .grant(GrantRequest(account: "a", id: "g", amount: 1_000_000)), at: t)
        _ = try EngineItemTests.both(engine, &ledger, EngineItemTests.rates("v1", effectiveAt: nil, scale: 1), at: t)
        // Items are numbered by name: chat:premium and embed:small are not item 0 (chat:basic),
        // so a restored engine reading zeroed or stale pricing would price the wrong item.
        let reservations = ["r1": "chat:premium", "r2": "embed:small", "r3": "chat:free"]
        for (id, item) in reservations.sorted(by: { $0.key < $1.key }) {
            _ = try EngineItemTests.both(engine, &ledger, EngineItemTests.reserve(id, item, nil), at: t + 1)
        }
        let configuration = engine.configuration
        let restored = try CreditEngine.restored(
            from: engine.captureSnapshot().encoded(), configuration: configuration, clock: ManualClock(t))
        let usages = [
            "r1": Usage(["in": 2_345, "out": 17]), "r2": Usage(["tok": 123_456]), "r3": Usage(["in": 9_999_999]),
        ]
        for id in usages.keys.sorted() {
            let request = Request.commit(id: id, .usage(usages[id]!))
            var alerts: [Alert] = []
            let expected = ledger.apply(request, at: t + 2)
            let fromRestored = try restored.apply(request, at: t + 2, alerts: &alerts)
            let fromOriginal = try engine.apply(request, at: t + 2, alerts: &alerts)
            #expect(fromRestored == expected, "\(id) after a restore")
            #expect(fromOriginal == expected, "\(id) on the original engine")
        }
        // New reservations on the restored engine price their commits by usage on the hot path.
        var alerts: [Alert] = []
        let before = restored.statistics().hotOperations
        let reserve = EngineItemTests.reserve("r4", "chat:premium", nil)
        #expect(try restored.apply(reserve, at: t + 3, alerts: &alerts) == ledger.apply(reserve, at: t + 3))
        let commit = Request.commit(id: "r4", .usage(Usage(["in": 10, "out": 1])))
        #expect(try restored.apply(commit, at: t + 4, alerts: &alerts) == ledger.apply(commit, at: t + 4))
        #expect(restored.statistics().hotOperations - before == 2, "reserve and commit took the hot path")
        #expect(restored.mismatchCount == 0)
        #expect(engine.mismatchCount == 0)
    }
}
