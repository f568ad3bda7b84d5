// Recovery: the newest valid snapshot plus the journal after it. Also the read-only scan
// that `creditmeter inspect` prints. A torn tail of the last segment (an append cut short
// by a crash) is reported and, when recovering for writing, cut off; any other damage
// stops recovery with an error that names the file and the byte offset.

import CreditCore
import CreditTrace

/// What a directory holds, as scanned.
public struct JournalDirectoryScan: Sendable {
    /// The newest snapshot: its name and the last trace line it covers.
    public var snapshotName: String?
    public var snapshotLine: UInt64 = 0
    public var snapshotBytes: [UInt8] = []
    /// Older snapshots still present (a crash came before they were removed).
    public var olderSnapshotNames: [String] = []
    /// Segments in sequence order, with their names.
    public var segments: [(name: String, segment: JournalSegment)] = []
    /// The last trace line covered by the snapshot or a batch.
    public var lastLine: UInt64 = 0
    /// Records after the snapshot (the ones recovery applies).
    public var recordCountAfterSnapshot = 0
}

/// The state recovered from a directory.
public struct RecoveredJournal: Sendable {
    public var ledger: Ledger
    public var scan: JournalDirectoryScan
    /// The next segment sequence to write.
    public var nextSequence: UInt64
}

/// Reading a journal directory back. Pure functions of what the file system returns.
public enum JournalRecovery {
    /// Scans `directory`: checks the newest snapshot's checksums and every batch and record
    /// of every segment, and the continuity of trace lines after the snapshot.
    public static func scan<FileSystem: JournalFileSystem>(directory: String, fileSystem: FileSystem)
        throws(JournalError) -> JournalDirectoryScan
    {
        let names = try fileSystem.list(directory)
        var scan = JournalDirectoryScan()
        let snapshots = names.compactMap { name in JournalFormat.snapshotLine(name).map { (name, $0) } }
            .sorted { $0.1 < $1.1 }
        if let newest = snapshots.last {
            let path = directory + "/" + newest.0
            let (line, body) = try JournalFormat.decodeSnapshot(try fileSystem.read(path), path: path)
            guard line == newest.1 else { throw .corrupt(path, offset: 8, "snapshot line \(line) differs from its name") }
            scan.snapshotName = newest.0
            scan.snapshotLine = line
            scan.snapshotBytes = body
            scan.olderSnapshotNames = snapshots.dropLast().map(\.0)
        }
        scan.lastLine = scan.snapshotLine
        let segmentNames = names.compactMap { name in JournalFormat.segmentSequence(name).map { (name, $0) } }
            .sorted { $0.1 < $1.1 }
        for (position, (name, sequence)) in segmentNames.enumerated() {
            let path = directory + "/" + name
            let isLast = position == segmentNames.count - 1
            let segment = try JournalFormat.decodeSegment(try fileSystem.read(path), path: path, isLast: isLast)
            guard segment.validBytes == 0 || segment.sequence == sequence else {
                throw .corrupt(path, offset: 8, "segment sequence \(segment.sequence) differs from its name")
            }
            for batch in segment.batches where batch.lastLine > scan.snapshotLine {
                guard batch.firstLine == scan.lastLine + 1 else {
                    throw .corrupt(
                        path, offset: batch.offset,
                        "batch covers lines \(batch.firstLine)...\(batch.lastLine), expected to start at \(scan.lastLine + 1)")
                }
                scan.lastLine = batch.lastLine
                scan.recordCountAfterSnapshot += batch.records.count
            }
            scan.segments.append((name, segment))
        }
        return scan
    }

    /// Recovers the ledger: the snapshot, then every record after it applied in order. With
    /// `repair`, cuts a torn tail off (durably) and removes a leftover temporary snapshot.
    /// Throws a corruption error naming file and offset for damage that is not a torn tail,
    /// and a mismatch error when a record does not replay as an accepted request.
    public static func recover<FileSystem: JournalFileSystem>(
        directory: String, fileSystem: FileSystem, repair: Bool
    ) throws(JournalError) -> RecoveredJournal {
        let scan = try scan(directory: directory, fileSystem: fileSystem)
        var ledger = Ledger()
        if let name = scan.snapshotName {
            do { ledger = try Ledger(snapshotBytes: scan.snapshotBytes) } catch {
                throw .corrupt(directory + "/" + name, offset: JournalFormat.snapshotHeaderBytes + error.offset, error.message)
            }
        }
        var parser = TraceParser()
        var alerts: [Alert] = []
        for (name, segment) in scan.segments {
            for batch in segment.batches where batch.lastLine > scan.snapshotLine {
                for record in batch.records {
                    let accepted = record.bytes.withUnsafeBytes { bytes in
                        guard case .request(let request, let t) = parser.parse(bytes) else { return false }
                        let before = ledger.acceptedRequestCount
                        alerts.removeAll(keepingCapacity: true)
                        _ = ledger.apply(request, at: t, alerts: &alerts)
                        return ledger.acceptedRequestCount == before + 1
                    }
                    guard accepted else {
                        throw .mismatch(
                            "\(directory)/\(name): the record of trace line \(record.line) (batch at byte offset \(batch.offset)) does not replay as an accepted request")
                    }
                }
            }
        }
        let lastSequence = scan.segments.last.map { $0.segment.validBytes == 0 ? 0 : $0.segment.sequence } ?? 0
        let nextSequence = max(lastSequence, scan.segments.compactMap { JournalFormat.segmentSequence($0.name) }.max() ?? 0) + 1
        if repair { try self.repair(scan, directory: directory, fileSystem: fileSystem) }
        return RecoveredJournal(ledger: ledger, scan: scan, nextSequence: nextSequence)
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
    public static func write<FileSystem: JournalFileSystem>(
        _ ledger: Ledger, line: UInt64, directory: String, fileSystem: FileSystem,
        beforePublishing: () throws(JournalError) -> UInt64
    ) throws(JournalError) -> Int {
        let bytes = JournalFormat.snapshotFile(line: line, body: ledger.snapshotBytes())
        let temporary = directory + "/" + temporaryName
        let file = try fileSystem.create(temporary)
        do {
            try file.write(bytes)
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
        return bytes.count
    }
}
