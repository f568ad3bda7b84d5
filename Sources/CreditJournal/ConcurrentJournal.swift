// A journal that many threads append to: each `append` copies an opaque record into the
// pending batch under a lock and returns a ticket (the record's sequence number); a writer
// thread writes the pending batch with one write(2) and makes it durable with one
// fdatasync(2) (group commit: everything appended during a sync goes into the next batch);
// `waitDurable(ticket)` blocks until the record is acknowledged. For the concurrent engine
// (an `engine-durable` target): it knows nothing of requests or of CreditEngine.
//
// On disk it uses the segments of `JournalFormat` with the tickets in place of trace lines
// (a batch covers tickets first...last, every ticket has a record) and a zero trace hash;
// `forEachRecord` reads them back, and `init` resumes after the last durable ticket.
//
// Snapshots are the caller's (the durable engine writes its own files beside the segments):
// a snapshot covering every ticket through T makes those records unnecessary. The journal
// reads and resumes after such a T (`coveredThrough`), starts a new segment exactly after
// the last record appended when asked (`startSegmentAfterLastAppend`, so that the records
// after T begin a segment), and removes the segments that hold only tickets up to T
// (`removeSegments(through:)`).

#if canImport(Darwin)
    import Darwin
#else
    import Glibc
#endif

/// A record's place in a `ConcurrentJournal`: 1, 2, 3... in the order of `append` calls.
public struct JournalTicket: Sendable, Hashable, Comparable {
    public let sequence: UInt64
    public init(sequence: UInt64) { self.sequence = sequence }
    public static func < (a: JournalTicket, b: JournalTicket) -> Bool { a.sequence < b.sequence }
}

/// A thread-safe, group-committed journal of opaque records.
///
/// `append`, `waitDurable` and `close` are safe from any thread. State shared with the
/// writer thread is guarded by `lock`, which is why the class is `@unchecked Sendable`.
public final class ConcurrentJournal<FileSystem: JournalFileSystem>: @unchecked Sendable {
    /// `append` waits while the pending batch holds this many bytes (back-pressure).
    public static var pendingBytesMax: Int { 16 << 20 }
    /// The writer starts a new segment once the current one holds this many bytes.
    public static var segmentBytesMax: Int { 256 << 20 }

    let directory: String
    let fileSystem: FileSystem
    let mode: DurabilityMode

    private let lock = ConditionLock()
    // Guarded by `lock`:
    private var pending: [UInt8] = []
    private var pendingFirst: UInt64
    private var nextTicket: UInt64
    /// Every ticket up to this one is acknowledged (durable, or written in buffered mode).
    private var acknowledgedThrough: UInt64
    private var failure: JournalError? = nil
    private var closing = false
    private var stopped = false
    private var statistics = JournalWriterStatistics()
    /// Set by `startSegmentAfterLastAppend`: the records appended before it (tickets through
    /// `ticket`, the first `pendingBytes` bytes of `pending`) end the current segment.
    private var segmentCut: (ticket: UInt64, pendingBytes: Int)? = nil
    /// Segments the writer no longer appends to, with the last ticket each holds (0: none).
    private var finishedSegments: [(name: String, lastTicket: UInt64)] = []
    // Writer thread only:
    /// The last ticket written to the current segment (0: none yet).
    private var segmentLastTicket: UInt64 = 0
    private var spare: [UInt8] = []
    private var file: FileSystem.File
    private var segmentBytes: Int
    private var segmentSequence: UInt64
    private var writtenThrough: UInt64
    private var syncedThrough: UInt64
    private var lastSyncNanoseconds = monotonicNanoseconds()

    /// Opens `directory` (created if absent): checks every record there (a torn tail of the
    /// last segment is cut off, other damage throws), and starts a writer thread appending
    /// after the last ticket in a new segment. With `coveredThrough` T (the ticket a snapshot
    /// of the caller's covers), records up to T may be gone, the ones after must follow on
    /// from T + 1, and the next ticket is after both. Throws on I/O failure or damage.
    public init(directory: String, fileSystem: FileSystem, mode: DurabilityMode, coveredThrough: UInt64 = 0)
        throws(JournalError)
    {
        self.directory = directory
        self.fileSystem = fileSystem
        self.mode = mode
        try fileSystem.makeDirectory(directory)
        let recovered = try Self.read(
            directory: directory, fileSystem: fileSystem, repair: true, after: coveredThrough
        ) { _, _ throws(JournalError) in }
        finishedSegments = recovered.segments
        nextTicket = recovered.lastTicket + 1
        pendingFirst = nextTicket
        acknowledgedThrough = recovered.lastTicket
        writtenThrough = recovered.lastTicket
        syncedThrough = recovered.lastTicket
        segmentSequence = recovered.nextSequence
        (file, segmentBytes) = try JournalWriter<FileSystem>.createSegment(
            directory: directory, fileSystem: fileSystem, sequence: segmentSequence)
        pending.reserveCapacity(1 << 20)
        spare.reserveCapacity(1 << 20)
        WriterThread { [self] in run() }.start()
    }

    /// Calls `body` with every record in `directory` after ticket `after` (those a snapshot
    /// of the caller's covers may be gone), in ticket order; returns the last ticket (at
    /// least `after`). Throws for damage, and for a gap: the records must follow on from
    /// `after` + 1.
    public static func forEachRecord(
        directory: String, fileSystem: FileSystem, after: UInt64 = 0,
        _ body: (JournalTicket, UnsafeRawBufferPointer) throws(JournalError) -> Void
    ) throws(JournalError) -> JournalTicket {
        JournalTicket(sequence: try read(directory: directory, fileSystem: fileSystem, repair: false, after: after, body).lastTicket)
    }

    /// Reads every segment in sequence order, handing the records after `covered` to `body`;
    /// returns the last ticket (at least `covered`), the next segment sequence, and each
    /// segment left with the last ticket it holds.
    static func read(
        directory: String, fileSystem: FileSystem, repair: Bool, after covered: UInt64,
        _ body: (JournalTicket, UnsafeRawBufferPointer) throws(JournalError) -> Void
    ) throws(JournalError) -> (lastTicket: UInt64, nextSequence: UInt64, segments: [(name: String, lastTicket: UInt64)]) {
        let names = try fileSystem.list(directory)
        if let name = names.first(where: { JournalFormat.snapshotLine($0) != nil }) {
            throw .corrupt(directory + "/" + name, offset: 0, "a concurrent journal has no snapshots")
        }
        let segmentNames = names.compactMap { name in JournalFormat.segmentSequence(name).map { (name, $0) } }
            .sorted { $0.1 < $1.1 }
        var scan = JournalDirectoryScan()
        var lastTicket = covered
        var segments: [(name: String, lastTicket: UInt64)] = []
        for (position, (name, sequence)) in segmentNames.enumerated() {
            let path = directory + "/" + name
            var segmentLast: UInt64 = 0
            let segment = try JournalSegmentReader.read(
                path, fileSystem: fileSystem, isLast: position == segmentNames.count - 1, keepBatches: false
            ) { batch throws(JournalError) in
                segmentLast = batch.lastLine
                if batch.lastLine <= covered { return }
                // The first batch after the covered tickets may begin inside them.
                let expected = lastTicket + 1
                guard lastTicket == covered ? batch.firstLine <= expected : batch.firstLine == expected else {
                    throw .corrupt(
                        path, offset: batch.offset,
                        "batch covers tickets \(batch.firstLine)...\(batch.lastLine), expected to start at \(expected)")
                }
                try batch.forEachRecord { ticket, bytes throws(JournalError) in
                    if ticket > covered { try body(JournalTicket(sequence: ticket), bytes) }
                }
                lastTicket = batch.lastLine
            }
            guard segment.validBytes == 0 || segment.sequence == sequence else {
                throw .corrupt(path, offset: 8, "segment sequence \(segment.sequence) differs from its name")
            }
            scan.segments.append((name, segment))
            // Repair removes a last segment without a valid header.
            if !(repair && segment.validBytes == 0 && position == segmentNames.count - 1) {
                segments.append((name, segmentLast))
            }
        }
        if repair { try JournalRecovery.repair(scan, directory: directory, fileSystem: fileSystem) }
        let lastSequence = segmentNames.last?.1 ?? 0
        return (lastTicket, lastSequence + 1, segments)
    }

    /// Ends the current segment after the last record appended so far: the next record
    /// appended starts a new segment (unless the current one holds none). Returns the last
    /// ticket appended. For a caller that has stopped its appends to take a snapshot covering
    /// exactly that ticket. Safe from any thread.
    public func startSegmentAfterLastAppend() -> JournalTicket {
        lock.withLock {
            let last = nextTicket - 1
            segmentCut = (last, pending.count)
            return JournalTicket(sequence: last)
        }
    }

    /// Removes the segments the writer is done with that hold only tickets up to `ticket`
    /// (or none), then syncs the directory; returns how many. For a caller whose snapshot,
    /// published durably, covers every ticket through `ticket`. Safe from any thread.
    public func removeSegments(through ticket: JournalTicket) throws(JournalError) -> Int {
        var removable = lock.withLock { () -> [(name: String, lastTicket: UInt64)] in
            let covered = finishedSegments.filter { $0.lastTicket <= ticket.sequence }
            finishedSegments.removeAll { $0.lastTicket <= ticket.sequence }
            return covered
        }
        let count = removable.count
        while let segment = removable.first {
            do { try fileSystem.remove(directory + "/" + segment.name) } catch {
                // Kept for the next call: a later snapshot covers it too.
                lock.withLock { finishedSegments.insert(contentsOf: removable, at: 0) }
                throw error
            }
            removable.removeFirst()
        }
        if count > 0 { try fileSystem.syncDirectory(directory) }
        return count
    }

    /// Names of the segments the writer is done with and has not removed. Safe from any thread.
    public var finishedSegmentNames: [String] { lock.withLock { finishedSegments.map(\.name) } }

    /// Appends a copy of `bytes` (at most `JournalFormat.recordBytesMax`) and returns its
    /// ticket; waits while `pendingBytesMax` bytes are pending. Throws, appending nothing,
    /// for a record too long, or once the journal has stopped after a failure or `close`.
    public func append(_ bytes: UnsafeRawBufferPointer) throws(JournalError) -> JournalTicket {
        guard bytes.count <= JournalFormat.recordBytesMax else {
            throw .mismatch("a journal record holds at most \(JournalFormat.recordBytesMax) bytes, not \(bytes.count)")
        }
        return try lock.withLock { () throws(JournalError) -> JournalTicket in
            while pending.count >= Self.pendingBytesMax && failure == nil && !closing { lock.wait() }
            if let failure { throw JournalError.stopped(failure) }
            if closing { throw JournalError.mismatch("append to a closed journal in \(directory)") }
            let ticket = nextTicket
            JournalFormat.appendRecord(line: ticket, bytes: bytes, to: &pending)
            nextTicket += 1
            lock.broadcast()
            return JournalTicket(sequence: ticket)
        }
    }

    /// Appends a copy of `bytes` (see `append(_:)` of a buffer).
    public func append(_ bytes: [UInt8]) throws(JournalError) -> JournalTicket {
        let result = bytes.withUnsafeBytes { raw in Result { () throws(JournalError) in try append(raw) } }
        return try result.get()
    }

    /// Blocks until `ticket` is acknowledged: on disk (fdatasync returned) in durable mode,
    /// written to the OS in buffered mode. Throws when the journal failed before that: the
    /// record is then not acknowledged (it may or may not be found by a later recovery).
    public func waitDurable(_ ticket: JournalTicket) throws(JournalError) {
        try lock.withLock { () throws(JournalError) in
            while acknowledgedThrough < ticket.sequence {
                if let failure { throw JournalError.stopped(failure) }
                precondition(ticket.sequence < nextTicket, "a ticket that append returned")
                lock.wait()
            }
        }
    }

    /// Writes and syncs everything appended, stops the writer thread, returns the counters.
    /// Throws the failure that stopped the journal, if any.
    public func close() throws(JournalError) -> JournalWriterStatistics {
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
        while true {
            let (first, last, stop, cut): (UInt64, UInt64, Bool, SegmentCut) = lock.withLock {
                while pending.isEmpty && !closing && !syncDue() {
                    lock.wait(timeoutNanoseconds: syncWaitNanoseconds())
                }
                let first = pendingFirst
                var cut = SegmentCut.none
                if let asked = segmentCut {
                    segmentCut = nil
                    // Nothing asked for is still pending: it is written (or being written).
                    cut = asked.pendingBytes == 0 ? .before : .after
                    if asked.pendingBytes > 0 && asked.pendingBytes < pending.count {
                        // Records were appended after the cut: write only those before it.
                        spare.append(contentsOf: pending[..<asked.pendingBytes])
                        pending.removeSubrange(..<asked.pendingBytes)
                        pendingFirst = asked.ticket + 1
                        lock.broadcast()
                        return (first, asked.ticket, closing, cut)
                    }
                }
                let last = nextTicket - 1
                if !pending.isEmpty {
                    swap(&pending, &spare)
                    pendingFirst = nextTicket
                    lock.broadcast()
                }
                return (first, last, closing, cut)
            }
            do {
                if cut == .before { try rotateIfWritten() }
                if !spare.isEmpty { try write(first: first, last: last) }
                if cut == .after { try rotateIfWritten() }
                if syncDue() || stop && syncedThrough < writtenThrough { try syncNow() }
            } catch {
                lock.withLock {
                    failure = error
                    lock.broadcast()
                }
                break
            }
            if stop && spare.isEmpty && lock.withLock({ pending.isEmpty }) { break }
        }
        file.close()
        lock.withLock {
            stopped = true
            lock.broadcast()
        }
    }

    private func syncDue() -> Bool {
        guard case .buffered(let delay) = mode, writtenThrough > syncedThrough else { return false }
        return monotonicNanoseconds() - lastSyncNanoseconds >= UInt64(delay) * 1_000_000
    }

    private func syncWaitNanoseconds() -> UInt64? {
        guard case .buffered(let delay) = mode else { return nil }
        return UInt64(max(1, delay)) * 1_000_000
    }

    private func write(first: UInt64, last: UInt64) throws(JournalError) {
        precondition(first <= last, "a batch holds at least one record")
        precondition(spare.count <= JournalFormat.batchPayloadBytesMax, "pending bytes are bounded")
        var bytes = JournalFormat.batchHeader(
            payload: spare[...], recordCount: Int(last - first + 1), firstLine: first, lastLine: last)
        bytes.append(contentsOf: spare)
        do {
            try file.write(bytes)
        } catch {
            // Cut the partial batch off; if that fails too, recovery finds a torn tail.
            try? file.truncate(to: segmentBytes)
            throw error
        }
        segmentBytes += bytes.count
        writtenThrough = last
        segmentLastTicket = last
        lock.withLock {
            statistics.batchCount += 1
            statistics.recordCount += Int(last - first + 1)
            statistics.bytesWritten += bytes.count
        }
        spare.removeAll(keepingCapacity: true)
        switch mode {
        case .durable:
            try syncNow()
        case .buffered:
            lock.withLock {
                acknowledgedThrough = last
                lock.broadcast()
            }
        }
        if segmentBytes >= Self.segmentBytesMax { try rotate() }
    }

    private func syncNow() throws(JournalError) {
        let start = monotonicNanoseconds()
        try file.sync()
        lastSyncNanoseconds = monotonicNanoseconds()
        syncedThrough = writtenThrough
        let through = writtenThrough
        lock.withLock {
            acknowledgedThrough = max(acknowledgedThrough, through)
            statistics.syncCount += 1
            statistics.syncNanoseconds += lastSyncNanoseconds - start
            lock.broadcast()
        }
    }

    private func rotate() throws(JournalError) {
        if syncedThrough < writtenThrough { try syncNow() }
        let (next, bytes) = try JournalWriter<FileSystem>.createSegment(
            directory: directory, fileSystem: fileSystem, sequence: segmentSequence + 1)
        file.close()
        let finished = (name: JournalFormat.segmentName(segmentSequence), lastTicket: segmentLastTicket)
        lock.withLock { finishedSegments.append(finished) }
        file = next
        segmentBytes = bytes
        segmentSequence += 1
        segmentLastTicket = 0
    }

    /// Where the writer starts a new segment for a `segmentCut`.
    private enum SegmentCut { case none, before, after }

    /// Starts a new segment if the current one holds a batch.
    private func rotateIfWritten() throws(JournalError) {
        if segmentBytes > JournalFormat.segmentHeaderBytes { try rotate() }
    }
}
