// A measurement, not a check: runs only with CREDITMETER_SNAPSHOT_BENCH set (to the account
// count, e.g. 100000 or 1000000), in a release build:
//
//   CREDITMETER_SNAPSHOT_BENCH=1000000 swift test -c release -Xswiftc -enable-testing \
//       --filter DurableSnapshotMeasurement
//
// Creates the accounts (each with a grant) through a durable engine over a file journal in
// buffered mode, then two threads apply reserves, commits and charges on random accounts
// while a third takes a snapshot every 250 ms; prints the capture stall (max, median), the
// encoding and writing times and the size, the appliers' longest operation during the run,
// and recovery times from the snapshot plus the journal after it and from the whole journal.

import CreditCore
@testable import CreditDurable
import CreditEngine
import CreditJournal
import Foundation
import Synchronization
import Testing

@Suite struct DurableSnapshotMeasurement {
    static var accountCount: Int? {
        ProcessInfo.processInfo.environment["CREDITMETER_SNAPSHOT_BENCH"].flatMap { Int($0) }
    }

    @Test(.enabled(if: accountCount != nil)) func snapshotStallAndRecovery() throws {
        let accounts = Self.accountCount!
        let seconds = Double(ProcessInfo.processInfo.environment["CREDITMETER_SNAPSHOT_SECONDS"] ?? "") ?? 6
        let directory = DurableSnapshotTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = EngineConfiguration()
        configuration.accountsMax = max(1 << 17, accounts.nextPowerOfTwo)
        configuration.eventsMax = 1 << 23
        let clock = ManualClock(DurableSnapshotTests.start)
        let journal = try FileEngineJournal(directory: directory, mode: .buffered(maxDelayMilliseconds: 5))
        journal.keepsCoveredSegments = true  // the whole journal stays, for the journal-only recovery
        let live = try CreditEngine(configuration: configuration, clock: clock)
        let durable = DurableEngine(engine: live, journal: journal, clock: clock)
        var alerts: [Alert] = []
        let setUpStart = Date()
        var last: UInt64 = 0
        for account in 0..<accounts {
            last = try durable.applyDeferringDurability(.account(id: "a\(account)", limits: nil), at: clock.now(), alerts: &alerts).ticket
            last = try durable.applyDeferringDurability(
                .grant(GrantRequest(account: "a\(account)", id: "g\(account)", amount: 1_000_000)), at: clock.now(),
                alerts: &alerts
            ).ticket
            alerts.removeAll(keepingCapacity: true)
        }
        try durable.waitDurable(through: last)
        print("set-up: \(accounts) accounts and grants in \(Date().timeIntervalSince(setUpStart)) s")

        let stop = Atomic<Bool>(false)
        let operations = Atomic<Int>(0)
        let longestNanoseconds = Atomic<UInt64>(0)
        let over100Microseconds = Atomic<Int>(0)
        let reports = Locked<[SnapshotReport]>([])
        // The snapshots on a thread of their own: `concurrentPerform` may run its iterations
        // one after another, and the workers stop only when the snapshots are done.
        let snapshotsDone = DispatchSemaphore(value: 0)
        Thread {
            let end = Date().addingTimeInterval(seconds)
            while Date() < end {
                usleep(250_000)
                if let report = try? durable.snapshot() { reports.withLock { $0.append(report) } }
            }
            stop.store(true, ordering: .releasing)
            snapshotsDone.signal()
        }.start()
        defer { snapshotsDone.wait() }
        DispatchQueue.concurrentPerform(iterations: 2) { thread in
            var random = SeededRandom(seed: UInt64(thread) + 1)
            var alerts: [Alert] = []
            var open: [String] = []
            var step = 0
            while !stop.load(ordering: .acquiring) {
                step += 1
                if step % 1_000 == 0 { clock.advance(by: 1) }
                let account = "a\(Int.random(in: 0..<accounts, using: &random))"
                let id = "w\(thread)-\(step)"
                let request: Request
                switch Int.random(in: 0..<3, using: &random) {
                case 0:
                    request = .reserve(ReserveRequest(account: account, id: id, cost: .amount(5), ttlMilliseconds: 60_000))
                    open.append(id)
                case 1 where !open.isEmpty: request = .commit(id: open.removeLast(), .amount(3))
                default: request = .charge(ChargeRequest(account: account, id: id, cost: .amount(2)))
                }
                let start = monotonicNanoseconds()
                _ = try? durable.applyDeferringDurability(request, at: clock.now(), alerts: &alerts)
                let took = monotonicNanoseconds() - start
                longestNanoseconds.max(took, ordering: .relaxed)
                if took > 100_000 { over100Microseconds.wrappingAdd(1, ordering: .relaxed) }
                alerts.removeAll(keepingCapacity: true)
                operations.wrappingAdd(1, ordering: .relaxed)
            }
        }
        let statistics = durable.snapshotStatistics
        try durable.close()
        let taken = reports.withLock { $0 }
        func milliseconds(_ nanoseconds: UInt64) -> String { String(format: "%.1f ms", Double(nanoseconds) / 1e6) }
        print(
            "load: \(operations.load(ordering: .relaxed)) operations in \(seconds) s on 2 threads; \(taken.count) snapshots; "
                + "longest operation \(longestNanoseconds.load(ordering: .relaxed) / 1_000) µs, \(over100Microseconds.load(ordering: .relaxed)) over 100 µs")
        print(
            "stall: max \(statistics.stallNanosecondsMax / 1_000) µs, median \(statistics.stallNanosecondsMedian / 1_000) µs; "
                + "each (wall, of it taking the stripes, CPU) µs: \(taken.map { "\($0.stallNanoseconds / 1_000)/\($0.stripesNanoseconds / 1_000)/\($0.stallCPUNanoseconds / 1_000)" })")
        print(
            "capture in the stall (wall µs, operations found queued): "
                + "\(taken.map { "\($0.captureNanoseconds / 1_000)/\($0.queuedOperationCount)" })")
        if let newest = taken.last {
            print(
                "snapshot: \(newest.bytes) bytes; encode \(milliseconds(newest.encodeNanoseconds)), write+sync+publish \(milliseconds(newest.writeNanoseconds)); "
                    + "encode all: \(taken.map { milliseconds($0.encodeNanoseconds) })")
        }
        // The capture alone on the quiet engine (queues settled), five times.
        var quiet: [String] = []
        for _ in 0..<5 {
            live.settle()
            let (wall, cpu) = (monotonicNanoseconds(), threadCPUNanoseconds())
            let captured = live.captureSnapshot()
            quiet.append("\((monotonicNanoseconds() - wall) / 1_000)/\((threadCPUNanoseconds() - cpu) / 1_000)")
            #expect(captured.accountCount == accounts)
        }
        print("capture alone on the quiet engine (wall/CPU µs): \(quiet)")
        let withSnapshot = try FileEngineJournal.recover(directory: directory, configuration: configuration, clock: clock)
        print(
            "recovery with the snapshot: \(milliseconds(withSnapshot.snapshotNanoseconds)) snapshot + "
                + "\(milliseconds(withSnapshot.journalNanoseconds)) for \(withSnapshot.recordCount) journal records")
        let newest = try #require(try EngineSnapshotFile.newest(in: directory, fileSystem: POSIXFileSystem()))
        try FileManager.default.removeItem(atPath: directory + "/" + newest.name)
        let journalOnly = try FileEngineJournal.recover(directory: directory, configuration: configuration, clock: clock)
        print("recovery from the journal alone: \(milliseconds(journalOnly.journalNanoseconds)) for \(journalOnly.recordCount) records")
        var end = clock.now() + 1
        for probe in ["a0", "a\(accounts / 2)", "a\(accounts - 1)"] {
            end += 1
            #expect(
                "\(try withSnapshot.engine.apply(.balance(account: probe), at: end, alerts: &alerts))"
                    == "\(try journalOnly.engine.apply(.balance(account: probe), at: end, alerts: &alerts))")
        }
    }
}

extension Int {
    fileprivate var nextPowerOfTwo: Int { self <= 1 ? 1 : 1 << (Int.bitWidth - (self - 1).leadingZeroBitCount) }
}
