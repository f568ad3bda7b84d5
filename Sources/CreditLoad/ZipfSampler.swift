// Zipf-distributed account picks: a few accounts get most of the traffic, as on a real
// gateway. Rejection-inversion sampling (Hörmann and Derflinger, 1996, as in Apache Commons
// RNG): O(1) time and memory for any number of accounts, so 10M accounts need no table.
// Floating point is used here for the sampling only; no credit amount ever touches it.

#if canImport(Darwin)
    import Darwin
#else
    import Glibc
#endif
import CreditCore

/// Draws ranks `1 ... count` with probability proportional to `1 / rank^exponent`, then maps
/// ranks to account indices through a fixed permutation so that the hot accounts are spread
/// over the index space (a sharded engine must not get them all in one shard by accident).
/// An exponent of 0 is uniform. A value type: one per thread.
public struct ZipfSampler: Sendable {
    /// The largest exponent accepted.
    public static let exponentMax = 10.0

    public let count: Int
    public let exponent: Double
    private let hIntegralX1: Double
    private let hIntegralCount: Double
    private let squeeze: Double
    /// Odd multiplier coprime with `count`: rank r goes to index (r - 1) * scatter % count.
    private let scatter: Int

    public init(count: Int, exponent: Double) {
        precondition(count >= 1)
        precondition(exponent >= 0)
        precondition(exponent <= Self.exponentMax)
        self.count = count
        self.exponent = exponent
        hIntegralX1 = Self.hIntegral(1.5, exponent) - 1
        hIntegralCount = Self.hIntegral(Double(count) + 0.5, exponent)
        squeeze = 2 - Self.hIntegralInverse(Self.hIntegral(2.5, exponent) - Self.h(2, exponent), exponent)
        var multiplier = 0x9E37_79B9 % max(count, 1) | 1
        while Self.gcd(multiplier, count) != 1 { multiplier += 2 }
        scatter = count == 1 ? 0 : multiplier
    }

    /// A rank, `1 ... count` (1 is the most popular).
    public func nextRank(_ random: inout SeededRandom) -> Int {
        if exponent == 0 { return Int(random.next() % UInt64(count)) + 1 }
        // Bounded: the acceptance probability is above 0.5 for every exponent and count, so
        // 1,000 rejections in a row never happen in practice; fall back to rank 1 if they do.
        for _ in 0..<1000 {
            let uniform = Double(random.next() >> 11) * 0x1.0p-53
            let u = hIntegralCount + uniform * (hIntegralX1 - hIntegralCount)
            let x = Self.hIntegralInverse(u, exponent)
            var k = Int(x + 0.5)
            if k < 1 { k = 1 } else if k > count { k = count }
            if Double(k) - x <= squeeze || u >= Self.hIntegral(Double(k) + 0.5, exponent) - Self.h(Double(k), exponent) {
                return k
            }
        }
        return 1
    }

    /// An account index, `0 ..< count`.
    public func nextIndex(_ random: inout SeededRandom) -> Int {
        indexOfRank(nextRank(&random))
    }

    /// The account index a rank maps to (a bijection of `1 ... count` onto `0 ..< count`).
    public func indexOfRank(_ rank: Int) -> Int {
        Int((UInt64(rank - 1) &* UInt64(scatter)) % UInt64(count))
    }

    private static func gcd(_ a: Int, _ b: Int) -> Int {
        var (x, y) = (a, b)
        while y != 0 { (x, y) = (y, x % y) }
        return x
    }

    private static func h(_ x: Double, _ exponent: Double) -> Double { exp(-exponent * log(x)) }

    private static func hIntegral(_ x: Double, _ exponent: Double) -> Double {
        let logX = log(x)
        return helper2((1 - exponent) * logX) * logX
    }

    private static func hIntegralInverse(_ x: Double, _ exponent: Double) -> Double {
        var t = x * (1 - exponent)
        if t < -1 { t = -1 }
        return exp(helper1(t) * x)
    }

    /// log(1 + x) / x, accurate near 0.
    private static func helper1(_ x: Double) -> Double {
        abs(x) > 1e-8 ? log1p(x) / x : 1 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))
    }

    /// (exp(x) - 1) / x, accurate near 0.
    private static func helper2(_ x: Double) -> Double {
        abs(x) > 1e-8 ? expm1(x) / x : 1 + x * 0.5 * (1 + x * (1.0 / 3.0) * (1 + 0.25 * x))
    }
}
