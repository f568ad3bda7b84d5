// The packed per-account admission state, one 128-bit word changed by compare-and-swap.
// The figures that must change together for admission live in it:
//
//   first  (64 bits): available credits, 51-bit two's complement (bits 0...50), and the
//                     low 13 bits of the account's operation sequence (bits 51...63);
//   second (64 bits): cap usage = period spent + held (bits 0...52, only for accounts with a
//                     period cap), `paused` (bit 53), `expiredBacking` (bit 54: some open
//                     reservation is backed by an expired grant, so its return is not a plain
//                     sum and must go through the shard).
//
// Ranges: |available| <= 1.0011e15 (granted <= 10^15, debt <= 10^15 with free 0, overdraft
// <= 10^12) fits 51 bits (2^50 = 1.1259e15); cap usage < 2^53. A value outside its field
// is never packed: the operation takes the slow path, where the shard's ledger is exact.

import Synchronization

struct AdmissionState: Equatable {
    var available: Int64
    var capUsage: Int64
    /// The account's operation sequence, modulo `AdmissionState.sequenceModulus`.
    var sequence: UInt16
    var paused: Bool
    var expiredBacking: Bool

    static let availableBits = 51
    static let availableMax: Int64 = (1 << 50) - 1
    static let availableMin: Int64 = -(1 << 50)
    static let capUsageMax: Int64 = (1 << 53) - 1
    static let sequenceBits = 13
    /// Sequences wrap at 8192; at most half that many operations of one account may wait to
    /// be settled, so that their order is never ambiguous.
    static let sequenceModulus = 1 << sequenceBits

    init(available: Int64, capUsage: Int64, sequence: UInt16, paused: Bool, expiredBacking: Bool) {
        self.available = available
        self.capUsage = capUsage
        self.sequence = sequence
        self.paused = paused
        self.expiredBacking = expiredBacking
    }

    /// Whether the figures fit their fields.
    var isRepresentable: Bool {
        available >= Self.availableMin && available <= Self.availableMax && capUsage >= 0
            && capUsage <= Self.capUsageMax
    }

    init(_ word: WordPair) {
        let low = Int64(bitPattern: UInt64(word.first))
        // Sign-extend the 51-bit field.
        available = (low << 13) >> 13
        sequence = UInt16(truncatingIfNeeded: UInt64(bitPattern: low) >> 51)
        let high = UInt64(word.second)
        capUsage = Int64(high & ((1 << 53) - 1))
        paused = high & (1 << 53) != 0
        expiredBacking = high & (1 << 54) != 0
    }

    var word: WordPair {
        precondition(isRepresentable, "admission figures out of range")
        let low = (UInt64(bitPattern: available) & ((1 << 51) - 1)) | (UInt64(sequence) << 51)
        var high = UInt64(capUsage)
        if paused { high |= 1 << 53 }
        if expiredBacking { high |= 1 << 54 }
        return WordPair(first: UInt(low), second: UInt(high))
    }

    /// The next sequence number.
    var nextSequence: UInt16 { UInt16((Int(sequence) + 1) % Self.sequenceModulus) }
}
