// The bytes on disk: journal segments (a header, then batches of records) and snapshot
// files. Pure encoding and decoding, no I/O, so that the format is tested on byte arrays.
//
// Segment `journal-SSSSSSSSSSSSSSSSSSSS.log` (S: sequence number, 20 digits):
//   header (20 bytes): "CMJRNL01", u64 sequence, u32 CRC-32C of the 16 bytes before it;
//   then batches, each:
//     header (40 bytes): u32 magic "CMJB", u32 CRC-32C of header bytes 8..<40,
//       u32 payload bytes, u32 record count, u64 first trace line, u64 last trace line
//       (the range of trace lines the batch covers, blank and invalid lines included),
//       u32 CRC-32C of the payload, u32 zero;
//     payload: records, each u32 length L, u32 CRC-32C of the next 8 + L bytes,
//       u64 trace line, L bytes (the request's trace line as read).
// Snapshot `snapshot-LLLLLLLLLLLLLLLLLLLL.snap` (L: the last trace line it covers):
//   "CMSNAP01", u64 last line, u64 body bytes, u32 CRC-32C of the body, u32 CRC-32C of the
//   28 bytes before it; then the body: `Ledger.snapshotBytes()`.
// Every integer is little-endian.

/// Formats of segments, batches and snapshots.
public enum JournalFormat {
    static let segmentMagic: [UInt8] = Array("CMJRNL01".utf8)
    static let snapshotMagic: [UInt8] = Array("CMSNAP01".utf8)
    static let batchMagic: UInt32 = 0x424A_4D43  // "CMJB" read little-endian
    /// Bytes of a segment header.
    public static let segmentHeaderBytes = 20
    /// Bytes of a batch header.
    public static let batchHeaderBytes = 40
    /// Bytes of a record's header (length, checksum, line).
    public static let recordHeaderBytes = 16
    /// Bytes of a snapshot file's header.
    public static let snapshotHeaderBytes = 32
    /// The longest record: a trace line of at most 1 MiB.
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

    /// Appends one record to a batch payload under construction.
    public static func appendRecord(line: UInt64, bytes lineBytes: UnsafeRawBufferPointer, to payload: inout [UInt8]) {
        precondition(lineBytes.count <= recordBytesMax, "a record holds one trace line")
        let start = payload.count
        append(UInt32(lineBytes.count), to: &payload)
        append(UInt32(0), to: &payload)
        append(line, to: &payload)
        payload.append(contentsOf: lineBytes)
        let crc = payload.withUnsafeBytes { CRC32C.update(0, UnsafeRawBufferPointer(rebasing: $0[(start + 8)...])) }
        put(crc, at: start + 4, in: &payload)
    }

    /// The 40-byte header of a batch over `payload`.
    public static func batchHeader(payload: ArraySlice<UInt8>, recordCount: Int, firstLine: UInt64, lastLine: UInt64)
        -> [UInt8]
    {
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
        append(CRC32C.checksum(payload), to: &header)
        append(UInt32(0), to: &header)
        put(CRC32C.checksum(header[8...]), at: 4, in: &header)
        return header
    }

    /// A snapshot file's bytes: header, then `body`.
    public static func snapshotFile(line: UInt64, body: [UInt8]) -> [UInt8] {
        var bytes = snapshotMagic
        bytes.reserveCapacity(snapshotHeaderBytes + body.count)
        append(line, to: &bytes)
        append(UInt64(body.count), to: &bytes)
        append(CRC32C.checksum(body), to: &bytes)
        append(CRC32C.checksum(bytes), to: &bytes)
        bytes.append(contentsOf: body)
        return bytes
    }

    // MARK: Decoding

    static func u32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
    }
    static func u64(_ bytes: [UInt8], _ offset: Int) -> UInt64 {
        bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
    }
    static func crc(_ bytes: [UInt8], _ range: Range<Int>) -> UInt32 {
        bytes.withUnsafeBytes { CRC32C.update(0, UnsafeRawBufferPointer(rebasing: $0[range])) }
    }

    /// A snapshot file checked and split: its last line and its body. Throws a corruption
    /// error naming `path` and the offset of the first bad byte range.
    public static func decodeSnapshot(_ bytes: [UInt8], path: String) throws(JournalError) -> (line: UInt64, body: [UInt8]) {
        guard bytes.count >= snapshotHeaderBytes else { throw .corrupt(path, offset: 0, "snapshot header truncated") }
        guard Array(bytes[0..<8]) == snapshotMagic else { throw .corrupt(path, offset: 0, "not a snapshot file") }
        guard crc(bytes, 0..<28) == u32(bytes, 28) else { throw .corrupt(path, offset: 0, "snapshot header checksum") }
        let line = u64(bytes, 8)
        let bodyBytes = u64(bytes, 16)
        guard bodyBytes == UInt64(bytes.count - snapshotHeaderBytes) else {
            throw .corrupt(path, offset: snapshotHeaderBytes, "snapshot body of \(bytes.count - snapshotHeaderBytes) bytes, header says \(bodyBytes)")
        }
        guard crc(bytes, snapshotHeaderBytes..<bytes.count) == u32(bytes, 24) else {
            throw .corrupt(path, offset: snapshotHeaderBytes, "snapshot body checksum")
        }
        return (line, Array(bytes[snapshotHeaderBytes...]))
    }
}

/// One batch as read back.
public struct JournalBatch: Sendable {
    /// Byte offset of the batch header in its segment.
    public var offset: Int
    public var firstLine: UInt64
    public var lastLine: UInt64
    /// The records: trace line number and the line's bytes.
    public var records: [(line: UInt64, bytes: ArraySlice<UInt8>)]
    /// Bytes of header and payload.
    public var byteCount: Int
}

/// A segment read back: its batches, and where its valid part ends.
public struct JournalSegment: Sendable {
    public var sequence: UInt64
    public var batches: [JournalBatch] = []
    /// The end of the last valid batch: a torn tail starts here.
    public var validBytes: Int
    /// Bytes after `validBytes` that are a torn tail (0 when none).
    public var tornBytes: Int = 0
}

extension JournalFormat {
    /// Decodes a segment. A damaged batch is a torn tail, cut off, only when `isLast` and
    /// the damage can come from an interrupted append: the bytes end inside the batch's
    /// header or payload, or everything from the damage on is zero. Any other damage throws
    /// a corruption error naming `path` and the offset: it is never skipped.
    public static func decodeSegment(_ bytes: [UInt8], path: String, isLast: Bool) throws(JournalError) -> JournalSegment {
        guard bytes.count >= segmentHeaderBytes else {
            if isLast && bytes.allSatisfy({ $0 == 0 }) || isLast && bytes.count < segmentHeaderBytes {
                return JournalSegment(sequence: 0, validBytes: 0, tornBytes: bytes.count)
            }
            throw .corrupt(path, offset: 0, "segment header truncated")
        }
        guard Array(bytes[0..<8]) == segmentMagic, crc(bytes, 0..<16) == u32(bytes, 16) else {
            throw .corrupt(path, offset: 0, "segment header")
        }
        var segment = JournalSegment(sequence: u64(bytes, 8), validBytes: segmentHeaderBytes)
        var offset = segmentHeaderBytes
        while offset < bytes.count {
            do {
                let batch = try decodeBatch(bytes, at: offset, path: path)
                segment.batches.append(batch)
                offset += batch.byteCount
                segment.validBytes = offset
            } catch let failure {
                guard isLast, failure.torn || bytes[offset...].allSatisfy({ $0 == 0 }) else {
                    throw .corrupt(path, offset: failure.offset, failure.reason)
                }
                segment.tornBytes = bytes.count - offset
                return segment
            }
        }
        return segment
    }

    struct BatchFailure: Error {
        var offset: Int
        var reason: String
        /// The bytes end before the batch does: an interrupted append.
        var torn: Bool
    }

    static func decodeBatch(_ bytes: [UInt8], at start: Int, path: String) throws(BatchFailure) -> JournalBatch {
        guard bytes.count - start >= batchHeaderBytes else {
            throw BatchFailure(offset: start, reason: "batch header truncated", torn: true)
        }
        guard u32(bytes, start) == batchMagic, crc(bytes, start + 8..<start + 40) == u32(bytes, start + 4) else {
            throw BatchFailure(offset: start, reason: "batch header checksum", torn: false)
        }
        let payloadBytes = Int(u32(bytes, start + 8))
        let recordCount = Int(u32(bytes, start + 12))
        let firstLine = u64(bytes, start + 16)
        let lastLine = u64(bytes, start + 24)
        let payloadStart = start + batchHeaderBytes
        guard payloadBytes <= batchPayloadBytesMax, firstLine >= 1, firstLine <= lastLine else {
            throw BatchFailure(offset: start, reason: "batch header fields", torn: false)
        }
        guard bytes.count - payloadStart >= payloadBytes else {
            throw BatchFailure(offset: payloadStart, reason: "batch payload truncated", torn: true)
        }
        let payloadEnd = payloadStart + payloadBytes
        guard crc(bytes, payloadStart..<payloadEnd) == u32(bytes, start + 32) else {
            throw BatchFailure(offset: payloadStart, reason: "batch payload checksum", torn: false)
        }
        var batch = JournalBatch(
            offset: start, firstLine: firstLine, lastLine: lastLine, records: [], byteCount: payloadEnd - start)
        batch.records.reserveCapacity(recordCount)
        var offset = payloadStart
        var previousLine = firstLine - 1
        while offset < payloadEnd {
            guard payloadEnd - offset >= recordHeaderBytes else {
                throw BatchFailure(offset: offset, reason: "record header truncated", torn: false)
            }
            let length = Int(u32(bytes, offset))
            guard length <= recordBytesMax, payloadEnd - offset - recordHeaderBytes >= length else {
                throw BatchFailure(offset: offset, reason: "record length \(length)", torn: false)
            }
            guard crc(bytes, offset + 8..<offset + recordHeaderBytes + length) == u32(bytes, offset + 4) else {
                throw BatchFailure(offset: offset, reason: "record checksum", torn: false)
            }
            let line = u64(bytes, offset + 8)
            guard line > previousLine, line <= lastLine else {
                throw BatchFailure(offset: offset, reason: "record line \(line) outside \(firstLine)...\(lastLine)", torn: false)
            }
            previousLine = line
            batch.records.append((line, bytes[offset + recordHeaderBytes..<offset + recordHeaderBytes + length]))
            offset += recordHeaderBytes + length
        }
        guard batch.records.count == recordCount else {
            throw BatchFailure(offset: start, reason: "batch of \(batch.records.count) records, header says \(recordCount)", torn: false)
        }
        return batch
    }
}
