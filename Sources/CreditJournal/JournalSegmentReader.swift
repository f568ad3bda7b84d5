// Reading a segment file as a stream of batches through one bounded buffer, so that
// recovery's memory does not grow with the journal: the buffer holds `readChunkBytes`, and
// grows only to hold one whole batch (at most `batchHeaderBytes + batchPayloadBytesMax`).
// Each batch is checked (header, payload checksum, records) before it is handed over.

/// What reading one segment found.
public struct JournalSegmentSummary: Sendable {
    /// The sequence in the header (0 when the segment has no complete header).
    public var sequence: UInt64 = 0
    /// The end of the last valid batch: a torn tail starts here (0: no valid header).
    public var validBytes = 0
    /// Bytes after `validBytes` that are a torn tail (0 when none).
    public var tornBytes = 0
    public var batchCount = 0
    public var recordCount = 0
    /// The lines the segment's batches cover (nil when it has none).
    public var firstLine: UInt64? = nil
    public var lastLine: UInt64? = nil
    /// Every batch, when asked for (`inspect --batches`).
    public var batches: [JournalBatchSummary] = []
}

/// Streams the batches of one segment. Used by one thread.
final class JournalSegmentReader {
    /// Bytes asked of one read: 1 MiB.
    static let readChunkBytes = 1 << 20
    /// The largest the buffer grows: one whole batch.
    static let bufferBytesMax = JournalFormat.batchHeaderBytes + JournalFormat.batchPayloadBytesMax

    typealias Source = (_ offset: Int, _ into: UnsafeMutableRawBufferPointer) throws(JournalError) -> Int

    private var buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: readChunkBytes, alignment: 16)
    /// The file offset of `buffer[0]`, and how many bytes from there the buffer holds.
    private var windowStart = 0
    private var filled = 0
    /// Whether a read came back short: the file ends at `windowStart + filled`.
    private var atEnd = false
    private let source: Source

    init(source: @escaping Source) { self.source = source }
    deinit { buffer.deallocate() }

    /// Reads the segment at `path` of `fileSystem`.
    static func read<FileSystem: JournalFileSystem>(
        _ path: String, fileSystem: FileSystem, isLast: Bool, keepBatches: Bool,
        body: (JournalBatchView) throws(JournalError) -> Void
    ) throws(JournalError) -> JournalSegmentSummary {
        let reader = JournalSegmentReader { (offset, into) throws(JournalError) in
            try fileSystem.read(path, at: offset, into: into)
        }
        return try reader.read(path: path, isLast: isLast, keepBatches: keepBatches, body: body)
    }

    /// Reads a segment held in memory (tests).
    static func read(
        _ bytes: [UInt8], path: String, isLast: Bool, body: (JournalBatchView) throws(JournalError) -> Void
    ) throws(JournalError) -> JournalSegmentSummary {
        let reader = JournalSegmentReader { (offset, into) throws(JournalError) in
            let count = max(0, min(into.count, bytes.count - offset))
            if count > 0 { bytes.withUnsafeBytes { into.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<offset + count])) } }
            return count
        }
        return try reader.read(path: path, isLast: isLast, keepBatches: true, body: body)
    }

    /// Makes the buffer hold `count` bytes from file offset `offset` (fewer at the end of
    /// the file); returns the bytes held from `offset`, at most up to the end of the buffer.
    private func window(_ count: Int, at offset: Int) throws(JournalError) -> UnsafeRawBufferPointer {
        precondition(offset >= windowStart && offset <= windowStart + filled, "the window moves forward")
        precondition(count <= Self.bufferBytesMax, "a window holds at most one batch")
        var available = windowStart + filled - offset
        if available < count && !atEnd {
            let shift = offset - windowStart
            if shift > 0 && available > 0 { buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + shift, byteCount: available) }
            windowStart = offset
            filled = available
            if count > buffer.count {
                let grown = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 16)
                grown.baseAddress!.copyMemory(from: buffer.baseAddress!, byteCount: filled)
                buffer.deallocate()
                buffer = grown
            }
            while filled < count && !atEnd {
                let asked = buffer.count - filled
                let read = try source(windowStart + filled, UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
                precondition(read >= 0 && read <= asked, "a read returns at most what was asked")
                if read < asked { atEnd = true }
                filled += read
            }
            available = filled
        }
        let start = offset - windowStart
        return UnsafeRawBufferPointer(rebasing: buffer[start..<start + available])
    }

    /// Whether every byte from `offset` to the end of the file is zero; also returns the
    /// file's size.
    private func zeroFrom(_ offset: Int) throws(JournalError) -> (zero: Bool, size: Int) {
        var offset = offset
        var zero = true
        while true {
            let bytes = try window(Self.readChunkBytes, at: offset)
            if bytes.isEmpty && atEnd { return (zero, offset) }
            if zero && bytes.contains(where: { $0 != 0 }) { zero = false }
            offset += bytes.count
        }
    }

    func read(
        path: String, isLast: Bool, keepBatches: Bool, body: (JournalBatchView) throws(JournalError) -> Void
    ) throws(JournalError) -> JournalSegmentSummary {
        var summary = JournalSegmentSummary()
        let header = try window(JournalFormat.segmentHeaderBytes, at: 0)
        if header.count < JournalFormat.segmentHeaderBytes || isLast && header.allSatisfy({ $0 == 0 }) {
            // A crash while the segment was created: no header, or zeros. Only the last one.
            let (zero, size) = try zeroFrom(0)
            guard isLast, size < JournalFormat.segmentHeaderBytes || zero else {
                throw .corrupt(path, offset: 0, "segment header truncated")
            }
            summary.tornBytes = size
            return summary
        }
        guard header.starts(with: JournalFormat.segmentMagicStem) else { throw .corrupt(path, offset: 0, "not a segment file") }
        guard header.starts(with: JournalFormat.segmentMagic) else {
            throw JournalFormat.versionError(path, magic: header.prefix(8))
        }
        guard JournalFormat.crc(header, 0..<16) == JournalFormat.u32(header, 16) else {
            throw .corrupt(path, offset: 0, "segment header")
        }
        summary.sequence = JournalFormat.u64(header, 8)
        var offset = JournalFormat.segmentHeaderBytes
        summary.validBytes = offset
        while true {
            var bytes = try window(JournalFormat.batchHeaderBytes, at: offset)
            if bytes.isEmpty && atEnd { return summary }
            let outcome: Result<JournalBatchView, JournalFormat.BatchFailure>
            switch Result(catching: { () throws(JournalFormat.BatchFailure) in
                try JournalFormat.batchLength(bytes, at: 0, fileOffset: offset)
            }) {
            case .failure(let failure): outcome = .failure(failure)
            case .success(let length):
                bytes = try window(length, at: offset)
                outcome = Result(catching: { () throws(JournalFormat.BatchFailure) in
                    try JournalFormat.decodeBatch(bytes, at: 0, fileOffset: offset)
                })
            }
            let batch: JournalBatchView
            switch outcome {
            case .success(let decoded): batch = decoded
            case .failure(let failure):
                guard isLast else { throw .corrupt(path, offset: failure.offset, failure.reason) }
                let (zero, size) = try zeroFrom(offset)
                // An interrupted append: the bytes end inside the batch, or are zeros from it on.
                guard failure.torn || zero else { throw .corrupt(path, offset: failure.offset, failure.reason) }
                summary.tornBytes = size - offset
                return summary
            }
            try body(batch)
            summary.batchCount += 1
            summary.recordCount += batch.recordCount
            if summary.firstLine == nil { summary.firstLine = batch.firstLine }
            summary.lastLine = batch.lastLine
            if keepBatches { summary.batches.append(batch.summary) }
            offset += batch.byteCount
            summary.validBytes = offset
        }
    }
}

extension JournalFormat {
    /// Decodes a segment held in memory, checking every batch: a damaged last batch is a
    /// torn tail when `isLast` and the bytes end inside it or are zeros from the damage on;
    /// any other damage throws a corruption error naming `path` and the offset.
    public static func decodeSegment(_ bytes: [UInt8], path: String, isLast: Bool) throws(JournalError)
        -> JournalSegmentSummary
    {
        try JournalSegmentReader.read(bytes, path: path, isLast: isLast) { _ throws(JournalError) in }
    }

    /// The records of a segment held in memory: line and body of each (tests, tools).
    public static func records(ofSegment bytes: [UInt8], path: String, isLast: Bool) throws(JournalError)
        -> [(line: UInt64, body: [UInt8])]
    {
        var records: [(line: UInt64, body: [UInt8])] = []
        _ = try JournalSegmentReader.read(bytes, path: path, isLast: isLast) { batch throws(JournalError) in
            batch.forEachRecord { line, body in records.append((line, Array(body))) }
        }
        return records
    }
}
