// A small seeded random number generator (SplitMix64). The standard library has no seedable
// generator, and workloads, traces and property tests must give the same sequence from the
// same seed on every machine; this is the whole algorithm, so it is written here.

/// SplitMix64: fast, seedable, reproducible. Not for cryptography.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
