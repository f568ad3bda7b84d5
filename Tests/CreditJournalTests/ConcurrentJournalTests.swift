// The multi-threaded journal: several threads append and wait; every acknowledged record
// is read back exactly once, tickets are 1...N in each thread's order, appends are grouped
// into fewer syncs than records; a reopened journal continues after the last ticket; a
// record too long is refused; ENOSPC injected through FaultyFileSystem reaches every waiter
// as an error and nothing acknowledged is lost.

import CreditJournal
import Testing

#if canImport(Darwin)
    import Darwin
#else
    import Glibc
#endif

/// Runs `body(index)` on `count` threads and waits for all of them.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    final class Box: @unchecked Sendable {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }
    var threads: [pthread_t] = []
    for index in 0..<count {
        let box = Unmanaged.passRetained(Box { body(index) }).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { context in
            Unmanaged<Box>.fromOpaque(context!).takeRetainedValue().body()
            return nil
        }, box)
        precondition(result == 0, "pthread_create")
        threads.append(thread)
    }
    for thread in threads { pthread_join(thread, nil) }
}

/// A record: thread index and per-thread counter, 12 bytes.
func record(thread: Int, index: Int) -> [UInt8] {
    var bytes: [UInt8] = []
    withUnsafeBytes(of: UInt32(thread).littleEndian) { bytes.append(contentsOf: $0) }
    withUnsafeBytes(of: UInt64(index).littleEndian) { bytes.append(contentsOf: $0) }
    return bytes
}

final class TicketLog: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var entries: [(thread: Int, index: Int, ticket: UInt64)] = []
    private var errors: [JournalError] = []
    init() { pthread_mutex_init(&mutex, nil) }
    func add(_ thread: Int, _ index: Int, _ ticket: UInt64) {
        pthread_mutex_lock(&mutex)
        entries.append((thread, index, ticket))
        pthread_mutex_unlock(&mutex)
    }
    func fail(_ error: JournalError) {
        pthread_mutex_lock(&mutex)
        errors.append(error)
        pthread_mutex_unlock(&mutex)
    }
    var acknowledged: [(thread: Int, index: Int, ticket: UInt64)] {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return entries
    }
    var failures: [JournalError] {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return errors
    }
}

@Suite struct ConcurrentJournalTests {
    static let threadCount = 4
    static let recordsPerThread = 1_500

    /// Appends from `threadCount` threads, each waiting for every record; logs what was acknowledged.
    func appendFromThreads<FS: JournalFileSystem>(_ journal: ConcurrentJournal<FS>, log: TicketLog) {
        onThreads(Self.threadCount) { thread in
            for index in 0..<Self.recordsPerThread {
                do throws(JournalError) {
                    let ticket = try journal.append(record(thread: thread, index: index))
                    try journal.waitDurable(ticket)
                    log.add(thread, index, ticket.sequence)
                } catch {
                    log.fail(error)
                    return
                }
            }
        }
    }

    func readBack(_ path: String) throws -> [UInt64: [UInt8]] {
        var records: [UInt64: [UInt8]] = [:]
        var previous: UInt64 = 0
        _ = try ConcurrentJournal<POSIXFileSystem>.forEachRecord(directory: path, fileSystem: POSIXFileSystem()) {
            ticket, bytes throws(JournalError) in
            #expect(ticket.sequence == previous + 1, "tickets are contiguous")
            previous = ticket.sequence
            records[ticket.sequence] = Array(bytes)
        }
        return records
    }

    @Test(arguments: [DurabilityMode.durable, .buffered(maxDelayMilliseconds: 2)])
    func severalThreadsAppendAndEveryRecordIsReadBackOnce(mode: DurabilityMode) throws {
        let directory = ScratchDirectory("concurrent")
        defer { directory.remove() }
        let journal = try ConcurrentJournal(directory: directory.file("j"), fileSystem: POSIXFileSystem(), mode: mode)
        let log = TicketLog()
        appendFromThreads(journal, log: log)
        let statistics = try journal.close()
        let total = Self.threadCount * Self.recordsPerThread
        #expect(log.failures.isEmpty)
        #expect(log.acknowledged.count == total)
        #expect(statistics.recordCount == total)
        #expect(statistics.batchCount < total, "group commit: \(statistics.batchCount) batches for \(total) records")
        let records = try readBack(directory.file("j"))
        #expect(records.count == total)
        var lastTicketOfThread = [UInt64](repeating: 0, count: Self.threadCount)
        for entry in log.acknowledged.sorted(by: { $0.ticket < $1.ticket }) {
            #expect(records[entry.ticket] == record(thread: entry.thread, index: entry.index))
            #expect(entry.ticket > lastTicketOfThread[entry.thread], "a thread's tickets increase")
            lastTicketOfThread[entry.thread] = entry.ticket
        }
        // Reopened, it continues after the last ticket.
        let again = try ConcurrentJournal(directory: directory.file("j"), fileSystem: POSIXFileSystem(), mode: mode)
        let next = try again.append([1, 2, 3])
        #expect(next.sequence == UInt64(total + 1))
        try again.waitDurable(next)
        _ = try again.close()
        #expect(try readBack(directory.file("j"))[UInt64(total + 1)] == [1, 2, 3])
    }

    @Test func aRecordTooLongIsRefusedAndNothingIsAppended() throws {
        let directory = ScratchDirectory("concurrent-long")
        defer { directory.remove() }
        let journal = try ConcurrentJournal(directory: directory.file("j"), fileSystem: POSIXFileSystem(), mode: .durable)
        #expect(throws: JournalError.self) {
            try journal.append([UInt8](repeating: 7, count: JournalFormat.recordBytesMax + 1))
        }
        let fits = try journal.append([UInt8](repeating: 7, count: JournalFormat.recordBytesMax))
        #expect(fits.sequence == 1)
        try journal.waitDurable(fits)
        _ = try journal.close()
        #expect(try readBack(directory.file("j")).count == 1)
    }

    @Test(arguments: [1, 5, 30])
    func diskFullReachesEveryWaiterAndNothingAcknowledgedIsLost(healthyWrites: Int) throws {
        let directory = ScratchDirectory("concurrent-enospc")
        defer { directory.remove() }
        let plan = FaultyFileSystem.Plan()
        // The segment header is the first segment write; then `healthyWrites - 1` batches.
        plan.healthyWriteCount = healthyWrites
        plan.failingErrno = ENOSPC
        let journal = try ConcurrentJournal(directory: directory.file("j"), fileSystem: FaultyFileSystem(plan: plan), mode: .durable)
        let log = TicketLog()
        appendFromThreads(journal, log: log)
        #expect(log.failures.count == Self.threadCount, "every thread saw the failure")
        #expect(log.failures.allSatisfy { $0.description.contains("No space left on device") })
        #expect(throws: JournalError.self) { try journal.append([1]) }
        #expect(throws: JournalError.self) { try journal.close() }
        // Recovery finds every acknowledged record, unchanged, and nothing after a gap.
        let records = try readBack(directory.file("j"))
        for entry in log.acknowledged {
            #expect(records[entry.ticket] == record(thread: entry.thread, index: entry.index))
        }
        #expect(records.count >= log.acknowledged.count)
        #expect(records.count < Self.threadCount * Self.recordsPerThread)
        // A healthy reopen continues after what is on disk.
        let again = try ConcurrentJournal(directory: directory.file("j"), fileSystem: POSIXFileSystem(), mode: .durable)
        let next = try again.append([9])
        #expect(next.sequence == UInt64(records.count + 1))
        try again.waitDurable(next)
        _ = try again.close()
    }
}
