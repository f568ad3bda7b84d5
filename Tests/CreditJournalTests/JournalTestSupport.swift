// Shared pieces of the journal tests: seeded traces, the expected output of each line, a
// scratch directory, and `FaultyFileSystem`, the fault-injecting file layer.

import CreditCore
import CreditJournal
import CreditTrace

#if canImport(Darwin)
    import Darwin
#else
    import Glibc
#endif

/// A generated trace: its lines and the output of each line on an uninterrupted replay.
struct ExpectedTrace {
    var lines: [[UInt8]]
    /// `outputs[i]` is what line i + 1 prints.
    var outputs: [[UInt8]]
    var finalLedger: Ledger

    init(seed: UInt64, lineCount: Int, accountCount: Int) {
        var generator = TraceGenerator(seed: seed, accountCount: accountCount)
        var replayer = TraceReplayer()
        lines = []
        outputs = []
        for _ in 0..<lineCount {
            var line: [UInt8] = []
            generator.appendLine(to: &line)
            if line.last == UInt8(ascii: "\n") { line.removeLast() }
            var out: [UInt8] = []
            line.withUnsafeBytes { replayer.replay(.bytes($0), into: &out) }
            lines.append(line)
            outputs.append(out)
        }
        finalLedger = replayer.ledger
    }

    var text: [UInt8] { lines.flatMap { $0 + [UInt8(ascii: "\n")] } }

    /// The output of lines `from` ... end (1-based), concatenated.
    func output(from line: Int) -> [UInt8] { outputs[(line - 1)...].flatMap { $0 } }
}

/// A fresh directory under /tmp, removed by `remove()`.
struct ScratchDirectory {
    let path: String

    init(_ name: String) {
        var template = Array("/tmp/creditjournal-\(name)-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp")
        path = String(cString: made!)
    }

    func file(_ name: String) -> String { path + "/" + name }

    func write(_ name: String, _ bytes: [UInt8]) {
        let descriptor = open(file(name), O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        precondition(descriptor >= 0, "open")
        _ = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress!, $0.count) }
        close(descriptor)
    }

    func read(_ name: String) -> [UInt8] { (try? POSIXFileSystem().read(file(name))) ?? [] }

    func remove() { _ = system("rm -rf '\(path)'") }
}

/// A trace file's descriptor, for `DurableReplay.run`.
func openTrace(_ path: String) -> Int32 {
    let descriptor = open(path, O_RDONLY)
    precondition(descriptor >= 0, "open trace")
    return descriptor
}

/// Collects acknowledged output from the writer thread.
final class OutputSink: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var collected: [UInt8] = []
    init() { pthread_mutex_init(&mutex, nil) }
    func append(_ bytes: [UInt8]) {
        pthread_mutex_lock(&mutex)
        collected.append(contentsOf: bytes)
        pthread_mutex_unlock(&mutex)
    }
    var bytes: [UInt8] {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return collected
    }
}

/// The real file system with faults injected into segment writes and syncs: after
/// `healthyWriteCount` writes to journal segments, the next write fails with `errno`,
/// having written only `tornBytes` of its buffer (a torn write); or the next sync fails.
/// Separately, in the `failingSnapshot`-th temporary snapshot file created (1-based), the
/// write after `snapshotHealthyWriteCount` writes fails the same way (`tornBytes` written
/// first); when that many writes were all there was, the header's positional write fails.
struct FaultyFileSystem: JournalFileSystem {
    final class Plan: @unchecked Sendable {
        var healthyWriteCount = Int.max
        var failingErrno: Int32 = ENOSPC
        var tornBytes = 0
        var failSync = false
        /// When set, a failed write does not let the journal cut it off again (a crash).
        var failTruncate = false
        var writeCount = 0
        var failingSnapshot = Int.max
        var snapshotHealthyWriteCount = Int.max
        /// Sequential writes to each temporary snapshot file created, in order.
        var snapshotWriteCounts: [Int] = []
    }

    let base = POSIXFileSystem()
    let plan: Plan

    final class File: JournalFile {
        let base: POSIXFileSystem.File
        let plan: Plan
        let isSegment: Bool
        let isSnapshot: Bool
        init(base: POSIXFileSystem.File, plan: Plan, isSegment: Bool, isSnapshot: Bool) {
            self.base = base
            self.plan = plan
            self.isSegment = isSegment
            self.isSnapshot = isSnapshot
        }
        func write(_ bytes: UnsafeRawBufferPointer) throws(JournalError) {
            if isSnapshot {
                plan.snapshotWriteCounts[plan.snapshotWriteCounts.count - 1] += 1
                if failingSnapshot && plan.snapshotWriteCounts.last! > plan.snapshotHealthyWriteCount {
                    let torn = min(plan.tornBytes, bytes.count)
                    if torn > 0 { try base.write(UnsafeRawBufferPointer(rebasing: bytes[0..<torn])) }
                    throw injected("write")
                }
            }
            if isSegment {
                plan.writeCount += 1
                if plan.writeCount > plan.healthyWriteCount && !plan.failSync {
                    let torn = min(plan.tornBytes, bytes.count)
                    if torn > 0 { try base.write(UnsafeRawBufferPointer(rebasing: bytes[0..<torn])) }
                    throw injected("write")
                }
            }
            try base.write(bytes)
        }
        func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(JournalError) {
            if isSnapshot && failingSnapshot && plan.snapshotWriteCounts.last! >= plan.snapshotHealthyWriteCount {
                throw injected("pwrite")
            }
            try base.write(bytes, at: offset)
        }
        /// Whether this is the temporary snapshot file that faults.
        var failingSnapshot: Bool { isSnapshot && plan.snapshotWriteCounts.count == plan.failingSnapshot }
        func sync() throws(JournalError) {
            if isSegment && plan.failSync && plan.writeCount > plan.healthyWriteCount { throw injected("fdatasync") }
            try base.sync()
        }
        func truncate(to size: Int) throws(JournalError) {
            if plan.failTruncate && plan.writeCount > plan.healthyWriteCount { throw injected("ftruncate") }
            try base.truncate(to: size)
        }
        func close() { base.close() }
        func injected(_ operation: String) -> JournalError {
            JournalError.io(operation, base.path, plan.failingErrno)
        }
    }

    func makeDirectory(_ directory: String) throws(JournalError) { try base.makeDirectory(directory) }
    func list(_ directory: String) throws(JournalError) -> [String] { try base.list(directory) }
    func read(_ path: String) throws(JournalError) -> [UInt8] { try base.read(path) }
    func readOnlyContents(_ path: String) throws(JournalError) -> SnapshotBuffer { try base.readOnlyContents(path) }
    func read(_ path: String, at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws(JournalError) -> Int {
        try base.read(path, at: offset, into: buffer)
    }
    func create(_ path: String) throws(JournalError) -> File {
        if path.hasSuffix(".tmp") { plan.snapshotWriteCounts.append(0) }
        return File(base: try base.create(path), plan: plan, isSegment: path.hasSuffix(".log"), isSnapshot: path.hasSuffix(".tmp"))
    }
    func openForAppend(_ path: String, size: Int) throws(JournalError) -> File {
        File(
            base: try base.openForAppend(path, size: size), plan: plan, isSegment: path.hasSuffix(".log"),
            isSnapshot: path.hasSuffix(".tmp"))
    }
    func rename(_ from: String, to: String) throws(JournalError) { try base.rename(from, to: to) }
    func remove(_ path: String) throws(JournalError) { try base.remove(path) }
    func syncDirectory(_ directory: String) throws(JournalError) { try base.syncDirectory(directory) }
}
