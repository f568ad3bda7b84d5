// The id → record index tables of the ledger (accounts, grants, events).
//
// Written by hand rather than using `Dictionary<String, Int32>` because the ledger's
// pattern is "look up, and if absent insert the next index" on every creating request, with
// millions of ids: this table hashes a key once for both steps (Dictionary hashes twice),
// keeps each key's hash in its slot so that growing never hashes a string again, and
// compares strings only when the full hashes match. Hashing is Swift's own seeded `Hasher`,
// so adversarial ids cannot be chosen to collide.

/// An open-addressing table from string ids to dense record indices 0, 1, 2, ... in the
/// order the ids were inserted. Not thread-safe.
struct IdentityTable: Sendable {
    /// The largest number of ids: record indices are 32-bit.
    static let countMax = Int(Int32.max)
    /// Slots are at most half full.
    private static let loadNumerator = 1
    private static let loadDenominator = 2
    private static let capacityMin = 16

    private struct Slot {
        var hash: Int
        /// The record index, or -1 for an empty slot.
        var index: Int32
    }

    /// The result of a look-up: the index found, or where to insert the absent key.
    struct Lookup {
        fileprivate var hash: Int
        fileprivate var slot: Int
        let index: RecordIndex?
    }

    // Chunked so that the first insertion after a snapshot copies one chunk (ChunkedArray.swift).
    private var slots = ChunkedArray<Slot>(repeating: Slot(hash: 0, index: -1), count: capacityMin)
    private(set) var keys = ChunkedArray<String>()

    var count: Int { keys.count }

    subscript(key: String) -> RecordIndex? { find(key).index }

    /// Finds `key`. When absent, the result says where `insert(_:at:)` puts it.
    func find(_ key: String) -> Lookup {
        let hash = key.hashValue
        let mask = slots.count - 1
        var slot = hash & mask
        while true {
            let candidate = slots[slot]
            if candidate.index < 0 { return Lookup(hash: hash, slot: slot, index: nil) }
            if candidate.hash == hash && keys[Int(candidate.index)] == key {
                return Lookup(hash: hash, slot: slot, index: candidate.index)
            }
            slot = (slot + 1) & mask
        }
    }

    /// Inserts the key of an absent look-up, made with no insertion since, and returns its
    /// new index (the previous count).
    mutating func insert(_ key: String, at lookup: Lookup) -> RecordIndex {
        precondition(lookup.index == nil, "the key is absent")
        precondition(keys.count < Self.countMax, "identity table full")
        let index = RecordIndex(keys.count)
        keys.append(key)
        slots[lookup.slot] = Slot(hash: lookup.hash, index: index)
        if keys.count * Self.loadDenominator > slots.count * Self.loadNumerator { grow() }
        return index
    }

    /// Doubles the slots, placing every entry by its stored hash.
    private mutating func grow() {
        var grown = ChunkedArray(repeating: Slot(hash: 0, index: -1), count: slots.count * 2)
        let mask = grown.count - 1
        for entry in slots where entry.index >= 0 {
            var slot = entry.hash & mask
            while grown[slot].index >= 0 { slot = (slot + 1) & mask }
            grown[slot] = entry
        }
        slots = grown
    }
}
