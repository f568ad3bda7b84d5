// `replay --data-dir`: the trace replay of CreditTrace, made durable. The applying thread
// parses, applies and encodes each line as the plain replay does, and puts the accepted
// request's line in the journal's pending batch with its output; the journal's writer
// prints the output once the batch is durable. Snapshots are taken every so many records
// on a copy of the ledger, serialized and written on another thread.

import CreditCore
import CreditTrace

#if canImport(Darwin)
    import Darwin
#else
    import Glibc
#endif

/// Settings of a durable replay.
public struct DurableReplayOptions: Sendable {
    public var mode: DurabilityMode = .durable
    /// Take a snapshot after this many journal records (0: never). When the previous
    /// snapshot is still being written then, the applying thread waits for it, so that at
    /// most `2 * snapshotRecordInterval` records follow the newest published snapshot: the
    /// bound on what recovery replays (at ~330k records/s measured here: ~6 s for the
    /// default's 2,000,000). Smaller intervals bound recovery tighter but, with a large
    /// state, make the applier wait for snapshots: README, "Measured (journal)".
    public static let snapshotRecordIntervalDefault = 1_000_000
    public var snapshotRecordInterval = snapshotRecordIntervalDefault
    /// The applying thread hands its batch to the writer when the writer is idle, or when
    /// its payload reaches this many bytes.
    public var batchBytesMax = 1 << 20
    /// The buffer a snapshot is serialized into and written from, reused for every piece
    /// (`SnapshotStore.write`); small values are for tests (many writes per snapshot).
    public var snapshotBufferBytes = Ledger.snapshotBufferBytesDefault
    /// Take a snapshot after the last line (when there are records since the last one).
    public var snapshotAtEnd = false
    /// Discard the directory's journal and snapshots first (a fresh start; other files stay).
    public var startOver = false
    /// Called on the snapshot thread once it has written a snapshot and let go of its copy of
    /// the ledger (whose copied-on-write chunks are then freed, on that thread). The tool
    /// sets it to have jemalloc purge its freed pages there: otherwise the purge runs later,
    /// on the applying thread, inside some request (README, "Measured (journal)").
    public var releaseMemory: (@Sendable () -> Void)? = nil
    public init() {}
}

/// What a durable replay did.
public struct DurableReplayStatistics: Sendable {
    /// The first trace line applied by this run (1 on a fresh directory).
    public var resumeLine: UInt64 = 1
    public var recoveryNanoseconds: UInt64 = 0
    /// Of the recovery: reading, checking and decoding the snapshot; then the journal after it.
    public var recoverySnapshotNanoseconds: UInt64 = 0
    /// Of the snapshot: decoding its checked bytes, wall and CPU time.
    public var recoverySnapshotDecodeNanoseconds: UInt64 = 0
    public var recoverySnapshotDecodeCPUNanoseconds: UInt64 = 0
    public var recoveryJournalNanoseconds: UInt64 = 0
    /// Reading the trace's lines the directory covers and checking their hash.
    public var prefixCheckNanoseconds: UInt64 = 0
    public var recoveredRecordCount = 0
    public var linesApplied = 0
    public var writer = JournalWriterStatistics()
    public var snapshotCount = 0
    /// The longest single line's apply while a snapshot was in flight.
    public var snapshotStallNanosecondsMax: UInt64 = 0
    /// The longest apply among the first 1,000 lines after each snapshot's copy.
    public var snapshotFirstLinesStallNanosecondsMax: UInt64 = 0
    /// The same in the applying thread's CPU time (without time it was preempted).
    public var snapshotFirstLinesCPUNanosecondsMax: UInt64 = 0
    /// The longest apply, in CPU time, among 1,000 lines with no snapshot in flight.
    public var baselineCPUNanosecondsMax: UInt64 = 0
    /// The first line after a copy alone (where a table's root and groups are copied), CPU,
    /// the longest over the copies; and the 1,000 lines after a copy together, the most over
    /// the copies, against the same sum over 1,000 lines with none in flight (the most over
    /// the baselines): what copy-on-write adds, apart from the scheduler's noise.
    public var snapshotFirstLineCPUNanosecondsMax: UInt64 = 0
    public var snapshotFirstLinesCPUNanosecondsSumMax: UInt64 = 0
    public var baselineCPUNanosecondsSumMax: UInt64 = 0
    /// The longest copy of the ledger for a snapshot.
    public var snapshotCopyNanosecondsMax: UInt64 = 0
    /// Time the applying thread waited for a snapshot in flight (see `snapshotRecordInterval`).
    public var snapshotWaitNanoseconds: UInt64 = 0
    /// The longest snapshot, from the copy to the synced rename.
    public var snapshotNanosecondsMax: UInt64 = 0
    public var snapshotBytesMax = 0
    public var elapsedNanoseconds: UInt64 = 0
}

/// A durable replay of one trace into one directory.
public enum DurableReplay {
    /// `run(traceDescriptor:directory:fileSystem:options:output:log:)` on the real file
    /// system. Why a second entry point: called from another module, the generic `run` is not
    /// specialized, and its per-line closure then looks up generic metadata for every trace
    /// line (a third of the restart's trace check of 10M lines, measured with perf); called
    /// from here, its module, it is specialized for `POSIXFileSystem`.
    public static func run(
        traceDescriptor: Int32, directory: String, options: DurableReplayOptions,
        output: @escaping @Sendable ([UInt8]) -> Void, log: (String) -> Void
    ) throws(JournalError) -> DurableReplayStatistics {
        try run(
            traceDescriptor: traceDescriptor, directory: directory, fileSystem: POSIXFileSystem(), options: options,
            output: output, log: log)
    }

    /// Replays the trace read from `traceDescriptor` into `directory`, resuming after the
    /// last durable line of an earlier run. `output` receives acknowledged output (on the
    /// writer's thread); `log` receives the `resuming at line N` message.
    ///
    /// Throws `JournalError` on a failed write or sync (the failed batch and everything after
    /// it are never acknowledged), on corruption found during recovery, and on a read error.
    public static func run<FileSystem: JournalFileSystem>(
        traceDescriptor: Int32, directory: String, fileSystem: FileSystem, options: DurableReplayOptions,
        output: @escaping @Sendable ([UInt8]) -> Void, log: (String) -> Void
    ) throws(JournalError) -> DurableReplayStatistics {
        let start = monotonicNanoseconds()
        var statistics = DurableReplayStatistics()
        try fileSystem.makeDirectory(directory)
        if options.startOver { try JournalRecovery.removeJournal(directory: directory, fileSystem: fileSystem) }
        let recovered = try JournalRecovery.recover(directory: directory, fileSystem: fileSystem, repair: true)
        statistics.recoveryNanoseconds = monotonicNanoseconds() - start
        statistics.recoverySnapshotNanoseconds = recovered.snapshotNanoseconds
        statistics.recoverySnapshotDecodeNanoseconds = recovered.snapshotDecodeNanoseconds
        statistics.recoverySnapshotDecodeCPUNanoseconds = recovered.snapshotDecodeCPUNanoseconds
        statistics.recoveryJournalNanoseconds = recovered.journalNanoseconds
        statistics.recoveredRecordCount = recovered.scan.recordCountAfterSnapshot
        let lastLine = recovered.scan.lastLine
        var applier: Applier<FileSystem>? = nil
        var prefix = TraceHash()
        let prefixStart = monotonicNanoseconds()
        do {
            if lastLine == 0 { applier = try begin(recovered, directory, fileSystem, options, output, log, &statistics) }
            try LineReader(fileDescriptor: traceDescriptor).forEachLine { line, number in
                guard UInt64(number) > lastLine else {
                    // The lines the directory covers: checked against its record of them
                    // before anything changes (see `TraceHash`).
                    switch line {
                    case .bytes(let bytes): prefix.append(line: bytes)
                    case .overlong: prefix.appendOverlong()
                    }
                    if UInt64(number) == lastLine {
                        try checkTrace(prefix, lineCount: lastLine, recovered.scan, directory: directory)
                        statistics.prefixCheckNanoseconds = monotonicNanoseconds() - prefixStart
                        applier = try begin(recovered, directory, fileSystem, options, output, log, &statistics)
                    }
                    return
                }
                try applier!.apply(line, number: UInt64(number))
            }
            guard applier != nil else {
                throw JournalError.otherTrace(
                    "\(directory) holds trace lines 1...\(lastLine), but this trace has fewer lines: it is another trace. "
                        + "Give another --data-dir, or --start-over to discard the journal and snapshots in \(directory)")
            }
        } catch let error as JournalError {
            applier?.abandon()
            throw error
        } catch {
            applier?.abandon()
            let errno = (error as? LineReader.ReadError)?.errno ?? EIO
            throw JournalError.io("read", "the trace", errno)
        }
        do { try applier!.finish() } catch {
            applier!.abandon()
            throw error
        }
        let applied = applier!
        statistics.writer = try applied.writer.finish()
        statistics.linesApplied = applied.linesApplied
        statistics.snapshotCount += applied.snapshotCount
        statistics.snapshotStallNanosecondsMax = applied.stallNanosecondsMax
        statistics.snapshotFirstLinesStallNanosecondsMax = applied.firstLinesStallNanosecondsMax
        statistics.snapshotCopyNanosecondsMax = applied.copyNanosecondsMax
        statistics.snapshotFirstLinesCPUNanosecondsMax = applied.firstLinesCPUNanosecondsMax
        statistics.baselineCPUNanosecondsMax = applied.baselineCPUNanosecondsMax
        statistics.snapshotFirstLineCPUNanosecondsMax = applied.firstLineCPUNanosecondsMax
        statistics.snapshotFirstLinesCPUNanosecondsSumMax = applied.firstLinesCPUNanosecondsSumMax
        statistics.baselineCPUNanosecondsSumMax = applied.baselineCPUNanosecondsSumMax
        statistics.snapshotNanosecondsMax = applied.snapshotNanosecondsMax.value
        statistics.snapshotBytesMax = applied.snapshotBytesMax.value
        statistics.snapshotWaitNanoseconds = applied.snapshotWaitNanoseconds
        statistics.elapsedNanoseconds = monotonicNanoseconds() - start
        return statistics
    }

    /// Refuses a trace whose first `lineCount` lines are not the ones the directory covers.
    static func checkTrace(_ prefix: TraceHash, lineCount: UInt64, _ scan: JournalDirectoryScan, directory: String)
        throws(JournalError)
    {
        guard prefix != scan.trace else { return }
        throw .otherTrace(
            "\(directory) belongs to another trace: it holds trace lines 1...\(lineCount) recorded as \(scan.trace), "
                + "and this trace's first \(lineCount) lines are \(prefix). Nothing was changed. Give another --data-dir, "
                + "or --start-over to discard the journal and snapshots in \(directory)")
    }

    /// Starts serving after the recovered state (the trace's prefix checked): folds a long
    /// recovered journal into a snapshot, says where it resumes, starts the writer.
    static func begin<FileSystem: JournalFileSystem>(
        _ recovered: RecoveredJournal, _ directory: String, _ fileSystem: FileSystem, _ options: DurableReplayOptions,
        _ output: @escaping @Sendable ([UInt8]) -> Void, _ log: (String) -> Void,
        _ statistics: inout DurableReplayStatistics
    ) throws(JournalError) -> Applier<FileSystem> {
        let lastLine = recovered.scan.lastLine
        // A long journal after the snapshot (runs killed before their snapshot was published)
        // is folded into a snapshot now, before serving: else every restart of a crash loop
        // replays a longer journal. Everything recovered is durable, so it may be published.
        var recordsSinceSnapshot = recovered.scan.recordCountAfterSnapshot
        if options.snapshotRecordInterval > 0 && recordsSinceSnapshot >= options.snapshotRecordInterval {
            _ = try SnapshotStore.write(
                recovered.ledger, line: lastLine, trace: recovered.scan.trace, directory: directory,
                fileSystem: fileSystem, bufferBytes: options.snapshotBufferBytes, beforePublishing: { () throws(JournalError) -> UInt64 in recovered.nextSequence })
            statistics.snapshotCount += 1
            recordsSinceSnapshot = 0
        }
        statistics.resumeLine = lastLine + 1
        if lastLine > 0 { log("resuming at line \(lastLine + 1)") }
        let writer = try JournalWriter(
            directory: directory, fileSystem: fileSystem, mode: options.mode, sequence: recovered.nextSequence,
            lastLine: lastLine, acknowledge: output)
        var applier = Applier(
            ledger: recovered.ledger, writer: writer, directory: directory, fileSystem: fileSystem, options: options,
            nextLine: lastLine + 1)
        applier.batch.trace = recovered.scan.trace
        applier.recordsSinceSnapshot = recordsSinceSnapshot
        return applier
    }
}

/// A value shared with a snapshot thread, under a lock.
final class SharedBox<Value: Sendable>: @unchecked Sendable {
    private let lock = ConditionLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
    func update(_ body: (inout Value) -> Void) { lock.withLock { body(&stored) } }
}

/// The applying thread's state: the ledger, the parser and encoder, the pending batch.
struct Applier<FileSystem: JournalFileSystem> {
    var ledger: Ledger
    let writer: JournalWriter<FileSystem>
    let directory: String
    let fileSystem: FileSystem
    let options: DurableReplayOptions
    var batch: PendingBatch
    var parser = TraceParser()
    let encoder = TraceEncoder()
    var alerts: [Alert] = []
    var linesApplied = 0
    var linesSinceIdleCheck = 0
    var batchStartNanoseconds = monotonicNanoseconds()
    /// Lines between two looks at whether the writer is idle.
    static var idleCheckLines: Int { 16 }
    /// In buffered mode, the age of a batch before it is handed to an idle writer: 1 ms.
    static var bufferedBatchNanoseconds: UInt64 { 1_000_000 }
    var recordsSinceSnapshot = 0
    var snapshotCount = 0
    var snapshotWaitNanoseconds: UInt64 = 0
    var stallNanosecondsMax: UInt64 = 0
    /// The longest apply among the first 1,000 lines after a copy: where copy-on-write of
    /// the ledger's tables lands (the later maximum is mostly the scheduler).
    var firstLinesStallNanosecondsMax: UInt64 = 0
    /// The same in CPU time of the applying thread: the work done, without preemption.
    var firstLinesCPUNanosecondsMax: UInt64 = 0
    var baselineCPUNanosecondsMax: UInt64 = 0
    var firstLineCPUNanosecondsMax: UInt64 = 0
    /// Sums over the current copy's first 1,000 lines and the current baseline's, and their
    /// most so far.
    var firstLinesCPUNanosecondsSum: UInt64 = 0
    var firstLinesCPUNanosecondsSumMax: UInt64 = 0
    var baselineCPUNanosecondsSum: UInt64 = 0
    var baselineCPUNanosecondsSumMax: UInt64 = 0
    /// Lines of the current baseline so far (its sum covers its first 1,000 lines, as after a
    /// copy); `Int.max` outside one.
    var baselineLines = Int.max
    var copyNanosecondsMax: UInt64 = 0
    var linesSinceCopy = 0
    /// Set while a snapshot thread runs; its error, if any, once it ends.
    let snapshotInFlight = SharedBox<Bool>(false)
    let snapshotFailure = SharedBox<JournalError?>(nil)
    let snapshotNanosecondsMax = SharedBox<UInt64>(0)
    let snapshotBytesMax = SharedBox<Int>(0)

    init(
        ledger: Ledger, writer: JournalWriter<FileSystem>, directory: String, fileSystem: FileSystem,
        options: DurableReplayOptions, nextLine: UInt64
    ) {
        self.ledger = ledger
        self.writer = writer
        self.directory = directory
        self.fileSystem = fileSystem
        self.options = options
        batch = PendingBatch(nextLine: nextLine)
        batch.payload.reserveCapacity(options.batchBytesMax + JournalFormat.recordBytesMax)
    }

    mutating func apply(_ line: LineReader.Line, number: UInt64) throws(JournalError) {
        precondition(number == batch.lastLine + 1, "lines in order, none skipped")
        let measuring = snapshotInFlight.value
        let start = measuring ? monotonicNanoseconds() : 0
        // A baseline: the same figure over 1,000 lines with no snapshot in flight.
        let baseline = !measuring && options.snapshotRecordInterval > 0
            && (options.snapshotRecordInterval / 2..<options.snapshotRecordInterval / 2 + 1_000).contains(recordsSinceSnapshot)
        let cpuStart = measuring && linesSinceCopy < 1_000 || baseline ? threadCPUNanoseconds() : 0
        switch line {
        case .bytes(let bytes): batch.trace.append(line: bytes)
        case .overlong: batch.trace.appendOverlong()
        }
        switch parser.parse(line) {
        case .blank:
            break
        case .malformed:
            encoder.append(Response.refused(.invalid), to: &batch.output)
        case .request(let request, let t):
            let before = ledger.acceptedRequestCount
            alerts.removeAll(keepingCapacity: true)
            let response = ledger.apply(request, at: t, alerts: &alerts)
            encoder.append(response, to: &batch.output)
            for alert in alerts { encoder.append(alert, to: &batch.output) }
            if ledger.acceptedRequestCount != before {
                batch.record(line: number, request: request, at: t)
                recordsSinceSnapshot += 1
            }
        }
        if baseline {
            let cpu = threadCPUNanoseconds() - cpuStart
            baselineCPUNanosecondsMax = max(baselineCPUNanosecondsMax, cpu)
            if baselineLines == Int.max { (baselineLines, baselineCPUNanosecondsSum) = (0, 0) }
            if baselineLines < 1_000 {
                baselineCPUNanosecondsSum += cpu
                baselineCPUNanosecondsSumMax = max(baselineCPUNanosecondsSumMax, baselineCPUNanosecondsSum)
            }
            baselineLines += 1
        } else {
            baselineLines = Int.max
        }
        if measuring {
            let duration = monotonicNanoseconds() - start
            stallNanosecondsMax = max(stallNanosecondsMax, duration)
            if linesSinceCopy < 1_000 {
                firstLinesStallNanosecondsMax = max(firstLinesStallNanosecondsMax, duration)
                let cpu = threadCPUNanoseconds() - cpuStart
                firstLinesCPUNanosecondsMax = max(firstLinesCPUNanosecondsMax, cpu)
                if linesSinceCopy == 0 {
                    firstLineCPUNanosecondsMax = max(firstLineCPUNanosecondsMax, cpu)
                    firstLinesCPUNanosecondsSum = 0
                }
                firstLinesCPUNanosecondsSum += cpu
                firstLinesCPUNanosecondsSumMax = max(firstLinesCPUNanosecondsSumMax, firstLinesCPUNanosecondsSum)
            }
            linesSinceCopy += 1
        }
        batch.lastLine = number
        linesApplied += 1
        if options.snapshotRecordInterval > 0 && recordsSinceSnapshot >= options.snapshotRecordInterval {
            if snapshotInFlight.value {
                let waitStart = monotonicNanoseconds()
                while snapshotInFlight.value { usleep(200) }
                snapshotWaitNanoseconds += monotonicNanoseconds() - waitStart
            }
            try startSnapshot(line: number)
        } else if batch.payload.count >= options.batchBytesMax || batch.output.count >= options.batchBytesMax {
            try writer.submit(&batch)
        } else {
            // Hand over when the writer is idle (asked every `idleCheckLines` lines: it takes
            // its lock); in buffered mode only once the batch is `bufferedBatchNanoseconds`
            // old, else a writer that never waits for a sync takes one line at a time.
            linesSinceIdleCheck += 1
            if linesSinceIdleCheck >= Self.idleCheckLines {
                linesSinceIdleCheck = 0
                let ripe: Bool
                switch options.mode {
                case .durable: ripe = true
                case .buffered: ripe = monotonicNanoseconds() - batchStartNanoseconds >= Self.bufferedBatchNanoseconds
                }
                if ripe && writer.isIdle {
                    try writer.submit(&batch)
                    batchStartNanoseconds = monotonicNanoseconds()
                }
            }
        }
    }

    /// Seals the batch at `line` (the writer starts a new segment after it), copies the
    /// ledger (O(1): a value whose arrays are shared until written) and writes the copy on
    /// another thread.
    mutating func startSnapshot(line: UInt64) throws(JournalError) {
        if let failure = snapshotFailure.value { throw failure }
        batch.rotateAfter = true
        let trace = batch.trace
        try writer.submit(&batch)
        let start = monotonicNanoseconds()
        // Boxed so that the snapshot thread drops it before `releaseMemory`.
        let copy = SharedBox<Ledger?>(ledger)
        copyNanosecondsMax = max(copyNanosecondsMax, monotonicNanoseconds() - start)
        linesSinceCopy = 0
        recordsSinceSnapshot = 0
        snapshotCount += 1
        snapshotInFlight.value = true
        let (writer, directory, fileSystem) = (self.writer, self.directory, self.fileSystem)
        let (bufferBytes, releaseMemory) = (options.snapshotBufferBytes, options.releaseMemory)
        let (inFlight, failure, duration, size) = (snapshotInFlight, snapshotFailure, snapshotNanosecondsMax, snapshotBytesMax)
        WriterThread {
            do {
                let bytes = try SnapshotStore.write(
                    copy.value!, line: line, trace: trace, directory: directory, fileSystem: fileSystem,
                    bufferBytes: bufferBytes
                ) {
                    () throws(JournalError) -> UInt64 in
                    try writer.waitSynced(through: line)
                    return writer.currentSequence
                }
                size.update { $0 = max($0, bytes) }
            } catch let error as JournalError {
                failure.value = error
            } catch {
                failure.value = JournalError.io("snapshot", directory, EIO)
            }
            copy.value = nil
            releaseMemory?()
            duration.update { $0 = max($0, monotonicNanoseconds() - start) }
            inFlight.value = false
        }.start()
    }

    /// After a failure: stops the writer and waits for a snapshot thread in flight, so that
    /// nothing of this run touches the directory once `run` has returned.
    func abandon() {
        _ = try? writer.finish()
        while snapshotInFlight.value { usleep(1000) }
    }

    /// Submits the last batch and waits for a snapshot in flight.
    mutating func finish() throws(JournalError) {
        if options.snapshotAtEnd && recordsSinceSnapshot > 0 && !batch.isEmpty {
            while snapshotInFlight.value { usleep(1000) }
            try startSnapshot(line: batch.lastLine)
        }
        try writer.submit(&batch)
        while snapshotInFlight.value { usleep(1000) }
        if let failure = snapshotFailure.value { throw failure }
    }
}
