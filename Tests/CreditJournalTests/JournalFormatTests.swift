// The journal's bytes: CRC-32C, segments and batches, torn tails cut off, and damage in
// the middle reported with its file and offset, never skipped.

import CreditCore
@testable import CreditJournal
import Testing

@Suite struct CRC32CTests {
    @Test func knownValues() {
        // RFC 3720 (iSCSI) check value and test vectors.
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum(Array(0..<32) as [UInt8]) == 0x46DD_794E)
    }

    /// The CPU instruction's path (when this CPU has it) equals the tables' for every length
    /// up to 300 at every alignment, continuing any earlier CRC; and the tables give the vectors.
    @Test func theInstructionAgreesWithTheTables() {
        #if arch(x86_64)
            #expect(CRC32C.hardwareAvailable, "x86-64 CPUs since 2008 have SSE 4.2")
        #endif
        var random = SeededRandom(seed: 11)
        let bytes = (0..<320).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        for start in 0..<8 {
            for length in 0...300 {
                let slice = bytes[start..<start + length]
                let previous = UInt32(truncatingIfNeeded: random.next())
                let tables = slice.withUnsafeBytes { CRC32C.updateWithTables(previous, $0) }
                let update = slice.withUnsafeBytes { CRC32C.update(previous, $0) }
                #expect(update == tables, "start \(start), length \(length)")
                if update != tables { return }
            }
        }
        #expect(Array("123456789".utf8).withUnsafeBytes { CRC32C.updateWithTables(0, $0) } == 0xE306_9283)
    }

    @Test func incrementalEqualsWhole() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        for cut in [0, 1, 7, 8, 9, 500, 999, 1000] {
            let first = bytes[0..<cut].withUnsafeBytes { CRC32C.update(0, $0) }
            let both = bytes[cut...].withUnsafeBytes { CRC32C.update(first, $0) }
            #expect(both == CRC32C.checksum(bytes))
        }
    }
}

@Suite struct JournalFormatTests {
    /// A segment of three batches covering lines 1...3, 4...6 and 7...9.
    func segment() -> (bytes: [UInt8], batchStarts: [Int]) {
        var bytes = JournalFormat.segmentHeader(sequence: 1)
        var starts: [Int] = []
        for batch in 0..<3 {
            var payload: [UInt8] = []
            for line in 1...2 {
                let number = UInt64(batch * 3 + line)
                JournalFormat.appendRecord(line: number, request: .tick, at: Int64(number), to: &payload)
            }
            starts.append(bytes.count)
            bytes += JournalFormat.batchHeader(
                payload: payload[...], recordCount: 2, firstLine: UInt64(batch * 3 + 1), lastLine: UInt64(batch * 3 + 3),
                trace: TraceHash(crc: UInt32(batch), byteCount: UInt64(batch * 100)))
            bytes += payload
        }
        return (bytes, starts)
    }

    @Test func decodesBatches() throws {
        let (bytes, _) = segment()
        let decoded = try JournalFormat.decodeSegment(bytes, path: "s", isLast: true)
        #expect(decoded.batches.count == 3)
        #expect(decoded.batches.map(\.lastLine) == [3, 6, 9])
        #expect(decoded.tornBytes == 0)
        let records = try JournalFormat.records(ofSegment: bytes, path: "s", isLast: true)
        #expect(records.map(\.line) == [1, 2, 4, 5, 7, 8])
        #expect(try records.map { try RequestCodec.decode($0.body).t } == [1, 2, 4, 5, 7, 8])
    }

    @Test func everyTruncationOfTheLastBatchIsATornTail() throws {
        let (bytes, starts) = segment()
        for cut in starts[2]..<bytes.count {
            let decoded = try JournalFormat.decodeSegment(Array(bytes[0..<cut]), path: "s", isLast: true)
            #expect(decoded.batchCount == 2)
            #expect(decoded.validBytes == starts[2])
            #expect(decoded.tornBytes == cut - starts[2])
        }
    }

    @Test func zeroFilledTailIsATornTail() throws {
        let (bytes, starts) = segment()
        var zeroed = bytes
        for index in starts[2]..<bytes.count { zeroed[index] = 0 }
        let decoded = try JournalFormat.decodeSegment(zeroed, path: "s", isLast: true)
        #expect(decoded.batchCount == 2)
        #expect(decoded.tornBytes == bytes.count - starts[2])
    }

    @Test func everyBitFlipIsAnErrorNamingFileAndOffset() {
        let (bytes, starts) = segment()
        // Flip one bit in every byte of the middle and of the last (complete) batch.
        for index in starts[1]..<bytes.count {
            var flipped = bytes
            flipped[index] ^= UInt8(1 << (index % 8))
            do {
                _ = try JournalFormat.decodeSegment(flipped, path: "/d/journal-x.log", isLast: true)
                Issue.record("flip at \(index) went unnoticed")
            } catch {
                #expect(error.isCorruption)
                #expect(error.message.contains("/d/journal-x.log"))
                let batchStart = index < starts[2] ? starts[1] : starts[2]
                #expect(error.message.contains("byte offset \(batchStart)") ||
                    error.message.contains("byte offset \(batchStart + JournalFormat.batchHeaderBytes)"))
            }
        }
    }

    @Test func tornBytesInAnEarlierSegmentAreAnError() {
        let (bytes, starts) = segment()
        #expect(throws: JournalError.self) {
            try JournalFormat.decodeSegment(Array(bytes[0..<(starts[2] + 10)]), path: "s", isLast: false)
        }
    }

    @Test func snapshotFileChecksums() throws {
        let body = Ledger().snapshotBytes()
        let trace = TraceHash(crc: 0xDEAD_BEEF, byteCount: 12_345)
        let file = JournalFormat.snapshotFile(line: 42, body: body, trace: trace)
        let decoded = try JournalFormat.decodeSnapshot(file, path: "p")
        #expect(decoded.line == 42)
        #expect(decoded.body == body)
        #expect(decoded.trace == trace)
        for index in 0..<file.count {
            var flipped = file
            flipped[index] ^= 0x10
            #expect(throws: JournalError.self) { try JournalFormat.decodeSnapshot(flipped, path: "p") }
        }
    }

    /// Files of format 1 (or any other version) are refused with an error naming the
    /// version, never read as damage or as format 2.
    @Test func otherFormatVersionsAreRefusedClearly() {
        var segment = segment().bytes
        segment.replaceSubrange(0..<8, with: Array("CMJRNL01".utf8))
        do {
            _ = try JournalFormat.decodeSegment(segment, path: "/d/journal-1.log", isLast: true)
            Issue.record("a format 1 segment was read")
        } catch {
            #expect(error.isOtherFormat)
            #expect(error.message.contains("journal format 01"))
            #expect(error.message.contains("/d/journal-1.log"))
        }
        var snapshot = JournalFormat.snapshotFile(line: 1, body: Ledger().snapshotBytes())
        snapshot.replaceSubrange(0..<8, with: Array("CMSNAP01".utf8))
        #expect(throws: JournalError.self) { try JournalFormat.decodeSnapshot(snapshot, path: "p") }
        do { _ = try JournalFormat.decodeSnapshot(snapshot, path: "p") } catch { #expect(error.isOtherFormat) }
    }

    @Test func batchHeaderCarriesTheTraceHash() throws {
        let (bytes, starts) = segment()
        // Bytes 32..<48 of each batch header: the trace byte count, payload CRC, trace CRC.
        for (batch, start) in starts.enumerated() {
            let count = bytes[start + 32..<start + 40].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            #expect(count == UInt64(batch * 100))
        }
    }
}
