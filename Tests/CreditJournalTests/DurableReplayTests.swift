// Durable replay in process: output equals the plain replay's; resuming after an
// interruption prints the rest exactly; faults injected through the file-system seam
// (ENOSPC, torn writes, failed syncs, bit flips) give a clear error, nothing further is
// acknowledged, and nothing acknowledged is lost.

import CreditCore
import CreditJournal
import CreditTrace
import Synchronization
import Testing

#if canImport(Darwin)
    import Darwin
#else
    import Glibc
#endif

@Suite struct DurableReplayTests {
    static let expected = ExpectedTrace(seed: 11, lineCount: 6_000, accountCount: 50)

    func run<FS: JournalFileSystem>(
        _ directory: ScratchDirectory, fileSystem: FS, mode: DurabilityMode = .durable, snapshotEvery: Int = 1_000,
        snapshotBufferBytes: Int = Ledger.snapshotBufferBytesDefault, sink: OutputSink, log: (String) -> Void = { _ in },
        releaseMemory: (@Sendable () -> Void)? = nil
    ) throws(JournalError) -> DurableReplayStatistics {
        var options = DurableReplayOptions()
        options.releaseMemory = releaseMemory
        options.mode = mode
        options.snapshotRecordInterval = snapshotEvery
        options.snapshotBufferBytes = snapshotBufferBytes
        // Small batches: many segment writes, so that every injected fault below lands in the run.
        options.batchBytesMax = 1024
        let descriptor = openTrace(directory.file("trace.jsonl"))
        defer { close(descriptor) }
        return try DurableReplay.run(
            traceDescriptor: descriptor, directory: directory.file("data"), fileSystem: fileSystem, options: options,
            output: { sink.append($0) }, log: log)
    }

    func prepared(_ name: String) -> ScratchDirectory {
        let directory = ScratchDirectory(name)
        directory.write("trace.jsonl", Self.expected.text)
        return directory
    }

    func recoveredState(_ directory: ScratchDirectory) throws -> Ledger {
        try JournalRecovery.recover(directory: directory.file("data"), fileSystem: POSIXFileSystem(), repair: false).ledger
    }

    /// `releaseMemory` runs once per snapshot, on the snapshot thread, before the run ends.
    @Test func releaseMemoryRunsAfterEverySnapshot() throws {
        let directory = prepared("release")
        defer { directory.remove() }
        let calls = Atomic<Int>(0)
        let statistics = try run(
            directory, fileSystem: POSIXFileSystem(), sink: OutputSink(),
            releaseMemory: { calls.add(1, ordering: .relaxed) })
        #expect(statistics.snapshotCount >= 3)
        #expect(calls.load(ordering: .relaxed) == statistics.snapshotCount)
    }

    @Test(arguments: [DurabilityMode.durable, .buffered(maxDelayMilliseconds: 5)])
    func outputEqualsPlainReplay(mode: DurabilityMode) throws {
        let directory = prepared("plain")
        defer { directory.remove() }
        let sink = OutputSink()
        let statistics = try run(directory, fileSystem: POSIXFileSystem(), mode: mode, sink: sink)
        #expect(sink.bytes == Self.expected.output(from: 1))
        #expect(statistics.snapshotCount >= 3)
        #expect(try recoveredState(directory).snapshotBytes() == Self.expected.finalLedger.snapshotBytes())
        // A second run over the finished directory prints nothing and changes nothing.
        let again = OutputSink()
        var messages: [String] = []
        _ = try run(directory, fileSystem: POSIXFileSystem(), sink: again) { messages.append($0) }
        #expect(again.bytes.isEmpty)
        #expect(messages == ["resuming at line \(Self.expected.lines.count + 1)"])
        #expect(try recoveredState(directory).snapshotBytes() == Self.expected.finalLedger.snapshotBytes())
    }

    /// A fault on the n-th segment write: the run stops with the fault's error, what was
    /// acknowledged is a prefix of the expected output, and a run without the fault resumes
    /// and prints exactly the rest.
    func faultThenResume(_ name: String, configure: (FaultyFileSystem.Plan) -> Void) throws {
        for healthy in [1, 3, 10, 40] {
            let directory = prepared(name)
            defer { directory.remove() }
            let plan = FaultyFileSystem.Plan()
            plan.healthyWriteCount = healthy
            configure(plan)
            let sink = OutputSink()
            var failure: JournalError? = nil
            do { _ = try run(directory, fileSystem: FaultyFileSystem(plan: plan), sink: sink) } catch { failure = error }
            let failed = try #require(failure, "the injected fault is reported (\(plan.writeCount) segment writes, healthy \(healthy))")
            #expect(failed.errno == plan.failingErrno || failed.description.contains(String(cString: strerror(plan.failingErrno))))
            let acknowledged = sink.bytes
            let all = Self.expected.output(from: 1)
            #expect(Array(all.prefix(acknowledged.count)) == acknowledged, "acknowledged output is a prefix")
            // Nothing on disk is corrupted: recovery succeeds, and resuming prints the rest.
            let rest = OutputSink()
            var resumeLine = 1
            _ = try run(directory, fileSystem: POSIXFileSystem(), sink: rest) { message in
                resumeLine = Int(message.split(separator: " ").last!)!
            }
            #expect(acknowledged + rest.bytes == all || plan.failSync, "healthy \(healthy): nothing lost, nothing twice")
            #expect(Array(all.suffix(rest.bytes.count)) == rest.bytes)
            #expect(Self.expected.output(from: 1).count - Self.expected.output(from: resumeLine).count >= acknowledged.count)
            #expect(try recoveredState(directory).snapshotBytes() == Self.expected.finalLedger.snapshotBytes())
        }
    }

    @Test func diskFullStopsAndNothingIsLost() throws {
        try faultThenResume("enospc") { $0.failingErrno = ENOSPC }
    }

    @Test func tornWriteIsCutOff() throws {
        try faultThenResume("torn") {
            $0.failingErrno = EIO
            $0.tornBytes = 37
            $0.failTruncate = true
        }
    }

    @Test func failedSyncIsNeverAcknowledged() throws {
        try faultThenResume("sync") {
            $0.failingErrno = EIO
            $0.failSync = true
        }
    }

    /// A snapshot streamed through a small buffer (many writes) equals one written whole,
    /// and the replay's output and final state are the same.
    @Test func streamedSnapshotsThroughASmallBuffer() throws {
        let directory = prepared("streamed")
        defer { directory.remove() }
        let plan = FaultyFileSystem.Plan()
        let sink = OutputSink()
        let statistics = try run(
            directory, fileSystem: FaultyFileSystem(plan: plan), snapshotEvery: 1_000, snapshotBufferBytes: 512, sink: sink)
        #expect(sink.bytes == Self.expected.output(from: 1))
        #expect(statistics.snapshotCount >= 3)
        #expect(plan.snapshotWriteCounts.count == statistics.snapshotCount)
        #expect(plan.snapshotWriteCounts.allSatisfy { $0 > 20 }, "\(plan.snapshotWriteCounts) writes per snapshot")
        // The newest snapshot file is byte for byte the one built from one array.
        let data = ScratchDirectory(path: directory.file("data"))
        let name = try #require(try POSIXFileSystem().list(data.path).last { $0.hasSuffix(".snap") })
        let file = data.read(name)
        let (line, body, trace) = try JournalFormat.decodeSnapshot(file, path: name)
        let ledger = try Ledger(snapshotBytes: body)
        #expect(JournalFormat.snapshotFile(line: line, body: ledger.snapshotBytes(), trace: trace) == file)
        #expect(try recoveredState(directory).snapshotBytes() == Self.expected.finalLedger.snapshotBytes())
    }

    /// A failed write while a snapshot is streamed (the disk full, or a torn write, at the
    /// first, an early, a middle or the header's write of the second snapshot): the run stops
    /// with the error, the temporary file is gone, the first snapshot is still the newest and
    /// valid, nothing acknowledged is lost, and a resumed run prints exactly the rest.
    @Test(arguments: [(ENOSPC, 0), (EIO, 37)])
    func snapshotWriteFailureKeepsThePreviousSnapshot(errno failingErrno: Int32, tornBytes: Int) throws {
        // The writes of each snapshot file in a healthy run.
        let healthyDirectory = prepared("snapcount")
        defer { healthyDirectory.remove() }
        let counting = FaultyFileSystem.Plan()
        _ = try run(
            healthyDirectory, fileSystem: FaultyFileSystem(plan: counting), snapshotBufferBytes: 512, sink: OutputSink())
        let secondWrites = try #require(counting.snapshotWriteCounts.dropFirst().first)
        for healthy in [0, 1, 5, secondWrites / 2, secondWrites] {
            let directory = prepared("snapfail")
            defer { directory.remove() }
            let plan = FaultyFileSystem.Plan()
            plan.failingSnapshot = 2
            plan.snapshotHealthyWriteCount = healthy
            plan.failingErrno = failingErrno
            plan.tornBytes = tornBytes
            let sink = OutputSink()
            var failure: JournalError? = nil
            do {
                _ = try run(directory, fileSystem: FaultyFileSystem(plan: plan), snapshotBufferBytes: 512, sink: sink)
            } catch { failure = error }
            let failed = try #require(failure, "healthy \(healthy): the snapshot's failed write is reported")
            #expect(failed.errno == failingErrno, "\(failed)")
            let names = try POSIXFileSystem().list(directory.file("data"))
            #expect(!names.contains(SnapshotStore.temporaryName), "healthy \(healthy): \(names)")
            let snapshots = names.filter { $0.hasSuffix(".snap") }
            #expect(snapshots.count == 1, "healthy \(healthy): \(names)")
            // The first snapshot is intact: the scan checks its checksums.
            let scan = try JournalRecovery.scan(directory: directory.file("data"), fileSystem: POSIXFileSystem()).scan
            #expect(scan.snapshotName == snapshots.first)
            let acknowledged = sink.bytes
            let all = Self.expected.output(from: 1)
            #expect(Array(all.prefix(acknowledged.count)) == acknowledged, "acknowledged output is a prefix")
            let rest = OutputSink()
            _ = try run(directory, fileSystem: POSIXFileSystem(), sink: rest)
            #expect(acknowledged + rest.bytes == all, "healthy \(healthy): nothing lost, nothing twice")
            #expect(try recoveredState(directory).snapshotBytes() == Self.expected.finalLedger.snapshotBytes())
        }
    }

    @Test func bitFlipInTheMiddleIsAnErrorNamingFileAndOffset() throws {
        let directory = prepared("flip")
        defer { directory.remove() }
        _ = try run(directory, fileSystem: POSIXFileSystem(), snapshotEvery: 0, sink: OutputSink())
        let data = ScratchDirectory(path: directory.file("data"))
        let segmentName = try POSIXFileSystem().list(data.path).first { $0.hasSuffix(".log") }!
        var bytes = data.read(segmentName)
        let offset = bytes.count / 2
        bytes[offset] ^= 0x04
        data.write(segmentName, bytes)
        do {
            _ = try run(directory, fileSystem: POSIXFileSystem(), sink: OutputSink())
            Issue.record("a flipped bit was not noticed")
        } catch {
            #expect(error.isCorruption)
            #expect(error.description.contains(segmentName))
            #expect(error.description.contains("byte offset"))
        }
    }

    /// A crash while a segment is created leaves an empty or headerless last segment:
    /// recovery removes it, so it never ends up before a newer segment.
    @Test(arguments: [0, 7])
    func headerlessLastSegmentIsRemoved(bytes: Int) throws {
        let directory = prepared("headerless")
        defer { directory.remove() }
        _ = try run(directory, fileSystem: POSIXFileSystem(), snapshotEvery: 0, sink: OutputSink())
        let data = ScratchDirectory(path: directory.file("data"))
        let last = try POSIXFileSystem().list(data.path).compactMap(JournalFormat.segmentSequence).max()!
        data.write(JournalFormat.segmentName(last + 1), Array(JournalFormat.segmentHeader(sequence: last + 1).prefix(bytes)))
        for _ in 0..<3 { _ = try run(directory, fileSystem: POSIXFileSystem(), sink: OutputSink()) }
        #expect(try recoveredState(directory).snapshotBytes() == Self.expected.finalLedger.snapshotBytes())
    }

    /// Damage to the snapshot file (read by mapping it): a flipped bit, a byte more or less,
    /// a file shorter than its header, an empty file. Each is an error naming the file.
    @Test(arguments: ["flip", "longer", "shorter", "headercut", "empty"])
    func corruptSnapshotIsAnError(damage: String) throws {
        let directory = prepared("snap-" + damage)
        defer { directory.remove() }
        _ = try run(directory, fileSystem: POSIXFileSystem(), snapshotEvery: 1_000, sink: OutputSink())
        let data = ScratchDirectory(path: directory.file("data"))
        let snapshotName = try POSIXFileSystem().list(data.path).first { $0.hasSuffix(".snap") }!
        var bytes = data.read(snapshotName)
        switch damage {
        case "flip": bytes[bytes.count - 3] ^= 0x80
        case "longer": bytes.append(0)
        case "shorter": bytes.removeLast()
        case "headercut": bytes.removeLast(bytes.count - 10)
        default: bytes.removeAll()
        }
        data.write(snapshotName, bytes)
        do {
            _ = try run(directory, fileSystem: POSIXFileSystem(), sink: OutputSink())
            Issue.record("a damaged snapshot (\(damage)) was read")
        } catch {
            #expect(error.isCorruption, "\(error)")
            #expect(error.message.contains(snapshotName), "\(error)")
        }
    }
}

extension ScratchDirectory {
    init(path: String) { self.path = path }
}

/// A directory records which trace it belongs to (`TraceHash` of the lines it covers): a
/// resumed run with another trace is refused before anything changes; the same trace, or a
/// longer one that starts with it, resumes; `startOver` discards the directory's journal.
@Suite struct TraceIdentityTests {
    static let expected = DurableReplayTests.expected

    func run(_ directory: ScratchDirectory, trace: [UInt8], startOver: Bool = false, sink: OutputSink = OutputSink())
        throws(JournalError) -> DurableReplayStatistics
    {
        directory.write("trace.jsonl", trace)
        var options = DurableReplayOptions()
        options.snapshotRecordInterval = 1_000
        options.startOver = startOver
        let descriptor = openTrace(directory.file("trace.jsonl"))
        defer { close(descriptor) }
        return try DurableReplay.run(
            traceDescriptor: descriptor, directory: directory.file("data"), fileSystem: POSIXFileSystem(),
            options: options, output: { sink.append($0) }, log: { _ in })
    }

    func files(_ directory: ScratchDirectory) -> [String: [UInt8]] {
        let data = ScratchDirectory(path: directory.file("data"))
        let names = (try? POSIXFileSystem().list(data.path)) ?? []
        return Dictionary(uniqueKeysWithValues: names.map { ($0, data.read($0)) })
    }

    /// Lines of the expected trace, `count` of them, as text.
    func text(_ count: Int, change: Int? = nil) -> [UInt8] {
        var lines = Array(Self.expected.lines.prefix(count))
        if let change { lines[change] = Array(#"{"op":"tick","t":1}"#.utf8) }
        return lines.flatMap { $0 + [UInt8(ascii: "\n")] }
    }

    @Test(arguments: [0, 1_500, 2_999])
    func anotherTraceIsRefusedAndNothingChanges(changedLine: Int) throws {
        let directory = ScratchDirectory("identity")
        defer { directory.remove() }
        _ = try run(directory, trace: text(3_000))
        let before = files(directory)
        let sink = OutputSink()
        do {
            _ = try run(directory, trace: text(6_000, change: changedLine), sink: sink)
            Issue.record("a trace differing at line \(changedLine + 1) was accepted")
        } catch {
            #expect(error.isOtherTrace)
            #expect(error.message.contains("belongs to another trace"))
            #expect(error.message.contains("--start-over"))
        }
        #expect(sink.bytes.isEmpty)
        #expect(files(directory) == before, "the refused run changed nothing")
    }

    @Test func aShorterTraceIsRefused() throws {
        let directory = ScratchDirectory("identity-short")
        defer { directory.remove() }
        _ = try run(directory, trace: text(3_000))
        #expect(throws: JournalError.self) { try run(directory, trace: text(2_000)) }
        do { _ = try run(directory, trace: text(2_999)) } catch { #expect(error.isOtherTrace) }
    }

    @Test func theSameTraceGrownResumesAndStartOverStartsAgain() throws {
        let directory = ScratchDirectory("identity-grow")
        defer { directory.remove() }
        _ = try run(directory, trace: text(3_000))
        let rest = OutputSink()
        let statistics = try run(directory, trace: text(6_000), sink: rest)
        #expect(statistics.resumeLine == 3_001)
        #expect(rest.bytes == Self.expected.output(from: 3_001))
        // Another trace with --start-over: replayed from line 1 into the same directory.
        let other = ExpectedTrace(seed: 99, lineCount: 2_000, accountCount: 20)
        let fresh = OutputSink()
        let again = try run(directory, trace: other.text, startOver: true, sink: fresh)
        #expect(again.resumeLine == 1)
        #expect(fresh.bytes == other.output(from: 1))
        let recovered = try JournalRecovery.recover(directory: directory.file("data"), fileSystem: POSIXFileSystem(), repair: false)
        #expect(recovered.ledger.snapshotBytes() == other.finalLedger.snapshotBytes())
    }

    @Test func traceHashCountsEveryByteAndLineBreak() {
        var a = TraceHash()
        var b = TraceHash()
        Array("ab".utf8).withUnsafeBytes { a.append(line: $0) }
        Array("a".utf8).withUnsafeBytes { b.append(line: $0) }
        Array("b".utf8).withUnsafeBytes { b.append(line: $0) }
        #expect(a != b, "a line break is part of the prefix")
        #expect(a.byteCount == 3)
        #expect(b.byteCount == 4)
        var c = TraceHash()
        Array("ab".utf8).withUnsafeBytes { c.append(line: $0) }
        #expect(a == c)
    }
}
