// A growable array stored as fixed-size chunks, each copied on write on its own.
//
// Why: the journal snapshots the ledger by copying it (O(1): a `Ledger` is a value) and
// serializing the copy on another thread. With plain arrays, the applying thread's next
// write to a million-element table then copies the whole table (hundreds of megabytes: a
// stall of seconds, measured). Here a write after a copy copies only the few small objects
// on the path to the element it writes.
//
// A tree of three reference levels: a root → mid groups of 32 chunk-group references →
// chunk groups of 32 chunk references → chunks of about 4 KiB of elements. Why three levels
// of 32 rather than two of 256: after a copy, the first write to a table copies the root, the
// groups on the path and the chunk, and each copy retains every object it references. Those
// objects are cold then (spread over the whole state), and a retain is an atomic
// read-modify-write on a cold cache line: about 1,000 of them on the first line after a copy
// with two levels and 1,000,000 accounts (R + G retains for R root slots and groups of G with
// R × G chunks: at least 2 × sqrt(chunks)), 146-190 µs CPU, measured. Three levels make that
// R + 2 × 32 (62,500 chunks: 62 + 64), and each later group touched 32 or 64 retains instead
// of 256. Reads pay one more dependent load than with two levels; the root and the mid groups
// are small (a million-element table has a few dozen of them) and stay cached.
//
// Writing by hand: swift-collections has no chunked copy-on-write array, and `Array`,
// `Deque` and `Heap` all copy their whole buffer on the first write after a copy.
//
// Copy-on-write with one uniqueness check per write. The array is one reference, to a
// `ChunkRoot` (like Array's one buffer reference): the root holds the mid-group references,
// mid groups hold chunk-group references, chunk groups hold chunk references, chunks hold
// elements. A write first checks that the root is unique to this array (one runtime call).
// Groups and chunks can be shared with another root only after a root was copied; both roots
// then say so (`childrenShared`) and share a `ShareToken`, which every root descended from
// the same copy holds. A write through a root whose children may be shared checks the token:
// when it is unique, every other root of the lineage is gone, so the children are unique
// again and the flag is cleared; otherwise the write checks and copies the mid group, chunk
// group and chunk it touches, level by level. So a table that is never copied, or whose copy
// (a snapshot) has been released, pays one check per write instead of four or five.

import Synchronization

/// A tail-allocated buffer of up to `capacity` elements whose header counts the initialized
/// ones: a chunk of elements, or (as `ChunkGroup` and `MidGroup`) a group of references to
/// the level below.
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

/// A group of a `ChunkedArray`'s tree, one level above `Child`: a `ChunkGroup` holds chunk
/// references, a `MidGroup` holds `ChunkGroup` references.
typealias ReferenceGroup<Child: AnyObject> = ArrayChunk<Child>
/// One chunk group of a `ChunkedArray`: up to `1 << chunkGroupShift` chunk references.
typealias ChunkGroup<Element> = ReferenceGroup<ArrayChunk<Element>>
/// One mid group of a `ChunkedArray`: up to `1 << midGroupShift` chunk-group references.
typealias MidGroup<Element> = ReferenceGroup<ChunkGroup<Element>>

/// Held by every root that may share groups and chunks with another (see the file's opening).
final class ShareToken: Sendable {}

/// The root of a `ChunkedArray`: a fixed-capacity table of mid-group references (nil past the
/// last mid group), a flag saying whether its groups and chunks may be shared with another
/// root, and the token. Every stored property is a `let`, so reading them needs no
/// exclusivity check; the table and the token slot are written through their pointers by the
/// root's unique owner.
final class ChunkRoot<Element>: @unchecked Sendable {
    // Sendable: the table and token slot are written only by the array that holds the root
    // uniquely (checked), like Array's buffer; the flag is atomic.
    let groups: UnsafeMutablePointer<MidGroup<Element>?>
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

    /// A root with the same mid groups (retained) and token, and `capacity` slots.
    func copy(capacity newCapacity: Int, childrenShared shared: Bool) -> ChunkRoot<Element> {
        precondition(newCapacity >= capacity, "a copy keeps every group")
        let copy = ChunkRoot(capacity: newCapacity, token: token.pointee, childrenShared: shared)
        touchObjects(groups, count: capacity)
        copy.groups.update(from: groups, count: capacity)
        return copy
    }
}

/// An array of chunks of `chunkCapacity` elements, in a tree of groups (see the file's
/// opening): chunk groups of `1 << chunkGroupShift` chunks, mid groups of
/// `1 << midGroupShift` chunk groups, and a root of mid groups that doubles as it fills.
/// Value semantics: copying is O(1) (one reference), and the first write after a copy copies
/// the root (a table of mid-group references: a few dozen for a million elements), the mid
/// group and chunk group on the way (32 references each) and the chunk written to (about
/// 4 KiB): microseconds, whatever the count.
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
    /// Chunks per chunk group, and chunk groups per mid group: 32 references (256 bytes)
    /// each, copied with their retains on the first write through them after a copy. 32 is
    /// near the fan-out that minimizes root + mid + chunk-group references for a million
    /// elements (3 × cube root of 62,500 chunks ≈ 3 × 40), and a smaller fan-out makes the
    /// root, copied whole, grow as 1 / fan-out².
    static var chunkGroupShift: Int { 5 }
    static var chunkGroupMask: Int { (1 << chunkGroupShift) - 1 }
    static var midGroupShift: Int { 5 }
    static var midGroupMask: Int { (1 << midGroupShift) - 1 }
    /// Elements under one chunk group and under one mid group (for tests).
    static var chunkGroupElements: Int { 1 << (chunkShift + chunkGroupShift) }
    static var midGroupElements: Int { 1 << (chunkShift + chunkGroupShift + midGroupShift) }
    /// Mid-group slots in a new root; the root doubles when they are all used.
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
    /// Mid-group slots in the root. For tests.
    var rootCapacity: Int { root.capacity }

    /// The first child slot of the group referenced from `slot` (a root or group slot that
    /// holds a group, not nil): raw loads, no retain or release. The layout is checked in
    /// `ArrayChunk.make`.
    @inline(__always)
    private static func children<Child: AnyObject>(
        of slot: UnsafeRawPointer, _: Child.Type
    ) -> UnsafeMutablePointer<Child> {
        let group = slot.load(as: UnsafeMutableRawPointer.self)
        return (group + ReferenceGroup<Child>.elementsOffset).assumingMemoryBound(to: Child.self)
    }

    /// The address of element `index`, from raw loads: no retain or release. The layouts are
    /// checked in `make`.
    @inline(__always)
    private func address(_ index: Int) -> UnsafeMutablePointer<Element> {
        let chunk = index &>> Self.chunkShift
        let stride = MemoryLayout<UnsafeRawPointer>.stride
        let mid = UnsafeRawPointer(root.groups).load(
            fromByteOffset: (chunk &>> (Self.chunkGroupShift &+ Self.midGroupShift)) &* stride,
            as: UnsafeRawPointer.self)
        let group = (mid + MidGroup<Element>.elementsOffset).load(
            fromByteOffset: ((chunk &>> Self.chunkGroupShift) & Self.midGroupMask) &* stride,
            as: UnsafeRawPointer.self)
        let leaf = (group + ChunkGroup<Element>.elementsOffset).load(
            fromByteOffset: (chunk & Self.chunkGroupMask) &* stride, as: UnsafeMutableRawPointer.self)
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
    /// no longer are (the token is unique) or copies the groups and chunk of `index`.
    @inline(never)
    private mutating func makeUnique(forWriting index: Int) {
        if childrenMayBeShared() { makePathUnique(toChunk: index &>> Self.chunkShift, levels: 3) }
    }

    /// Makes the root unique to this array, and says whether its groups and chunks may still
    /// be shared with another array's: if the token is unique, every other root that shared
    /// them is gone, so they are ours alone and the flag is cleared.
    private mutating func childrenMayBeShared() -> Bool {
        makeRootUnique()
        guard root.childrenShared.load(ordering: .acquiring) else { return false }
        if isKnownUniquelyReferenced(&root.token.pointee) {
            root.childrenShared.store(false, ordering: .releasing)
            return false
        }
        return true
    }

    /// Makes the first `levels` objects on the way to chunk `chunk` unique to this array (the
    /// root is unique already), copying those that are shared: 1 the mid group, 2 also the
    /// chunk group, 3 also the chunk. Each must exist.
    private mutating func makePathUnique(toChunk chunk: Int, levels: Int) {
        precondition(levels >= 1 && levels <= 3, "a level of the tree")
        let midSlot = root.groups + (chunk &>> (Self.chunkGroupShift &+ Self.midGroupShift))
        if !isKnownUniquelyReferenced(&midSlot.pointee) { midSlot.pointee = Self.copyGroup(midSlot.pointee!) }
        guard levels >= 2 else { return }
        let groupSlot = Self.children(of: midSlot, ChunkGroup<Element>.self)
            + ((chunk &>> Self.chunkGroupShift) & Self.midGroupMask)
        if !isKnownUniquelyReferenced(&groupSlot.pointee) { groupSlot.pointee = Self.copyGroup(groupSlot.pointee) }
        guard levels >= 3 else { return }
        let chunkSlot = Self.children(of: groupSlot, ArrayChunk<Element>.self) + (chunk & Self.chunkGroupMask)
        if !isKnownUniquelyReferenced(&chunkSlot.pointee) { chunkSlot.pointee = chunkSlot.pointee.copy() }
    }

    /// A copy of `group`, its children fetched side by side before they are retained
    /// (`touchObjects`).
    private static func copyGroup<Child: AnyObject>(_ group: ReferenceGroup<Child>) -> ReferenceGroup<Child> {
        group.withUnsafeMutablePointers { count, children in touchObjects(children, count: count.pointee) }
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

    /// Appends `child` to `buffer` (a group or a chunk), which must hold `expected` children.
    @inline(__always)
    private static func append<Child>(_ child: Child, to buffer: ArrayChunk<Child>, expected: Int) {
        buffer.withUnsafeMutablePointers { count, children in
            precondition(count.pointee == expected, "children fill in order")
            (children + expected).initialize(to: child)
            count.pointee = expected + 1
        }
    }

    /// Removes and returns the last child of `buffer` (a group or a chunk), which must hold
    /// `expected` children after the removal.
    @inline(__always)
    private static func removeLast<Child>(from buffer: ArrayChunk<Child>, expected: Int) -> Child {
        buffer.withUnsafeMutablePointers { count, children in
            precondition(count.pointee == expected + 1, "children empty in order")
            count.pointee = expected
            return (children + expected).move()
        }
    }

    mutating func append(_ value: Element) {
        let position = count & Self.chunkMask
        let chunk = count &>> Self.chunkShift
        let groupIndex = chunk &>> Self.chunkGroupShift
        let midIndex = groupIndex &>> Self.midGroupShift
        // How many objects on the way to the new element exist already: 3 (mid group, chunk
        // group, chunk) unless the element starts a chunk, a chunk group or a mid group.
        let existing =
            position != 0 ? 3 : chunk & Self.chunkGroupMask != 0 ? 2 : groupIndex & Self.midGroupMask != 0 ? 1 : 0
        if childrenMayBeShared() && existing > 0 { makePathUnique(toChunk: chunk, levels: existing) }
        if existing == 0 {
            if midIndex == root.capacity {
                root = root.copy(
                    capacity: root.capacity * 2, childrenShared: root.childrenShared.load(ordering: .acquiring))
            }
            precondition(root.groups[midIndex] == nil, "mid groups fill in order")
            root.groups[midIndex] = MidGroup<Element>.make(capacity: 1 << Self.midGroupShift)
        }
        let mid = root.groups[midIndex]!
        if existing <= 1 {
            Self.append(
                ChunkGroup<Element>.make(capacity: 1 << Self.chunkGroupShift), to: mid,
                expected: groupIndex & Self.midGroupMask)
        }
        let group = mid.withUnsafeMutablePointerToElements { $0[groupIndex & Self.midGroupMask] }
        if existing <= 2 {
            Self.append(
                ArrayChunk<Element>.make(capacity: Self.chunkCapacity), to: group,
                expected: chunk & Self.chunkGroupMask)
        }
        let leaf = group.withUnsafeMutablePointerToElements { $0[chunk & Self.chunkGroupMask] }
        Self.append(value, to: leaf, expected: position)
        count += 1
    }

    /// Removes and returns the last element.
    mutating func removeLast() -> Element {
        precondition(count > 0, "not empty")
        if childrenMayBeShared() { makePathUnique(toChunk: (count - 1) &>> Self.chunkShift, levels: 3) }
        count -= 1
        let position = count & Self.chunkMask
        let chunk = count &>> Self.chunkShift
        let groupIndex = chunk &>> Self.chunkGroupShift
        let midIndex = groupIndex &>> Self.midGroupShift
        let mid = root.groups[midIndex]!
        let group = mid.withUnsafeMutablePointerToElements { $0[groupIndex & Self.midGroupMask] }
        let leaf = group.withUnsafeMutablePointerToElements { $0[chunk & Self.chunkGroupMask] }
        let element = Self.removeLast(from: leaf, expected: position)
        // Drop the objects the removal emptied, bottom up.
        if position == 0 {
            _ = Self.removeLast(from: group, expected: chunk & Self.chunkGroupMask)
            if chunk & Self.chunkGroupMask == 0 {
                _ = Self.removeLast(from: mid, expected: groupIndex & Self.midGroupMask)
                if groupIndex & Self.midGroupMask == 0 { root.groups[midIndex] = nil }
            }
        }
        return element
    }

    mutating func reserveCapacity(_ minimumCapacity: Int) {}
}

extension ChunkedArray: @unchecked Sendable where Element: Sendable {}
// Sendable: chunks and groups are shared between copies only while no copy writes them (a
// write to a shared one copies it first, as Array's buffer), so a copy handed to another
// thread is never written behind its back.
