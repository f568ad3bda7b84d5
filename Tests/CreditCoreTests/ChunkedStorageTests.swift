// The chunked storage behind the ledger's tables: value semantics across copies (a write to
// one copy is never seen by another, at any level: root, mid group, chunk group, chunk), the
// one-check fast path coming back once a copy is gone, growth across every level and the
// root, removal across every level, copies read on another thread while the original is
// written, and the 4-ary deadline heap against a sort.
import Synchronization
import Testing

#if canImport(Darwin)
    import Darwin
#else
    import Glibc
#endif

@testable import CreditCore

@Suite struct ChunkedStorageTests {
    /// Elements per chunk group: writes at these strides touch different chunk groups.
    static let groupElements = ChunkedArray<Int>.chunkGroupElements

    /// Enough elements for several chunk groups and two mid groups.
    static let manyCount = ChunkedArray<Int>.midGroupElements + groupElements * 3 + 7

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
        // Two mid groups and a bit, so that writes reach every chunk group of both.
        let count = ChunkedArray<Tracked>.midGroupElements + ChunkedArray<Tracked>.chunkGroupElements * 2 + 3
        var watched: [Int: Tracked] = [:]
        weak var first: Tracked?
        weak var replaced: Tracked?
        do {
            var original = ChunkedArray<Tracked>()
            for value in 0..<count { original.append(Tracked(value)) }
            first = original[0]
            replaced = original[count - 1]
            let copy = original
            for index in stride(from: 0, to: count, by: ChunkedArray<Tracked>.chunkGroupElements) {
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
        // Across a mid group, a chunk group and a chunk boundary.
        let count = ChunkedArray<String>.midGroupElements + ChunkedArray<String>.chunkGroupElements + 600
        for index in 0..<count { table.append("v\(index)") }
        let copy = table
        for index in stride(from: count - 1, through: 0, by: -1) { #expect(table.removeLast() == "v\(index)") }
        #expect(table.isEmpty)
        for index in 0..<1_000 { table.append("w\(index)") }
        #expect(table[999] == "w999")
        #expect(copy.count == count && copy[count - 1] == "v\(count - 1)" && copy[0] == "v0")
    }

    /// A 256-byte element: 16 per chunk, so that every level fills with few elements (a chunk
    /// group holds 512, a mid group 16,384, a new root 65,536). Lane 0 holds the value and
    /// lane 31 its complement, so that a partly copied element would show.
    typealias Wide = SIMD32<Int64>

    static func wide(_ value: Int) -> Wide {
        var element = Wide(repeating: 0)
        element[0] = Int64(value)
        element[31] = ~Int64(value)
        return element
    }

    /// Counts just below, at and above each level's capacity: a chunk, a chunk group, a mid
    /// group, a new root's mid-group slots, and twice that (the root grown once).
    static func boundaries<Element>(_: Element.Type) -> [Int] {
        let root = ChunkedArray<Element>.midGroupElements * ChunkedArray<Element>.rootCapacityMin
        let capacities = [
            ChunkedArray<Element>.chunkCapacity, ChunkedArray<Element>.chunkGroupElements,
            ChunkedArray<Element>.midGroupElements, root, root * 2,
        ]
        return capacities.flatMap { [$0 - 1, $0, $0 + 1] }
    }

    @Test func theLevelsAreWhatTheTestsAssume() {
        #expect(MemoryLayout<Wide>.stride == 256)
        #expect(ChunkedArray<Wide>.chunkCapacity == 16)
        #expect(ChunkedArray<Wide>.chunkGroupElements == ChunkedArray<Wide>.chunkCapacity << ChunkedArray<Wide>.chunkGroupShift)
        #expect(ChunkedArray<Wide>.midGroupElements == ChunkedArray<Wide>.chunkGroupElements << ChunkedArray<Wide>.midGroupShift)
        #expect(Self.boundaries(Wide.self) == Self.boundaries(Wide.self).sorted(), "increasing")
    }

    /// Appends grow the array through every level's boundary and past the root's capacity
    /// (it doubles), then removals take it back down through each boundary, with a
    /// re-append at each (new chunks and groups made where the removal dropped them).
    @Test func roundTripsAcrossEveryLevelBoundary() {
        let sizes = Self.boundaries(Wide.self)
        var chunked = ChunkedArray<Wide>()
        var plain: [Wide] = []
        for size in sizes {
            while chunked.count < size {
                chunked.append(Self.wide(plain.count))
                plain.append(Self.wide(plain.count))
            }
            #expect(chunked.count == size)
            #expect(chunked.elementsEqual(plain), "after appends to \(size)")
            #expect(chunked.last == plain.last)
        }
        let midGroups = (chunked.count + ChunkedArray<Wide>.midGroupElements - 1) / ChunkedArray<Wide>.midGroupElements
        #expect(midGroups > ChunkedArray<Wide>.rootCapacityMin * 2, "the root grew twice")
        #expect(chunked.rootCapacity >= midGroups)
        for size in sizes.reversed() {
            var mismatches = 0
            while chunked.count > size {
                if chunked.removeLast() != plain.removeLast() { mismatches += 1 }
            }
            #expect(mismatches == 0, "removals down to \(size)")
            #expect(chunked.count == size && chunked.elementsEqual(plain), "after removals to \(size)")
            chunked.append(Self.wide(-size))
            #expect(chunked.count == size + 1 && chunked[size] == Self.wide(-size))
            #expect(chunked.removeLast() == Self.wide(-size))
        }
        while !chunked.isEmpty { _ = chunked.removeLast() }
        #expect(chunked.isEmpty)
        chunked.append(Self.wide(5))
        #expect(chunked.elementsEqual([Self.wide(5)]))
    }

    /// One random step on `array` and its model: mostly writes anywhere, some appends and
    /// removals.
    static func randomStep(_ array: inout ChunkedArray<Wide>, _ model: inout [Wide], _ random: inout SeededRandom) {
        let choice = Int.random(in: 0..<10, using: &random)
        if choice < 7 && !model.isEmpty {
            let index = Int.random(in: 0..<model.count, using: &random)
            let value = Self.wide(Int.random(in: 0..<1_000_000_000, using: &random))
            array[index] = value
            model[index] = value
        } else if choice < 9 || model.isEmpty {
            let value = Self.wide(-model.count)
            array.append(value)
            model.append(value)
        } else {
            #expect(array.removeLast() == model.removeLast())
        }
    }

    /// At each boundary size, the array is copied twice (base, then original and copy), and
    /// the original and the copy are written independently: random writes, appends and
    /// removals, then runs of appends and removals across the next boundaries. Each array
    /// equals its own model, and the base is untouched.
    @Test func copiesAtEveryBoundaryAreWrittenIndependently() {
        var random = SeededRandom(seed: 29)
        var base = ChunkedArray<Wide>()
        var baseModel: [Wide] = []
        let run = ChunkedArray<Wide>.chunkGroupElements + ChunkedArray<Wide>.chunkCapacity + 1
        for size in Self.boundaries(Wide.self) {
            while base.count < size {
                base.append(Self.wide(base.count))
                baseModel.append(Self.wide(baseModel.count))
            }
            var original = base
            var copy = original
            var originalModel = baseModel
            var copyModel = baseModel
            for step in 0..<400 {
                if step % 2 == 0 {
                    Self.randomStep(&original, &originalModel, &random)
                } else {
                    Self.randomStep(&copy, &copyModel, &random)
                }
            }
            for index in 0..<run {
                original.append(Self.wide(index))
                originalModel.append(Self.wide(index))
            }
            for _ in 0..<Swift.min(run, copy.count) { _ = copy.removeLast(); _ = copyModel.removeLast() }
            for _ in 0..<50 { Self.randomStep(&copy, &copyModel, &random) }
            for _ in 0..<50 { Self.randomStep(&original, &originalModel, &random) }
            #expect(original.count == originalModel.count && original.elementsEqual(originalModel), "original at \(size)")
            #expect(copy.count == copyModel.count && copy.elementsEqual(copyModel), "copy at \(size)")
            #expect(base.count == size && base.elementsEqual(baseModel), "base at \(size)")
        }
    }

    /// A copy is read on another thread while the original is written everywhere (every
    /// chunk, chunk group and mid group copied), grown and shrunk on this one; the reader
    /// sees only the copy's values. Then the reader drops its copy, and the writer's next
    /// write finds the token unique and takes the fast path again.
    @Test func aCopyIsReadOnAnotherThreadWhileTheOriginalIsWritten() {
        final class Shared: @unchecked Sendable {
            // Set by the reader thread and read after it is joined, or atomic.
            var copy: ChunkedArray<Int>?
            var mismatches = 0
            var passes = 0
            let writerDone = Atomic<Bool>(false)
            let readerStarted = Atomic<Bool>(false)
        }
        let count = ChunkedArray<Int>.midGroupElements + ChunkedArray<Int>.chunkGroupElements * 3 + 11
        var original = ChunkedArray<Int>()
        for index in 0..<count { original.append(index * 3) }
        let shared = Shared()
        shared.copy = original
        let context = Unmanaged.passRetained(shared).toOpaque()
        var thread = pthread_t()
        let created = pthread_create(&thread, nil, { context in
            let shared = Unmanaged<Shared>.fromOpaque(context!).takeRetainedValue()
            let copy = shared.copy!
            shared.readerStarted.store(true, ordering: .releasing)
            repeat {
                for index in 0..<copy.count where copy[index] != index * 3 { shared.mismatches += 1 }
                shared.passes += 1
            } while !shared.writerDone.load(ordering: .acquiring) || shared.passes < 2
            shared.copy = nil
            return nil
        }, context)
        precondition(created == 0, "pthread_create")
        while !shared.readerStarted.load(ordering: .acquiring) {}
        for round in 0..<3 {
            for index in stride(from: round, to: original.count, by: 7) { original[index] = -index }
            for index in 0..<ChunkedArray<Int>.chunkGroupElements + 1 { original.append(index) }
            for _ in 0..<ChunkedArray<Int>.chunkGroupElements * 2 { _ = original.removeLast() }
        }
        shared.writerDone.store(true, ordering: .releasing)
        pthread_join(thread, nil)
        #expect(shared.mismatches == 0, "the reader saw only the copy's values")
        #expect(shared.passes >= 2)
        #expect(shared.copy == nil)
        #expect(original.mayShareChunks, "not written since the copy was dropped")
        original[0] = 1
        #expect(!original.mayShareChunks, "the copy is gone: the fast path again")
        let expectedCount = count + 3 * (1 - ChunkedArray<Int>.chunkGroupElements)
        #expect(original.count == expectedCount)
        var wrong = 0
        for index in 1..<expectedCount where original[index] != (index % 7 < 3 ? -index : index * 3) { wrong += 1 }
        #expect(wrong == 0, "the original kept its own writes")
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
