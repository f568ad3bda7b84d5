// The durable engine's journal on disk: a `ConcurrentJournal` (CreditJournal: checksummed
// segments, a writer thread, group commit: everything appended while a sync runs goes into
// the next write) whose records are `RequestCodec` encodings of a request and its time, and
// the engine's snapshots beside it (`EngineSnapshotFile`). Recovery is the newest snapshot
// plus the records after the ticket it covers.

import CreditCore
import CreditEngine
import CreditJournal
import Synchronization

#if canImport(Darwin)
    import Darwin
#else
    import Glibc
#endif

/// A file journal for `DurableEngine`, in a directory of its own.
public final class FileEngineJournal: EngineJournal, @unchecked Sendable {
    // Safe to share: `ConcurrentJournal` is thread-safe; the ticket is atomic.
    let journal: ConcurrentJournal<POSIXFileSystem>
    let directory: String
    let fileSystem = POSIXFileSystem()
    /// The largest ticket `append` returned (or 0).
    let appendedMax = Atomic<UInt64>(0)
    /// When true, a stored snapshot leaves the segments it covers in place: what a crash
    /// between publishing a snapshot and removing them leaves. For tests.
    var keepsCoveredSegments = false

    /// Opens the journal in `directory` (created if absent), after the records already there
    /// and after the newest snapshot's ticket (a torn tail is cut off; other damage throws;
    /// a temporary snapshot a crash left is removed). `mode`: acknowledged once on disk
    /// (`durable`), or once written to the OS with a sync within the delay (`buffered`).
    public init(directory: String, mode: DurabilityMode = .durable) throws {
        self.directory = directory
        try fileSystem.makeDirectory(directory)
        let covered = try EngineSnapshotFile.newest(in: directory, fileSystem: fileSystem)?.ticket ?? 0
        if try fileSystem.list(directory).contains(EngineSnapshotFile.temporaryName) {
            try fileSystem.remove(directory + "/" + EngineSnapshotFile.temporaryName)
            try fileSystem.syncDirectory(directory)
        }
        journal = try ConcurrentJournal(directory: directory, fileSystem: fileSystem, mode: mode, coveredThrough: covered)
    }

    public func append(_ request: Request, at t: Milliseconds) throws -> UInt64 {
        let ticket = try journal.append(RequestCodec.encoded(request, at: t)).sequence
        appendedMax.max(ticket, ordering: .relaxed)
        return ticket
    }

    public func waitDurable(through ticket: UInt64) throws {
        guard ticket > 0 else { return }
        try journal.waitDurable(JournalTicket(sequence: ticket))
    }

    public var lastTicket: UInt64 { appendedMax.load(ordering: .relaxed) }

    public func close() throws { _ = try journal.close() }

    public func markSnapshotPoint() -> UInt64 {
        let ticket = journal.startSegmentAfterLastAppend().sequence
        precondition(ticket == lastTicket, "a snapshot point is marked while no append runs")
        return ticket
    }

    /// Writes the snapshot file (see `EngineSnapshotFile`), published once the journal is
    /// durable through `ticket`; then removes older snapshots and the segments it covers.
    public func storeSnapshot(_ bytes: [UInt8], through ticket: UInt64) throws -> Int {
        let size = try EngineSnapshotFile.write(bytes, ticket: ticket, directory: directory, fileSystem: fileSystem) {
            try waitDurable(through: ticket)
        }
        if !keepsCoveredSegments { _ = try journal.removeSegments(through: JournalTicket(sequence: ticket)) }
        return size
    }

    /// Names of the journal's segment files the writer is done with (older ones than the
    /// one it appends to) and that no snapshot has made unnecessary yet.
    public var finishedSegmentNames: [String] { journal.finishedSegmentNames }

    /// Replays the journal in `directory` into `engine` (new), as `DurableEngine.recover`
    /// does; returns the number of records. For a directory without snapshots (it throws
    /// otherwise: use `recover(directory:configuration:clock:)`). Read-only: run it before
    /// opening the journal for appends.
    public static func recover(directory: String, into engine: CreditEngine) throws -> Int {
        if let newest = try EngineSnapshotFile.newest(in: directory, fileSystem: POSIXFileSystem()) {
            throw DurableEngineError(
                "\(directory) holds the engine snapshot \(newest.name): recover with recover(directory:configuration:clock:)")
        }
        var records: [[UInt8]] = []
        _ = try ConcurrentJournal.forEachRecord(directory: directory, fileSystem: POSIXFileSystem()) {
            _, bytes throws(JournalError) in records.append(Array(bytes))
        }
        return try DurableEngine.recover(records, into: engine)
    }

    /// Rebuilds the engine a directory holds: from the newest snapshot (a new engine when
    /// there is none), then every journal record after the ticket it covers, replayed as
    /// `DurableEngine.recover` does. Read-only: run it before opening the journal for
    /// appends. Throws `DurableEngineError` naming the file and byte offset for a damaged
    /// snapshot (the journal before it is gone: there is no older state to fall back to),
    /// the journal's error for a damaged or incomplete journal, and an engine error for a
    /// configuration the snapshot does not fit.
    public static func recover(
        directory: String, configuration: EngineConfiguration, clock: any EngineClock = SystemClock()
    ) throws -> EngineRecovery {
        let fileSystem = POSIXFileSystem()
        let start = monotonicNanoseconds()
        var engine: CreditEngine
        var covered: UInt64 = 0
        var snapshotBytes = 0
        if let newest = try EngineSnapshotFile.newest(in: directory, fileSystem: fileSystem) {
            let path = directory + "/" + newest.name
            let (ticket, body) = try EngineSnapshotFile.read(path, fileSystem: fileSystem)
            guard ticket == newest.ticket else {
                throw DurableEngineError(path: path, offset: 16, "ticket \(ticket) differs from the file's name")
            }
            do { engine = try CreditEngine.restored(from: body, configuration: configuration, clock: clock) } catch {
                throw DurableEngineError(path: path, offset: EngineSnapshotFile.headerBytes + error.offset, error.message)
            }
            covered = ticket
            snapshotBytes = EngineSnapshotFile.headerBytes + body.count
        } else {
            engine = try CreditEngine(configuration: configuration, clock: clock)
        }
        let restored = monotonicNanoseconds()
        var records: [[UInt8]] = []
        let last = try ConcurrentJournal.forEachRecord(directory: directory, fileSystem: fileSystem, after: covered) {
            _, bytes throws(JournalError) in records.append(Array(bytes))
        }
        let count = try DurableEngine.recover(records, into: engine)
        return EngineRecovery(
            engine: engine, snapshotTicket: covered, snapshotBytes: snapshotBytes, recordCount: count,
            lastTicket: last.sequence, snapshotNanoseconds: restored - start,
            journalNanoseconds: monotonicNanoseconds() - restored)
    }

    /// Removes a journal directory and its files (the load harness's temporary ones).
    public static func removeDirectory(_ directory: String) {
        let fileSystem = POSIXFileSystem()
        for name in (try? fileSystem.list(directory)) ?? [] { try? fileSystem.remove(directory + "/" + name) }
        rmdir(directory)
    }
}

/// What `FileEngineJournal.recover(directory:configuration:clock:)` rebuilt.
public struct EngineRecovery {
    public let engine: CreditEngine
    /// The ticket the snapshot covers (0: no snapshot), and its file's size.
    public let snapshotTicket: UInt64
    public let snapshotBytes: Int
    /// Journal records replayed after the snapshot, and the last ticket read.
    public let recordCount: Int
    public let lastTicket: UInt64
    /// Time to read, check and restore the snapshot, then to read and replay the journal.
    public let snapshotNanoseconds: UInt64
    public let journalNanoseconds: UInt64
}
