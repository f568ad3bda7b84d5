// Snapshots of the durable engine, so that its journal stops growing and recovery replays
// only what came after the newest snapshot.
//
// A snapshot: settle the shards' queues (no stripe held yet, so the capture finds few
// operations queued); take every stripe (then no change is between its apply and its append);
// mark the journal's last ticket T (the journal starts a new segment after it); capture the
// engine (`CreditEngine.captureSnapshot`: the queues drained, the ledgers and the drained
// operations copied, none applied: O(shards + queued operations)); let the stripes go.
// Appliers wait only for that part: the stall, measured every time. Then, with appliers
// running again, encode the captured state (which first applies the drained operations to
// the ledger copies) and store it as covering T: the file is written, synced, and published
// once the journal is durable through T; then the segments holding only tickets up to T are
// removed.
//
// Taken every `recordsBetweenSnapshots` journalled records by a snapshot thread (the append
// that reaches the due ticket wakes it), or on the caller's thread by `snapshot()`. One at a
// time: a snapshot due while one is being written is taken after it.

import CreditCore
import CreditEngine
import CreditJournal

/// When the durable engine takes snapshots by itself.
public struct SnapshotPolicy: Sendable, Hashable {
    /// The fewest journalled records between automatic snapshots: each writes the whole state.
    public static let recordsBetweenSnapshotsMin = 100
    /// The most: 2^40 records.
    public static let recordsBetweenSnapshotsMax = 1 << 40
    /// A snapshot per million records, as `replay --data-dir` does.
    public static let recordsBetweenSnapshotsDefault = 1_000_000

    /// Journalled records between automatic snapshots; nil: only `snapshot()` takes them.
    public let recordsBetweenSnapshots: Int?

    /// Only explicit `DurableEngine.snapshot()` calls.
    public static let manual = SnapshotPolicy(uncheckedRecords: nil)

    /// A snapshot every `records` journalled records (`recordsBetweenSnapshotsMin` ...
    /// `recordsBetweenSnapshotsMax`); throws `DurableEngineError` outside that range.
    public init(everyRecords records: Int = recordsBetweenSnapshotsDefault) throws {
        guard records >= Self.recordsBetweenSnapshotsMin, records <= Self.recordsBetweenSnapshotsMax else {
            throw DurableEngineError(
                "records between snapshots must be \(Self.recordsBetweenSnapshotsMin) ... \(Self.recordsBetweenSnapshotsMax), not \(records)")
        }
        recordsBetweenSnapshots = records
    }

    private init(uncheckedRecords records: Int?) { recordsBetweenSnapshots = records }
}

/// One snapshot taken: what it covers and what it cost.
public struct SnapshotReport: Sendable, Hashable {
    /// Every journal record through this ticket is in the snapshot.
    public var ticket: UInt64
    /// How long appliers were blocked: every stripe held, the shards' queues drained and copied.
    public var stallNanoseconds: UInt64
    /// Of the stall: the wall time to take every stripe, and the snapshotting thread's CPU
    /// time (the rest of the wall time is waiting for stripes and being preempted).
    public var stripesNanoseconds: UInt64
    public var stallCPUNanoseconds: UInt64
    /// Of the stall: the wall time of the engine's capture alone, and the hot-path operations
    /// it found queued (drained and copied, applied to the copies while encoding).
    public var captureNanoseconds: UInt64
    public var queuedOperationCount: Int
    /// Encoding the captured state (applying the operations the capture found queued to the
    /// ledger copies included), then writing, syncing and publishing the file (the wait
    /// for the journal's durability included) and removing what it covers.
    public var encodeNanoseconds: UInt64
    public var writeNanoseconds: UInt64
    /// The file's size.
    public var bytes: Int
}

/// The snapshots taken so far by a durable engine.
public struct SnapshotStatistics: Sendable, Hashable {
    public var snapshotCount = 0
    /// Snapshots that failed (the journal is not affected; the next one is due N records on).
    public var failureCount = 0
    public var lastFailure: String?
    public var last: SnapshotReport?
    /// Over every snapshot: the longest stall, and the median of the last `stallSamplesMax`.
    public var stallNanosecondsMax: UInt64 = 0
    public var stallNanosecondsMedian: UInt64 = 0
}

/// The statistics' bookkeeping, behind `DurableEngine.snapshotRecord`'s lock.
struct SnapshotRecord {
    /// Stall samples kept for the median.
    static let stallSamplesMax = 4_096

    var statistics = SnapshotStatistics()
    var stalls: [UInt64] = []
    /// The ticket the newest snapshot covers (0: none yet).
    var coveredTicket: UInt64 = 0

    mutating func add(_ report: SnapshotReport) {
        coveredTicket = report.ticket
        statistics.snapshotCount += 1
        statistics.last = report
        statistics.stallNanosecondsMax = max(statistics.stallNanosecondsMax, report.stallNanoseconds)
        if stalls.count == Self.stallSamplesMax { stalls.removeFirst() }
        stalls.append(report.stallNanoseconds)
        statistics.stallNanosecondsMedian = stalls.sorted()[stalls.count / 2]
    }
}

extension DurableEngine {
    /// Takes a snapshot now, on the calling thread (see the file's opening paragraph): the
    /// caller waits for the whole of it, appliers only for the capture. Waits for a snapshot
    /// in progress first. Throws the journal's error (the snapshot is not published; the
    /// journal keeps every record). Safe from any thread.
    @discardableResult
    public func snapshot() throws -> SnapshotReport {
        snapshotMutex.lock()
        defer { snapshotMutex.unlock() }
        return try snapshotHoldingMutex()
    }

    /// The snapshot thread's: a snapshot, unless one (an explicit call's) was taken less than
    /// `recordsBetweenSnapshots` records ago. Failures are counted in the statistics.
    func runScheduledSnapshot() {
        guard let records = snapshotPolicy.recordsBetweenSnapshots else { return }
        snapshotMutex.lock()
        defer { snapshotMutex.unlock() }
        let covered = snapshotRecord.withLock { $0.coveredTicket }
        guard journal.lastTicket >= covered + UInt64(records) else {
            scheduleNextSnapshot(after: covered)
            return
        }
        _ = try? snapshotHoldingMutex()
    }

    /// Takes a snapshot and records it. Holding `snapshotMutex`.
    private func snapshotHoldingMutex() throws -> SnapshotReport {
        do {
            let report = try takeSnapshot()
            snapshotRecord.withLock { $0.add(report) }
            scheduleNextSnapshot(after: report.ticket)
            return report
        } catch {
            snapshotRecord.withLock {
                $0.statistics.failureCount += 1
                $0.statistics.lastFailure = "\(error)"
            }
            scheduleNextSnapshot(after: journal.lastTicket)
            throw error
        }
    }

    /// The snapshots taken so far. Safe from any thread.
    public var snapshotStatistics: SnapshotStatistics { snapshotRecord.withLock { $0.statistics } }

    /// Settling passes before a capture, and the count of operations a pass settled below
    /// which no other follows (see `takeSnapshot`).
    static let presettlePassesMax = 4
    static let presettleOperationsMax = 256

    /// Capture under every stripe, then encode and store. Holding `snapshotMutex`.
    private func takeSnapshot() throws -> SnapshotReport {
        // Settled now, the queues hold only what arrives until the stripes are held, which the
        // capture drains and copies under the stall (some 40 ns each). A pass over full queues
        // takes milliseconds (a ledger operation each, one shard at a time), in which thousands
        // arrive: settle again while a pass found more than `presettleOperationsMax`, at most
        // `presettlePassesMax` times (under a load the engine cannot settle as fast as it
        // admits, passes would not end). Each operation is settled once whichever pass takes it.
        for _ in 0..<Self.presettlePassesMax {
            if engine.settle() <= Self.presettleOperationsMax { break }
        }
        let cpuStart = threadCPUNanoseconds()
        let start = monotonicNanoseconds()
        for lock in stripes { lock.lock() }
        let stripesHeld = monotonicNanoseconds()
        let ticket = journal.markSnapshotPoint()
        let captureStart = monotonicNanoseconds()
        let captured = engine.captureSnapshot()
        let captureDone = monotonicNanoseconds()
        for lock in stripes.reversed() { lock.unlock() }
        let captureEnd = monotonicNanoseconds()
        let cpu = threadCPUNanoseconds() - cpuStart
        let bytes = captured.encoded()
        let encodeEnd = monotonicNanoseconds()
        let size = try journal.storeSnapshot(bytes, through: ticket)
        return SnapshotReport(
            ticket: ticket, stallNanoseconds: captureEnd - start, stripesNanoseconds: stripesHeld - start,
            stallCPUNanoseconds: cpu, captureNanoseconds: captureDone - captureStart,
            queuedOperationCount: captured.queuedOperationCount, encodeNanoseconds: encodeEnd - captureEnd,
            writeNanoseconds: monotonicNanoseconds() - encodeEnd, bytes: size)
    }

    /// Arms the next automatic snapshot `recordsBetweenSnapshots` records after `ticket`.
    private func scheduleNextSnapshot(after ticket: UInt64) {
        guard let records = snapshotPolicy.recordsBetweenSnapshots else { return }
        snapshotDueTicket.store(ticket + UInt64(records), ordering: .relaxed)
    }

    /// Wakes the snapshot thread once per due ticket. From `applyAndJournal`.
    func requestScheduledSnapshot() {
        let due = snapshotDueTicket.load(ordering: .relaxed)
        guard due != UInt64.max,
            snapshotDueTicket.compareExchange(expected: due, desired: UInt64.max, ordering: .relaxed).exchanged
        else { return }
        snapshotSignal?.request()
    }

    /// Starts the snapshot thread of an automatic policy. From `init`.
    func startSnapshotThread() {
        guard let signal = snapshotSignal else { return }
        scheduleNextSnapshot(after: journal.lastTicket)
        WriterThread { [weak self] in
            defer { signal.finished() }
            while signal.next() {
                guard let engine = self else { return }
                engine.runScheduledSnapshot()
            }
        }.start()
    }
}

/// Wake-ups of a snapshot thread, and its stop. Safe from any thread.
final class SnapshotSignal: @unchecked Sendable {
    // Safe to share: the flags are read and written only with the lock held.
    private let lock = ConditionLock()
    private var requested = false
    private var stopping = false
    private var running = true

    /// Asks for a snapshot.
    func request() {
        lock.withLock {
            requested = true
            lock.broadcast()
        }
    }

    /// The thread's wait: true for a requested snapshot, false to stop.
    func next() -> Bool {
        lock.withLock {
            while !requested && !stopping { lock.wait() }
            requested = false
            return !stopping
        }
    }

    /// Tells the thread to stop; with `waiting`, returns once it has.
    func stop(waiting: Bool) {
        lock.withLock {
            stopping = true
            lock.broadcast()
            while waiting && running { lock.wait() }
        }
    }

    /// The thread has stopped.
    func finished() {
        lock.withLock {
            running = false
            lock.broadcast()
        }
    }
}
