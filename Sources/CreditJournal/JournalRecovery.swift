// Recovery: the newest valid snapshot plus the journal after it. Also the read-only scan
// that `creditmeter inspect` prints. Segments are streamed batch by batch through a bounded
// buffer (`JournalSegmentReader`), and records hold binary requests (`RequestCodec`), so
// recovery costs the snapshot's decoding plus about a microsecond per record after it.
// A torn tail of the last segment (an append cut short by a crash) is reported and, when
// recovering for writing, cut off; any other damage stops recovery with an error that
// names the file and the byte offset.

import CreditCore

/// What a directory holds, as scanned.
public struct JournalDirectoryScan: Sendable {
    /// The newest snapshot: its name, the last trace line it covers, its body's size.
    public var snapshotName: String?
    public var snapshotLine: UInt64 = 0
    public var snapshotBodyBytes = 0
    /// Older snapshots still present (a crash came before they were removed).
    public var olderSnapshotNames: [String] = []
    /// Segments in sequence order, with their names.
    public var segments: [(name: String, segment: JournalSegmentSummary)] = []
    /// The last trace line covered by the snapshot or a batch.
    public var lastLine: UInt64 = 0
    /// The trace prefix through `lastLine`, as recorded (see `TraceHash`).
    public var trace = TraceHash()
    /// Records after the snapshot (the ones recovery applies).
    public var recordCountAfterSnapshot = 0
}

/// The state recovered from a directory.
public struct RecoveredJournal: Sendable {
    public var ledger: Ledger
    public var scan: JournalDirectoryScan
    /// The next segment sequence to write.
    public var nextSequence: UInt64
    /// Time spent reading, checking and decoding the snapshot.
    public var snapshotNanoseconds: UInt64 = 0
    /// Of that, decoding the checked bytes into a ledger: wall and the thread's CPU time.
    public var snapshotDecodeNanoseconds: UInt64 = 0
    public var snapshotDecodeCPUNanoseconds: UInt64 = 0
    /// Time spent reading, checking and applying the journal after it.
    public var journalNanoseconds: UInt64 = 0
}

/// Reading a journal directory back. Functions of what the file system returns.
public enum JournalRecovery {
    /// Scans `directory`: checks the newest snapshot's checksums and every batch and record
    /// of every segment, and the continuity of trace lines after the snapshot. With
    /// `keepBatches`, lists every batch. Memory: the snapshot body and one batch.
    public static func scan<FileSystem: JournalFileSystem>(
        directory: String, fileSystem: FileSystem, keepBatches: Bool = false
    ) throws(JournalError) -> (scan: JournalDirectoryScan, snapshotBody: SnapshotBuffer) {
        var body = SnapshotBuffer(copying: [])
        let scan = try walk(directory: directory, fileSystem: fileSystem, keepBatches: keepBatches) {
            _, bytes throws(JournalError) in body = bytes
        } record: { _, _, _, _ throws(JournalError) in }
        return (scan, body)
    }

    /// Recovers the ledger: the snapshot, then every record after it applied in order. With
    /// `repair`, cuts a torn tail off (durably) and removes a leftover temporary snapshot.
    /// Throws a corruption error naming file and offset for damage that is not a torn tail,
    /// a format error for a directory of another format version, and a mismatch error when
    /// a record does not replay as an accepted request.
    public static func recover<FileSystem: JournalFileSystem>(
        directory: String, fileSystem: FileSystem, repair: Bool
    ) throws(JournalError) -> RecoveredJournal {
        var ledger = Ledger()
        var alerts: [Alert] = []
        let start = monotonicNanoseconds()
        var snapshotDone = start
        var decode: (wall: UInt64, cpu: UInt64) = (0, 0)
        let scan = try walk(directory: directory, fileSystem: fileSystem, keepBatches: false) {
            name, body throws(JournalError) in
            let (decodeStart, decodeCPUStart) = (monotonicNanoseconds(), threadCPUNanoseconds())
            defer { decode = (monotonicNanoseconds() - decodeStart, threadCPUNanoseconds() - decodeCPUStart) }
            do throws(LedgerSnapshotError) { ledger = try Ledger(snapshot: body) } catch {
                throw .corrupt(directory + "/" + name, offset: JournalFormat.snapshotHeaderBytes + error.offset, error.message)
            }
            snapshotDone = monotonicNanoseconds()
        } record: { name, batch, line, bytes throws(JournalError) in
            let decoded: (Request, t: Milliseconds)
            do { decoded = try RequestCodec.decode(bytes) } catch {
                throw .corrupt(
                    "\(directory)/\(name)", offset: batch.offset,
                    "the record of trace line \(line) in the batch there: \(error)")
            }
            let before = ledger.acceptedRequestCount
            alerts.removeAll(keepingCapacity: true)
            _ = ledger.apply(decoded.0, at: decoded.t, alerts: &alerts)
            guard ledger.acceptedRequestCount == before + 1 else {
                throw .mismatch(
                    "\(directory)/\(name): the record of trace line \(line) (batch at byte offset \(batch.offset)) does not replay as an accepted request")
            }
        }
        if scan.snapshotName == nil { snapshotDone = start }
        let finished = monotonicNanoseconds()
        let lastSequence = scan.segments.last.map { $0.segment.validBytes == 0 ? 0 : $0.segment.sequence } ?? 0
        let nextSequence = max(lastSequence, scan.segments.compactMap { JournalFormat.segmentSequence($0.name) }.max() ?? 0) + 1
        if repair { try self.repair(scan, directory: directory, fileSystem: fileSystem) }
        return RecoveredJournal(
            ledger: ledger, scan: scan, nextSequence: nextSequence, snapshotNanoseconds: snapshotDone - start,
            snapshotDecodeNanoseconds: decode.wall, snapshotDecodeCPUNanoseconds: decode.cpu,
            journalNanoseconds: finished - snapshotDone)
    }

    /// Reads the newest snapshot (its body to `snapshot`), then every segment in order,
    /// handing each record after the snapshot to `record` (segment name, batch, line, body).
    static func walk<FileSystem: JournalFileSystem>(
        directory: String, fileSystem: FileSystem, keepBatches: Bool,
        snapshot: (String, SnapshotBuffer) throws(JournalError) -> Void,
        record: (String, JournalBatchView, UInt64, UnsafeRawBufferPointer) throws(JournalError) -> Void
    ) throws(JournalError) -> JournalDirectoryScan {
        let names = try fileSystem.list(directory)
        var scan = JournalDirectoryScan()
        let snapshots = names.compactMap { name in JournalFormat.snapshotLine(name).map { (name, $0) } }
            .sorted { $0.1 < $1.1 }
        if let newest = snapshots.last {
            let path = directory + "/" + newest.0
            let (header, body) = try readSnapshot(path, fileSystem: fileSystem)
            guard header.line == newest.1 else {
                throw .corrupt(path, offset: 8, "snapshot line \(header.line) differs from its name")
            }
            scan.snapshotName = newest.0
            scan.snapshotLine = header.line
            scan.snapshotBodyBytes = body.bytes.count
            scan.trace = header.trace
            scan.olderSnapshotNames = snapshots.dropLast().map(\.0)
            try snapshot(newest.0, body)
        }
        scan.lastLine = scan.snapshotLine
        let segmentNames = names.compactMap { name in JournalFormat.segmentSequence(name).map { (name, $0) } }
            .sorted { $0.1 < $1.1 }
        for (position, (name, sequence)) in segmentNames.enumerated() {
            let path = directory + "/" + name
            let isLast = position == segmentNames.count - 1
            let segment = try JournalSegmentReader.read(path, fileSystem: fileSystem, isLast: isLast, keepBatches: keepBatches) {
                batch throws(JournalError) in
                guard batch.lastLine > scan.snapshotLine else { return }
                guard batch.firstLine == scan.lastLine + 1 else {
                    throw .corrupt(
                        path, offset: batch.offset,
                        "batch covers lines \(batch.firstLine)...\(batch.lastLine), expected to start at \(scan.lastLine + 1)")
                }
                try batch.forEachRecord { line, bytes throws(JournalError) in try record(name, batch, line, bytes) }
                scan.lastLine = batch.lastLine
                scan.trace = batch.trace
                scan.recordCountAfterSnapshot += batch.recordCount
            }
            guard segment.validBytes == 0 || segment.sequence == sequence else {
                throw .corrupt(path, offset: 8, "segment sequence \(segment.sequence) differs from its name")
            }
            scan.segments.append((name, segment))
        }
        return scan
    }

    /// Reads (maps) and checks a snapshot file: its header, then its body, in place.
    static func readSnapshot<FileSystem: JournalFileSystem>(_ path: String, fileSystem: FileSystem) throws(JournalError)
        -> (JournalFormat.SnapshotHeader, SnapshotBuffer)
    {
        let file = try fileSystem.readOnlyContents(path)
        let headerBytes = min(file.bytes.count, JournalFormat.snapshotHeaderBytes)
        let header = try JournalFormat.decodeSnapshotHeader(UnsafeRawBufferPointer(rebasing: file.bytes[0..<headerBytes]), path: path)
        // The body is the rest of the file: a longer or shorter one than the header says is damage.
        let body = SnapshotBuffer(file, from: headerBytes)
        try JournalFormat.checkSnapshotBody(body.bytes, header: header, path: path)
        return (header, body)
    }

    /// Removes the journal's files from `directory` (segments, snapshots, a temporary
    /// snapshot; nothing else), durably: `replay --start-over`. Safe when nothing writes there.
    public static func removeJournal<FileSystem: JournalFileSystem>(directory: String, fileSystem: FileSystem)
        throws(JournalError)
    {
        for name in try fileSystem.list(directory)
        where JournalFormat.segmentSequence(name) != nil || JournalFormat.snapshotLine(name) != nil
            || name == SnapshotStore.temporaryName
        {
            try fileSystem.remove(directory + "/" + name)
        }
        try fileSystem.syncDirectory(directory)
    }

    static func repair<FileSystem: JournalFileSystem>(
        _ scan: JournalDirectoryScan, directory: String, fileSystem: FileSystem
    ) throws(JournalError) {
        // An empty or headerless last segment (a crash while creating it) is removed too:
        // the next segment is created after it, and it must not end up in the middle.
        if let (name, segment) = scan.segments.last, segment.tornBytes > 0 || segment.validBytes == 0 {
            let path = directory + "/" + name
            if segment.validBytes == 0 {
                try fileSystem.remove(path)
            } else {
                let file = try fileSystem.openForAppend(path, size: segment.validBytes)
                defer { file.close() }
                try file.sync()
            }
        }
        if try fileSystem.list(directory).contains(SnapshotStore.temporaryName) {
            try fileSystem.remove(directory + "/" + SnapshotStore.temporaryName)
        }
        try fileSystem.syncDirectory(directory)
    }
}

/// Writing snapshot files: to a temporary file, synced, renamed into place, the directory
/// synced; then what the snapshot makes unnecessary is removed.
public enum SnapshotStore {
    /// The name of a snapshot being written.
    public static let temporaryName = "snapshot.tmp"

    /// Writes `ledger` as the snapshot of trace line `line`. `beforePublishing` runs after
    /// the file is synced and before it is renamed into place (the journal waits there until
    /// it has synced every line up to `line`). Then removes older snapshots and the segments
    /// with a sequence below `firstKeptSequence`. Safe from any thread; one at a time per
    /// directory. Returns the snapshot's size in bytes.
    ///
    /// The body is streamed (`Ledger.writeSnapshot`): serialized into one reusable buffer of
    /// `bufferBytes`, written as it fills, its checksum computed as it goes; the header,
    /// which holds the body's length and checksum, is written last over 48 zero bytes. The
    /// file is the one `JournalFormat.snapshotFile` makes of `Ledger.snapshotBytes()`. A
    /// failed write or sync removes the temporary file and publishes nothing: the previous
    /// snapshot stays the newest.
    public static func write<FileSystem: JournalFileSystem>(
        _ ledger: Ledger, line: UInt64, trace: TraceHash, directory: String, fileSystem: FileSystem,
        bufferBytes: Int = Ledger.snapshotBufferBytesDefault, beforePublishing: () throws(JournalError) -> UInt64
    ) throws(JournalError) -> Int {
        let temporary = directory + "/" + temporaryName
        let file = try fileSystem.create(temporary)
        var bodyBytes = 0
        do {
            try file.write([UInt8](repeating: 0, count: JournalFormat.snapshotHeaderBytes))
            var crc: UInt32 = 0
            try ledger.writeSnapshot(bufferBytes: bufferBytes) { (piece) throws(JournalError) in
                crc = CRC32C.update(crc, piece)
                bodyBytes += piece.count
                try file.write(piece)
            }
            let header = JournalFormat.snapshotHeader(line: line, bodyBytes: bodyBytes, bodyCRC: crc, trace: trace)
            let result = header.withUnsafeBytes { (raw) -> Result<Void, JournalError> in
                do throws(JournalError) {
                    try file.write(raw, at: 0)
                    return .success(())
                } catch {
                    return .failure(error)
                }
            }
            try result.get()
            try file.sync()
            file.close()
        } catch {
            file.close()
            try? fileSystem.remove(temporary)
            throw error
        }
        let firstKeptSequence = try beforePublishing()
        try fileSystem.rename(temporary, to: directory + "/" + JournalFormat.snapshotName(line))
        try fileSystem.syncDirectory(directory)
        for name in try fileSystem.list(directory) {
            if let older = JournalFormat.snapshotLine(name), older < line {
                try fileSystem.remove(directory + "/" + name)
            } else if let sequence = JournalFormat.segmentSequence(name), sequence < firstKeptSequence {
                try fileSystem.remove(directory + "/" + name)
            }
        }
        try fileSystem.syncDirectory(directory)
        return JournalFormat.snapshotHeaderBytes + bodyBytes
    }
}
