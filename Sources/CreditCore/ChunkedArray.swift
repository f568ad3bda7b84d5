// A growable array stored as fixed-size chunks, each copied on write on its own.
//
// Why: the journal snapshots the ledger by copying it (O(1): a `Ledger` is a value) and
// serializing the copy on another thread. With plain arrays, the applying thread's next
// write to a million-element table then copies the whole table (hundreds of megabytes: a
// stall of seconds, measured). Here a write after a copy copies the small table of group
// references once per table, and then only the group and chunk it touches.
// Reads cost one shift, one mask and one more pointer hop than an Array's.
//
// Writing by hand: swift-collections has no chunked copy-on-write array, and `Array`,
// `Deque` and `Heap` all copy their whole buffer on the first write after a copy.
//
// Copy-on-write with one uniqueness check per write. The array is one reference, to a
// `ChunkRoot` (like Array's one buffer reference): the root holds the group references,
// groups hold chunk references, chunks hold elements. A write first checks that the root is
// unique to this array (one runtime call). Groups and chunks can be shared with another
// root only after a root was copied; both roots then say so (`childrenShared`) and share a
// `ShareToken`, which every root descended from the same copy holds. A write through a root
// whose children may be shared checks the token: when it is unique, every other root of the
// lineage is gone, so the children are unique again and the flag is cleared; otherwise the
// write checks and copies the group and chunk it touches, level by level. So a table that
// is never copied, or whose copy (a snapshot) has been released, pays one check per write
// instead of three or four.

import Synchronization

/// A tail-allocated buffer of up to `capacity` elements whose header counts the initialized
/// ones: a chunk of elements, or (as `ChunkGroup`) a group of chunk references.
final class ArrayChunk<Element>: ManagedBuffer<Int, Element> {
    deinit {
        _ = withUnsafeMutablePointers { count, elements in elements.deinitialize(count: count.pointee) }
    }

    /// Bytes from the object's address to its first element: the 16-byte object header, the
    /// `Int` header, rounded up to the element's alignment (ManagedBuffer's layout).
    static var elementsOffset: Int {
        let alignment = MemoryLayout<Element>.alignment
        return (24 + alignment - 1) / alignment * alignment
    }

    /// An empty buffer for at least `capacity` elements.
    static func make(capacity: Int) -> ArrayChunk<Element> {
        // `create` returns the ManagedBuffer subclass it was called on.
        let chunk = unsafeDowncast(
            ArrayChunk<Element>.create(minimumCapacity: capacity) { _ in 0 }, to: ArrayChunk<Element>.self)
        chunk.withUnsafeMutablePointerToElements { elements in
            precondition(
                UnsafeRawPointer(elements) - UnsafeRawPointer(Unmanaged.passUnretained(chunk).toOpaque()) == elementsOffset,
                "ManagedBuffer layout as assumed by ChunkedArray's reads")
        }
        return chunk
    }

    /// A buffer of the same capacity holding copies of the initialized elements.
    func copy() -> ArrayChunk<Element> {
        let copy = Self.make(capacity: capacity)
        withUnsafeMutablePointers { count, elements in
            copy.withUnsafeMutablePointers { copyCount, copyElements in
                copyElements.initialize(from: elements, count: count.pointee)
                copyCount.pointee = count.pointee
            }
        }
        return copy
    }
}

/// Where `touchObjects` leaves what it loaded, so that the loads are not optimized away.
private let touchedWords = Atomic<UInt>(0)

/// Loads the first word of each object referenced by the `count` references (nil ones
/// skipped) at `references`, before a copy of those references retains each object.
///
/// Why: copying a group or root retains every chunk or group it references, and after a
/// snapshot's copy those objects are cold, spread over the whole state: each retain is a
/// cache (and TLB) miss, and a retain is an atomic read-modify-write, which the CPU does
/// not overlap with the next one. Plain loads do overlap, so this fetches the cache lines
/// side by side first (README, "Snapshot stall and the ledger's storage", for the figures
/// measured with 1,000,000 accounts). The word loaded is the object's type pointer,
/// which never changes (the reference count, in the same cache line, may be changed by
/// another thread).
@inline(never)
func touchObjects(_ references: UnsafeRawPointer, count: Int) {
    var folded: UInt = 0
    for index in 0..<count {
        let object = references.load(fromByteOffset: index &* MemoryLayout<UInt>.stride, as: UInt.self)
        if object != 0 { folded ^= UnsafeRawPointer(bitPattern: object)!.load(as: UInt.self) }
    }
    touchedWords.store(folded, ordering: .relaxed)
}

/// One group of a `ChunkedArray`: up to `1 << groupShift` chunk references.
typealias ChunkGroup<Element> = ArrayChunk<ArrayChunk<Element>>

/// Held by every root that may share groups and chunks with another (see the file's opening).
final class ShareToken: Sendable {}

/// The root of a `ChunkedArray`: a fixed-capacity table of group references (nil past the
/// last group), a flag saying whether they may be shared with another root, and the token.
/// Every stored property is a `let`, so reading them needs no exclusivity check; the table
/// and the token slot are written through their pointers by the root's unique owner.
final class ChunkRoot<Element>: @unchecked Sendable {
    // Sendable: the table and token slot are written only by the array that holds the root
    // uniquely (checked), like Array's buffer; the flag is atomic.
    let groups: UnsafeMutablePointer<ChunkGroup<Element>?>
    let capacity: Int
    let childrenShared: Atomic<Bool>
    let token: UnsafeMutablePointer<ShareToken>

    init(capacity: Int, token: ShareToken, childrenShared: Bool) {
        precondition(capacity >= 1, "a root holds a group")
        self.capacity = capacity
        groups = .allocate(capacity: capacity)
        groups.initialize(repeating: nil, count: capacity)
        self.childrenShared = Atomic(childrenShared)
        self.token = .allocate(capacity: 1)
        self.token.initialize(to: token)
    }

    deinit {
        groups.deinitialize(count: capacity)
        groups.deallocate()
        token.deinitialize(count: 1)
        token.deallocate()
    }

    /// A root with the same groups (retained) and token, and `capacity` slots.
    func copy(capacity newCapacity: Int, childrenShared shared: Bool) -> ChunkRoot<Element> {
        precondition(newCapacity >= capacity, "a copy keeps every group")
        let copy = ChunkRoot(capacity: newCapacity, token: token.pointee, childrenShared: shared)
        touchObjects(groups, count: capacity)
        copy.groups.update(from: groups, count: capacity)
        return copy
    }
}

/// An array of chunks of `chunkCapacity` elements, in groups of `groupCapacity` chunks.
/// Value semantics: copying is O(1) (one reference), and the first write after a copy copies
/// the root (a table of group references), the group written to (256 references) and the
/// chunk written to (about 4 KiB): microseconds, whatever the count.
/// Not thread-safe for writes, like `Array`; copies may be read on other threads.
struct ChunkedArray<Element>: RandomAccessCollection, MutableCollection {
    /// Elements per chunk: a power of two that makes a chunk about `chunkBytesTarget` (one
    /// page), 16 ... 512 elements. The first write to a chunk after a copy copies it, so its
    /// size bounds that stall (150 KiB chunks of account records cost 75 µs each, measured).
    static var chunkCapacity: Int { 1 << chunkShift }
    @inline(__always)
    static var chunkShift: Int {
        let elements = Swift.max(1, chunkBytesTarget / Swift.max(1, MemoryLayout<Element>.stride))
        let shift = Int.bitWidth - 1 - elements.leadingZeroBitCount
        return Swift.min(Swift.max(shift, chunkShiftMin), chunkShiftMax)
    }
    static var chunkBytesTarget: Int { 4096 }
    static var chunkShiftMin: Int { 4 }
    static var chunkShiftMax: Int { 9 }
    static var chunkMask: Int { chunkCapacity - 1 }
    /// Chunks per group: 256 references, 2 KiB, copied on the first write after a copy.
    static var groupShift: Int { 8 }
    static var groupMask: Int { (1 << groupShift) - 1 }
    /// Group slots in a new root; the root doubles when they are all used.
    static var rootCapacityMin: Int { 4 }

    typealias Index = Int
    typealias Indices = Range<Int>

    private var root = ChunkRoot<Element>(capacity: Self.rootCapacityMin, token: ShareToken(), childrenShared: false)
    private(set) var count = 0

    init() {}

    init(repeating element: Element, count: Int) {
        precondition(count >= 0, "a count is not negative")
        for _ in 0..<count { append(element) }
    }

    var startIndex: Int { 0 }
    var endIndex: Int { count }
    var isEmpty: Bool { count == 0 }

    /// Whether a write may find a group or chunk shared with another array. For tests.
    var mayShareChunks: Bool { root.childrenShared.load(ordering: .relaxed) }

    /// The address of element `index`, from raw loads: no retain or release. The layouts are
    /// checked in `make`.
    @inline(__always)
    private func address(_ index: Int) -> UnsafeMutablePointer<Element> {
        let chunk = index &>> Self.chunkShift
        let group = UnsafeRawPointer(root.groups).load(
            fromByteOffset: (chunk &>> Self.groupShift) &* 8, as: UnsafeRawPointer.self)
        let leaf = (group + ChunkGroup<Element>.elementsOffset)
            .load(fromByteOffset: (chunk & Self.groupMask) &* 8, as: UnsafeMutableRawPointer.self)
        return (leaf + ArrayChunk<Element>.elementsOffset).assumingMemoryBound(to: Element.self)
            + (index & Self.chunkMask)
    }

    // A yielding read rather than get: reading one field of a 300-byte record then loads that
    // field in place, as with Array, instead of copying (and retaining) the whole record.
    @inline(__always)
    subscript(index: Int) -> Element {
        _read {
            precondition(index >= 0 && index < count, "index in range")
            yield address(index).pointee
        }
        _modify {
            precondition(index >= 0 && index < count, "index in range")
            let element = uniqueElement(index)
            yield &element.pointee
        }
    }

    /// The address of element `index` after making everything on its way unique to this
    /// array. The common case is one uniqueness check and one atomic load.
    @inline(__always)
    private mutating func uniqueElement(_ index: Int) -> UnsafeMutablePointer<Element> {
        if !isKnownUniquelyReferenced(&root) || root.childrenShared.load(ordering: .acquiring) {
            makeUnique(forWriting: index)
        }
        return address(index)
    }

    /// Makes the root unique, then, if its children may be shared, either learns that they
    /// no longer are (the token is unique) or copies the group and chunk of `index`.
    @inline(never)
    private mutating func makeUnique(forWriting index: Int) {
        makeRootUnique()
        guard root.childrenShared.load(ordering: .acquiring) else { return }
        if isKnownUniquelyReferenced(&root.token.pointee) {
            // Every other root that shared children is gone: the children are ours alone.
            root.childrenShared.store(false, ordering: .releasing)
            return
        }
        let chunk = index &>> Self.chunkShift
        let groupSlot = root.groups + (chunk &>> Self.groupShift)
        if !isKnownUniquelyReferenced(&groupSlot.pointee) { groupSlot.pointee = Self.copyGroup(groupSlot.pointee!) }
        let group = UnsafeMutableRawPointer(groupSlot).load(as: UnsafeMutableRawPointer.self)
        let chunkSlot = (group + ChunkGroup<Element>.elementsOffset)
            .assumingMemoryBound(to: ArrayChunk<Element>.self) + (chunk & Self.groupMask)
        if !isKnownUniquelyReferenced(&chunkSlot.pointee) { chunkSlot.pointee = chunkSlot.pointee.copy() }
    }

    /// A copy of `group`, its chunks fetched side by side before they are retained
    /// (`touchObjects`).
    private static func copyGroup(_ group: ChunkGroup<Element>) -> ChunkGroup<Element> {
        group.withUnsafeMutablePointers { count, chunks in touchObjects(chunks, count: count.pointee) }
        return group.copy()
    }

    /// Makes the root unique to this array: a shared root is copied, and both it and the copy
    /// then say that their children may be shared.
    private mutating func makeRootUnique() {
        if isKnownUniquelyReferenced(&root) { return }
        // Releasing: a holder of the old root that later finds it unique sees the flag.
        root.childrenShared.store(true, ordering: .releasing)
        root = root.copy(capacity: root.capacity, childrenShared: true)
    }

    /// Makes group `groupIndex` unique to this array (the root is unique already).
    private mutating func makeGroupUnique(_ groupIndex: Int) {
        guard root.childrenShared.load(ordering: .acquiring) else { return }
        let groupSlot = root.groups + groupIndex
        if !isKnownUniquelyReferenced(&groupSlot.pointee) { groupSlot.pointee = Self.copyGroup(groupSlot.pointee!) }
    }

    mutating func append(_ value: Element) {
        let position = count & Self.chunkMask
        let chunk = count &>> Self.chunkShift
        let groupIndex = chunk &>> Self.groupShift
        makeRootUnique()
        if position == 0 {
            if chunk & Self.groupMask == 0 {
                if groupIndex == root.capacity {
                    root = root.copy(
                        capacity: root.capacity * 2, childrenShared: root.childrenShared.load(ordering: .acquiring))
                }
                root.groups[groupIndex] = ChunkGroup<Element>.make(capacity: 1 << Self.groupShift)
            } else {
                makeGroupUnique(groupIndex)
            }
            root.groups[groupIndex]!.withUnsafeMutablePointers { chunkCount, chunks in
                precondition(chunkCount.pointee == chunk & Self.groupMask, "chunks fill in order")
                (chunks + chunkCount.pointee).initialize(to: ArrayChunk<Element>.make(capacity: Self.chunkCapacity))
                chunkCount.pointee += 1
            }
        } else {
            makeGroupUnique(groupIndex)
        }
        // Make the chunk unique (it may be shared), then initialize the new element.
        count += 1
        _ = uniqueElement(count - 1)
        root.groups[groupIndex]!.withUnsafeMutablePointers { chunkCount, chunks in
            chunks[chunkCount.pointee - 1].withUnsafeMutablePointers { initialized, elements in
                precondition(initialized.pointee == position, "chunks fill in order")
                (elements + position).initialize(to: value)
                initialized.pointee = position + 1
            }
        }
    }

    /// Removes and returns the last element.
    mutating func removeLast() -> Element {
        precondition(count > 0, "not empty")
        _ = uniqueElement(count - 1)
        count -= 1
        let groupIndex = count &>> (Self.chunkShift + Self.groupShift)
        let emptiesChunk = count & Self.chunkMask == 0
        let (element, groupEmpty) = root.groups[groupIndex]!.withUnsafeMutablePointers { chunkCount, chunks in
            let last = chunks + (chunkCount.pointee - 1)
            let element = last.pointee.withUnsafeMutablePointers { initialized, elements in
                initialized.pointee -= 1
                return (elements + initialized.pointee).move()
            }
            if emptiesChunk {
                last.deinitialize(count: 1)
                chunkCount.pointee -= 1
            }
            return (element, chunkCount.pointee == 0)
        }
        if groupEmpty { root.groups[groupIndex] = nil }
        return element
    }

    mutating func reserveCapacity(_ minimumCapacity: Int) {}
}

extension ChunkedArray: @unchecked Sendable where Element: Sendable {}
// Sendable: chunks are shared between copies only while no copy writes them (a write to a
// shared chunk copies it first, as Array's buffer), so a copy handed to another thread is
// never written behind its back.
