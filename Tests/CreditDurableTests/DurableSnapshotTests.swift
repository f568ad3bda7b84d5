// Snapshots of the durable engine: taken during random multi-threaded traffic (by the
// policy's thread and by explicit calls), then recovery from the newest snapshot plus the
// journal after it gives exactly the live engine (balances, report, admission words, open
// reservation counts), and every later request gets the same reply from both; the segments a
// snapshot covers are removed; a damaged snapshot is refused naming the file and offset; a
// crash between publishing a snapshot and removing the segments recovers exactly.

import CreditCore
@testable import CreditDurable
@testable import CreditEngine
@testable import CreditJournal
import Foundation
import Synchronization
import Testing

@Suite struct DurableSnapshotTests {
    static let accounts = DurableEngineTests.accounts
    static let start = DurableEngineTests.start
    static let end = start + 1_000_000

    /// What the threads created, for the requests that follow recovery.
    struct Traffic {
        var open: [String] = []
        var charged: [String] = []
        var requests: [Request] = []
    }

    /// Threads apply random changes through `durable`; `side` runs on one more thread
    /// meanwhile (explicit snapshots), until the traffic ends.
    static func run(
        _ durable: DurableEngine, clock: ManualClock, threads: Int, operations: Int, seed: UInt64,
        side: @escaping @Sendable (DurableEngine) -> Void = { _ in },
        midway: @Sendable (DurableEngine) -> Void = { _ in }
    ) throws -> Traffic {
        var alerts: [Alert] = []
        _ = try durable.apply(.rates(RatesRequest(version: "v1", items: ["chat": ItemSpec(base: 3)])), alerts: &alerts)
        for (index, account) in accounts.enumerated() {
            let limits = index % 3 == 0 ? LimitsSpec(overdraft: 30) : index % 3 == 1 ? LimitsSpec(period: .day, periodCap: 900) : nil
            _ = try durable.apply(.account(id: account, limits: limits), alerts: &alerts)
            _ = try durable.apply(.grant(GrantRequest(account: account, id: "g\(index)", amount: 1_000)), alerts: &alerts)
        }
        let traffic = Locked(Traffic())  // a pthread mutex: TSan cannot see Synchronization.Mutex on Linux
        let failures = Locked<[String]>([])
        // Its own thread: `concurrentPerform` may run its iterations one after another.
        let done = Atomic<Bool>(false)
        let sideFinished = DispatchSemaphore(value: 0)
        Thread {
            while !done.load(ordering: .acquiring) { side(durable) }
            sideFinished.signal()
        }.start()
        defer {
            done.store(true, ordering: .releasing)
            sideFinished.wait()
        }
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            var random = SeededRandom(seed: seed &* 31 &+ UInt64(thread))
            var alerts: [Alert] = []
            var mine = Traffic()
            do {
                for step in 0..<operations {
                    // On a traffic thread, so that it happens while the traffic runs, however
                    // the side thread is scheduled.
                    if thread == 0 && step == operations / 2 { midway(durable) }
                    if step % 50 == 0 { clock.advance(by: 7) }
                    let account = Bool.random(using: &random)
                        ? accounts[Int.random(in: 0..<3, using: &random)]
                        : accounts[Int.random(in: 0..<accounts.count, using: &random)]
                    let id = "t\(thread)-\(step)"
                    let amount = Int64.random(in: 1...60, using: &random)
                    let request: Request
                    switch Int.random(in: 0..<10, using: &random) {
                    case 0...2:
                        // Long and short lives: some stay open across snapshots and recovery.
                        let ttl: Int64 = Bool.random(using: &random) ? 40 : 5_000_000
                        request = .reserve(ReserveRequest(account: account, id: id, cost: .amount(amount), ttlMilliseconds: ttl))
                        mine.open.append(id)
                    case 3 where !mine.open.isEmpty:
                        request = .commit(id: mine.open.removeLast(), .amount(amount))
                    case 4 where !mine.open.isEmpty:
                        request = .release(id: mine.open.removeFirst())
                    case 5:
                        request = .charge(ChargeRequest(account: account, id: id, cost: .item("chat", usage: nil)))
                        mine.charged.append(id)
                    case 6 where !mine.charged.isEmpty:
                        request = .refund(RefundRequest(id: "r\(id)", event: mine.charged.removeFirst(), amount: 1))
                    case 7:
                        request = .grant(GrantRequest(account: account, id: "g\(id)", amount: amount * 3))
                    case 8:
                        request = .balance(account: account)
                    default:
                        request = .charge(ChargeRequest(account: account, id: id, cost: .amount(amount)))
                        mine.charged.append(id)
                    }
                    mine.requests.append(request)
                    _ = try durable.apply(request, alerts: &alerts)
                }
            } catch {
                failures.withLock { $0.append("thread \(thread): \(error)") }
            }
            traffic.withLock {
                $0.open += mine.open
                $0.charged += mine.charged
                $0.requests += mine.requests
            }
        }
        #expect(failures.withLock { $0 }.isEmpty)
        return traffic.withLock { $0 }
    }

    /// Balances and the report, then what the hot path reads: each account's admission word
    /// (its sequence aside: a restored engine starts every account's at 0) and profile, its
    /// open reservations, and the engine's.
    static func facts(of engine: CreditEngine, at t: Milliseconds) throws -> [String] {
        var facts = try DurableEngineTests.state(of: engine, at: t)
        engine.settle()
        for account in accounts {
            let slot = try #require(engine.accountIDs.find(account))
            var word = AdmissionState(engine.words[slot].load(ordering: .relaxed))
            word.sequence = 0
            let profile = engine.profiles[slot]
            facts.append(
                "\(account): \(word) \(profile.active) \(profile.alwaysSlow) \(profile.overdraft) \(profile.periodCap) "
                    + "\(profile.capIsHard) \(profile.downgrade) open \(engine.openReservationCount(ofAccount: account))")
        }
        facts.append("open \(engine.openReservationCount)")
        return facts
    }

    /// Requests after recovery: commits and releases of the reservations left open (some
    /// from before the snapshot), refunds of earlier charges, retries of earlier requests,
    /// new reservations; every reply of `recovered` must equal the live engine's.
    static func laterReplies(of engine: CreditEngine, traffic: Traffic) throws -> [String] {
        var alerts: [Alert] = []
        var replies: [String] = []
        var t = end
        func apply(_ request: Request) throws {
            t += 1
            replies.append("\(try engine.apply(request, at: t, alerts: &alerts))")
        }
        for (index, id) in traffic.open.enumerated() {
            try apply(index % 2 == 0 ? .commit(id: id, .amount(Int64(index % 7))) : .release(id: id))
        }
        for (index, id) in traffic.charged.prefix(200).enumerated() {
            try apply(.refund(RefundRequest(id: "late-r\(index)", event: id, amount: 1)))
        }
        for request in traffic.requests.prefix(400) where request.changesState { try apply(request) }
        for (index, account) in accounts.enumerated() {
            try apply(.reserve(ReserveRequest(account: account, id: "late-\(index)", cost: .amount(5))))
            try apply(.commit(id: "late-\(index)", .amount(3)))
            try apply(.grant(GrantRequest(account: account, id: "g\(index)", amount: 1_000)))
        }
        replies += try facts(of: engine, at: t + 1)
        return replies
    }

    static func temporaryDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("durable-snapshot-\(UUID().uuidString)").path
    }

    // MARK: - Tests

    @Test func policyRange() throws {
        #expect(throws: DurableEngineError.self) { try SnapshotPolicy(everyRecords: SnapshotPolicy.recordsBetweenSnapshotsMin - 1) }
        #expect(throws: DurableEngineError.self) { try SnapshotPolicy(everyRecords: SnapshotPolicy.recordsBetweenSnapshotsMax + 1) }
        #expect(try SnapshotPolicy(everyRecords: SnapshotPolicy.recordsBetweenSnapshotsMin).recordsBetweenSnapshots == 100)
        #expect(try SnapshotPolicy(everyRecords: SnapshotPolicy.recordsBetweenSnapshotsMax).recordsBetweenSnapshots == 1 << 40)
        #expect(try SnapshotPolicy().recordsBetweenSnapshots == 1_000_000)
        #expect(SnapshotPolicy.manual.recordsBetweenSnapshots == nil)
    }

    /// The policy's thread takes a snapshot once N records were journalled after the last
    /// one, covering exactly the records up to then; an explicit snapshot restarts the count.
    @Test func thePolicyTakesASnapshotEveryNRecords() throws {
        let clock = ManualClock(Self.start)
        let journal = MemoryJournal()
        let durable = DurableEngine(
            engine: try CreditEngine(configuration: DurableEngineTests.configuration(), clock: clock), journal: journal,
            clock: clock, snapshots: try SnapshotPolicy(everyRecords: SnapshotPolicy.recordsBetweenSnapshotsMin))
        var alerts: [Alert] = []
        _ = try durable.apply(.account(id: "a", limits: nil), alerts: &alerts)
        var grants = 0
        func grant(_ count: Int) throws {
            for _ in 0..<count {
                grants += 1
                _ = try durable.apply(.grant(GrantRequest(account: "a", id: "g\(grants)", amount: 1)), alerts: &alerts)
            }
        }
        func waitForSnapshots(_ count: Int) {
            let deadline = Date().addingTimeInterval(20)
            while durable.snapshotStatistics.snapshotCount < count && Date() < deadline { usleep(1_000) }
        }
        try grant(98)
        usleep(50_000)
        #expect(durable.snapshotStatistics.snapshotCount == 0, "99 records after the start: none due")
        try grant(1)
        waitForSnapshots(1)
        try grant(60)
        #expect(try durable.snapshot().ticket == 160, "explicit")
        try grant(99)
        usleep(50_000)
        #expect(durable.snapshotStatistics.snapshotCount == 2, "99 records after the explicit one: none due")
        try grant(1)
        waitForSnapshots(3)
        try durable.close()
        #expect(journal.snapshots.map(\.ticket) == [100, 160, 260])
        #expect(durable.snapshotStatistics.snapshotCount == 3 && durable.snapshotStatistics.failureCount == 0)
    }

    /// In memory: snapshots by the policy's thread and by explicit calls during the traffic;
    /// the newest snapshot plus the records after it gives the live engine, and later
    /// requests get the same replies.
    @Test(arguments: [UInt64(1), 2, 3])
    func recoveryFromSnapshotGivesTheLiveEngine(seed: UInt64) throws {
        let clock = ManualClock(Self.start)
        let journal = MemoryJournal()
        let live = try CreditEngine(configuration: DurableEngineTests.configuration(), clock: clock)
        let durable = DurableEngine(engine: live, journal: journal, clock: clock, snapshots: try SnapshotPolicy(everyRecords: 300))
        let explicit = Atomic<Int>(0)
        let traffic = try Self.run(
            durable, clock: clock, threads: 3, operations: 1_200, seed: seed,
            side: { durable in
                usleep(20_000)
                if (try? durable.snapshot()) != nil { explicit.wrappingAdd(1, ordering: .relaxed) }
            },
            midway: { durable in
                if (try? durable.snapshot()) != nil { explicit.wrappingAdd(1, ordering: .relaxed) }
            })
        try durable.close()
        let statistics = durable.snapshotStatistics
        #expect(explicit.load(ordering: .relaxed) > 0)
        #expect(statistics.snapshotCount >= explicit.load(ordering: .relaxed))
        #expect(statistics.failureCount == 0)
        #expect(statistics.stallNanosecondsMax >= statistics.stallNanosecondsMedian && statistics.stallNanosecondsMedian > 0)
        // Every snapshot, taken at any moment of the traffic, plus the records after it.
        let snapshots = journal.snapshots
        #expect(snapshots.count == statistics.snapshotCount)
        #expect(snapshots.contains { $0.ticket > 0 && $0.ticket < journal.lastTicket }, "records after a snapshot")
        var recovered: [CreditEngine] = []
        for (bytes, ticket) in snapshots {
            let engine = try CreditEngine.restored(from: bytes, configuration: DurableEngineTests.configuration(), clock: clock)
            let replayed = try DurableEngine.recover(journal.records[Int(ticket)...], into: engine)
            #expect(replayed == Int(journal.lastTicket - ticket))
            #expect(try Self.facts(of: engine, at: Self.end) == Self.facts(of: live, at: Self.end), "seed \(seed), ticket \(ticket)")
            #expect(engine.invariantViolation() == nil)
            recovered.append(engine)
        }
        #expect(traffic.open.count > 10, "reservations left open")
        // Later requests, to the engine recovered from the oldest snapshot (the most replayed).
        let oldest = try #require(recovered.first)
        #expect(try Self.laterReplies(of: oldest, traffic: traffic) == Self.laterReplies(of: live, traffic: traffic))
        #expect(live.mismatchCount == 0 && oldest.mismatchCount == 0)
    }

    /// A snapshot of a quiet engine, restored, encodes to the same bytes: every table the
    /// encoding holds came back (slots, events, open reservations, registry, time).
    @Test func aRestoredEngineEncodesToTheSameBytes() throws {
        let clock = ManualClock(Self.start)
        let live = try CreditEngine(configuration: DurableEngineTests.configuration(), clock: clock)
        let durable = DurableEngine(engine: live, journal: MemoryJournal(), clock: clock)
        let traffic = try Self.run(durable, clock: clock, threads: 2, operations: 600, seed: 5)
        let bytes = live.captureSnapshot().encoded()
        let restored = try CreditEngine.restored(from: bytes, configuration: DurableEngineTests.configuration(), clock: clock)
        #expect(restored.captureSnapshot().encoded() == bytes)
        #expect(restored.accountIDs.handedOutCount == live.accountIDs.handedOutCount)
        #expect(restored.eventIDs.handedOutCount == live.eventIDs.handedOutCount)
        #expect(restored.registry.withLock { $0.grantShard.count } == live.registry.withLock { $0.grantShard.count })
        #expect(restored.registry.withLock { $0.refundShard.count } > 0)
        #expect(try Self.laterReplies(of: restored, traffic: traffic) == Self.laterReplies(of: live, traffic: traffic))
    }

    /// Hot-path reserves, charges, commits and releases still queued when the snapshot is
    /// captured (the capture drains them without applying them; the snapshot applies its copy
    /// to its ledgers): the snapshot encodes exactly as one taken after they settled, the
    /// engine restored from it is the live engine at that instant (open reservations, holds
    /// and counts of events reserved, committed or released in the queue included), and the
    /// live engine settles them exactly once, as the sequential core answers them.
    @Test func operationsQueuedAtTheCaptureAreInTheSnapshotAndSettledOnce() throws {
        let clock = ManualClock(Self.start)
        let configuration = DurableEngineTests.configuration()
        let live = try CreditEngine(configuration: configuration, clock: clock)
        var core = Ledger()
        var t = Self.start
        var alerts: [Alert] = []
        func both(_ request: Request) throws {
            #expect(try live.apply(request, at: t, alerts: &alerts) == core.apply(request, at: t), "\(request)")
        }
        try both(.rates(RatesRequest(version: "v1", items: ["chat": ItemSpec(base: 3)])))
        for (index, account) in Self.accounts.enumerated() {
            let limits = index % 3 == 0 ? LimitsSpec(overdraft: 30) : index % 3 == 1 ? LimitsSpec(period: .day, periodCap: 900) : nil
            try both(.account(id: account, limits: limits))
            try both(.grant(GrantRequest(account: account, id: "g\(index)", amount: 1_000)))
        }
        // Reservations settled before the capture, to be committed or released in the queue.
        let accounts = Self.accounts.prefix(12)
        for (index, account) in accounts.enumerated() {
            t += 1
            try both(.reserve(ReserveRequest(account: account, id: "before-\(index)", cost: .amount(40), ttlMilliseconds: 5_000)))
        }
        live.settle()
        let hotBefore = live.statistics().hotOperations
        // Queued, not settled: every request below takes the hot path (no slow-path request
        // runs until the capture, and each shard's queue has room for them all).
        var traffic = Traffic()
        var queued = 0
        func hot(_ request: Request) throws {
            t += 1
            try both(request)
            traffic.requests.append(request)
            queued += 1
        }
        for (index, account) in accounts.enumerated() {
            try hot(index % 2 == 0 ? .commit(id: "before-\(index)", .amount(25)) : .release(id: "before-\(index)"))
            // Reserved and closed in the queue.
            try hot(.reserve(ReserveRequest(account: account, id: "closed-\(index)", cost: .amount(7), ttlMilliseconds: 5_000)))
            try hot(index % 2 == 0 ? .release(id: "closed-\(index)") : .commit(id: "closed-\(index)", .amount(9)))
            // Reserved in the queue and open at the capture: short lives, expiring after it.
            try hot(.reserve(ReserveRequest(account: account, id: "open-\(index)", cost: .amount(11), ttlMilliseconds: 200)))
            traffic.open.append("open-\(index)")
            try hot(.charge(ChargeRequest(account: account, id: "charge-\(index)", cost: index % 2 == 0 ? .amount(13) : .item("chat", usage: nil))))
            traffic.charged.append("charge-\(index)")
        }
        let captured = live.captureSnapshot()
        #expect(captured.queuedOperationCount == queued, "the capture found every hot-path operation still queued")
        #expect(captured.lastTime == t)
        let bytes = captured.encoded()
        // The same state with nothing queued: the bytes are equal.
        live.settle()
        let settled = live.captureSnapshot()
        #expect(settled.queuedOperationCount == 0)
        #expect(settled.encoded() == bytes, "a snapshot with operations queued encodes as one after they settled")
        // Settled exactly once, as the core answered them.
        #expect(live.statistics().hotOperations - hotBefore == queued)
        #expect(live.mismatchCount == 0)
        var coreViews = Self.accounts.map { "\(core.apply(.balance(account: $0), at: t))" }
        coreViews.append("\(core.apply(.report(account: nil), at: t))")
        #expect(try DurableEngineTests.state(of: live, at: t) == coreViews)
        // Restored: the live engine at the capture, and afterwards (the open reservations
        // expire, charges are refunded, requests retried) the same replies.
        let restored = try CreditEngine.restored(from: bytes, configuration: configuration, clock: clock)
        #expect(try Self.facts(of: restored, at: t) == Self.facts(of: live, at: t))
        #expect(live.openReservationCount == accounts.count && restored.openReservationCount == accounts.count)
        #expect(try Self.laterReplies(of: restored, traffic: traffic) == Self.laterReplies(of: live, traffic: traffic))
        #expect(live.mismatchCount == 0 && restored.mismatchCount == 0)
        #expect(live.invariantViolation() == nil && restored.invariantViolation() == nil)
    }

    @Test func restoringRefusesBadBytesAndAnotherShardCount() throws {
        let clock = ManualClock(Self.start)
        let live = try CreditEngine(configuration: DurableEngineTests.configuration(), clock: clock)
        var alerts: [Alert] = []
        _ = try live.apply(.account(id: "a", limits: nil), at: Self.start, alerts: &alerts)
        _ = try live.apply(.grant(GrantRequest(account: "a", id: "g", amount: 10)), at: Self.start, alerts: &alerts)
        let bytes = live.captureSnapshot().encoded()
        var other = DurableEngineTests.configuration()
        other.shardCount = 8
        #expect(throws: EngineSnapshotError.self) { try CreditEngine.restored(from: bytes, configuration: other) }
        var small = DurableEngineTests.configuration()
        small.accountsMax = 0 + 1
        _ = try live.apply(.account(id: "b", limits: nil), at: Self.start, alerts: &alerts)
        #expect(throws: EngineSnapshotError.self) {
            try CreditEngine.restored(from: live.captureSnapshot().encoded(), configuration: small)
        }
        for cut in [0, 3, bytes.count / 2, bytes.count - 1] {
            #expect(throws: EngineSnapshotError.self) {
                try CreditEngine.restored(from: Array(bytes[..<cut]), configuration: DurableEngineTests.configuration())
            }
        }
        #expect(throws: EngineSnapshotError.self) {
            try CreditEngine.restored(from: bytes + [0], configuration: DurableEngineTests.configuration())
        }
        // Counts past `countMax` and ids past `idBytesMax` are damage, not allocations.
        var huge = EngineSnapshotWriter()
        huge.u32(EngineSnapshot.formatVersion)
        huge.u64(UInt64(EngineSnapshotReader.countMax) + 1)
        let countError = try #require(throws: EngineSnapshotError.self) {
            try CreditEngine.restored(from: huge.bytes, configuration: DurableEngineTests.configuration())
        }
        #expect(countError.offset == 12 && countError.message.hasPrefix("count"))
        var reader = EngineSnapshotReader(bytes: { var w = EngineSnapshotWriter(); w.count(EngineSnapshotReader.idBytesMax + 1); return w.bytes + [UInt8](repeating: 97, count: EngineSnapshotReader.idBytesMax + 1) }())
        #expect(throws: EngineSnapshotError.self) { try reader.string() }
        var fits = EngineSnapshotReader(bytes: { var w = EngineSnapshotWriter(); w.string(String(repeating: "a", count: EngineSnapshotReader.idBytesMax)); return w.bytes }())
        #expect(try fits.string().utf8.count == EngineSnapshotReader.idBytesMax)
    }

    /// On disk: the policy's snapshots during the traffic and one at the end; the segments
    /// before the newest snapshot are gone; recovery from the directory gives the live
    /// engine; reopened, the journal appends after the last ticket.
    @Test func recoveryFromDiskUsesTheSnapshotAndDropsTheJournalBeforeIt() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let clock = ManualClock(Self.start)
        let live = try CreditEngine(configuration: DurableEngineTests.configuration(), clock: clock)
        let journal = try FileEngineJournal(directory: directory)
        let durable = DurableEngine(engine: live, journal: journal, clock: clock, snapshots: try SnapshotPolicy(everyRecords: 400))
        let traffic = try Self.run(durable, clock: clock, threads: 3, operations: 700, seed: 11)
        var alerts: [Alert] = []
        let explicit = try durable.snapshot()
        // Changes after the last snapshot: recovery replays them from the journal.
        for (index, account) in Self.accounts.enumerated() {
            _ = try durable.apply(.grant(GrantRequest(account: account, id: "after-\(index)", amount: 7)), alerts: &alerts)
        }
        try durable.close()
        #expect(durable.snapshotStatistics.snapshotCount >= 3)
        #expect(explicit.ticket == journal.lastTicket - UInt64(Self.accounts.count))
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        #expect(names.filter { EngineSnapshotFile.ticket(ofName: $0) != nil } == [EngineSnapshotFile.name(ticket: explicit.ticket)])
        // The journal starts right after the snapshot: nothing before it is left.
        #expect(throws: JournalError.self) {
            try ConcurrentJournal.forEachRecord(directory: directory, fileSystem: POSIXFileSystem()) { _, _ throws(JournalError) in }
        }
        var tickets: [UInt64] = []
        _ = try ConcurrentJournal.forEachRecord(directory: directory, fileSystem: POSIXFileSystem(), after: explicit.ticket) {
            ticket, _ throws(JournalError) in tickets.append(ticket.sequence)
        }
        #expect(tickets == Array(explicit.ticket + 1...journal.lastTicket))
        #expect(names.filter { JournalFormat.segmentSequence($0) != nil }.count <= 2)

        let recovery = try FileEngineJournal.recover(
            directory: directory, configuration: DurableEngineTests.configuration(), clock: clock)
        #expect(recovery.snapshotTicket == explicit.ticket && recovery.recordCount == Self.accounts.count)
        #expect(try Self.facts(of: recovery.engine, at: Self.end) == Self.facts(of: live, at: Self.end))
        #expect(throws: DurableEngineError.self) {
            try FileEngineJournal.recover(directory: directory, into: CreditEngine(configuration: DurableEngineTests.configuration()))
        }
        let reopened = try FileEngineJournal(directory: directory)
        let again = DurableEngine(engine: recovery.engine, journal: reopened, clock: ManualClock(Self.end))
        _ = try again.apply(.grant(GrantRequest(account: "acct1", id: "reopened", amount: 5)), alerts: &alerts)
        #expect(reopened.lastTicket == journal.lastTicket + 1)
        try again.close()
        #expect(try Self.laterReplies(of: recovery.engine, traffic: traffic) != [], "the recovered engine runs")
    }

    /// A crash after the snapshot is published but before the segments it covers are
    /// removed: recovery takes the snapshot and only the records after it (nothing twice).
    /// A crash while a snapshot is written leaves its temporary file: ignored, then removed.
    @Test func aCrashBeforeTheJournalIsDroppedRecoversExactly() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let clock = ManualClock(Self.start)
        let live = try CreditEngine(configuration: DurableEngineTests.configuration(), clock: clock)
        let journal = try FileEngineJournal(directory: directory)
        journal.keepsCoveredSegments = true
        let durable = DurableEngine(engine: live, journal: journal, clock: clock)
        let traffic = try Self.run(durable, clock: clock, threads: 2, operations: 400, seed: 21) { durable in
            usleep(3_000)
            _ = try? durable.snapshot()
        }
        // Changes after the newest snapshot, for the journal to replay.
        var alerts: [Alert] = []
        for (index, account) in Self.accounts.enumerated() {
            _ = try durable.apply(.grant(GrantRequest(account: account, id: "after-\(index)", amount: 7)), alerts: &alerts)
        }
        try durable.close()
        let newest = try #require(try EngineSnapshotFile.newest(in: directory, fileSystem: POSIXFileSystem()))
        var count = 0
        _ = try ConcurrentJournal.forEachRecord(directory: directory, fileSystem: POSIXFileSystem()) { _, _ throws(JournalError) in
            count += 1
        }
        #expect(count == Int(journal.lastTicket), "every segment is still there")
        #expect(newest.ticket > 0 && newest.ticket < journal.lastTicket)
        try Data("half a snapshot".utf8).write(to: URL(fileURLWithPath: directory + "/" + EngineSnapshotFile.temporaryName))
        let recovery = try FileEngineJournal.recover(
            directory: directory, configuration: DurableEngineTests.configuration(), clock: clock)
        #expect(recovery.recordCount == Int(journal.lastTicket - newest.ticket))
        #expect(try Self.facts(of: recovery.engine, at: Self.end) == Self.facts(of: live, at: Self.end))
        #expect(try Self.laterReplies(of: recovery.engine, traffic: traffic) == Self.laterReplies(of: live, traffic: traffic))
        let reopened = try FileEngineJournal(directory: directory)
        #expect(!FileManager.default.fileExists(atPath: directory + "/" + EngineSnapshotFile.temporaryName))
        try reopened.close()
    }

    /// A damaged snapshot (a flipped bit in the body, in the header, a cut file) is refused
    /// with an error naming the file and the byte offset.
    @Test func aDamagedSnapshotIsRefused() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let clock = ManualClock(Self.start)
        let journal = try FileEngineJournal(directory: directory)
        let durable = DurableEngine(
            engine: try CreditEngine(configuration: DurableEngineTests.configuration(), clock: clock), journal: journal,
            clock: clock)
        _ = try Self.run(durable, clock: clock, threads: 2, operations: 200, seed: 3)
        let report = try durable.snapshot()
        try durable.close()
        let path = directory + "/" + EngineSnapshotFile.name(ticket: report.ticket)
        let good = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(good.count == report.bytes)
        let damages: [(bytes: [UInt8], offset: Int)] = [
            (good.enumerated().map { $0.offset == good.count / 2 ? $0.element ^ 0x10 : $0.element }, EngineSnapshotFile.headerBytes),
            (good.enumerated().map { $0.offset == 17 ? $0.element ^ 0x01 : $0.element }, 36),
            (Array(good.dropLast(5)), 24),
            (Self.withBodyLength(EngineSnapshotFile.bodyBytesMax + 1, good), 24),
        ]
        for damage in damages {
            try Data(damage.bytes).write(to: URL(fileURLWithPath: path))
            do {
                _ = try FileEngineJournal.recover(directory: directory, configuration: DurableEngineTests.configuration())
                Issue.record("a damaged snapshot was accepted")
            } catch let error as DurableEngineError {
                #expect(error.description.hasPrefix(path + ": bad engine snapshot at byte \(damage.offset):"), "\(error)")
            }
        }
    }

    /// A snapshot file whose header says `length` body bytes, with a valid header checksum.
    static func withBodyLength(_ length: UInt64, _ file: [UInt8]) -> [UInt8] {
        var bytes = file
        for index in 0..<8 { bytes[24 + index] = UInt8(truncatingIfNeeded: length >> (8 * UInt64(index))) }
        let crc = CRC32C.checksum(Array(bytes[0..<36]))
        for index in 0..<4 { bytes[36 + index] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(index))) }
        return bytes
    }

    /// The journal's segment cut: records appended before `startSegmentAfterLastAppend` end
    /// a segment, those after start the next, even when both are pending in one batch.
    @Test func theJournalStartsASegmentExactlyAfterTheMarkedTicket() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let journal = try ConcurrentJournal(directory: directory, fileSystem: POSIXFileSystem(), mode: .buffered(maxDelayMilliseconds: 1))
        var cuts: [UInt64] = []
        for round in 0..<20 {
            var appended: JournalTicket?
            for record in 0..<(round % 4) * 3 { appended = try journal.append([UInt8(record)]) }
            cuts.append(journal.startSegmentAfterLastAppend().sequence)
            // Half the rounds let the writer take the batch before the next appends.
            if round % 2 == 0, let appended { try journal.waitDurable(appended) }
        }
        let last = try journal.append([9])
        try journal.waitDurable(last)
        _ = try journal.close()
        // Every segment's batches end at a marked ticket or at the end.
        let fileSystem = POSIXFileSystem()
        var segmentLastTickets: [UInt64] = []
        for name in try fileSystem.list(directory).sorted() where JournalFormat.segmentSequence(name) != nil {
            let summary = try JournalSegmentReader.read(
                directory + "/" + name, fileSystem: fileSystem, isLast: false, keepBatches: false) { _ throws(JournalError) in }
            segmentLastTickets.append(summary.lastLine ?? 0)
        }
        let lastTickets = segmentLastTickets.filter { $0 > 0 }
        #expect(lastTickets.dropLast().allSatisfy { cuts.contains($0) }, "\(lastTickets) \(cuts)")
        #expect(lastTickets.last == last.sequence)
        #expect(lastTickets.count >= 5, "the rounds the writer took alone end segments at least")
        // Removing through a cut removes exactly the segments holding only tickets up to it.
        let reopened = try ConcurrentJournal(directory: directory, fileSystem: fileSystem, mode: .durable)
        let removed = try reopened.removeSegments(through: JournalTicket(sequence: cuts[10]))
        #expect(removed == segmentLastTickets.filter { $0 <= cuts[10] }.count)
        #expect(reopened.finishedSegmentNames.count == segmentLastTickets.count - removed)
        var after: [UInt64] = []
        _ = try ConcurrentJournal.forEachRecord(directory: directory, fileSystem: fileSystem, after: cuts[10]) {
            ticket, _ throws(JournalError) in after.append(ticket.sequence)
        }
        #expect(after == Array(cuts[10] + 1...last.sequence))
        _ = try reopened.close()
    }
}
