// The chunked storage behind the ledger's tables: value semantics across copies (a write to
// one copy is never seen by another, at any level: root, group, chunk), the one-check fast
// path coming back once a copy is gone, growth across groups and roots, removal, and the
// 4-ary deadline heap against a sort.
import Testing

@testable import CreditCore

@Suite struct ChunkedStorageTests {
    /// Elements per group: writes at these strides touch different groups.
    static let groupElements = ChunkedArray<Int>.chunkCapacity << ChunkedArray<Int>.groupShift

    /// Enough elements for two groups and more group slots than a new root has.
    static let manyCount = groupElements * (ChunkedArray<Int>.rootCapacityMin + 1) + 7

    @Test func appendsReadsAndWritesLikeAnArray() {
        var chunked = ChunkedArray<Int>()
        var plain: [Int] = []
        for value in 0..<Self.manyCount {
            chunked.append(value * 3)
            plain.append(value * 3)
        }
        #expect(chunked.count == plain.count)
        for index in stride(from: 0, to: plain.count, by: 997) { chunked[index] += 1; plain[index] += 1 }
        #expect(chunked.elementsEqual(plain))
        #expect(!chunked.mayShareChunks)
    }

    @Test func aCopyNeverSeesTheOriginalsWrites() {
        var original = ChunkedArray<Int>(repeating: 0, count: Self.groupElements * 2 + 5)
        let copy = original
        // A write to each level's first and a later group and chunk.
        for index in [0, 1, 600, Self.groupElements + 3, original.count - 1] { original[index] = index + 1 }
        original.append(42)
        #expect(copy.allSatisfy { $0 == 0 }, "the copy kept its values")
        #expect(copy.count == Self.groupElements * 2 + 5)
        #expect(original[600] == 601 && original[Self.groupElements + 3] == Self.groupElements + 4)
        #expect(original.last == 42)
        #expect(original.mayShareChunks, "the original still shares untouched chunks with the copy")
    }

    @Test func theOriginalNeverSeesTheCopysWrites() {
        let original = ChunkedArray<Int>(repeating: 7, count: 2_000)
        var copy = original
        copy[3] = 1
        _ = copy.removeLast()
        copy.append(9)
        #expect(original.allSatisfy { $0 == 7 })
        #expect(copy[3] == 1 && copy.last == 9 && copy.count == 2_000)
    }

    @Test func writesAfterACopyIsGoneTakeTheFastPathAgain() {
        var table = ChunkedArray<Int>(repeating: 1, count: 5_000)
        do {
            let snapshot = table
            table[10] = 2
            #expect(table.mayShareChunks)
            #expect(snapshot[10] == 1)
        }
        // The snapshot is gone: the next write finds the token unique and clears the flag.
        table[4_000] = 3
        #expect(!table.mayShareChunks)
        #expect(table[10] == 2 && table[4_000] == 3 && table[0] == 1)
    }

    /// Copies of roots and groups (whose references are fetched before they are retained,
    /// `touchObjects`) keep every element alive exactly as long as an array holds it: after
    /// writes to every group of a copy (roots with empty slots, a partly filled last group)
    /// and then both arrays gone, every element is freed once.
    @Test func copiedRootsAndGroupsRetainAndReleaseEveryElement() {
        final class Tracked {
            let value: Int
            init(_ value: Int) { self.value = value }
        }
        let count = ChunkedArray<Tracked>.chunkCapacity << ChunkedArray<Tracked>.groupShift * 2 + 3
        var watched: [Int: Tracked] = [:]
        weak var first: Tracked?
        weak var replaced: Tracked?
        do {
            var original = ChunkedArray<Tracked>()
            for value in 0..<count { original.append(Tracked(value)) }
            first = original[0]
            replaced = original[count - 1]
            let copy = original
            for index in stride(from: 0, to: count, by: ChunkedArray<Tracked>.chunkCapacity << ChunkedArray<Tracked>.groupShift) {
                original[index] = Tracked(-index)
            }
            original[count - 1] = Tracked(-1)
            #expect(copy[0].value == 0 && copy[count - 1].value == count - 1, "the copy keeps its elements")
            #expect(original[0].value == 0 && original[count - 1].value == -1)
            watched[1] = copy[1]
            #expect(replaced != nil, "held by the copy")
        }
        #expect(first == nil, "freed once both arrays are gone")
        #expect(replaced == nil)
        #expect(watched[1]?.value == 1, "an element still referenced elsewhere stays alive")
    }

    @Test func copiesOfCopiesStayIndependent() {
        var first = ChunkedArray<Int>(repeating: 0, count: 3_000)
        var second = first
        var third = second
        first[5] = 1
        second[5] = 2
        third[5] = 3
        third[2_999] = 4
        #expect([first[5], second[5], third[5]] == [1, 2, 3])
        #expect(first[2_999] == 0 && second[2_999] == 0 && third[2_999] == 4)
        second = ChunkedArray()
        first[5] = 10
        #expect(third[5] == 3 && first[5] == 10)
    }

    @Test func removeLastEmptiesChunksAndGroupsAndGrowsAgain() {
        var table = ChunkedArray<String>()
        let count = Self.groupElements + 600
        for index in 0..<count { table.append("v\(index)") }
        let copy = table
        for index in stride(from: count - 1, through: 0, by: -1) { #expect(table.removeLast() == "v\(index)") }
        #expect(table.isEmpty)
        for index in 0..<1_000 { table.append("w\(index)") }
        #expect(table[999] == "w999")
        #expect(copy.count == count && copy[count - 1] == "v\(count - 1)" && copy[0] == "v0")
    }

    @Test func theHeapRemovesInSortedOrder() {
        var random = SeededRandom(seed: 11)
        var heap = DeadlineHeap<Int>()
        var reference: [Int] = []
        for round in 0..<20_000 {
            if round % 3 == 2, let minimum = heap.removeMin() {
                #expect(minimum == reference.removeFirst())
            } else {
                let value = Int.random(in: 0..<1_000_000_000, using: &random) * 20_000 + round  // distinct
                heap.insert(value)
                reference.insert(value, at: reference.firstIndex { $0 > value } ?? reference.count)
            }
        }
        while let minimum = heap.removeMin() { #expect(minimum == reference.removeFirst()) }
        #expect(reference.isEmpty && heap.count == 0)
    }
}
