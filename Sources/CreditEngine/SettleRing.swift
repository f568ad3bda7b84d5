// The queue of admitted operations waiting to be settled into a shard's ledger: a bounded,
// lock-free multi-producer queue (Dmitry Vyukov's bounded queue, producers only), written
// by hand because none is served here. Records are values: no allocation to enqueue (a
// record by item retains the caller's item name and usage, which it does not copy).
// The shard drains it only when no hot-path operation is in flight (its gate is closed),
// so every claimed cell has been written by then.

import CreditCore
import Synchronization

/// One admitted hot-path operation, to be applied to the shard's ledger.
struct SettleOp: Sendable {
    enum Kind: UInt8, Sendable {
        /// A claimed cell whose operation was refused: nothing to settle.
        case none
        case reserve
        case charge
        case commit
        case release
    }

    var kind: Kind
    /// The account's operation sequence number (its position in the account's order).
    var sequence: UInt16
    var accountSlot: Int32
    var eventSlot: Int32
    /// Reserve or charge: the credits admitted; commit: the credits charged.
    var amount: Int64
    var t: Milliseconds
    /// The `available` the hot path answered, checked against the ledger when settled.
    var availableAfter: Int64
    /// Reserve: the `ttl_ms` given (`ttlGiven`), else the default applies.
    var ttlMilliseconds: Int64 = 0
    var ttlGiven = false
    /// Charge: whether `force` was given (as false: only unforced charges take the hot path).
    var forceGiven = false
    /// Reserve or charge by item: the item and the usage as the request gave them (nil: by
    /// amount); `amount` is then the item's cost. Commit: the usage of a commit by usage (nil:
    /// by amount); `amount` is then the priced cost.
    var item: String? = nil
    var usage: Usage? = nil

    static let nothing = SettleOp(kind: .none, sequence: 0, accountSlot: -1, eventSlot: -1, amount: 0, t: 0, availableAfter: 0)
}

final class SettleRing: @unchecked Sendable {
    // Safe to share: a cell's payload is written only by the producer that claimed the cell
    // (by compare-and-swap on `enqueuePosition`) and published by a releasing store of the
    // cell's sequence; the one consumer reads it after an acquiring load of that sequence.

    let capacity: Int
    private let mask: Int
    private let sequences: UnsafeMutablePointer<Atomic<Int>>
    private let cells: UnsafeMutablePointer<SettleOp>
    private let enqueuePosition = Atomic<Int>(0)
    /// Only the consumer (holding the shard's lock) touches this.
    private var dequeuePosition = 0

    /// A ring of `capacity` cells, a power of two from 2 to 2^20.
    init(capacity: Int) {
        precondition(capacity >= 2 && capacity <= 1 << 20 && capacity & (capacity - 1) == 0)
        self.capacity = capacity
        mask = capacity - 1
        sequences = .allocate(capacity: capacity)
        for index in 0..<capacity { (sequences + index).initialize(to: Atomic(index)) }
        cells = .allocate(capacity: capacity)
    }

    deinit {
        // Records published and never taken hold references: release them.
        while pop() != nil {}
        sequences.deinitialize(count: capacity)
        sequences.deallocate()
        cells.deallocate()
    }

    /// Claims the next cell, to be filled by `publish(_:at:)`; nil when the ring is full.
    /// A claim must always be published (with `SettleOp.nothing` when the operation is
    /// refused), or the consumer stops there. Safe from any thread.
    func claim() -> Int? {
        var position = enqueuePosition.load(ordering: .relaxed)
        while true {
            let cell = position & mask
            let sequence = sequences[cell].load(ordering: .acquiring)
            let difference = sequence - position
            if difference == 0 {
                let (claimed, current) = enqueuePosition.weakCompareExchange(
                    expected: position, desired: position + 1, ordering: .relaxed)
                if claimed { return position }
                position = current
            } else if difference < 0 {
                return nil
            } else {
                position = enqueuePosition.load(ordering: .relaxed)
            }
        }
    }

    /// Fills a claimed cell and hands it to the consumer. The cell is uninitialized (never
    /// filled, or moved out by `pop`).
    func publish(_ op: SettleOp, at position: Int) {
        let cell = position & mask
        (cells + cell).initialize(to: op)
        sequences[cell].store(position + 1, ordering: .releasing)
    }

    /// Takes the oldest published operation, or nil. The consumer only (the shard's lock).
    func pop() -> SettleOp? {
        let cell = dequeuePosition & mask
        let sequence = sequences[cell].load(ordering: .acquiring)
        guard sequence == dequeuePosition + 1 else { return nil }
        // Moved out: the cell is uninitialized again for its next `publish`.
        let op = (cells + cell).move()
        sequences[cell].store(dequeuePosition + capacity, ordering: .releasing)
        dequeuePosition += 1
        return op
    }

}
