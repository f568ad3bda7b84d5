// A growable array stored as fixed-size chunks, each copied on write on its own.
//
// Why: the journal snapshots the ledger by copying it (O(1): a `Ledger` is a value) and
// serializing the copy on another thread. With plain arrays, the applying thread's next
// write to a million-element table then copies the whole table (hundreds of megabytes: a
// stall of seconds, measured). Here a write after a copy copies the small array of chunk
// references once per table, and then only the chunk it touches: tens of microseconds.
// Reads cost one shift, one mask and one more pointer hop than an Array's.

/// One chunk: a tail-allocated buffer of up to `ChunkedArray.chunkCapacity` elements; the
/// header counts the initialized ones.
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

    static func make() -> ArrayChunk<Element> {
        // `create` returns the ManagedBuffer subclass it was called on.
        let chunk = unsafeDowncast(
            ArrayChunk<Element>.create(minimumCapacity: ChunkedArray<Element>.chunkCapacity) { _ in 0 },
            to: ArrayChunk<Element>.self)
        chunk.withUnsafeMutablePointerToElements { elements in
            precondition(
                UnsafeRawPointer(elements) - UnsafeRawPointer(Unmanaged.passUnretained(chunk).toOpaque()) == elementsOffset,
                "ManagedBuffer layout as assumed by ChunkedArray's reads")
        }
        return chunk
    }

    func copy() -> ArrayChunk<Element> {
        let copy = Self.make()
        withUnsafeMutablePointers { count, elements in
            copy.withUnsafeMutablePointers { copyCount, copyElements in
                copyElements.initialize(from: elements, count: count.pointee)
                copyCount.pointee = count.pointee
            }
        }
        return copy
    }
}

/// One group of a `ChunkedArray`: up to `groupCapacity` chunk references, tail-allocated
/// (a ManagedBuffer rather than a class with an array property: no dynamic exclusivity
/// checks and one pointer hop less on every access); the header counts them.
final class ChunkGroup<Element>: ManagedBuffer<Int, ArrayChunk<Element>> {
    deinit {
        _ = withUnsafeMutablePointers { count, chunks in chunks.deinitialize(count: count.pointee) }
    }

    /// Bytes from the object's address to its first chunk reference (see `ArrayChunk`).
    static var elementsOffset: Int { 24 }

    static func make() -> ChunkGroup<Element> {
        let group = unsafeDowncast(
            ChunkGroup<Element>.create(minimumCapacity: 1 << ChunkedArray<Element>.groupShift) { _ in 0 },
            to: ChunkGroup<Element>.self)
        group.withUnsafeMutablePointerToElements { chunks in
            precondition(
                UnsafeRawPointer(chunks) - UnsafeRawPointer(Unmanaged.passUnretained(group).toOpaque()) == elementsOffset,
                "ManagedBuffer layout as assumed by ChunkedArray's reads")
        }
        return group
    }

    func copy() -> ChunkGroup<Element> {
        let copy = Self.make()
        withUnsafeMutablePointers { count, chunks in
            copy.withUnsafeMutablePointers { copyCount, copyChunks in
                copyChunks.initialize(from: chunks, count: count.pointee)
                copyCount.pointee = count.pointee
            }
        }
        return copy
    }
}

/// An array of chunks of `chunkCapacity` elements, in groups of `groupCapacity` chunks.
/// Value semantics: copying is O(1) (one array of group references), and the first write
/// after a copy copies that array (tens of groups), the group written to (512 references)
/// and the chunk written to (512 elements): microseconds, whatever the count.
/// Not thread-safe for writes, like `Array`; copies may be read on other threads.
struct ChunkedArray<Element>: RandomAccessCollection, MutableCollection {
    /// Elements per chunk (a power of two): a chunk of 300-byte account records is ~150 KiB.
    static var chunkCapacity: Int { 1 << chunkShift }
    static var chunkShift: Int { 9 }
    static var chunkMask: Int { chunkCapacity - 1 }
    /// Chunks per group: 512 chunks of 512 elements, 262,144 elements a group.
    static var groupShift: Int { 9 }
    static var groupMask: Int { (1 << groupShift) - 1 }

    typealias Index = Int
    typealias Indices = Range<Int>

    private var groups: [ChunkGroup<Element>] = []
    private(set) var count = 0

    init() {}

    init(repeating element: Element, count: Int) {
        precondition(count >= 0, "a count is not negative")
        for _ in 0..<count { append(element) }
    }

    var startIndex: Int { 0 }
    var endIndex: Int { count }
    var isEmpty: Bool { count == 0 }

    // A yielding read rather than get: reading one field of a 300-byte record then loads that
    // field in place, as with Array, instead of copying (and retaining) the whole record.
    @inline(__always)
    subscript(index: Int) -> Element {
        _read {
            precondition(index >= 0 && index < count, "index in range")
            // Raw loads instead of class references: no retain and release per read. The
            // layout is checked in `make`.
            let chunk = index &>> Self.chunkShift
            let element = groups.withUnsafeBytes { raw in
                let group = raw.load(fromByteOffset: (chunk &>> Self.groupShift) &* 8, as: UnsafeRawPointer.self)
                let leaf = (group + ChunkGroup<Element>.elementsOffset)
                    .load(fromByteOffset: (chunk & Self.groupMask) &* 8, as: UnsafeRawPointer.self)
                return (leaf + ArrayChunk<Element>.elementsOffset).assumingMemoryBound(to: Element.self)
                    + (index & Self.chunkMask)
            }
            yield element.pointee
        }
        _modify {
            precondition(index >= 0 && index < count, "index in range")
            let element = uniqueElement(index)
            yield &element.pointee
        }
    }

    /// The address of element `index` after making its group and chunk unique to this array.
    /// Uniqueness is checked on the reference slots in place, and addresses are computed from
    /// raw loads, so that the common case (nothing shared) does no retain or release.
    @inline(__always)
    private mutating func uniqueElement(_ index: Int) -> UnsafeMutablePointer<Element> {
        let chunk = index &>> Self.chunkShift
        return groups.withUnsafeMutableBufferPointer { buffer in
            let groupSlot = buffer.baseAddress! + (chunk &>> Self.groupShift)
            if !isKnownUniquelyReferenced(&groupSlot.pointee) { groupSlot.pointee = groupSlot.pointee.copy() }
            let group = UnsafeMutableRawPointer(groupSlot).load(as: UnsafeMutableRawPointer.self)
            let chunkSlot = (group + ChunkGroup<Element>.elementsOffset)
                .assumingMemoryBound(to: ArrayChunk<Element>.self) + (chunk & Self.groupMask)
            if !isKnownUniquelyReferenced(&chunkSlot.pointee) { chunkSlot.pointee = chunkSlot.pointee.copy() }
            let leaf = UnsafeMutableRawPointer(chunkSlot).load(as: UnsafeMutableRawPointer.self)
            return (leaf + ArrayChunk<Element>.elementsOffset).assumingMemoryBound(to: Element.self)
                + (index & Self.chunkMask)
        }
    }

    mutating func append(_ value: Element) {
        if count & Self.chunkMask == 0 {
            if (count &>> Self.chunkShift) & Self.groupMask == 0 {
                groups.append(ChunkGroup<Element>.make())
            } else if !isKnownUniquelyReferenced(&groups[groups.count - 1]) {
                groups[groups.count - 1] = groups[groups.count - 1].copy()
            }
            groups[groups.count - 1].withUnsafeMutablePointers { chunkCount, chunks in
                (chunks + chunkCount.pointee).initialize(to: ArrayChunk<Element>.make())
                chunkCount.pointee += 1
            }
        }
        count += 1
        let element = uniqueElement(count - 1)
        let position = (count - 1) & Self.chunkMask
        groups[groups.count - 1].withUnsafeMutablePointers { chunkCount, chunks in
            chunks[chunkCount.pointee - 1].withUnsafeMutablePointers { initialized, _ in
                precondition(initialized.pointee == position, "chunks fill in order")
                element.initialize(to: value)
                initialized.pointee = position + 1
            }
        }
    }

    /// Removes and returns the last element.
    mutating func removeLast() -> Element {
        precondition(count > 0, "not empty")
        _ = uniqueElement(count - 1)
        count -= 1
        let emptiesChunk = count & Self.chunkMask == 0
        let (element, groupEmpty) = groups[groups.count - 1].withUnsafeMutablePointers { chunkCount, chunks in
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
        if groupEmpty { groups.removeLast() }
        return element
    }

    mutating func reserveCapacity(_ minimumCapacity: Int) {}
}

extension ChunkedArray: @unchecked Sendable where Element: Sendable {}
// Sendable: chunks are shared between copies only while no copy writes them (a write to a
// shared chunk copies it first, as Array's buffer), so a copy handed to another thread is
// never written behind its back.
