// A shard: a `Ledger` holding its accounts' grant-level bookkeeping, the queue of admitted
// hot-path operations not yet settled into it, and the gate that separates the hot path
// from the shard's slow path.
//
// The gate is one atomic: the count of hot-path operations in flight, and a closed bit. A
// hot-path operation enters (count + 1) and leaves (count - 1); it takes the slow path when
// it finds the gate closed. The slow path, holding the shard's lock, closes the gate, waits
// until nothing is in flight, and only then settles the queue and changes the ledger, the
// account profiles and the admission words, so those never change under a hot-path
// operation. A hot-path operation never waits on the lock.

import CreditCore
import Synchronization

#if canImport(Darwin)
    import Darwin
#else
    import Glibc
#endif

/// What the hot path reads of an account besides its admission word. Written only while the
/// account's shard gate is closed; read only inside the gate.
struct AccountProfile {
    var active = false
    /// The account's figures do not fit the admission word, or it needs the shard for every
    /// operation: no hot path.
    var alwaysSlow = true
    var overdraft: Int64 = 0
    /// The period cap, or -1 for none.
    var periodCap: Int64 = -1
    var capIsHard = true
    /// A request by item refused for credits or the cap tries the fallback chain: the ledger
    /// answers it.
    var downgrade = false
}

/// Per event slot: the rate-card version a reservation by item was priced with (its index in
/// the ledger's rate card) and the item's number in that version's pricing snapshots, so that
/// its commit by usage can be priced without the ledger. `versionIndex` -1: by amount, or not
/// known to the engine (the ledger prices its commit by usage).
struct EventPricing {
    var versionIndex: Int32
    var itemIndex: Int32

    static let none = EventPricing(versionIndex: -1, itemIndex: -1)
}

/// The state behind a shard's lock.
struct ShardState {
    var ledger = Ledger()
    /// Drained from the queue, in settlement order, not yet applied to the ledger. Empty
    /// between requests, except after a snapshot's capture, which drains and orders the queue
    /// but leaves the applying to the shard's next settle (CreditEngine+Snapshot.swift).
    var pending: [SettleOp] = []
    /// Per account of the shard (`slot >> shardShift`): the sequence number of its last
    /// operation put in settlement order (settled, or in `pending`). Flat, sized at start-up:
    /// no hashing per settled operation.
    var settledSequence: [UInt16]
    /// Scratch for checking a drained batch's order: the sequences it overwrote.
    var overwrittenSequences: [UInt16] = []
    /// The shard's accounts, by slot.
    var accountSlots: [Int32] = []
    /// The UTC day of the ledger's time when the words were last refreshed.
    var dayIndex: Int64 = -1
    /// Accounts to refresh after the current request besides those the ledger touched
    /// (pause and resume touch no figure the ledger tracks for alerts).
    var refreshAlso: [Int32] = []
    /// Hot-path operations settled, and slow-path entries: for statistics.
    var settledOperationCount = 0
    var slowPathCount = 0
    /// Operations the latest settle applied (`CreditEngine.settle()` sums them).
    var lastSettledCount = 0
    /// The pricing snapshot the hot path reads (`Shard.pricing`), owned here so that the
    /// hot path reads it without retaining it.
    var pricing: PricingSnapshot?
    /// Deadlines of the shard's reservations that hold open-reservation counts.
    var expiries = ExpiryHeap()

    init(accountCount: Int, queueCapacity: Int) {
        precondition(accountCount >= 1, "a shard holds at least one account slot")
        settledSequence = Array(repeating: 0, count: accountCount)
        pending.reserveCapacity(queueCapacity)
        overwrittenSequences.reserveCapacity(queueCapacity)
    }
}

final class Shard: @unchecked Sendable {
    // Safe to share: its mutable parts are atomics, the queue (see `SettleRing`) and `state`
    // behind its lock.
    /// The gate's closed bit; the bits below count operations in flight.
    static let closedBit = 1 << 40
    /// Spins before yielding the processor while waiting for operations in flight.
    static let spinsBeforeYield = 64

    let index: Int
    let gate = Atomic<Int>(0)
    /// The earliest time at which something is due in this shard (an expiry or a UTC day
    /// boundary): a hot-path operation at or after it takes the slow path.
    let nextDeadline = Atomic<Int64>(Int64.max)
    let queue: SettleRing
    let state: Locked<ShardState>
    /// The rate-card version in force, for pricing by item on the hot path. Written only
    /// while the gate is closed (`publishPricing`), read only inside the gate; the strong
    /// reference is `ShardState.pricing`, so the hot path reads it unretained.
    private var pricingReference: Unmanaged<PricingSnapshot>?

    /// A shard for `accountCount` account slots (`slot >> shardShift` below it).
    init(index: Int, queueCapacity: Int, accountCount: Int) {
        self.index = index
        queue = SettleRing(capacity: queueCapacity)
        state = Locked(ShardState(accountCount: accountCount, queueCapacity: queueCapacity))
    }

    /// Enters the gate for a hot-path operation; false when the gate is closed.
    @inline(__always)
    func enter() -> Bool {
        // Acquiring: pairs with `open`'s release, so the slow path's writes are visible.
        let old = gate.wrappingAdd(1, ordering: .acquiringAndReleasing).oldValue
        if old & Self.closedBit == 0 { return true }
        gate.wrappingSubtract(1, ordering: .releasing)
        return false
    }

    /// Leaves the gate. Releasing: the slow path that waits for the count sees every write.
    @inline(__always)
    func leave() {
        gate.wrappingSubtract(1, ordering: .releasing)
    }

    /// Closes the gate and waits until no hot-path operation is in flight. Holding the lock.
    func close() {
        let old = gate.bitwiseOr(Self.closedBit, ordering: .acquiringAndReleasing).oldValue
        precondition(old & Self.closedBit == 0, "the gate is closed by the lock holder only")
        var spins = 0
        while gate.load(ordering: .acquiring) != Self.closedBit {
            spins += 1
            if spins >= Self.spinsBeforeYield {
                sched_yield()
                spins = 0
            }
        }
    }

    /// Replaces the hot path's pricing snapshot. Holding the lock, with the gate closed:
    /// `state.pricing` must be the same snapshot, to keep it alive.
    func publishPricing(_ snapshot: PricingSnapshot) {
        precondition(gate.load(ordering: .relaxed) == Self.closedBit, "pricing changes with the gate closed and empty")
        pricingReference = Unmanaged.passUnretained(snapshot)
    }

    /// Prices one use of an item at `t` with the published snapshot: the cost, the version, and
    /// what prices the reservation's commit by usage later (`priceCommit`), or nil when the
    /// ledger must answer (no snapshot, `t` outside its interval, no version in force, unknown
    /// item or meter, cost above 10^12). Inside the gate only.
    @inline(__always)
    func price(_ item: String, usage: Usage?, at t: Milliseconds) -> (credits: Credits, version: String, pricing: EventPricing)? {
        guard let reference = pricingReference else { return nil }
        return reference._withUnsafeGuaranteedRef { snapshot in
            guard snapshot.holds(at: t), let version = snapshot.version,
                let (credits, itemIndex) = snapshot.price(item, usage: usage)
            else { return nil }
            return (credits, version, EventPricing(versionIndex: snapshot.versionIndex, itemIndex: itemIndex))
        }
    }

    /// Prices a commit by usage of a reservation priced with `pricing`, as the ledger does: by
    /// the reservation's version, whatever version is in force at the commit. Only while the
    /// published snapshot is of that version (it numbers the item alike); nil otherwise, or
    /// when the ledger must answer (a meter the item lacks, a cost above 10^12). Inside the
    /// gate only.
    @inline(__always)
    func priceCommit(_ pricing: EventPricing, usage: Usage) -> Credits? {
        guard pricing.versionIndex >= 0, let reference = pricingReference else { return nil }
        return reference._withUnsafeGuaranteedRef { snapshot in
            guard snapshot.versionIndex == pricing.versionIndex else { return nil }
            return snapshot.cost(ofItemAt: pricing.itemIndex, usage: usage)
        }
    }

    /// Opens the gate. Releasing: hot-path operations entering after see the changes.
    func open() {
        gate.bitwiseAnd(~Self.closedBit, ordering: .releasing)
    }
}
