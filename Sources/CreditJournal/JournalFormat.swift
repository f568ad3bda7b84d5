// The bytes on disk: journal segments (a header, then batches of records) and snapshot
// files. Pure encoding and decoding, no I/O, so that the format is tested on byte arrays;
// `JournalSegmentReader` streams a segment file through these decoders.
//
// Format 2 (format 1 held the trace's JSON lines; it is refused with a clear error):
// Segment `journal-SSSSSSSSSSSSSSSSSSSS.log` (S: sequence number, 20 digits):
//   header (20 bytes): "CMJRNL02", u64 sequence, u32 CRC-32C of the 16 bytes before it;
//   then batches, each:
//     header (48 bytes): u32 magic "CMJB", u32 CRC-32C of header bytes 8..<48,
//       u32 payload bytes, u32 record count, u64 first line, u64 last line (the range of
//       trace lines the batch covers, blank and invalid lines included), u64 trace bytes,
//       u32 CRC-32C of the payload, u32 trace CRC (`TraceHash` of lines 1 ... last line);
//     payload: records, each u32 length L, u64 trace line, L bytes: the request and its
//       time in `RequestCodec`'s encoding. (The payload checksum covers the records.)
// Snapshot `snapshot-LLLLLLLLLLLLLLLLLLLL.snap` (L: the last trace line it covers):
//   header (48 bytes): "CMSNAP02", u64 last line, u64 body bytes, u64 trace bytes,
//   u32 CRC-32C of the body, u32 trace CRC, u32 CRC-32C of the 40 bytes before it, u32 zero;
//   then the body: `Ledger.snapshotBytes()` (written streamed, the header last: see
//   `SnapshotStore.write`).
// Every integer is little-endian. A journal of `ConcurrentJournal` uses the same segments
// with "lines" that are the records' tickets and a zero trace hash.

import CreditCore

/// Formats of segments, batches and snapshots.
public enum JournalFormat {
    /// The format version this build writes and reads.
    public static let formatVersion = 2
    static let segmentMagic: [UInt8] = Array("CMJRNL02".utf8)
    static let snapshotMagic: [UInt8] = Array("CMSNAP02".utf8)
    /// The first 6 bytes of either magic of every version: "CMJRNL" or "CMSNAP", then 2 digits.
    static let segmentMagicStem: [UInt8] = Array("CMJRNL".utf8)
    static let snapshotMagicStem: [UInt8] = Array("CMSNAP".utf8)
    static let batchMagic: UInt32 = 0x424A_4D43  // "CMJB" read little-endian
    /// Bytes of a segment header.
    public static let segmentHeaderBytes = 20
    /// Bytes of a batch header.
    public static let batchHeaderBytes = 48
    /// Bytes of a record's header (length, line).
    public static let recordHeaderBytes = 12
    /// Bytes of a snapshot file's header.
    public static let snapshotHeaderBytes = 48
    /// The longest record body: an encoded request of a trace line of at most 1 MiB is shorter.
    public static let recordBytesMax = 1 << 20
    /// The largest batch payload: bounds what one torn write can cut and what one read holds.
    public static let batchPayloadBytesMax = 64 << 20

    public static func segmentName(_ sequence: UInt64) -> String { "journal-\(padded(sequence)).log" }
    public static func snapshotName(_ line: UInt64) -> String { "snapshot-\(padded(line)).snap" }
    static func padded(_ value: UInt64) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits
    }
    /// The sequence of a segment name, nil for any other name.
    public static func segmentSequence(_ name: String) -> UInt64? { number(name, prefix: "journal-", suffix: ".log") }
    /// The line of a snapshot name, nil for any other name.
    public static func snapshotLine(_ name: String) -> UInt64? { number(name, prefix: "snapshot-", suffix: ".snap") }
    static func number(_ name: String, prefix: String, suffix: String) -> UInt64? {
        guard name.hasPrefix(prefix), name.hasSuffix(suffix), name.count == prefix.count + 20 + suffix.count else {
            return nil
        }
        return UInt64(name.dropFirst(prefix.count).dropLast(suffix.count))
    }

    /// The error for a file of another format version (`magic` is its first 8 bytes).
    static func versionError(_ path: String, magic: some Collection<UInt8>) -> JournalError {
        let version = String(decoding: magic.dropFirst(6), as: UTF8.self)
        return .format(
            "\(path) is in journal format \(version), this build reads format \(formatVersion) only: "
                + "replay the trace again with --start-over (or into a new directory), or use the build that wrote it")
    }

    // MARK: Encoding

    static func append(_ value: UInt32, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }
    static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }
    static func put(_ value: UInt32, at offset: Int, in bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { for index in 0..<4 { bytes[offset + index] = $0[index] } }
    }

    public static func segmentHeader(sequence: UInt64) -> [UInt8] {
        var bytes = segmentMagic
        append(sequence, to: &bytes)
        append(CRC32C.checksum(bytes), to: &bytes)
        assert(bytes.count == segmentHeaderBytes)
        return bytes
    }

    /// Appends one record holding `body` (opaque bytes) to a batch payload under construction.
    public static func appendRecord(line: UInt64, bytes body: UnsafeRawBufferPointer, to payload: inout [UInt8]) {
        precondition(body.count <= recordBytesMax, "a record body is at most recordBytesMax bytes")
        append(UInt32(body.count), to: &payload)
        append(line, to: &payload)
        payload.append(contentsOf: body)
    }

    /// Appends one record holding `request` at time `t` (`RequestCodec`) to a batch payload.
    public static func appendRecord(line: UInt64, request: Request, at t: Milliseconds, to payload: inout [UInt8]) {
        let start = payload.count
        append(UInt32(0), to: &payload)
        append(line, to: &payload)
        RequestCodec.encode(request, at: t, to: &payload)
        let length = payload.count - start - recordHeaderBytes
        precondition(length <= recordBytesMax, "an encoded request is at most recordBytesMax bytes")
        put(UInt32(length), at: start, in: &payload)
    }

    /// The 48-byte header of a batch over `payload`.
    public static func batchHeader(
        payload: ArraySlice<UInt8>, recordCount: Int, firstLine: UInt64, lastLine: UInt64, trace: TraceHash = TraceHash()
    ) -> [UInt8] {
        precondition(payload.count <= batchPayloadBytesMax, "a batch payload is bounded")
        precondition(firstLine >= 1 && firstLine <= lastLine, "a batch covers at least one line")
        var header: [UInt8] = []
        header.reserveCapacity(batchHeaderBytes)
        append(batchMagic, to: &header)
        append(UInt32(0), to: &header)
        append(UInt32(payload.count), to: &header)
        append(UInt32(recordCount), to: &header)
        append(firstLine, to: &header)
        append(lastLine, to: &header)
        append(trace.byteCount, to: &header)
        append(CRC32C.checksum(payload), to: &header)
        append(trace.crc, to: &header)
        put(CRC32C.checksum(header[8...]), at: 4, in: &header)
        assert(header.count == batchHeaderBytes)
        return header
    }

    /// A snapshot file's header for `body`.
    public static func snapshotHeader(line: UInt64, body: [UInt8], trace: TraceHash = TraceHash()) -> [UInt8] {
        snapshotHeader(line: line, bodyBytes: body.count, bodyCRC: CRC32C.checksum(body), trace: trace)
    }

    /// A snapshot file's header for a body of `bodyBytes` bytes whose CRC-32C is `bodyCRC`
    /// (a streamed body: see `SnapshotStore.write`).
    public static func snapshotHeader(line: UInt64, bodyBytes: Int, bodyCRC: UInt32, trace: TraceHash = TraceHash())
        -> [UInt8]
    {
        var bytes = snapshotMagic
        bytes.reserveCapacity(snapshotHeaderBytes)
        append(line, to: &bytes)
        append(UInt64(bodyBytes), to: &bytes)
        append(trace.byteCount, to: &bytes)
        append(bodyCRC, to: &bytes)
        append(trace.crc, to: &bytes)
        append(CRC32C.checksum(bytes), to: &bytes)
        append(UInt32(0), to: &bytes)
        assert(bytes.count == snapshotHeaderBytes)
        return bytes
    }

    /// A snapshot file's bytes: header, then `body`.
    public static func snapshotFile(line: UInt64, body: [UInt8], trace: TraceHash = TraceHash()) -> [UInt8] {
        snapshotHeader(line: line, body: body, trace: trace) + body
    }

    // MARK: Decoding

    static func u32(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
        UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
    static func u64(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt64 {
        UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
    static func crc(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> UInt32 {
        CRC32C.update(0, UnsafeRawBufferPointer(rebasing: bytes[range]))
    }

    /// A snapshot header checked: the last line, body length and checksum, and trace hash.
    public struct SnapshotHeader: Sendable, Hashable {
        public var line: UInt64
        public var bodyBytes: UInt64
        public var bodyCRC: UInt32
        public var trace: TraceHash
    }

    /// Decodes the first `snapshotHeaderBytes` of a snapshot file. Throws a corruption error
    /// naming `path`, or a format error for another version.
    public static func decodeSnapshotHeader(_ bytes: UnsafeRawBufferPointer, path: String) throws(JournalError)
        -> SnapshotHeader
    {
        guard bytes.count >= 8, bytes.starts(with: snapshotMagicStem) else {
            throw .corrupt(path, offset: 0, "not a snapshot file")
        }
        guard bytes.starts(with: snapshotMagic) else { throw versionError(path, magic: bytes.prefix(8)) }
        guard bytes.count >= snapshotHeaderBytes else { throw .corrupt(path, offset: 0, "snapshot header truncated") }
        guard crc(bytes, 0..<40) == u32(bytes, 40), u32(bytes, 44) == 0 else {
            throw .corrupt(path, offset: 0, "snapshot header checksum")
        }
        return SnapshotHeader(
            line: u64(bytes, 8), bodyBytes: u64(bytes, 16), bodyCRC: u32(bytes, 32),
            trace: TraceHash(crc: u32(bytes, 36), byteCount: u64(bytes, 24)))
    }

    /// A snapshot file checked and split (tests and small files; recovery reads the header
    /// and the body separately).
    public static func decodeSnapshot(_ bytes: [UInt8], path: String) throws(JournalError)
        -> (line: UInt64, body: [UInt8], trace: TraceHash)
    {
        let header = try bytes.withUnsafeBytes { raw in
            Result { () throws(JournalError) in try decodeSnapshotHeader(raw, path: path) }
        }.get()
        let body = Array(bytes.dropFirst(snapshotHeaderBytes))
        try body.withUnsafeBytes { raw in
            Result { () throws(JournalError) in try checkSnapshotBody(raw, header: header, path: path) }
        }.get()
        return (header.line, body, header.trace)
    }

    /// Checks a snapshot body's length and checksum against its header.
    public static func checkSnapshotBody(_ body: UnsafeRawBufferPointer, header: SnapshotHeader, path: String)
        throws(JournalError)
    {
        guard header.bodyBytes == UInt64(body.count) else {
            throw .corrupt(path, offset: snapshotHeaderBytes, "snapshot body of \(body.count) bytes, header says \(header.bodyBytes)")
        }
        guard CRC32C.update(0, body) == header.bodyCRC else {
            throw .corrupt(path, offset: snapshotHeaderBytes, "snapshot body checksum")
        }
    }
}

/// One batch as read back, valid during the call that hands it over: its payload points
/// into the reader's buffer.
public struct JournalBatchView {
    /// Byte offset of the batch header in its segment.
    public var offset: Int
    public var firstLine: UInt64
    public var lastLine: UInt64
    public var recordCount: Int
    /// The trace prefix through `lastLine`.
    public var trace: TraceHash
    /// Bytes of header and payload.
    public var byteCount: Int
    /// The records, already checked (lengths, lines in order, count, payload checksum).
    let payload: UnsafeRawBufferPointer

    /// Calls `body` with each record's line and body bytes, in order.
    public func forEachRecord<E: Error>(_ body: (UInt64, UnsafeRawBufferPointer) throws(E) -> Void) throws(E) {
        var offset = 0
        while offset < payload.count {
            let length = Int(JournalFormat.u32(payload, offset))
            let line = JournalFormat.u64(payload, offset + 4)
            let start = offset + JournalFormat.recordHeaderBytes
            try body(line, UnsafeRawBufferPointer(rebasing: payload[start..<start + length]))
            offset = start + length
        }
    }

    /// What is kept of the batch once its bytes are gone.
    public var summary: JournalBatchSummary {
        JournalBatchSummary(offset: offset, firstLine: firstLine, lastLine: lastLine, recordCount: recordCount)
    }
}

/// A batch summary kept after its bytes are gone (for `inspect --batches` and tests).
public struct JournalBatchSummary: Sendable, Hashable {
    public var offset: Int
    public var firstLine: UInt64
    public var lastLine: UInt64
    public var recordCount: Int
}

extension JournalFormat {
    struct BatchFailure: Error {
        /// Offset in the segment file.
        var offset: Int
        var reason: String
        /// The bytes end before the batch does: an interrupted append.
        var torn: Bool
    }

    /// The length of the batch whose header starts at `start` in `bytes` (header and
    /// payload), after checking the header; `bytes` may end before the payload does.
    /// `fileOffset` is the offset of `bytes[0]` in the segment, for error messages.
    static func batchLength(_ bytes: UnsafeRawBufferPointer, at start: Int, fileOffset: Int) throws(BatchFailure) -> Int {
        guard bytes.count - start >= batchHeaderBytes else {
            throw BatchFailure(offset: fileOffset + start, reason: "batch header truncated", torn: true)
        }
        guard u32(bytes, start) == batchMagic, crc(bytes, start + 8..<start + batchHeaderBytes) == u32(bytes, start + 4)
        else {
            throw BatchFailure(offset: fileOffset + start, reason: "batch header checksum", torn: false)
        }
        let payloadBytes = Int(u32(bytes, start + 8))
        let firstLine = u64(bytes, start + 16)
        let lastLine = u64(bytes, start + 24)
        guard payloadBytes <= batchPayloadBytesMax, firstLine >= 1, firstLine <= lastLine else {
            throw BatchFailure(offset: fileOffset + start, reason: "batch header fields", torn: false)
        }
        return batchHeaderBytes + payloadBytes
    }

    /// Decodes and checks the whole batch at `start` in `bytes`, which may end before it
    /// does (a torn failure). `fileOffset` is the offset of `bytes[0]` in the segment.
    static func decodeBatch(_ bytes: UnsafeRawBufferPointer, at start: Int, fileOffset: Int) throws(BatchFailure)
        -> JournalBatchView
    {
        let length = try batchLength(bytes, at: start, fileOffset: fileOffset)
        guard bytes.count - start >= length else {
            throw BatchFailure(offset: fileOffset + start + batchHeaderBytes, reason: "batch payload truncated", torn: true)
        }
        let payloadStart = start + batchHeaderBytes
        let payloadEnd = start + length
        guard crc(bytes, payloadStart..<payloadEnd) == u32(bytes, start + 40) else {
            throw BatchFailure(offset: fileOffset + payloadStart, reason: "batch payload checksum", torn: false)
        }
        let firstLine = u64(bytes, start + 16)
        let lastLine = u64(bytes, start + 24)
        let recordCount = Int(u32(bytes, start + 12))
        var offset = payloadStart
        var previousLine = firstLine - 1
        var count = 0
        while offset < payloadEnd {
            guard payloadEnd - offset >= recordHeaderBytes else {
                throw BatchFailure(offset: fileOffset + offset, reason: "record header truncated", torn: false)
            }
            let recordLength = Int(u32(bytes, offset))
            guard recordLength <= recordBytesMax, payloadEnd - offset - recordHeaderBytes >= recordLength else {
                throw BatchFailure(offset: fileOffset + offset, reason: "record length \(recordLength)", torn: false)
            }
            let line = u64(bytes, offset + 4)
            guard line > previousLine, line <= lastLine else {
                throw BatchFailure(
                    offset: fileOffset + offset, reason: "record line \(line) outside \(firstLine)...\(lastLine)", torn: false)
            }
            previousLine = line
            count += 1
            offset += recordHeaderBytes + recordLength
        }
        guard count == recordCount else {
            throw BatchFailure(
                offset: fileOffset + start, reason: "batch of \(count) records, header says \(recordCount)", torn: false)
        }
        return JournalBatchView(
            offset: fileOffset + start, firstLine: firstLine, lastLine: lastLine, recordCount: recordCount,
            trace: TraceHash(crc: u32(bytes, start + 44), byteCount: u64(bytes, start + 32)), byteCount: length,
            payload: UnsafeRawBufferPointer(rebasing: bytes[payloadStart..<payloadEnd]))
    }
}
