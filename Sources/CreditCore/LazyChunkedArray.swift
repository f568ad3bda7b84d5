// A fixed-size array whose chunks exist only once written: the slots of an `IdentityTable`
// (IdentityTable.swift).
//
// Why: when an id table doubles, its new slots are filled over the insertions that follow
// (the table's incremental growth). Allocating and filling them all at once would be a stall
// of its own: at 32M slots, 256 MiB of memset and page faults, tens of milliseconds. Here a
// new array is one small root (a reference per 2^19 elements of 8 bytes); a chunk (about 4
// KiB, as ChunkedArray's) is allocated and filled with `empty` on its first write, and an
// element of a chunk never written reads as `empty`. For the same reason the array is freed
// piece by piece (`dropChunks(max:)`): freeing 16M slots at once is 32,768 chunks released in
// one go, milliseconds.
//
// The tree is ChunkedArray's (ChunkedArray.swift: a root → mid groups of 32 chunk-group
// references → chunk groups of 32 chunk references → chunks), built from its `ArrayChunk`
// buffers, with nil for a group or chunk not yet written. So copying is O(1) and the first
// write after a copy copies the root, one mid group, one chunk group and one chunk (the
// retains of 32 + 32 + root-size references and 4 KiB), whatever the count. Copy-on-write is
// simpler than ChunkedArray's share token: a write checks each object on its way for
// uniqueness (four checks instead of one). An id table writes one slot per insertion and a
// few more while it migrates, so the checks (loads of a reference count the write's address
// computation loads next to anyway) cost nanoseconds per insertion.

/// A fixed number of elements in chunks allocated on first write; an element never written
/// reads as `empty`. Value semantics, copied on write chunk by chunk like `ChunkedArray`.
/// Not thread-safe for writes; copies may be read on other threads.
struct LazyChunkedArray<Element> {
    typealias Chunk = ArrayChunk<Element>
    typealias Group = ArrayChunk<Chunk?>
    typealias Mid = ArrayChunk<Group?>
    typealias Root = ArrayChunk<Mid?>

    /// Elements per chunk: ChunkedArray's (about 4 KiB, a power of two).
    @inline(__always) static var chunkShift: Int { ChunkedArray<Element>.chunkShift }
    @inline(__always) static var chunkMask: Int { (1 << chunkShift) - 1 }
    /// Chunks per chunk group, and chunk groups per mid group (ChunkedArray's fan-out).
    @inline(__always) static var groupShift: Int { 5 }
    @inline(__always) static var groupMask: Int { (1 << groupShift) - 1 }
    /// Chunks under one mid group.
    @inline(__always) static var midChunks: Int { 1 << (2 * groupShift) }

    let count: Int
    /// What an element never written (or dropped) reads as.
    let empty: Element
    private var root: Root
    /// Chunks dropped from the front by `dropChunks(max:)`; no write once it is not 0.
    private var droppedChunks = 0

    /// `count` elements that read as `empty`: allocates the root only.
    init(count: Int, empty: Element) {
        precondition(count >= 0, "a count is not negative")
        self.count = count
        self.empty = empty
        root = Self.make(repeating: nil, count: Self.mids(count: count))
    }

    private static func chunks(count: Int) -> Int { (count + chunkMask) >> chunkShift }
    private static func mids(count: Int) -> Int { Swift.max(1, (chunks(count: count) + midChunks - 1) / midChunks) }

    /// A buffer of `count` elements equal to `element`.
    private static func make<Child>(repeating element: Child, count: Int) -> ArrayChunk<Child> {
        let buffer = ArrayChunk<Child>.make(capacity: count)
        buffer.withUnsafeMutablePointers { initialized, elements in
            elements.initialize(repeating: element, count: count)
            initialized.pointee = count
        }
        return buffer
    }

    /// The first child slot of the group referenced from `slot` (not nil): raw loads, no
    /// retain or release (the layout is checked in `ArrayChunk.make`).
    @inline(__always)
    private static func children<Child>(of slot: UnsafeRawPointer, _: Child.Type) -> UnsafeMutablePointer<Child> {
        let group = slot.load(as: UnsafeMutableRawPointer.self)
        return (group + ArrayChunk<Child>.elementsOffset).assumingMemoryBound(to: Child.self)
    }

    /// The root's mid-group slots, without a retain.
    @inline(__always)
    private var rootChildren: UnsafeMutablePointer<Mid?> {
        (UnsafeMutableRawPointer(Unmanaged.passUnretained(root).toOpaque()) + Root.elementsOffset)
            .assumingMemoryBound(to: Mid?.self)
    }

    @inline(__always)
    subscript(index: Int) -> Element {
        get {
            precondition(index >= 0 && index < count, "index in range")
            let chunk = index &>> Self.chunkShift
            let stride = MemoryLayout<UnsafeRawPointer>.stride
            let mids = UnsafeRawPointer(rootChildren)
            guard
                let mid = mids.load(
                    fromByteOffset: (chunk &>> (2 &* Self.groupShift)) &* stride, as: UnsafeRawPointer?.self),
                let group = (mid + Mid.elementsOffset).load(
                    fromByteOffset: ((chunk &>> Self.groupShift) & Self.groupMask) &* stride,
                    as: UnsafeRawPointer?.self),
                let leaf = (group + Group.elementsOffset).load(
                    fromByteOffset: (chunk & Self.groupMask) &* stride, as: UnsafeRawPointer?.self)
            else { return empty }
            return (leaf + Chunk.elementsOffset).assumingMemoryBound(to: Element.self)[index & Self.chunkMask]
        }
        set {
            uniqueElement(index).pointee = newValue
        }
    }

    /// The address of element `index` after making the root, mid group, chunk group and chunk
    /// on its way exist and be unique to this array.
    @inline(__always)
    private mutating func uniqueElement(_ index: Int) -> UnsafeMutablePointer<Element> {
        precondition(index >= 0 && index < count, "index in range")
        precondition(droppedChunks == 0, "no write once chunks are dropped")
        let chunk = index &>> Self.chunkShift
        if !isKnownUniquelyReferenced(&root) { root = Self.copyGroup(root) }
        let midSlot = rootChildren + (chunk &>> (2 &* Self.groupShift))
        if !isKnownUniquelyReferenced(&midSlot.pointee) {
            midSlot.pointee = midSlot.pointee.map(Self.copyGroup) ?? Self.make(repeating: nil, count: 1 << Self.groupShift)
        }
        let groupSlot = Self.children(of: midSlot, Group?.self) + ((chunk &>> Self.groupShift) & Self.groupMask)
        if !isKnownUniquelyReferenced(&groupSlot.pointee) {
            groupSlot.pointee = groupSlot.pointee.map(Self.copyGroup) ?? Self.make(repeating: nil, count: 1 << Self.groupShift)
        }
        let chunkSlot = Self.children(of: groupSlot, Chunk?.self) + (chunk & Self.groupMask)
        if !isKnownUniquelyReferenced(&chunkSlot.pointee) {
            chunkSlot.pointee = chunkSlot.pointee?.copy() ?? Self.make(repeating: empty, count: Self.chunkMask + 1)
        }
        return Self.children(of: chunkSlot, Element.self) + (index & Self.chunkMask)
    }

    /// A copy of `group` (a root or group of references), its children fetched side by side
    /// before they are retained (`touchObjects`, ChunkedArray.swift).
    private static func copyGroup<Child>(_ group: ArrayChunk<Child>) -> ArrayChunk<Child> {
        group.withUnsafeMutablePointers { count, children in touchObjects(children, count: count.pointee) }
        return group.copy()
    }

    /// Drops this array's references to its chunks front to back, at most `chunksMax` chunk
    /// positions (or skipped groups) a call, with the groups they empty, so that freeing a
    /// large array is spread over many calls instead of one stall. Dropped elements read as
    /// `empty`; the array takes no writes once this was called. Returns whether everything is
    /// dropped (the array then holds only its empty root).
    ///
    /// A group or chunk shared with a copy is only released (the copy keeps it, and frees it
    /// when it goes), and a shared root is replaced by an empty one: O(1) either way.
    mutating func dropChunks(max chunksMax: Int) -> Bool {
        precondition(chunksMax >= 1, "some progress")
        let chunks = Self.chunks(count: count)
        if !isKnownUniquelyReferenced(&root) {
            root = Self.make(repeating: nil, count: Self.mids(count: count))
            droppedChunks = chunks
        }
        var steps = 0
        while droppedChunks < chunks && steps < chunksMax {
            steps += 1
            let chunk = droppedChunks
            let midSlot = rootChildren + (chunk &>> (2 &* Self.groupShift))
            if !isKnownUniquelyReferenced(&midSlot.pointee) {
                // Never written, or shared: nothing below it to free here.
                midSlot.pointee = nil
                droppedChunks = Swift.min(chunks, (chunk | (Self.midChunks - 1)) + 1)
                continue
            }
            let groupSlot = Self.children(of: midSlot, Group?.self) + ((chunk &>> Self.groupShift) & Self.groupMask)
            if !isKnownUniquelyReferenced(&groupSlot.pointee) {
                groupSlot.pointee = nil
                droppedChunks = Swift.min(chunks, (chunk | Self.groupMask) + 1)
            } else {
                (Self.children(of: groupSlot, Chunk?.self) + (chunk & Self.groupMask)).pointee = nil
                droppedChunks = chunk + 1
            }
            // The last chunk of a group, of a mid group, or of the array: drop what it emptied.
            if droppedChunks & Self.groupMask == 0 || droppedChunks == chunks { groupSlot.pointee = nil }
            if droppedChunks & (Self.midChunks - 1) == 0 || droppedChunks == chunks { midSlot.pointee = nil }
        }
        return droppedChunks == chunks
    }
}

extension LazyChunkedArray: @unchecked Sendable where Element: Sendable {}
// Sendable: as ChunkedArray's, groups and chunks are shared between copies only while no copy
// writes them (a write to a shared one copies it first), so a copy handed to another thread is
// never written behind its back.
