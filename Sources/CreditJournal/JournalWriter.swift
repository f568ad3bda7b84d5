// The journal's writer thread and its group commit. The applying thread fills a
// `PendingBatch` (records and the output they acknowledge) and hands it over; the writer
// thread appends it to the current segment with one write(2), makes it durable with one
// fdatasync(2), then acknowledges it. Whatever arrives while a sync runs is merged into the
// next batch: one fdatasync covers every request that arrived during the previous one.

import CreditCore

#if canImport(Darwin)
    import Darwin
#else
    import Glibc
#endif

/// When a request is acknowledged.
public enum DurabilityMode: Sendable, Hashable {
    /// After its batch is on disk (fdatasync returned). Nothing acknowledged is ever lost.
    case durable
    /// After its batch is written to the operating system (write returned), with an
    /// fdatasync at most `maxDelayMilliseconds` later. A process crash loses nothing
    /// acknowledged; a power cut may lose the last `maxDelayMilliseconds`.
    case buffered(maxDelayMilliseconds: Int)
}

/// Records and output waiting to be written. Filled by the applying thread.
public struct PendingBatch: Sendable {
    /// The records, encoded by `JournalFormat.appendRecord`.
    public var payload: [UInt8] = []
    public var recordCount = 0
    /// The trace lines covered: `firstLine ... lastLine`; empty when `lastLine < firstLine`.
    public var firstLine: UInt64
    public var lastLine: UInt64
    /// What to acknowledge (print) once the batch is durable.
    public var output: [UInt8] = []
    /// Start a new segment after this batch (a snapshot covers everything up to it).
    public var rotateAfter = false
    /// The trace prefix through `lastLine` (see `TraceHash`); kept up to date by the caller.
    public var trace = TraceHash()

    public init(nextLine: UInt64) {
        firstLine = nextLine
        lastLine = nextLine - 1
    }

    public var isEmpty: Bool { lastLine < firstLine }

    /// Appends a record of trace line `line`: `request` at time `t`.
    public mutating func record(line: UInt64, request: Request, at t: Milliseconds) {
        precondition(line > lastLine, "records in line order")
        JournalFormat.appendRecord(line: line, request: request, at: t, to: &payload)
        recordCount += 1
    }

    mutating func merge(_ next: PendingBatch) {
        precondition(!rotateAfter, "nothing joins a batch that ends a segment")
        precondition(next.firstLine == lastLine + 1, "batches are contiguous")
        payload.append(contentsOf: next.payload)
        recordCount += next.recordCount
        lastLine = next.lastLine
        output.append(contentsOf: next.output)
        rotateAfter = next.rotateAfter
        trace = next.trace
    }
}

/// Counters of the writer, read when it has stopped or under its lock.
public struct JournalWriterStatistics: Sendable {
    public var batchCount = 0
    public var recordCount = 0
    public var syncCount = 0
    public var bytesWritten = 0
    public var syncNanoseconds: UInt64 = 0
}

/// The writer thread of one journal directory.
///
/// `submit`, `finish` and `waitSynced` are for the one applying thread; the writer thread
/// calls `acknowledge`. State shared between the two is guarded by `lock`, which is why
/// the class is `@unchecked Sendable`.
public final class JournalWriter<FileSystem: JournalFileSystem>: @unchecked Sendable {
    /// A batch handed over waits while the queued one holds this many payload bytes.
    public static var queuedBytesMax: Int { 16 << 20 }

    let directory: String
    let fileSystem: FileSystem
    let mode: DurabilityMode
    let acknowledge: @Sendable ([UInt8]) -> Void

    private let lock = ConditionLock()
    // Guarded by `lock`:
    private var queued: PendingBatch? = nil
    private var closing = false
    private var stopped = false
    private var failure: JournalError? = nil
    private var writtenLine: UInt64
    private var syncedLine: UInt64
    private var segmentSequence: UInt64
    private var statistics = JournalWriterStatistics()
    // Writer thread only:
    private var file: FileSystem.File
    private var segmentBytes: Int
    private var lastSyncNanoseconds: UInt64 = monotonicNanoseconds()
    private var unsyncedLine: UInt64

    /// Starts a writer appending to a new segment `sequence` (created here, durable with its
    /// directory entry before this returns), after trace line `lastLine`.
    public init(
        directory: String, fileSystem: FileSystem, mode: DurabilityMode, sequence: UInt64, lastLine: UInt64,
        acknowledge: @escaping @Sendable ([UInt8]) -> Void
    ) throws(JournalError) {
        self.directory = directory
        self.fileSystem = fileSystem
        self.mode = mode
        self.acknowledge = acknowledge
        writtenLine = lastLine
        syncedLine = lastLine
        unsyncedLine = lastLine
        segmentSequence = sequence
        (file, segmentBytes) = try Self.createSegment(directory: directory, fileSystem: fileSystem, sequence: sequence)
        let thread = WriterThread { [self] in run() }
        thread.start()
    }

    static func createSegment(directory: String, fileSystem: FileSystem, sequence: UInt64) throws(JournalError)
        -> (FileSystem.File, Int)
    {
        let path = directory + "/" + JournalFormat.segmentName(sequence)
        let file = try fileSystem.create(path)
        let header = JournalFormat.segmentHeader(sequence: sequence)
        do {
            try file.write(header)
            try file.sync()
            try fileSystem.syncDirectory(directory)
        } catch {
            file.close()
            throw error
        }
        return (file, header.count)
    }

    /// Hands `batch` to the writer (merged into the queued batch when there is one) and
    /// resets it to start after it. Waits while the queue is full. Throws when the journal
    /// has stopped: nothing more is acknowledged then.
    public func submit(_ batch: inout PendingBatch) throws(JournalError) {
        if batch.isEmpty { return }
        let next = batch.lastLine + 1
        try lock.withLock { () throws(JournalError) in
            while let waiting = queued, waiting.rotateAfter || waiting.payload.count >= Self.queuedBytesMax {
                if let failure { throw JournalError.stopped(failure) }
                lock.wait()
            }
            if let failure { throw JournalError.stopped(failure) }
            if queued == nil { queued = batch } else { queued!.merge(batch) }
            lock.broadcast()
        }
        let trace = batch.trace
        batch = PendingBatch(nextLine: next)
        batch.trace = trace
    }

    /// Whether the writer is waiting for work: the applying thread hands over its batch now
    /// rather than let it grow. A racy read is fine: it only decides when to submit.
    public var isIdle: Bool { lock.withLock { queued == nil && !busy } }
    private var busy = false

    /// Waits until every trace line up to `line` is synced (fdatasync), or the writer failed.
    public func waitSynced(through line: UInt64) throws(JournalError) {
        try lock.withLock { () throws(JournalError) in
            while syncedLine < line {
                if let failure { throw JournalError.stopped(failure) }
                if queued == nil && !busy && writtenLine >= line { needSync = true; lock.broadcast() }
                lock.wait()
            }
        }
    }
    private var needSync = false

    /// The sequence of the segment being written.
    public var currentSequence: UInt64 { lock.withLock { segmentSequence } }

    /// Writes and syncs everything submitted, stops the thread and returns the counters.
    public func finish() throws(JournalError) -> JournalWriterStatistics {
        try lock.withLock { () throws(JournalError) in
            closing = true
            lock.broadcast()
            while !stopped { lock.wait() }
            if let failure { throw failure }
        }
        return lock.withLock { statistics }
    }

    // MARK: The writer thread

    private func run() {
        while let batch = nextBatch() {
            do {
                try write(batch)
            } catch {
                lock.withLock {
                    failure = error
                    busy = false
                    lock.broadcast()
                }
                break
            }
        }
        file.close()
        lock.withLock {
            stopped = true
            lock.broadcast()
        }
    }

    /// The next batch, or nil to stop. In buffered mode, syncs when the delay runs out.
    private func nextBatch() -> PendingBatch? {
        while true {
            let (batch, shouldSync, shouldStop): (PendingBatch?, Bool, Bool) = lock.withLock {
                while queued == nil && !closing && !needSync && !syncDue() {
                    lock.wait(timeoutNanoseconds: syncWaitNanoseconds())
                }
                if failure != nil { return (nil, false, true) }
                if let batch = queued {
                    queued = nil
                    busy = true
                    return (batch, false, false)
                }
                let sync = needSync || syncDue() || closing
                needSync = false
                if sync { busy = true }
                return (nil, sync, closing)
            }
            if let batch { return batch }
            if shouldSync && unsyncedLine > lock.withLock({ syncedLine }) {
                do { try syncNow() } catch {
                    lock.withLock { failure = error; lock.broadcast() }
                    return nil
                }
            }
            lock.withLock { busy = false; lock.broadcast() }
            if shouldStop { return nil }
        }
    }

    private func syncDue() -> Bool {
        guard case .buffered(let delay) = mode, unsyncedLine > syncedLine else { return false }
        return monotonicNanoseconds() - lastSyncNanoseconds >= UInt64(delay) * 1_000_000
    }

    private func syncWaitNanoseconds() -> UInt64? {
        guard case .buffered(let delay) = mode else { return nil }
        return UInt64(max(1, delay)) * 1_000_000
    }

    private func write(_ batch: PendingBatch) throws(JournalError) {
        precondition(!batch.isEmpty, "only non-empty batches are queued")
        var bytes = JournalFormat.batchHeader(
            payload: batch.payload[...], recordCount: batch.recordCount, firstLine: batch.firstLine,
            lastLine: batch.lastLine, trace: batch.trace)
        bytes.append(contentsOf: batch.payload)
        do {
            try file.write(bytes)
        } catch {
            // Cut the partial batch off so that the segment ends on a whole batch; if even
            // that fails, recovery finds a torn tail and cuts it.
            try? file.truncate(to: segmentBytes)
            throw error
        }
        segmentBytes += bytes.count
        unsyncedLine = batch.lastLine
        lock.withLock {
            writtenLine = batch.lastLine
            statistics.batchCount += 1
            statistics.recordCount += batch.recordCount
            statistics.bytesWritten += bytes.count
        }
        switch mode {
        case .durable:
            try syncNow()
            acknowledge(batch.output)
        case .buffered:
            acknowledge(batch.output)
            if syncDue() || batch.rotateAfter { try syncNow() }
        }
        if batch.rotateAfter { try rotate() }
        lock.withLock {
            busy = false
            lock.broadcast()
        }
    }

    private func syncNow() throws(JournalError) {
        let start = monotonicNanoseconds()
        try file.sync()
        lastSyncNanoseconds = monotonicNanoseconds()
        let line = unsyncedLine
        lock.withLock {
            syncedLine = line
            statistics.syncCount += 1
            statistics.syncNanoseconds += lastSyncNanoseconds - start
            lock.broadcast()
        }
    }

    private func rotate() throws(JournalError) {
        let sequence = lock.withLock { segmentSequence } + 1
        let (next, bytes) = try Self.createSegment(directory: directory, fileSystem: fileSystem, sequence: sequence)
        file.close()
        file = next
        segmentBytes = bytes
        lock.withLock { segmentSequence = sequence }
    }
}

/// Nanoseconds of CLOCK_MONOTONIC.
public func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// CPU time of the calling thread, in nanoseconds (CLOCK_THREAD_CPUTIME_ID).
public func threadCPUNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// A pthread mutex with one condition variable: the journals' writers and the durable
/// engine's snapshot thread (CreditDurable). Safe from any thread.
public final class ConditionLock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    public func withLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Waits on the condition; call with the lock held.
    public func wait(timeoutNanoseconds: UInt64? = nil) {
        guard let timeoutNanoseconds else {
            pthread_cond_wait(condition, mutex)
            return
        }
        let deadline = monotonicNanoseconds() + timeoutNanoseconds
        var time = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        pthread_cond_timedwait(condition, mutex, &time)
    }

    public func broadcast() { pthread_cond_broadcast(condition) }
}

/// A detached pthread running a closure once: the journals' writer threads, and the durable
/// engine's snapshot thread (CreditDurable).
public final class WriterThread: @unchecked Sendable {
    // Safe to share: `body` is set once, before the thread starts.
    private let body: () -> Void

    public init(_ body: @escaping () -> Void) { self.body = body }

    public func start() {
        let context = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { context in
            let box = Unmanaged<WriterThread>.fromOpaque(context!).takeRetainedValue()
            box.body()
            return nil
        }, context)
        precondition(result == 0, "pthread_create")
        pthread_detach(thread)
    }
}
