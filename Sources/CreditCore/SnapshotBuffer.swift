// The bytes a ledger snapshot is decoded from, as one immutable block of memory with an owner.
//
// Why not `[UInt8]`: recovery maps the snapshot file (mmap) rather than reading it, which
// skips copying hundreds of megabytes into fresh memory (869 MB: 0.46-0.50 s read, 0.02 s
// mapped, from the page cache; measured on this VM), and a restored ledger keeps referring to
// the bytes of its still-encoded events (EventTable.swift) for as long as it lives. Whoever
// makes a buffer says how its memory is given back.

/// Immutable snapshot bytes and what to do with them when the last reference goes.
///
/// The memory must not change while the buffer lives: copies of a restored ledger read it from
/// several threads, without locks. (A mapped file must not be written or truncated meanwhile;
/// the journal never writes a published snapshot.)
public final class SnapshotBuffer: @unchecked Sendable {
    // Sendable: the bytes are never written after `init`, and `release` runs once, in deinit.
    /// The bytes.
    public let bytes: UnsafeRawBufferPointer
    private let release: @Sendable (UnsafeRawBufferPointer) -> Void

    /// A buffer over `bytes`, which `release` gives back when the buffer is gone.
    public init(bytes: UnsafeRawBufferPointer, release: @escaping @Sendable (UnsafeRawBufferPointer) -> Void) {
        self.bytes = bytes
        self.release = release
    }

    /// A buffer holding a copy of `source`.
    public convenience init(copying source: some Collection<UInt8>) {
        let count = source.count
        let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(1, count), alignment: 16)
        memory.copyBytes(from: source)
        let address = UInt(bitPattern: memory.baseAddress)
        self.init(bytes: UnsafeRawBufferPointer(start: memory.baseAddress, count: count)) { _ in
            UnsafeMutableRawPointer(bitPattern: address)?.deallocate()
        }
    }

    /// The bytes of `parent` from `offset` on, keeping `parent` alive.
    public convenience init(_ parent: SnapshotBuffer, from offset: Int) {
        precondition(offset >= 0 && offset <= parent.bytes.count, "an offset inside the parent")
        self.init(bytes: UnsafeRawBufferPointer(rebasing: parent.bytes[offset...])) { _ in
            withExtendedLifetime(parent) {}
        }
    }

    deinit { release(bytes) }
}
