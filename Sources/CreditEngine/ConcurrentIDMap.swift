// A fixed-capacity, lock-free map from string ids to dense slot indices, for the engine's
// hot path (event ids of reserves and charges, account ids). Written by hand: no package
// served here offers a concurrent hash map, and the engine needs one with no lock and no
// allocation per look-up.
//
// Open addressing over `Atomic<UInt64>` slots: 0 is empty; otherwise the low 32 bits hold
// `index + 1` and the high 32 bits a tag of the key's hash. A key's string is written to
// `keys[index]` before the slot is published with a releasing compare-and-swap, so a reader
// that acquires the slot sees the string. Entries are never removed: an index, once given,
// belongs to its key for the life of the map.

import Synchronization

final class ConcurrentIDMap: @unchecked Sendable {
    // Safe to share: slots are atomics; `keys[i]` is written once, by the thread that then
    // publishes slot → i with release ordering, and read only after an acquiring load of
    // such a slot.

    /// Slots are kept at most half full, so probes stay short.
    static let slotsPerEntry = 2

    let capacity: Int
    private let slotMask: Int
    private let slots: UnsafeMutablePointer<Atomic<UInt64>>
    private let keys: UnsafeMutablePointer<String>
    /// The next index to hand out; may pass `capacity` when full (then inserts fail).
    private let nextIndex = Atomic<Int>(0)

    /// A map for at most `capacity` ids (1 ... 2^30).
    init(capacity: Int) {
        precondition(capacity >= 1 && capacity <= 1 << 30, "id map capacity out of range")
        self.capacity = capacity
        var slotCount = 16
        while slotCount < capacity * Self.slotsPerEntry { slotCount <<= 1 }
        slotMask = slotCount - 1
        slots = .allocate(capacity: slotCount)
        for index in 0..<slotCount { (slots + index).initialize(to: Atomic(0)) }
        keys = .allocate(capacity: capacity)
    }

    deinit {
        let published = min(nextIndex.load(ordering: .acquiring), capacity)
        // Only indices that were written hold strings; a reserved but unpublished index was
        // still written before its publication attempt (see `findOrInsert`).
        keys.deinitialize(count: published)
        keys.deallocate()
        slots.deinitialize(count: slotMask + 1)
        slots.deallocate()
    }

    @inline(__always)
    private static func tag(_ hash: Int) -> UInt64 { UInt64(UInt32(truncatingIfNeeded: hash >> 32)) << 32 }

    /// The index of `key`, or nil. Safe from any thread.
    func find(_ key: String) -> Int? {
        let hash = key.hashValue
        let tag = Self.tag(hash)
        var slot = hash & slotMask
        while true {
            let entry = slots[slot].load(ordering: .acquiring)
            if entry == 0 { return nil }
            if entry & 0xFFFF_FFFF_0000_0000 == tag {
                let index = Int(entry & 0xFFFF_FFFF) - 1
                if keys[index] == key { return index }
            }
            slot = (slot + 1) & slotMask
        }
    }

    enum Insertion {
        case inserted(Int)
        case existing(Int)
        case full
    }

    /// Finds `key`, or inserts it with a new index. Safe from any thread; when two threads
    /// insert one key at once, one inserts and the other finds it.
    func findOrInsert(_ key: String) -> Insertion {
        let hash = key.hashValue
        let tag = Self.tag(hash)
        var slot = hash & slotMask
        var reserved = -1
        while true {
            let entry = slots[slot].load(ordering: .acquiring)
            if entry == 0 {
                if reserved < 0 {
                    reserved = nextIndex.wrappingAdd(1, ordering: .relaxed).oldValue
                    if reserved >= capacity { return .full }
                    (keys + reserved).initialize(to: key)
                }
                let (exchanged, current) = slots[slot].compareExchange(
                    expected: 0, desired: tag | UInt64(reserved + 1), ordering: .acquiringAndReleasing)
                if exchanged { return .inserted(reserved) }
                // Another key took the slot: look at what it holds, then go on probing.
                if current & 0xFFFF_FFFF_0000_0000 == tag, keys[Int(current & 0xFFFF_FFFF) - 1] == key {
                    // The reserved index stays unused; it is counted and never reached.
                    return .existing(Int(current & 0xFFFF_FFFF) - 1)
                }
            } else if entry & 0xFFFF_FFFF_0000_0000 == tag {
                let index = Int(entry & 0xFFFF_FFFF) - 1
                if keys[index] == key { return .existing(index) }
            }
            slot = (slot + 1) & slotMask
        }
    }

    /// The key at `index`. Only for indices returned by this map.
    func key(at index: Int) -> String { keys[index] }

    // MARK: - Snapshots (CreditEngine+Snapshot.swift)

    /// How many indices were handed out (used or left as holes), at most `capacity`. Safe
    /// from any thread; a snapshot reads it while no insert runs.
    var handedOutCount: Int { min(nextIndex.load(ordering: .acquiring), capacity) }

    /// Calls `body` with every published key and its index, in slot order (not index order).
    /// Safe from any thread, during inserts too: a key inserted meanwhile may or may not be
    /// seen; one published before the call is seen.
    func forEachEntry(_ body: (String, Int) -> Void) {
        for slot in 0...slotMask {
            // Acquiring: pairs with the publishing exchange, so the key's string is visible.
            let entry = slots[slot].load(ordering: .acquiring)
            if entry == 0 { continue }
            let index = Int(entry & 0xFFFF_FFFF) - 1
            body(keys[index], index)
        }
    }

    /// Starts filling a new map from a snapshot: the next insert will get index
    /// `handedOutCount`; indices below it without a restored entry stay unused (holes, as a
    /// failed race leaves). Then `restoreEntry` for each entry. Only on a new map, before it
    /// is shared (publishing the engine that owns it orders these writes before any reader).
    func beginRestore(handedOutCount: Int) {
        precondition(nextIndex.load(ordering: .relaxed) == 0, "restore fills a new map only")
        precondition(handedOutCount >= 0 && handedOutCount <= capacity, "handed-out count within capacity")
        // Every index below the handed-out count holds a string: deinit releases them all.
        keys.initialize(repeating: "", count: handedOutCount)
        nextIndex.store(handedOutCount, ordering: .relaxed)
    }

    /// Puts `key` at `index` (below the handed-out count); false, changing nothing, when the
    /// key is already there or the index taken (a damaged snapshot). After `beginRestore`,
    /// before the map is shared.
    func restoreEntry(_ key: String, at index: Int) -> Bool {
        guard index >= 0, index < nextIndex.load(ordering: .relaxed), keys[index].isEmpty, !key.isEmpty,
            find(key) == nil
        else { return false }
        keys[index] = key
        let hash = key.hashValue
        var slot = hash & slotMask
        while slots[slot].load(ordering: .relaxed) != 0 { slot = (slot + 1) & slotMask }
        slots[slot].store(Self.tag(hash) | UInt64(index + 1), ordering: .relaxed)
        return true
    }
}
