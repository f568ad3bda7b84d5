// The durable engine: after a concurrent run, replaying its journal into a new engine gives
// exactly the live engine's state (every account's balance view and the report), so the
// journal holds each account's requests in an order that explains every answer; reads and
// changes wait for durability; a failed journal acknowledges nothing.

import CreditCore
@testable import CreditDurable
import CreditEngine
import CreditJournal
import Foundation
import Synchronization
import Testing

/// An in-memory journal: records in append order, a durable point moved by `sync`, and an
/// optional failure from a given append on.
final class MemoryJournal: EngineJournal, @unchecked Sendable {
    struct Failure: Error {}
    private let lock = NSLock()
    private var stored: [[UInt8]] = []
    private var durable: UInt64 = 0
    /// Appends from this ticket on fail.
    var failFrom: UInt64 = .max
    /// When true, every wait makes everything durable (a group commit of what is there).
    var syncOnWait = true
    private(set) var waits = 0

    func append(_ request: Request, at t: Milliseconds) throws -> UInt64 {
        lock.lock()
        defer { lock.unlock() }
        guard UInt64(stored.count) + 1 < failFrom else { throw Failure() }
        stored.append(RequestCodec.encoded(request, at: t))
        return UInt64(stored.count)
    }

    func close() throws {}

    func waitDurable(through ticket: UInt64) throws {
        lock.lock()
        defer { lock.unlock() }
        waits += 1
        if syncOnWait { durable = UInt64(stored.count) }
        guard durable >= ticket else { throw Failure() }
    }

    var lastTicket: UInt64 { lock.withLock { UInt64(stored.count) } }
    var records: [[UInt8]] { lock.withLock { stored } }
    var durableTicket: UInt64 { lock.withLock { durable } }

    /// Every snapshot stored, with the ticket it covers, oldest first; records are all kept.
    private var storedSnapshots: [(bytes: [UInt8], ticket: UInt64)] = []
    var snapshots: [(bytes: [UInt8], ticket: UInt64)] { lock.withLock { storedSnapshots } }

    func storeSnapshot(_ bytes: [UInt8], through ticket: UInt64) throws -> Int {
        try waitDurable(through: ticket)
        lock.withLock { storedSnapshots.append((bytes, ticket)) }
        return bytes.count
    }
}

@Suite struct DurableEngineTests {
    static let accounts = (0..<40).map { "acct\($0)" }
    static let start: Milliseconds = 1_767_225_600_000

    static func configuration() -> EngineConfiguration {
        var configuration = EngineConfiguration()
        configuration.shardCount = 4
        configuration.accountsMax = 256
        configuration.eventsMax = 1 << 16
        configuration.settleQueueCapacity = 64
        return configuration
    }

    /// Every account's balance view, then the report over all.
    static func state(of engine: CreditEngine, at t: Milliseconds) throws -> [String] {
        var alerts: [Alert] = []
        var views = try accounts.map { "\(try engine.apply(.balance(account: $0), at: t, alerts: &alerts))" }
        views.append("\(try engine.apply(.report(account: nil), at: t, alerts: &alerts))")
        return views
    }

    /// Threads apply random changes through a durable engine, with a clock that moves.
    static func concurrentRun<Journal: EngineJournal>(
        threads: Int, operations: Int, seed: UInt64, journal: Journal
    ) throws -> (CreditEngine, Journal) {
        let clock = ManualClock(start)
        let engine = try CreditEngine(configuration: configuration(), clock: clock)
        let durable = DurableEngine(engine: engine, journal: journal, clock: clock)
        var alerts: [Alert] = []
        _ = try durable.apply(.rates(RatesRequest(version: "v1", items: ["chat": ItemSpec(base: 3)])), alerts: &alerts)
        for (index, account) in accounts.enumerated() {
            let limits = index % 3 == 0 ? LimitsSpec(overdraft: 30) : index % 3 == 1 ? LimitsSpec(period: .day, periodCap: 900) : nil
            _ = try durable.apply(.account(id: account, limits: limits), alerts: &alerts)
            _ = try durable.apply(.grant(GrantRequest(account: account, id: "g\(index)", amount: 1_000)), alerts: &alerts)
        }
        let failures = Locked<[String]>([])
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            var random = SeededRandom(seed: seed &* 31 &+ UInt64(thread))
            var alerts: [Alert] = []
            var open: [String] = []
            var charged: [String] = []
            do {
                for step in 0..<operations {
                    if step % 50 == 0 { clock.advance(by: 7) }
                    // Half the traffic on three hot accounts.
                    let account = Bool.random(using: &random)
                        ? accounts[Int.random(in: 0..<3, using: &random)]
                        : accounts[Int.random(in: 0..<accounts.count, using: &random)]
                    let id = "t\(thread)-\(step)"
                    let amount = Int64.random(in: 1...60, using: &random)
                    let request: Request
                    switch Int.random(in: 0..<10, using: &random) {
                    case 0...2:
                        request = .reserve(ReserveRequest(account: account, id: id, cost: .amount(amount), ttlMilliseconds: 40))
                        open.append(id)
                    case 3 where !open.isEmpty:
                        request = .commit(id: open.removeLast(), .amount(amount))
                    case 4 where !open.isEmpty:
                        request = .release(id: open.removeFirst())
                    case 5:
                        request = .charge(ChargeRequest(account: account, id: id, cost: .item("chat", usage: nil)))
                        charged.append(id)
                    case 6 where !charged.isEmpty:
                        request = .refund(RefundRequest(id: "r\(id)", event: charged.removeFirst(), amount: 1))
                    case 7:
                        request = .grant(GrantRequest(account: account, id: "g\(id)", amount: amount * 3))
                    case 8:
                        request = .balance(account: account)
                    default:
                        request = .charge(ChargeRequest(account: account, id: id, cost: .amount(amount)))
                        charged.append(id)
                    }
                    _ = try durable.apply(request, alerts: &alerts)
                }
            } catch {
                failures.withLock { $0.append("thread \(thread): \(error)") }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty)
        return (engine, journal)
    }

    @Test(arguments: [UInt64(1), 2, 3])
    func recoveryGivesTheLiveState(seed: UInt64) throws {
        let (live, journal) = try Self.concurrentRun(threads: 4, operations: 1_500, seed: seed, journal: MemoryJournal())
        let end = Self.start + 1_000_000
        let recovered = try CreditEngine(configuration: Self.configuration(), clock: ManualClock(Self.start))
        let count = try DurableEngine.recover(journal.records, into: recovered)
        #expect(count == journal.records.count && count > 2_000, "a real run journals thousands of changes")
        #expect(try Self.state(of: recovered, at: end) == Self.state(of: live, at: end), "seed \(seed)")
        #expect(recovered.invariantViolation() == nil)
    }

    /// The same through the file journal: closed, read back from disk, replayed; then
    /// reopened, it appends after the last record.
    @Test func recoveryFromDiskGivesTheLiveState() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("durable-engine-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (live, journal) = try Self.concurrentRun(
            threads: 3, operations: 800, seed: 9, journal: try FileEngineJournal(directory: directory))
        let appended = journal.lastTicket
        try journal.close()
        let recovered = try CreditEngine(configuration: Self.configuration(), clock: ManualClock(Self.start))
        #expect(try FileEngineJournal.recover(directory: directory, into: recovered) == Int(appended))
        let end = Self.start + 1_000_000
        #expect(try Self.state(of: recovered, at: end) == Self.state(of: live, at: end))
        let reopened = try FileEngineJournal(directory: directory)
        let durable = DurableEngine(engine: recovered, journal: reopened, clock: ManualClock(end))
        var alerts: [Alert] = []
        let granted = try durable.apply(.grant(GrantRequest(account: "acct1", id: "after", amount: 5)), alerts: &alerts)
        #expect(granted.result.failureCode == nil)
        #expect(reopened.lastTicket == appended + 1)
        try reopened.close()
    }

    /// After recovery the map of event stripes is empty: a commit of a recovered reservation
    /// must still run on its account's stripe (the map learns it from the engine).
    @Test func recoveredEventsRunOnTheirAccountsStripe() throws {
        let clock = ManualClock(Self.start)
        let journal = MemoryJournal()
        let first = DurableEngine(engine: try CreditEngine(configuration: Self.configuration(), clock: clock), journal: journal, clock: clock)
        var alerts: [Alert] = []
        _ = try first.apply(.account(id: "a", limits: nil), alerts: &alerts)
        _ = try first.apply(.grant(GrantRequest(account: "a", id: "g", amount: 100)), alerts: &alerts)
        _ = try first.apply(.reserve(ReserveRequest(account: "a", id: "r1", cost: .amount(40))), alerts: &alerts)
        let recovered = try CreditEngine(configuration: Self.configuration(), clock: clock)
        #expect(try DurableEngine.recover(journal.records, into: recovered) == 3)
        let second = DurableEngine(engine: recovered, journal: journal, clock: clock)
        #expect(second.bucket(ofEvent: "r1").withLock { $0["r1"] } == nil)
        let committed = try second.apply(.commit(id: "r1", .amount(30)), alerts: &alerts)
        #expect(committed.result.failureCode == nil)
        #expect(second.bucket(ofEvent: "r1").withLock { $0["r1"] } == UInt16(second.stripe(ofAccount: "a")))
        #expect(journal.records.count == 4)
        // An id the engine never saw is still refused, and not remembered.
        let unknown = try second.apply(.release(id: "nope"), alerts: &alerts)
        #expect(unknown.result.failureCode == .unknownEvent)
        #expect(second.bucket(ofEvent: "nope").withLock { $0["nope"] } == nil)
    }

    @Test func refusalsAndReadsAreNotJournalledButWaitForDurability() throws {
        let clock = ManualClock(Self.start)
        let journal = MemoryJournal()
        let durable = DurableEngine(engine: try CreditEngine(configuration: Self.configuration(), clock: clock), journal: journal, clock: clock)
        var alerts: [Alert] = []
        _ = try durable.apply(.account(id: "a", limits: nil), alerts: &alerts)
        _ = try durable.apply(.grant(GrantRequest(account: "a", id: "g", amount: 10)), alerts: &alerts)
        #expect(journal.records.count == 2)
        // A refusal, a retry answered as a duplicate, reads: no record; each waited.
        let waitsBefore = journal.waits
        let refused = try durable.apply(.charge(ChargeRequest(account: "a", id: "c1", cost: .amount(11))), alerts: &alerts)
        #expect(refused.result.failureCode == .insufficientCredits)
        let retried = try durable.apply(.grant(GrantRequest(account: "a", id: "g", amount: 10)), alerts: &alerts)
        #expect(retried.duplicate)
        _ = try durable.apply(.balance(account: "a"), alerts: &alerts)
        _ = try durable.apply(.commit(id: "never", .amount(1)), alerts: &alerts)
        #expect(journal.records.count == 2)
        #expect(journal.waits == waitsBefore + 4)
    }

    @Test func aFailedJournalAcknowledgesNothing() throws {
        let clock = ManualClock(Self.start)
        let journal = MemoryJournal()
        let durable = DurableEngine(engine: try CreditEngine(configuration: Self.configuration(), clock: clock), journal: journal, clock: clock)
        var alerts: [Alert] = []
        _ = try durable.apply(.account(id: "a", limits: nil), alerts: &alerts)
        journal.failFrom = 2
        #expect(throws: MemoryJournal.Failure.self) {
            try durable.apply(.grant(GrantRequest(account: "a", id: "g", amount: 10)), alerts: &alerts)
        }
        // Appended but never durable: the wait fails, so the answer is never given.
        journal.failFrom = .max
        journal.syncOnWait = false
        #expect(throws: MemoryJournal.Failure.self) {
            try durable.apply(.grant(GrantRequest(account: "a", id: "g2", amount: 10)), alerts: &alerts)
        }
        #expect(journal.durableTicket < journal.lastTicket)
    }

    @Test func recoveryRefusesARecordThatDoesNotReplay() throws {
        let engine = try CreditEngine(configuration: Self.configuration(), clock: ManualClock(Self.start))
        // A grant to an account that was never created cannot replay as a change.
        let record = RequestCodec.encoded(.grant(GrantRequest(account: "ghost", id: "g", amount: 5)), at: Self.start)
        #expect(throws: DurableEngineError.self) { try DurableEngine.recover([record], into: engine) }
    }
}

extension Result where Success == Reply, Failure == Refusal {
    var failureCode: RefusalCode? {
        if case .failure(let refusal) = self { return refusal.code }
        return nil
    }
}
