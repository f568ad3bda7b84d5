// The engine's explicit limits are enforced with clear errors that change nothing, its
// configuration is validated, and alerts reach subscribers (callback and stream) in each
// account's order.

import CreditCore
@testable import CreditEngine
import Synchronization
import Testing

@Suite struct EngineLimitTests {
    static let t: Milliseconds = 1_767_225_600_000

    static func engine(accounts: Int = 4, events: Int = 4) throws -> CreditEngine {
        var configuration = EngineConfiguration()
        configuration.shardCount = 2
        configuration.accountsMax = accounts
        configuration.eventsMax = events
        configuration.settleQueueCapacity = 8
        return try CreditEngine(configuration: configuration, clock: ManualClock(t))
    }

    @Test func accountsBeyondTheLimitAreRefusedWithAnError() throws {
        let engine = try Self.engine(accounts: 2)
        _ = try engine.apply(.account(id: "a", limits: nil))
        _ = try engine.apply(.account(id: "b", limits: nil))
        #expect(throws: EngineError.self) { try engine.apply(.account(id: "c", limits: nil)) }
        // A retry of an existing account is still answered.
        #expect(try engine.apply(.account(id: "a", limits: nil)).duplicate)
        #expect(try engine.apply(.balance(account: "c")).result == .failure(Refusal(.unknownAccount)))
    }

    @Test func eventIdsBeyondTheLimitAreRefusedWithAnError() throws {
        let engine = try Self.engine(events: 2)
        _ = try engine.apply(.account(id: "a", limits: nil))
        _ = try engine.apply(.grant(GrantRequest(account: "a", id: "g", amount: 100)))
        _ = try engine.apply(.reserve(ReserveRequest(account: "a", id: "r1", cost: .amount(10))))
        _ = try engine.apply(.charge(ChargeRequest(account: "a", id: "c1", cost: .amount(10))))
        do {
            _ = try engine.apply(.charge(ChargeRequest(account: "a", id: "c2", cost: .amount(10))))
            Issue.record("a third event id was accepted")
        } catch {
            #expect(error.code == .eventsFull)
        }
        // Nothing changed: 100 - 10 held - 10 charged.
        guard case .success(.balance(let balance)) = try engine.apply(.balance(account: "a")).result else {
            Issue.record("no balance")
            return
        }
        #expect(balance.available == 80)
        #expect(balance.held == 10)
    }

    @Test func configurationIsValidated() {
        var configuration = EngineConfiguration()
        configuration.shardCount = 3
        #expect(throws: EngineError.self) { try CreditEngine(configuration: configuration) }
        configuration = EngineConfiguration()
        configuration.settleQueueCapacity = 8192
        #expect(throws: EngineError.self) { try CreditEngine(configuration: configuration) }
        configuration = EngineConfiguration()
        configuration.accountsMax = 0
        #expect(throws: EngineError.self) { try CreditEngine(configuration: configuration) }
        configuration = EngineConfiguration()
        configuration.openReservationsPerAccountMax = 0
        #expect(throws: EngineError.self) { try CreditEngine(configuration: configuration) }
        configuration.openReservationsPerAccountMax = EngineConfiguration.openReservationsPerAccountMaxLimit + 1
        #expect(throws: EngineError.self) { try CreditEngine(configuration: configuration) }
        configuration = EngineConfiguration()
        configuration.openReservationsMax = 0
        #expect(throws: EngineError.self) { try CreditEngine(configuration: configuration) }
        configuration.openReservationsMax = EngineConfiguration.openReservationsMaxLimit + 1
        #expect(throws: EngineError.self) { try CreditEngine(configuration: configuration) }
    }

    @Test func aFullSettleQueueIsSettledNotLost() throws {
        let engine = try Self.engine(events: 1000)
        _ = try engine.apply(.account(id: "a", limits: nil))
        _ = try engine.apply(.grant(GrantRequest(account: "a", id: "g", amount: 10_000)))
        // Far more hot-path operations than the queue's 8 cells.
        for index in 0..<200 {
            _ = try engine.apply(.reserve(ReserveRequest(account: "a", id: "r\(index)", cost: .amount(10))))
            _ = try engine.apply(.commit(id: "r\(index)", .amount(7)))
        }
        #expect(engine.mismatchCount == 0)
        #expect(engine.invariantViolation() == nil)
        guard case .success(.report(let report)) = try engine.apply(.report(account: "a")).result else {
            Issue.record("no report")
            return
        }
        #expect(report.consumed == 1400)
    }

    @Test func alertsReachSubscribersInAccountOrder() async throws {
        let engine = try Self.engine(events: 100)
        let received = Locked<[Alert]>([])
        engine.onAlerts { alerts in received.withLock { $0 += alerts } }
        let stream = engine.alertStream()
        _ = try engine.apply(.account(id: "a", limits: LimitsSpec(alerts: [50, 20])))
        _ = try engine.apply(.grant(GrantRequest(account: "a", id: "g", amount: 100)))
        _ = try engine.apply(.charge(ChargeRequest(account: "a", id: "c1", cost: .amount(60))))
        _ = try engine.apply(.charge(ChargeRequest(account: "a", id: "c2", cost: .amount(30))))
        _ = try engine.apply(.charge(ChargeRequest(account: "a", id: "c3", cost: .amount(20), force: true)))
        engine.settle()
        let expected: [Alert] = [
            .lowBalance(account: "a", threshold: 50, available: 40, t: Self.t),
            .lowBalance(account: "a", threshold: 20, available: 10, t: Self.t),
            .debt(account: "a", debt: 10, t: Self.t),
        ]
        #expect(received.withLock { $0 } == expected)
        var streamed: [Alert] = []
        for await alert in stream {
            streamed.append(alert)
            if streamed.count == expected.count { break }
        }
        #expect(streamed == expected)
    }

    /// A request every shard takes (tick, rates, a report over all) holds the shards one inside
    /// another: each alert must still reach subscribers once.
    @Test func alertsOfARequestOnEveryShardAreDeliveredOnce() throws {
        var configuration = EngineConfiguration()
        configuration.shardCount = 4
        configuration.accountsMax = 64
        configuration.eventsMax = 100
        let engine = try CreditEngine(configuration: configuration, clock: ManualClock(Self.t))
        let received = Locked<[Alert]>([])
        engine.onAlerts { alerts in received.withLock { $0 += alerts } }
        var alerts: [Alert] = []
        for index in 0..<8 {
            let account = "acct-\(index)"
            _ = try engine.apply(.account(id: account, limits: LimitsSpec(alerts: [50])), at: Self.t, alerts: &alerts)
            _ = try engine.apply(.grant(GrantRequest(account: account, id: "g\(index)", amount: 100, expiresAt: Self.t + 10)), at: Self.t, alerts: &alerts)
        }
        #expect(received.withLock { $0 }.isEmpty)
        alerts.removeAll()
        _ = try engine.apply(.tick, at: Self.t + 20, alerts: &alerts)
        #expect(alerts.count == 8, "every account's grant expired below its threshold: \(alerts)")
        let delivered = received.withLock { $0 }
        #expect(delivered.count == alerts.count, "delivered \(delivered.count) for \(alerts.count) alerts")
        #expect(Set(delivered.map { "\($0)" }) == Set(alerts.map { "\($0)" }))
    }
}

/// The limits on open reservations: per account and in all.
@Suite struct EngineReservationLimitTests {
    static let t = EngineLimitTests.t

    static func engine(perAccount: Int, inAll: Int, eager: Bool = false) throws -> CreditEngine {
        var configuration = eager ? EngineConfiguration.replay : EngineConfiguration()
        configuration.shardCount = 2
        configuration.accountsMax = 8
        configuration.eventsMax = 256
        configuration.settleQueueCapacity = 8
        configuration.openReservationsPerAccountMax = perAccount
        configuration.openReservationsMax = inAll
        let engine = try CreditEngine(configuration: configuration, clock: ManualClock(t))
        for account in ["a", "b"] {
            _ = try engine.apply(.account(id: account, limits: LimitsSpec(downgrade: true)), at: t, alerts: &Self.ignored)
            _ = try engine.apply(.grant(GrantRequest(account: account, id: "g" + account, amount: 1000)), at: t, alerts: &Self.ignored)
        }
        return engine
    }

    nonisolated(unsafe) static var ignored: [Alert] = []

    static func apply(_ engine: CreditEngine, _ request: Request, at t: Milliseconds) throws(EngineError) -> Response {
        var alerts: [Alert] = []
        return try engine.apply(request, at: t, alerts: &alerts)
    }

    static func reserve(_ account: String, _ id: String, _ amount: Int64, ttl: Int64? = nil) -> Request {
        .reserve(ReserveRequest(account: account, id: id, cost: .amount(amount), ttlMilliseconds: ttl))
    }

    static func available(_ engine: CreditEngine, _ account: String) throws -> (available: Int64, held: Int64) {
        guard case .success(.balance(let view)) = try apply(engine, .balance(account: account), at: t).result else {
            return (-1, -1)
        }
        return (view.available, view.held)
    }

    /// Expects the reserve to throw the given limit's error.
    static func expectRefused(
        _ engine: CreditEngine, _ request: Request, at t: Milliseconds, _ code: EngineError.Code,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        do {
            let response = try apply(engine, request, at: t)
            Issue.record("admitted past the limit: \(response)", sourceLocation: sourceLocation)
        } catch {
            #expect(error.code == code, sourceLocation: sourceLocation)
        }
    }

    @Test(arguments: [false, true])
    func aReservePastTheAccountLimitThrowsAndChangesNothing(eager: Bool) throws {
        let engine = try Self.engine(perAccount: 2, inAll: 100, eager: eager)
        _ = try Self.apply(engine, Self.reserve("a", "r1", 10), at: Self.t)
        _ = try Self.apply(engine, Self.reserve("a", "r2", 20), at: Self.t)
        #expect(engine.openReservationCount(ofAccount: "a") == 2)
        Self.expectRefused(engine, Self.reserve("a", "r3", 30), at: Self.t, .openReservationsPerAccountFull)
        #expect(try Self.available(engine, "a") == (970, 30))
        #expect(engine.openReservationCount(ofAccount: "a") == 2)
        #expect(engine.openReservationCount == 2)
        // Charges are not reservations; another account has its own count.
        #expect(try Self.apply(engine, .charge(ChargeRequest(account: "a", id: "c1", cost: .amount(5))), at: Self.t).result
            == .success(.charged(charged: 5, available: 965, item: nil, downgraded: false, overCap: false, late: false)))
        _ = try Self.apply(engine, Self.reserve("b", "rb", 10), at: Self.t)
        // A commit gives its count back: the refused id is still free, a first request.
        _ = try Self.apply(engine, .commit(id: "r1", .amount(4)), at: Self.t + 1)
        let third = try Self.apply(engine, Self.reserve("a", "r3", 30), at: Self.t + 1)
        #expect(!third.duplicate)
        #expect(third.result == .success(.reserved(held: 30, available: 941, item: nil, downgraded: false, overCap: false)))
        // A release gives its count back, once: its retry gives nothing more.
        _ = try Self.apply(engine, .release(id: "r2"), at: Self.t + 2)
        #expect(try Self.apply(engine, .release(id: "r2"), at: Self.t + 2).duplicate)
        #expect(engine.openReservationCount(ofAccount: "a") == 1)
        _ = try Self.apply(engine, Self.reserve("a", "r4", 1), at: Self.t + 3)
        Self.expectRefused(engine, Self.reserve("a", "r5", 1), at: Self.t + 3, .openReservationsPerAccountFull)
        #expect(engine.openReservationCount == 3)
        #expect(engine.mismatchCount == 0)
        #expect(engine.invariantViolation() == nil)
    }

    @Test func aReservePastTheEngineLimitThrowsAndChangesNothing() throws {
        let engine = try Self.engine(perAccount: 10, inAll: 3)
        _ = try Self.apply(engine, Self.reserve("a", "r1", 10), at: Self.t)
        _ = try Self.apply(engine, Self.reserve("a", "r2", 10), at: Self.t)
        _ = try Self.apply(engine, Self.reserve("b", "r3", 10), at: Self.t)
        Self.expectRefused(engine, Self.reserve("b", "r4", 10), at: Self.t, .openReservationsFull)
        #expect(try Self.available(engine, "b") == (990, 10))
        #expect(engine.openReservationCount(ofAccount: "b") == 1)
        // A reserve refused for credits takes no count.
        _ = try Self.apply(engine, .release(id: "r1"), at: Self.t + 1)
        let refused = try Self.apply(engine, Self.reserve("b", "r5", 5000), at: Self.t + 1)
        #expect(refused.result == .failure(Refusal(.insufficientCredits, available: 990, needed: 5000)))
        #expect(engine.openReservationCount == 2)
        _ = try Self.apply(engine, Self.reserve("b", "r4", 10), at: Self.t + 1)
        #expect(engine.openReservationCount == 3)
    }

    @Test(arguments: [false, true])
    func expiriesGiveCountsBackOnceEvenWithALateCommit(eager: Bool) throws {
        let engine = try Self.engine(perAccount: 1, inAll: 100, eager: eager)
        _ = try Self.apply(engine, Self.reserve("a", "r1", 10, ttl: 100), at: Self.t)
        Self.expectRefused(engine, Self.reserve("a", "r2", 10), at: Self.t + 99, .openReservationsPerAccountFull)
        // At exactly the expiry, r1 no longer counts.
        _ = try Self.apply(engine, Self.reserve("a", "r2", 10, ttl: 10_000), at: Self.t + 100)
        #expect(engine.openReservationCount(ofAccount: "a") == 1)
        let late = try Self.apply(engine, .commit(id: "r1", .amount(3)), at: Self.t + 200)
        guard case .success(.charged(_, _, _, _, _, true)) = late.result else {
            Issue.record("expected a late commit: \(late)")
            return
        }
        // The late commit gave nothing back: r2 still counts.
        #expect(engine.openReservationCount(ofAccount: "a") == 1)
        Self.expectRefused(engine, Self.reserve("a", "r3", 10), at: Self.t + 200, .openReservationsPerAccountFull)
        _ = try Self.apply(engine, .release(id: "r2"), at: Self.t + 300)
        #expect(engine.openReservationCount(ofAccount: "a") == 0)
        #expect(engine.openReservationCount == 0)
    }

    @Test func slowPathReservesAndClosingsCountToo() throws {
        let engine = try Self.engine(perAccount: 2, inAll: 100)
        _ = try Self.apply(
            engine,
            .rates(RatesRequest(version: "v1", items: ["big": ItemSpec(base: 900, fallback: "small"), "small": ItemSpec(base: 100)])),
            at: Self.t)
        _ = try Self.apply(engine, .charge(ChargeRequest(account: "a", id: "c", cost: .amount(500))), at: Self.t)
        // 500 left: "big" is refused, the downgrade (through the ledger) reserves "small".
        let downgraded = try Self.apply(
            engine, .reserve(ReserveRequest(account: "a", id: "r1", cost: .item("big", usage: nil), ttlMilliseconds: 50)),
            at: Self.t + 1)
        #expect(downgraded.result == .success(.reserved(held: 100, available: 400, item: PricedItem(item: "small", version: "v1"), downgraded: true, overCap: false)))
        _ = try Self.apply(engine, .reserve(ReserveRequest(account: "a", id: "r2", cost: .item("big", usage: nil))), at: Self.t + 2)
        #expect(engine.openReservationCount(ofAccount: "a") == 2)
        Self.expectRefused(
            engine, .reserve(ReserveRequest(account: "a", id: "r3", cost: .item("big", usage: nil))), at: Self.t + 2,
            .openReservationsPerAccountFull)
        // A commit by usage goes through the ledger; so does a release after r1's deadline.
        _ = try Self.apply(engine, .commit(id: "r2", .usage(Usage.empty)), at: Self.t + 3)
        #expect(engine.openReservationCount(ofAccount: "a") == 1)
        _ = try Self.apply(engine, .release(id: "r1"), at: Self.t + 60)
        #expect(engine.openReservationCount(ofAccount: "a") == 0)
        #expect(engine.openReservationCount == 0)
        #expect(engine.mismatchCount == 0)
    }
}

@Suite struct EngineIdentityTests {
    @Test func aRefusedRequestLeavesItsIdFree() throws {
        let engine = try EngineLimitTests.engine(events: 16)
        _ = try engine.apply(.account(id: "a", limits: LimitsSpec(period: .day, periodCap: 50)))
        _ = try engine.apply(.grant(GrantRequest(account: "a", id: "g", amount: 100)))
        // Refused on the hot path for credits, then for the cap: the id stays free each time.
        let tooMuch = try engine.apply(.reserve(ReserveRequest(account: "a", id: "x", cost: .amount(101))))
        #expect(tooMuch.result == .failure(Refusal(.insufficientCredits, available: 100, needed: 101)))
        #expect(try engine.apply(.charge(ChargeRequest(account: "a", id: "x", cost: .amount(51)))).result
            == .failure(Refusal(.periodCap)))
        let first = try engine.apply(.charge(ChargeRequest(account: "a", id: "x", cost: .amount(5))))
        #expect(first.result == .success(.charged(charged: 5, available: 95, item: nil, downgraded: false, overCap: false, late: false)))
        // Now used: the same request is a retry, another is a conflict.
        let retry = try engine.apply(.charge(ChargeRequest(account: "a", id: "x", cost: .amount(5))))
        #expect(retry.duplicate)
        #expect(try engine.apply(.reserve(ReserveRequest(account: "a", id: "x", cost: .amount(5)))).result
            == .failure(Refusal(.idConflict)))
    }
}
