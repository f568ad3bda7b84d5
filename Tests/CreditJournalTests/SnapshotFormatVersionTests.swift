// Snapshots of the ledger's format version 1 (which also held the three id lists) are still
// read: `Fixtures/ledger-snapshot-v1.bin` is the body of the snapshot that the build of
// commit 65f988a wrote at the end of `creditmeter generate --seed 5 --lines 120 --accounts 3`
// replayed with `--data-dir DIR --snapshot-at-end` (the file's 48-byte header cut off).

import CreditCore
import CreditJournal
import Testing

@Suite struct SnapshotFormatVersionTests {
    static func fixture() throws -> [UInt8] {
        let directory = String(#filePath.prefix(upTo: #filePath.lastIndex(of: "/")!))
        return try POSIXFileSystem().read(directory + "/Fixtures/ledger-snapshot-v1.bin")
    }

    static let expected = ExpectedTrace(seed: 5, lineCount: 120, accountCount: 3).finalLedger

    @Test func aVersionOneSnapshotDecodesToTheSameState() throws {
        let bytes = try Self.fixture()
        #expect(Array(bytes.prefix(4)) == [1, 0, 0, 0], "the fixture is of version 1")
        #expect(Ledger.snapshotFormatVersion == 2)
        let restored = try Ledger(snapshotBytes: bytes)
        #expect(restored.snapshotBytes() == Self.expected.snapshotBytes())
        #expect(restored.snapshotBytes().prefix(4) == [2, 0, 0, 0])
    }

    /// Version 1's id lists must be the records' ids: the account list is the last place the
    /// account ids occur (events hold them before it; nothing after it does).
    @Test func aVersionOneIDListThatDiffersIsRefused() throws {
        var bytes = try Self.fixture()
        let needle: [UInt8] = [5, 0, 0, 0] + Array("acct0".utf8)
        let at = try #require(
            (0...(bytes.count - needle.count)).last { Array(bytes[$0..<$0 + needle.count]) == needle })
        bytes[at + needle.count - 1] = UInt8(ascii: "9")
        let error = try #require(throws: LedgerSnapshotError.self) { try Ledger(snapshotBytes: bytes) }
        #expect(error.message.contains("account id list differs"), "\(error)")
        #expect(error.offset > at, "\(error)")
    }

    /// Format 2 ends with where the grants, events and refunds start (u64 each, then the
    /// count 3): a wrong offset, or offsets out of order, is refused, never decoded wrongly.
    @Test func aWrongSectionOffsetIsRefused() throws {
        let bytes = ExpectedTrace(seed: 4, lineCount: 500, accountCount: 10).finalLedger.snapshotBytes()
        let trailer = bytes.count - 28
        #expect(Array(bytes[(bytes.count - 4)...]) == [3, 0, 0, 0])
        func offset(_ k: Int) -> Int {
            bytes[(trailer + 8 * k)..<(trailer + 8 * k + 8)].reversed().reduce(0) { $0 << 8 | Int($1) }
        }
        let (grants, events, refunds) = (offset(0), offset(1), offset(2))
        #expect(36 < grants && grants < events && events < refunds && refunds < trailer)
        for k in 0..<3 {
            for delta in [-1, 1, 4, -5] {
                var damaged = bytes
                let value = UInt64(offset(k) + delta)
                for byte in 0..<8 { damaged[trailer + 8 * k + byte] = UInt8(truncatingIfNeeded: value >> (8 * byte)) }
                let error = #expect(throws: LedgerSnapshotError.self, "offset \(k) moved by \(delta)") {
                    try Ledger(snapshotBytes: damaged)
                }
                #expect(error.map { $0.offset > 0 } ?? false)
            }
        }
        var swapped = bytes
        for byte in 0..<8 { swapped.swapAt(trailer + byte, trailer + 8 + byte) }
        #expect(throws: LedgerSnapshotError.self) { try Ledger(snapshotBytes: swapped) }
        var miscounted = bytes
        miscounted[bytes.count - 4] = 2
        let error = #expect(throws: LedgerSnapshotError.self) { try Ledger(snapshotBytes: miscounted) }
        #expect(error?.message == "section trailer count")
        #expect(error?.offset == bytes.count - 4)
        #expect(try Ledger(snapshotBytes: bytes).snapshotBytes() == bytes)
    }

    /// The id tables are rebuilt from the records: two events with one id (damage the
    /// checksum would catch first) are refused, not built into a table that finds only one.
    @Test func twoEventsWithOneIDAreRefused() throws {
        let trace = ExpectedTrace(seed: 5, lineCount: 120, accountCount: 3)
        var bytes = trace.finalLedger.snapshotBytes()
        func offset(_ k: Int) -> Int {
            let at = bytes.count - 28 + 8 * k
            return bytes[at..<at + 8].reversed().reduce(0) { $0 << 8 | Int($1) }
        }
        let (events, refunds) = (offset(1), offset(2))
        // Two reservation ids of one length, "r1" ... "r9": the second written over by the first.
        let ids = ["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9"].filter { id in
            trace.lines.contains { String(decoding: $0, as: UTF8.self).contains("\"op\":\"reserve\",\"account\":\"acct0\",\"id\":\"\(id)\"") }
        }
        try #require(ids.count >= 2)
        func encoded(_ id: String) -> [UInt8] { [UInt8(id.utf8.count), 0, 0, 0] + Array(id.utf8) }
        let target = encoded(ids[1])
        let at = try #require((events..<(refunds - target.count)).first { Array(bytes[$0..<$0 + target.count]) == target })
        bytes.replaceSubrange(at..<at + target.count, with: encoded(ids[0]))
        let error = try #require(throws: LedgerSnapshotError.self) { try Ledger(snapshotBytes: bytes) }
        #expect(error.message == "event id \(ids[0]) twice", "\(error)")
        #expect(error.offset == events)
    }

    @Test func otherVersionsAreRefused() throws {
        for version: UInt8 in [0, 3, 255] {
            var bytes = Self.expected.snapshotBytes()
            bytes[0] = version
            let error = #expect(throws: LedgerSnapshotError.self) { try Ledger(snapshotBytes: bytes) }
            #expect(error?.message == "format version \(version)")
            #expect(error?.offset == 4)
        }
    }
}
