// The durable engine's journal on disk: a `ConcurrentJournal` (CreditJournal: checksummed
// segments, a writer thread, group commit: everything appended while a sync runs goes into
// the next write) whose records are `RequestCodec` encodings of a request and its time.

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
    /// The largest ticket `append` returned (or 0).
    let appendedMax = Atomic<UInt64>(0)

    /// Opens the journal in `directory` (created if absent), after the records already there
    /// (a torn tail is cut off; other damage throws). `mode`: acknowledged once on disk
    /// (`durable`), or once written to the OS with a sync within the delay (`buffered`).
    public init(directory: String, mode: DurabilityMode = .durable) throws {
        journal = try ConcurrentJournal(directory: directory, fileSystem: POSIXFileSystem(), mode: mode)
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

    /// Replays the journal in `directory` into `engine` (new), as `DurableEngine.recover`
    /// does; returns the number of records. Read-only: run it before opening the journal
    /// for appends.
    public static func recover(directory: String, into engine: CreditEngine) throws -> Int {
        var records: [[UInt8]] = []
        _ = try ConcurrentJournal.forEachRecord(directory: directory, fileSystem: POSIXFileSystem()) {
            _, bytes throws(JournalError) in records.append(Array(bytes))
        }
        return try DurableEngine.recover(records, into: engine)
    }

    /// Removes a journal directory and its files (the load harness's temporary ones).
    public static func removeDirectory(_ directory: String) {
        let fileSystem = POSIXFileSystem()
        for name in (try? fileSystem.list(directory)) ?? [] { try? fileSystem.remove(directory + "/" + name) }
        rmdir(directory)
    }
}
