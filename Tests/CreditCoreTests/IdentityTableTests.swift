// The ledger's id tables: a table built in one pass from its keys (`init(bulk:)`, what a
// snapshot restores) answers exactly as one built by inserting the keys one by one, also
// when runs of taken slots pass the last slot, and a key given twice is refused. A table that
// grows incrementally answers as a Dictionary at every step, also in the middle of moving its
// entries, and a copy taken then is independent of the original. The lazily allocated slot
// storage reads unwritten elements as empty, copies on write and drops its chunks.
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

    /// Random insertions and look-ups through many growths, checked against a Dictionary at
    /// every step, with look-ups of present and absent keys while entries are being moved.
    @Test(arguments: [1 as UInt64, 2, 3])
    func growingAnswersAsADictionary(seed: UInt64) {
        var random = SeededRandom(seed: seed)
        let count = 100_000
        let keys = Self.keys(count, seed: seed)
        var table = IdentityTable()
        var expected: [String: RecordIndex] = [:]
        var lookupsWhileMigrating = 0
        var growths = 0
        var wasGrowing = false
        for (index, key) in keys.enumerated() {
            let lookup = table.find(key)
            #expect(lookup.index == nil)
            #expect(table.insert(key, at: lookup) == RecordIndex(index))
            expected[key] = RecordIndex(index)
            if table.isGrowing && !wasGrowing { growths += 1 }
            wasGrowing = table.isGrowing
            // A few look-ups after each insertion (more while entries move): a present key, the
            // one just inserted, and an absent one (a later key, or one never inserted).
            let probes = table.isMigrating ? 4 : 1
            for _ in 0..<probes {
                let present = keys[Int(random.next() % UInt64(index + 1))]
                let absent =
                    index + 1 < count && random.next() % 2 == 0
                    ? keys[index + 1 + Int(random.next() % UInt64(count - index - 1))] : "absent-\(random.next())"
                if table.isMigrating { lookupsWhileMigrating += 1 }
                #expect(table[present] == expected[present])
                #expect(table[key] == RecordIndex(index))
                #expect(table[absent] == nil)
            }
        }
        #expect(table.count == count)
        #expect(Array(table.keys) == keys)
        for (key, index) in expected { #expect(table[key] == index) }
        // 16 slots doubled to 262,144 (100,000 keys at most half full): 14 growths.
        #expect(growths == 14)
        #expect(lookupsWhileMigrating > 10_000)
    }

    /// Inserts keys into `table` until `stop` says so, returning them.
    static func insert(into table: inout IdentityTable, prefix: String, until stop: (IdentityTable) -> Bool) -> [String] {
        var inserted: [String] = []
        while !stop(table) {
            let key = "\(prefix)-\(inserted.count)"
            let lookup = table.find(key)
            precondition(lookup.index == nil, "distinct keys")
            _ = table.insert(key, at: lookup)
            inserted.append(key)
        }
        return inserted
    }

    /// A copy taken while entries move (or while old chunks are dropped) and the original then
    /// both grow, through several more growths: each sees its own keys and not the other's, and
    /// a third copy left alone still answers as when it was taken.
    @Test(arguments: [true, false])
    func aCopyTakenWhileGrowingIsIndependent(whileMigrating: Bool) {
        var original = IdentityTable()
        // Past a few growths, then into the next one, a few insertions in.
        var common = Self.insert(into: &original, prefix: "common", until: { $0.count >= 5_000 })
        common += Self.insert(into: &original, prefix: "grow", until: { $0.isMigrating })
        common += Self.insert(into: &original, prefix: "into", until: { table in
            whileMigrating ? table.count % 7 == 0 : table.isGrowing && !table.isMigrating
        })
        #expect(original.isGrowing)
        #expect(original.isMigrating == whileMigrating)
        var copy = original
        let frozen = original
        let ours = Self.insert(into: &original, prefix: "ours", until: { $0.count >= 40_000 })
        let theirs = Self.insert(into: &copy, prefix: "theirs", until: { $0.count >= 30_000 })
        #expect(Array(original.keys) == common + ours)
        #expect(Array(copy.keys) == common + theirs)
        #expect(Array(frozen.keys) == common)
        for (index, key) in common.enumerated() {
            #expect(original[key] == RecordIndex(index))
            #expect(copy[key] == RecordIndex(index))
            #expect(frozen[key] == RecordIndex(index))
        }
        for (offset, key) in ours.enumerated() {
            #expect(original[key] == RecordIndex(common.count + offset))
            #expect(copy[key] == nil)
            #expect(frozen[key] == nil)
        }
        for (offset, key) in theirs.enumerated() {
            #expect(copy[key] == RecordIndex(common.count + offset))
            #expect(original[key] == nil)
            #expect(frozen[key] == nil)
        }
    }
}

@Suite struct LazyChunkedArrayTests {
    typealias Lazy = LazyChunkedArray<Int>

    /// Elements over three mid groups and a partial fourth, so that every level of the tree has
    /// several objects.
    static let count = 3 * (Lazy.midChunks << Lazy.chunkShift) + 1_000

    /// Writes `value(i)` at every `stride`-th index from `start`.
    static func written(stride: Int, start: Int = 0, _ value: (Int) -> Int) -> Lazy {
        var array = Lazy(count: count, empty: -1)
        for index in Swift.stride(from: start, to: count, by: stride) { array[index] = value(index) }
        return array
    }

    @Test func unwrittenElementsReadAsEmpty() {
        let array = Self.written(stride: 100_003) { $0 * 3 }
        for index in Swift.stride(from: 0, to: Self.count, by: 997) {
            #expect(array[index] == (index % 100_003 == 0 ? index * 3 : -1))
        }
        #expect(array[Self.count - 1] == ((Self.count - 1) % 100_003 == 0 ? (Self.count - 1) * 3 : -1))
    }

    @Test func aCopyIsIndependent() {
        var original = Self.written(stride: 1_001) { $0 }
        var copy = original
        for index in Swift.stride(from: 0, to: Self.count, by: 1_001 * 3) { original[index] = -index - 2 }
        for index in Swift.stride(from: 500, to: Self.count, by: 1_001) { copy[index] = index * 2 }
        for index in Swift.stride(from: 0, to: Self.count, by: 1_001) {
            #expect(original[index] == (index % (1_001 * 3) == 0 ? -index - 2 : index))
            #expect(copy[index] == index)
            if index + 500 < Self.count {
                #expect(original[index + 500] == -1)
                #expect(copy[index + 500] == (index + 500) * 2)
            }
        }
    }

    /// Dropping the chunks of an array not shared takes one call per chunk (each holds an
    /// element written), front to back: dropped elements read as empty, the others as written.
    @Test func droppingChunksGoesFrontToBack() {
        var array = Self.written(stride: 300) { $0 + 1 }
        let chunks = (Self.count + Lazy.chunkMask) >> Lazy.chunkShift
        var calls = 0
        while true {
            calls += 1
            let done = array.dropChunks(max: 1)
            #expect(done == (calls == chunks))
            if done || calls > chunks { break }
            if calls % 500 == 0 {
                for index in Swift.stride(from: 0, to: Self.count, by: 300) {
                    #expect(array[index] == ((index >> Lazy.chunkShift) < calls ? -1 : index + 1))
                }
            }
        }
        for index in Swift.stride(from: 0, to: Self.count, by: 300) { #expect(array[index] == -1) }
    }

    /// A copy taken before or in the middle of dropping keeps its elements (those not dropped
    /// yet), and the array being dropped is then done at its next call, releasing only its
    /// references.
    @Test(arguments: [0, 1, 40, 1_500])
    func droppingChunksLeavesACopyIntact(copyAfterCalls: Int) {
        var array = Self.written(stride: 300) { $0 + 1 }
        for _ in 0..<copyAfterCalls {
            let done = array.dropChunks(max: 1)
            #expect(!done)
        }
        let copy = array
        let done = array.dropChunks(max: 1)
        #expect(done)
        for index in Swift.stride(from: 0, to: Self.count, by: 300) {
            #expect(array[index] == -1)
            #expect(copy[index] == ((index >> Lazy.chunkShift) < copyAfterCalls ? -1 : index + 1))
        }
    }
}
