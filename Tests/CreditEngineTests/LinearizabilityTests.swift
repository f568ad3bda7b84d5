// Linearizability: many small concurrent histories on the engine, each checked against the
// sequential core. A history is explained when some order of its operations that respects
// real time (an operation that returned before another was invoked comes first) gives, on
// a `Ledger` from the same start, exactly the responses the engine gave.

import CreditCore
@testable import CreditEngine
import Foundation
import Synchronization
import Testing

struct RecordedOperation: Sendable {
    var request: Request
    var response: Response
    /// Logical instants from one shared counter: before the call and after it returned.
    var invoked: Int
    var returned: Int
}

/// Searches an order of `operations` that explains every response (depth first).
func explains(_ operations: [RecordedOperation], from ledger: Ledger, at t: Milliseconds, done: inout [Bool]) -> Bool {
    guard done.contains(false) else { return true }
    for candidate in operations.indices where !done[candidate] {
        // Only an operation that nothing undone returned before may come next.
        let blocked = operations.indices.contains { other in
            !done[other] && other != candidate && operations[other].returned < operations[candidate].invoked
        }
        if blocked { continue }
        var next = ledger
        guard next.apply(operations[candidate].request, at: t) == operations[candidate].response else { continue }
        done[candidate] = true
        if explains(operations, from: next, at: t, done: &done) { return true }
        done[candidate] = false
    }
    return false
}

@Suite struct LinearizabilityTests {
    static let t: Milliseconds = 1_767_225_600_000
    static let threadCount = 3
    static let operationsPerThread = 3

    static func setUp() -> [Request] {
        [
            .account(id: "a", limits: LimitsSpec(overdraft: 10, period: .day, periodCap: 140)),
            .account(id: "b", limits: nil),
            .grant(GrantRequest(account: "a", id: "ga", amount: 100)),
            .grant(GrantRequest(account: "b", id: "gb", amount: 60)),
        ]
    }

    /// A thread's operations: reserves and charges on one of two accounts, commits and
    /// releases of its own or another thread's reservations.
    static func plan(thread: Int, random: inout SeededRandom) -> [Request] {
        (0..<operationsPerThread).map { step in
            let account = Bool.random(using: &random) ? "a" : "b"
            let amount = Int64.random(in: 0...70, using: &random)
            let target = "r\(Int.random(in: 0..<threadCount, using: &random))-\(Int.random(in: 0..<step + 1, using: &random))"
            switch Int.random(in: 0..<10, using: &random) {
            case 0..<4: return .reserve(ReserveRequest(account: account, id: "r\(thread)-\(step)", cost: .amount(amount)))
            case 4..<6: return .commit(id: target, .amount(amount))
            case 6..<7: return .release(id: target)
            default: return .charge(ChargeRequest(account: account, id: "c\(thread)-\(step)", cost: .amount(amount)))
            }
        }
    }

    static func record(seed: UInt64) throws -> [RecordedOperation] {
        var configuration = EngineConfiguration()
        configuration.shardCount = 2
        configuration.accountsMax = 16
        configuration.eventsMax = 256
        let engine = try CreditEngine(configuration: configuration, clock: ManualClock(t))
        var alerts: [Alert] = []
        for request in setUp() { _ = try engine.apply(request, at: t, alerts: &alerts) }
        var random = SeededRandom(seed: seed)
        let plans = (0..<threadCount).map { plan(thread: $0, random: &random) }
        let clock = Atomic<Int>(0)
        let ready = Atomic<Int>(0)
        let recorded = Locked<[RecordedOperation]>([])
        let group = DispatchGroup()
        for thread in 0..<threadCount {
            group.enter()
            Thread.detachNewThread {
                // Start together, for as much overlap as the machine gives.
                ready.wrappingAdd(1, ordering: .acquiringAndReleasing)
                while ready.load(ordering: .acquiring) < threadCount {}
                var mine: [RecordedOperation] = []
                var alerts: [Alert] = []
                for request in plans[thread] {
                    let invoked = clock.wrappingAdd(1, ordering: .sequentiallyConsistent).oldValue
                    let response = (try? engine.apply(request, at: t, alerts: &alerts)) ?? .refused(.invalid)
                    let returned = clock.wrappingAdd(1, ordering: .sequentiallyConsistent).oldValue
                    mine.append(RecordedOperation(request: request, response: response, invoked: invoked, returned: returned))
                }
                recorded.withLock { $0 += mine }
                group.leave()
            }
        }
        group.wait()
        #expect(engine.mismatchCount == 0)
        return recorded.withLock { $0 }
    }

    @Test func concurrentHistoriesAreLinearizable() throws {
        var start = Ledger()
        for request in Self.setUp() { _ = start.apply(request, at: Self.t) }
        for seed in 1...400 as ClosedRange<UInt64> {
            let history = try Self.record(seed: seed)
            var done = Array(repeating: false, count: history.count)
            let explained = explains(history, from: start, at: Self.t, done: &done)
            #expect(explained, "seed \(seed): no sequential order explains \(history)")
            if !explained { return }
        }
    }

    @Test func theCheckerRejectsAnImpossibleHistory() {
        var start = Ledger()
        for request in Self.setUp() { _ = start.apply(request, at: Self.t) }
        // Two reserves of 60 on "b" (60 credits, no overdraft) cannot both be admitted.
        let reserve1 = Request.reserve(ReserveRequest(account: "b", id: "x1", cost: .amount(60)))
        let reserve2 = Request.reserve(ReserveRequest(account: "b", id: "x2", cost: .amount(60)))
        let admitted = Response.ok(.reserved(held: 60, available: 0, item: nil, downgraded: false, overCap: false))
        let history = [
            RecordedOperation(request: reserve1, response: admitted, invoked: 0, returned: 3),
            RecordedOperation(request: reserve2, response: admitted, invoked: 1, returned: 2),
        ]
        var done = [false, false]
        #expect(!explains(history, from: start, at: Self.t, done: &done))
    }
}
