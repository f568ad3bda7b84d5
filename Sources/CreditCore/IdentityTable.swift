// The id → record index tables of the ledger (accounts, grants, events).
//
// Written by hand rather than using `Dictionary<String, Int32>` because the ledger's
// pattern is "look up, and if absent insert the next index" on every creating request, with
// millions of ids: this table hashes a key once for both steps (Dictionary hashes twice),
// keeps 32 bits of each key's hash in its slot so that growing never hashes a string again
// (a table holds at most 2^32 slots, so those bits place a key at any size), and compares
// strings only when those bits match. Hashing is Swift's own seeded `Hasher`, so adversarial
// ids cannot be chosen to collide. A slot is 8 bytes: at 10M ids the slots take 256 MiB.

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
        /// The low 32 bits of the key's hash: its home slot at every size.
        var hash: UInt32
        /// The record index, or -1 for an empty slot.
        var index: Int32
    }

    /// The result of a look-up: the index found, or where to insert the absent key.
    struct Lookup {
        fileprivate var hash: UInt32
        fileprivate var slot: Int
        let index: RecordIndex?
    }

    // Chunked so that the first insertion after a snapshot copies one chunk (ChunkedArray.swift).
    private var slots = ChunkedArray<Slot>(repeating: Slot(hash: 0, index: -1), count: capacityMin)
    private(set) var keys = ChunkedArray<String>()

    var count: Int { keys.count }

    /// An empty table.
    init() {}

    subscript(key: String) -> RecordIndex? { find(key).index }

    /// Finds `key`. When absent, the result says where `insert(_:at:)` puts it.
    func find(_ key: String) -> Lookup {
        let hash = Self.hash(key)
        let mask = slots.count - 1
        var slot = Int(hash) & mask
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

    /// The 32 bits of `key`'s seeded hash that a slot keeps.
    @inline(__always)
    private static func hash(_ key: String) -> UInt32 { UInt32(truncatingIfNeeded: key.hashValue) }

    /// The table of `keys`, `keys[i]` at index `i`, built in one pass instead of one
    /// insertion per key: a snapshot restores tables of millions of ids (README, "Recovery").
    ///
    /// Why not insert one by one: the table then doubles ~20 times on the way to 10M ids,
    /// rehoming every entry each time, and each insertion lands on a random cache line (and
    /// page) of hundreds of megabytes. Here the slots are sized once, the keys are hashed in
    /// index order, sorted by home slot (a radix sort of 8-byte pairs), and placed in that
    /// order, so the slots are written front to back. Linear probing finds a key from its
    /// home through a run of occupied slots, whatever order the run was filled in, so the
    /// table answers exactly as one built by insertions.
    ///
    /// Throws the index of the second occurrence of a key given twice (the table is then not
    /// built). `keys.count` must be at most `countMax`.
    init(bulk keys: ChunkedArray<String>) throws(DuplicateKey) {
        precondition(keys.count <= Self.countMax, "identity table full")
        var capacity = Self.capacityMin
        while keys.count * Self.loadDenominator > capacity * Self.loadNumerator { capacity *= 2 }
        let mask = capacity - 1
        var hashes = [UInt32](repeating: 0, count: keys.count)
        // Sort keys: home slot in the high 32 bits, index in the low: ties keep index order.
        var order = [UInt64](repeating: 0, count: keys.count)
        for (index, key) in keys.enumerated() {
            let hash = Self.hash(key)
            hashes[index] = hash
            order[index] = UInt64(UInt32(Int(hash) & mask)) << 32 | UInt64(index)
        }
        Self.radixSortHighHalf(&order, bits: mask.nonzeroBitCount)
        var slots = ChunkedArray(repeating: Slot(hash: 0, index: -1), count: capacity)
        var next = 0  // every slot from the current home up to `next` is taken
        var runStart = 0  // first entry of `order` with the current home
        var wrapped: [Int32] = []  // entries whose run passes the last slot
        for position in order.indices {
            let home = Int(order[position] >> 32)
            let index = Int32(truncatingIfNeeded: order[position])
            if position > 0 && home != Int(order[position - 1] >> 32) { runStart = position }
            // A key given twice has equal hashes, so the same home: compare within the run.
            for earlier in runStart..<position {
                let other = Int(UInt32(truncatingIfNeeded: order[earlier]))
                if hashes[other] == hashes[Int(index)] && keys[other] == keys[Int(index)] {
                    throw DuplicateKey(index: max(other, Int(index)))
                }
            }
            let slot = max(home, next)
            if slot > mask {
                wrapped.append(index)
                continue
            }
            slots[slot] = Slot(hash: hashes[Int(index)], index: index)
            next = slot + 1
        }
        // Runs that pass the last slot continue at slot 0, after whatever is there.
        for index in wrapped {
            var slot = 0
            while slots[slot].index >= 0 { slot += 1 }  // at most half full: a slot is free
            slots[slot] = Slot(hash: hashes[Int(index)], index: index)
        }
        self.slots = slots
        self.keys = keys
    }

    /// A key given twice to `init(bulk:)`: the index of its later occurrence.
    struct DuplicateKey: Error, Equatable {
        let index: Int
    }

    /// Sorts `values` by their high 32 bits, of which only the low `bits` may be set, keeping
    /// the order of equal ones (LSD radix sort, 11 bits a pass).
    private static func radixSortHighHalf(_ values: inout [UInt64], bits: Int) {
        let digitBits = 11
        var scratch = [UInt64](repeating: 0, count: values.count)
        var shift = 32
        while shift < 32 + bits {
            var counts = [Int](repeating: 0, count: (1 << digitBits) + 1)
            let digitMask = UInt64((1 << digitBits) - 1)
            for value in values { counts[Int((value >> UInt64(shift)) & digitMask) + 1] += 1 }
            for digit in 1..<counts.count { counts[digit] += counts[digit - 1] }
            for value in values {
                let digit = Int((value >> UInt64(shift)) & digitMask)
                scratch[counts[digit]] = value
                counts[digit] += 1
            }
            swap(&values, &scratch)
            shift += digitBits
        }
    }

    /// Doubles the slots, placing every entry by its stored hash.
    private mutating func grow() {
        var grown = ChunkedArray(repeating: Slot(hash: 0, index: -1), count: slots.count * 2)
        let mask = grown.count - 1
        for entry in slots where entry.index >= 0 {
            var slot = Int(entry.hash) & mask
            while grown[slot].index >= 0 { slot = (slot + 1) & mask }
            grown[slot] = entry
        }
        slots = grown
    }
}
