// The ledger's id tables: a table built in one pass from its keys (`init(bulk:)`, what a
// snapshot restores) answers exactly as one built by inserting the keys one by one, also
// when runs of taken slots pass the last slot, and a key given twice is refused.
import Testing

@testable import CreditCore

@Suite struct IdentityTableTests {
    static func keys(_ count: Int, seed: UInt64) -> [String] {
        var random = SeededRandom(seed: seed)
        // Short ids (inline strings) and long ones (heap strings), all distinct by their index.
        return (0..<count).map { index in
            random.next() % 3 == 0 ? "event-\(index)-\(random.next())-padding-past-fifteen" : "e\(index)"
        }
    }

    static func inserted(_ keys: [String]) -> IdentityTable {
        var table = IdentityTable()
        for key in keys {
            let lookup = table.find(key)
            precondition(lookup.index == nil, "distinct keys")
            _ = table.insert(key, at: lookup)
        }
        return table
    }

    static func chunked(_ keys: [String]) -> ChunkedArray<String> {
        var chunked = ChunkedArray<String>()
        for key in keys { chunked.append(key) }
        return chunked
    }

    @Test(arguments: [0, 1, 2, 7, 8, 9, 31, 100, 1_000, 4_097, 70_000])
    func aBulkTableAnswersAsAnInsertedOne(count: Int) throws {
        let keys = Self.keys(count, seed: UInt64(count) + 1)
        var bulk = try IdentityTable(bulk: Self.chunked(keys))
        let inserted = Self.inserted(keys)
        #expect(bulk.count == count)
        #expect(Array(bulk.keys) == keys)
        for (index, key) in keys.enumerated() {
            #expect(bulk[key] == RecordIndex(index))
            #expect(inserted[key] == RecordIndex(index))
        }
        for absent in ["", "e-1", "e\(count)", "nope"] where !keys.contains(absent) {
            #expect(bulk[absent] == nil)
        }
        // It goes on growing by insertions like any table.
        let more = (0..<(count + 20)).map { "more-\($0)" }
        for (offset, key) in more.enumerated() {
            let lookup = bulk.find(key)
            #expect(lookup.index == nil)
            #expect(bulk.insert(key, at: lookup) == RecordIndex(count + offset))
        }
        for (index, key) in (keys + more).enumerated() { #expect(bulk[key] == RecordIndex(index)) }
    }

    /// Keys whose home is the table's last slot: their run passes the end and goes on at slot
    /// 0, where keys whose home is slot 0 or 1 are too.
    @Test func runsThatPassTheLastSlotContinueAtTheFirst() throws {
        // 8 keys: 16 slots (half full at most). The hash is seeded per process: pick keys here.
        let mask = 15
        func home(_ key: String) -> Int { Int(UInt32(truncatingIfNeeded: key.hashValue)) & mask }
        var atEnd: [String] = []
        var atStart: [String] = []
        var candidate = 0
        while atEnd.count < 5 || atStart.count < 3 {
            let key = "k\(candidate)"
            candidate += 1
            if home(key) == mask && atEnd.count < 5 { atEnd.append(key) }
            if home(key) <= 1 && atStart.count < 3 { atStart.append(key) }
        }
        for keys in [atEnd + atStart, atStart + atEnd, [atEnd[0], atStart[0], atEnd[1], atStart[1]] + atEnd[2...]] {
            let bulk = try IdentityTable(bulk: Self.chunked(keys))
            for (index, key) in keys.enumerated() { #expect(bulk[key] == RecordIndex(index)) }
            #expect(bulk["k-absent"] == nil)
        }
    }

    @Test(arguments: [(10, 3, 7), (10, 0, 9), (2, 0, 1), (5_000, 4_000, 17)])
    func aKeyGivenTwiceIsRefused(count: Int, first: Int, second: Int) {
        var keys = Self.keys(count, seed: 9)
        keys[second] = keys[first]
        #expect(throws: IdentityTable.DuplicateKey(index: max(first, second))) {
            try IdentityTable(bulk: Self.chunked(keys))
        }
    }
}
