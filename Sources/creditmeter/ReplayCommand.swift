// `creditmeter replay TRACE`: prints the result and alert lines of a trace, streaming.
import ArgumentParser
import CreditCore
import CreditEngine
import CreditJournal
import CreditTrace

#if canImport(Darwin)
    import Darwin
#else
    import Glibc
#endif

struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay a JSON-lines trace and print one result line per request, then its alerts."
    )

    @Argument(help: "The trace file, or - for standard input.")
    var trace: String

    @Option(
        name: .customLong("data-dir"),
        help: "Journal and snapshots here: print a result only once it is durable, and resume an interrupted run.")
    var dataDirectory: String?

    @Option(help: "With --data-dir: durable (acknowledge after fdatasync) or buffered (after write, synced within --max-delay-ms).")
    var mode: String = "durable"

    @Option(name: .customLong("max-delay-ms"), help: "With --mode buffered: the longest time between syncs.")
    var maxDelayMilliseconds: Int = 10

    @Option(name: .customLong("snapshot-every"), help: "With --data-dir: journal records between snapshots (0: none).")
    var snapshotRecordInterval: Int = DurableReplayOptions.snapshotRecordIntervalDefault

    @Flag(name: .customLong("snapshot-at-end"), help: "With --data-dir: take a snapshot after the last line.")
    var snapshotAtEnd = false

    @Flag(
        name: .customLong("start-over"),
        help: "With --data-dir: discard the journal and snapshots in the directory first (e.g. one of another trace).")
    var startOver = false

    @Flag(help: "With --data-dir: print the journal's figures on standard error at the end.")
    var stats = false

    @Flag(help: "Replay through the concurrent engine (CreditEngine) instead of the core's ledger: same output.")
    var engine = false

    /// Output is flushed to standard output whenever this many bytes are buffered.
    static let outputFlushBytes = 1 << 16

    func validate() throws {
        guard mode == "durable" || mode == "buffered" else { throw ValidationError("--mode is durable or buffered") }
        guard (1...60_000).contains(maxDelayMilliseconds) else { throw ValidationError("--max-delay-ms must be 1 ... 60000") }
        guard snapshotRecordInterval >= 0 else { throw ValidationError("--snapshot-every must be at least 0") }
        guard !startOver || dataDirectory != nil else { throw ValidationError("--start-over goes with --data-dir") }
        guard !(engine && dataDirectory != nil) else { throw ValidationError("--engine does not go with --data-dir yet") }
    }

    func run() throws {
        let fileDescriptor = trace == "-" ? 0 : open(trace, O_RDONLY)
        guard fileDescriptor >= 0 else {
            throw ValidationError("cannot open \(trace): \(String(cString: strerror(errno)))")
        }
        defer { if fileDescriptor != 0 { close(fileDescriptor) } }
        if let dataDirectory { try runDurable(fileDescriptor: fileDescriptor, directory: dataDirectory) }
        if engine { try runThroughEngine(fileDescriptor: fileDescriptor) }
        var replayer = TraceReplayer()
        var output = StandardOutput()
        try LineReader(fileDescriptor: fileDescriptor).forEachLine { line, _ in
            replayer.replay(line, into: &output.buffer)
            if output.buffer.count >= Self.outputFlushBytes { try output.flush() }
        }
        try output.flush()
        // The process ends here: freeing millions of records one by one would only cost time.
        withExtendedLifetime(replayer) { exitProcess(EXIT_SUCCESS) }
    }
}

extension ReplayCommand {
    /// The durable replay: output reaches standard output from the journal's writer thread,
    /// batch by batch, once each batch is durable.
    func runDurable(fileDescriptor: Int32, directory: String) throws -> Never {
        var options = DurableReplayOptions()
        options.mode = mode == "durable" ? .durable : .buffered(maxDelayMilliseconds: maxDelayMilliseconds)
        options.snapshotRecordInterval = snapshotRecordInterval
        options.snapshotAtEnd = snapshotAtEnd
        options.startOver = startOver
        options.releaseMemory = { Allocator.releaseFreedMemory() }
        do {
            let statistics = try DurableReplay.run(
                traceDescriptor: fileDescriptor, directory: directory, options: options,
                output: { bytes in
                    var output = StandardOutput()
                    output.buffer = bytes
                    do { try output.flush() } catch {
                        // Standard output is gone: nothing more can be acknowledged.
                        standardError("creditmeter: \(error)")
                        exitProcess(EXIT_FAILURE)
                    }
                },
                log: { standardError($0) })
            if stats { standardError(Self.describe(statistics)) }
        } catch {
            standardError("creditmeter: \(error)")
            exitProcess(EXIT_FAILURE)
        }
        exitProcess(EXIT_SUCCESS)
    }

    static func describe(_ s: DurableReplayStatistics) -> String {
        // Integer figures only: per second = count * 10^9 / elapsed nanoseconds.
        let elapsed = max(s.elapsedNanoseconds, 1)
        return """
            lines applied: \(s.linesApplied) in \(s.elapsedNanoseconds / 1_000_000) ms (\(UInt64(s.linesApplied) * 1_000_000_000 / elapsed) lines/s)
            recovery: \(s.recoveryNanoseconds / 1_000_000) ms (snapshot \(s.recoverySnapshotNanoseconds / 1_000_000) ms, of which decoding \(s.recoverySnapshotDecodeNanoseconds / 1_000_000) ms wall, \(s.recoverySnapshotDecodeCPUNanoseconds / 1_000_000) ms CPU; journal \(s.recoveryJournalNanoseconds / 1_000_000) ms), \(s.recoveredRecordCount) records replayed (\(UInt64(s.recoveredRecordCount) * 1_000_000_000 / max(s.recoveryJournalNanoseconds, 1)) records/s), resumed at line \(s.resumeLine); trace prefix check \(s.prefixCheckNanoseconds / 1_000_000) ms
            journal: \(s.writer.batchCount) batches, \(s.writer.recordCount) records, \(s.writer.bytesWritten) bytes, \(s.writer.syncCount) fdatasyncs (\(UInt64(s.writer.syncCount) * 1_000_000_000 / elapsed)/s, \(s.writer.syncNanoseconds / 1_000_000) ms syncing)
            snapshots: \(s.snapshotCount), applier waited \(s.snapshotWaitNanoseconds / 1_000_000) ms for them, longest \(s.snapshotNanosecondsMax / 1_000_000) ms, largest \(s.snapshotBytesMax) bytes, copy max \(s.snapshotCopyNanosecondsMax / 1000) us, longest apply in the 1,000 lines after a copy \(s.snapshotFirstLinesStallNanosecondsMax / 1000) us wall, \(s.snapshotFirstLinesCPUNanosecondsMax / 1000) us CPU (\(s.baselineCPUNanosecondsMax / 1000) us CPU with none in flight), the first line after a copy \(s.snapshotFirstLineCPUNanosecondsMax / 1000) us CPU, the 1,000 lines after a copy \(s.snapshotFirstLinesCPUNanosecondsSumMax / 1000) us CPU in all (\(s.baselineCPUNanosecondsSumMax / 1000) us with none in flight), longest apply while one was in flight \(s.snapshotStallNanosecondsMax / 1000) us
            """
    }
}

/// Writes a line to standard error.
func standardError(_ message: String) {
    let bytes = Array((message + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress!, $0.count) }
}

/// Ends the process at once, without tearing down what is still in memory.
func exitProcess(_ status: Int32) -> Never {
    #if canImport(Darwin)
        Darwin.exit(status)
    #else
        Glibc.exit(status)
    #endif
}

/// Buffered writes to file descriptor 1.
struct StandardOutput {
    var buffer: [UInt8] = []

    init() { buffer.reserveCapacity(ReplayCommand.outputFlushBytes * 2) }

    struct WriteError: Error, CustomStringConvertible {
        var errno: Int32
        var description: String { "cannot write to standard output: \(String(cString: strerror(errno)))" }
    }

    mutating func flush() throws {
        var written = 0
        while written < buffer.count {
            let result = buffer.withUnsafeBytes { write(1, $0.baseAddress! + written, $0.count - written) }
            if result < 0 {
                if errno == EINTR { continue }
                throw WriteError(errno: errno)
            }
            written += result
        }
        buffer.removeAll(keepingCapacity: true)
    }
}

extension ReplayCommand {
    /// Limits of the engine that replays a trace: far above what a trace file holds.
    static let engineAccountsMax = 1 << 22
    static let engineEventsMax = 1 << 26

    /// Replays through the concurrent engine in its exact sequential configuration (time
    /// passing in every shard at each request, settlement before each answer).
    func runThroughEngine(fileDescriptor: Int32) throws -> Never {
        var configuration = EngineConfiguration.replay
        configuration.accountsMax = Self.engineAccountsMax
        configuration.eventsMax = Self.engineEventsMax
        let engine = try CreditEngine(configuration: configuration, clock: ManualClock())
        var parser = TraceParser()
        let encoder = TraceEncoder()
        var alerts: [Alert] = []
        var output = StandardOutput()
        do {
            try LineReader(fileDescriptor: fileDescriptor).forEachLine { line, _ in
                try TraceReplayer.replay(line, parser: &parser, encoder: encoder, alerts: &alerts, into: &output.buffer) {
                    request, t, alerts throws(EngineError) in try engine.apply(request, at: t, alerts: &alerts)
                }
                if output.buffer.count >= Self.outputFlushBytes { try output.flush() }
            }
        } catch let error as EngineError {
            try output.flush()
            throw ValidationError("engine: \(error)")
        }
        try output.flush()
        withExtendedLifetime(engine) { exitProcess(EXIT_SUCCESS) }
    }
}
