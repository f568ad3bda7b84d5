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
