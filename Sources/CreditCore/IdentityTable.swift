// The id → record index tables of the ledger (accounts, grants, events).
//
// Written by hand rather than using `Dictionary<String, Int32>` because the ledger's
// pattern is "look up, and if absent insert the next index" on every creating request, with
// millions of ids: this table hashes a key once for both steps (Dictionary hashes twice),
// keeps 32 bits of each key's hash in its slot so that growing never hashes a string again
// (a table holds at most 2^32 slots, so those bits place a key at any size), and compares
// strings only when those bits match. Hashing is Swift's own seeded `Hasher`, so adversarial
// ids cannot be chosen to collide. A slot is 8 bytes: at 10M ids the slots take 256 MiB.
//
// Growing is incremental, so that no insertion stalls the applying thread (the ledger's
// requests are applied one at a time): doubling 16M slots at once, rehoming ~8M entries, took
// ~330 ms in one insertion. When an insertion passes the load limit, the table starts new
// slots of twice the size (allocated lazily, chunk by chunk: LazyChunkedArray.swift) and keeps
// the old ones read-only beside them; each later insertion moves `migrationStepSlots` old
// slots, in slot order, to the new slots (placed by their stored hash bits, no string hashed
// again), and once all are moved, drops the old slots' chunks `dropStepChunks` at a time.
// Meanwhile a look-up probes the new slots, then the old ones, and an absent key goes into
// the new slots. The old slots are never emptied while they are probed: an emptied slot would
// cut the probe chain of a key stored past it.
//
// No key is ever in the new slots twice, so the key → index answer never depends on which copy
// a probe meets first. By induction: the new slots hold (a) entries moved from old slots
// before the migration cursor and (b) keys inserted since the growth. Each old slot is moved
// once (the cursor only advances) and the old slots hold each key once, so (a) has no key
// twice; a key of (b) was absent from the new and the old slots when it was inserted (its
// `find` probed the new slots, and the old ones unless every old entry was already moved into
// the new ones), so it is in neither (a) nor the old slots, and no later move brings it; and
// (b) has no key twice, since `find` saw each absent from the new slots. (This rests on the
// `insert` contract: its look-up was made with no insertion since.)

/// An open-addressing table from string ids to dense record indices 0, 1, 2, ... in the
/// order the ids were inserted. Not thread-safe.
struct IdentityTable: Sendable {
    /// The largest number of ids: record indices are 32-bit.
    static let countMax = Int(Int32.max)
    /// Slots are at most half full.
    private static let loadNumerator = 1
    private static let loadDenominator = 2
    private static let capacityMin = 16
    /// Old slots moved to the new ones per insertion while the table grows. Growth starts
    /// when an insertion makes the count C/2 + 1 with C old slots; the new 2C slots start
    /// their own growth at count C + 1, C/2 insertions later. Moving the C old slots takes
    /// C/8 insertions and dropping their chunks (512 slots each, at least one) at most
    /// max(1, C/512) more, so each growth is done with at least half of that margin left at
    /// every C ≥ `capacityMin` (16: 2 + 1 of 8). `startGrowth` checks it. 8 slots is a few
    /// cache misses per insertion (about 4 entries placed at random in the new slots; after a
    /// snapshot's copy, a chunk copy each).
    static let migrationStepSlots = 8
    /// Chunks of the old slots (4 KiB each) dropped per insertion once all are moved.
    static let dropStepChunks = 1

    private struct Slot {
        /// The low 32 bits of the key's hash: its home slot at every size.
        var hash: UInt32
        /// The record index, or -1 for an empty slot.
        var index: Int32

        static var empty: Slot { Slot(hash: 0, index: -1) }
    }

    /// The result of a look-up: the index found, or where to insert the absent key.
    struct Lookup {
        fileprivate var hash: UInt32
        fileprivate var slot: Int
        let index: RecordIndex?
    }

    // Chunked so that the first insertion after a snapshot copies one chunk, and lazily
    // allocated so that growing allocates nothing at once (LazyChunkedArray.swift).
    private var slots = LazyChunkedArray<Slot>(count: capacityMin, empty: .empty)
    /// The slots before the last growth, while their entries are moved to `slots`
    /// (`migratedSlots` < their count: read-only, probed by `find`) and then while their
    /// chunks are dropped (no longer probed). nil once the growth is done.
    private var previous: LazyChunkedArray<Slot>?
    /// Old slots moved so far, from slot 0 up.
    private var migratedSlots = 0
    private(set) var keys = ChunkedArray<String>()

    var count: Int { keys.count }

    /// Whether entries of the slots before the last growth are still being moved, so that
    /// `find` probes those too. For tests.
    var isMigrating: Bool { previous.map { migratedSlots < $0.count } ?? false }
    /// Whether the last growth is still under way (moving entries or dropping old chunks).
    /// For tests.
    var isGrowing: Bool { previous != nil }

    /// An empty table.
    init() {}

    subscript(key: String) -> RecordIndex? { find(key).index }

    /// Finds `key`. When absent, the result says where `insert(_:at:)` puts it.
    func find(_ key: String) -> Lookup {
        let hash = Self.hash(key)
        let (slot, index) = probe(slots, for: key, hash: hash)
        if index == nil, let previous, migratedSlots < previous.count {
            return Lookup(hash: hash, slot: slot, index: probe(previous, for: key, hash: hash).index)
        }
        return Lookup(hash: hash, slot: slot, index: index)
    }

    /// Probes `table` from `key`'s home: the slot holding it and its index, or the first
    /// empty slot on its way (the table is at most half full, so there is one).
    @inline(__always)
    private func probe(
        _ table: borrowing LazyChunkedArray<Slot>, for key: String, hash: UInt32
    ) -> (slot: Int, index: RecordIndex?) {
        let mask = table.count - 1
        var slot = Int(hash) & mask
        while true {
            let candidate = table[slot]
            if candidate.index < 0 { return (slot, nil) }
            if candidate.hash == hash && keys[Int(candidate.index)] == key { return (slot, candidate.index) }
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
        if previous != nil { continueGrowth() }
        if keys.count * Self.loadDenominator > slots.count * Self.loadNumerator { startGrowth() }
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
        // Sort keys: the hash in the high 32 bits (its low bits are the home slot), the index in
        // the low; sorted by home alone, so ties keep index order. The hash travels with the
        // entry: reading it from an array by index would be a cache miss per key.
        var order = [UInt64](repeating: 0, count: keys.count)
        for (index, key) in keys.enumerated() {
            order[index] = UInt64(Self.hash(key)) << 32 | UInt64(index)
        }
        Self.radixSortHighHalf(&order, bits: mask.nonzeroBitCount)
        var slots = LazyChunkedArray(count: capacity, empty: Slot.empty)
        var next = 0  // every slot from the current home up to `next` is taken
        var runStart = 0  // first entry of `order` with the current home
        var wrapped: [Slot] = []  // entries whose run passes the last slot
        for position in order.indices {
            let hash = UInt32(truncatingIfNeeded: order[position] >> 32)
            let home = Int(hash) & mask
            let index = Int32(truncatingIfNeeded: order[position])
            if position > 0 && home != Int(UInt32(truncatingIfNeeded: order[position - 1] >> 32)) & mask {
                runStart = position
            }
            // A key given twice has equal hashes, so the same home: compare within the run.
            for earlier in runStart..<position where UInt32(truncatingIfNeeded: order[earlier] >> 32) == hash {
                let other = Int(UInt32(truncatingIfNeeded: order[earlier]))
                if keys[other] == keys[Int(index)] { throw DuplicateKey(index: max(other, Int(index))) }
            }
            let slot = max(home, next)
            if slot > mask {
                wrapped.append(Slot(hash: hash, index: index))
                continue
            }
            slots[slot] = Slot(hash: hash, index: index)
            next = slot + 1
        }
        // Runs that pass the last slot continue at slot 0, after whatever is there.
        for entry in wrapped {
            var slot = 0
            while slots[slot].index >= 0 { slot += 1 }  // at most half full: a slot is free
            slots[slot] = entry
        }
        self.slots = slots
        self.keys = keys
    }

    /// A key given twice to `init(bulk:)`: the index of its later occurrence.
    struct DuplicateKey: Error, Equatable {
        let index: Int
    }

    /// Sorts `values` by the low `bits` of their high 32 bits (the bits above those do not
    /// order), keeping the order of equal ones (LSD radix sort, 11 bits a pass).
    private static func radixSortHighHalf(_ values: inout [UInt64], bits: Int) {
        let digitBits = 11
        var scratch = [UInt64](repeating: 0, count: values.count)
        var shift = 32
        while shift < 32 + bits {
            var counts = [Int](repeating: 0, count: (1 << digitBits) + 1)
            // The last digit stops at `bits`: the bits above do not order.
            let digitMask = UInt64((1 << min(digitBits, 32 + bits - shift)) - 1)
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

    /// Starts doubling the slots: the current ones become the old slots, moved to the new ones
    /// over the next insertions (`continueGrowth`).
    private mutating func startGrowth() {
        // The margin argued at `migrationStepSlots`.
        precondition(previous == nil, "the previous growth is done before the next starts")
        let grown = LazyChunkedArray(count: slots.count * 2, empty: Slot.empty)
        previous = slots
        slots = grown
        migratedSlots = 0
    }

    /// One insertion's share of the growth under way: moves the next `migrationStepSlots`
    /// old slots' entries, or once all are moved, drops `dropStepChunks` old chunks.
    private mutating func continueGrowth() {
        let previousCount = previous!.count
        if migratedSlots < previousCount {
            let end = min(migratedSlots + Self.migrationStepSlots, previousCount)
            for position in migratedSlots..<end {
                let entry = previous![position]
                if entry.index >= 0 { place(entry) }
            }
            migratedSlots = end
        } else if previous!.dropChunks(max: Self.dropStepChunks) {
            previous = nil
        }
    }

    /// Places an entry moved from the old slots at the first empty slot from its home. Its key
    /// is not in the new slots (see the file's opening), so no key is compared.
    private mutating func place(_ entry: Slot) {
        let mask = slots.count - 1
        var slot = Int(entry.hash) & mask
        while slots[slot].index >= 0 { slot = (slot + 1) & mask }
        slots[slot] = entry
    }
}
