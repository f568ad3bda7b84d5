// The Zipf sampler: ranks in range, the head's share close to the exact Zipf mass, uniform
// at exponent 0, the rank-to-index map a bijection, and the same sequence from the same seed.

import CreditCore
import CreditLoad
import Foundation
import Testing

@Suite struct ZipfSamplerTests {
    /// The exact probability of rank `k` among `n` at exponent `s`.
    static func mass(_ k: Int, _ n: Int, _ s: Double) -> Double {
        var total = 0.0
        for rank in 1...n { total += 1 / pow(Double(rank), s) }
        return 1 / pow(Double(k), s) / total
    }

    @Test(arguments: [0.5, 0.99, 1.2])
    func frequenciesFollowZipf(exponent: Double) {
        let count = 1000, draws = 200_000
        let sampler = ZipfSampler(count: count, exponent: exponent)
        var random = SeededRandom(seed: 42)
        var histogram = [Int](repeating: 0, count: count + 1)
        for _ in 0..<draws {
            let rank = sampler.nextRank(&random)
            #expect(rank >= 1 && rank <= count)
            histogram[rank] += 1
        }
        for rank in [1, 2, 5, 10] {
            let expected = Self.mass(rank, count, exponent) * Double(draws)
            let observed = Double(histogram[rank])
            // Within 5 standard deviations of the binomial count.
            let tolerance = 5 * sqrt(expected) + 1
            #expect(abs(observed - expected) < tolerance, "rank \(rank): \(observed) vs \(expected)")
        }
        // Monotone on average: the first ten ranks outweigh the next ten.
        #expect(histogram[1...10].reduce(0, +) > histogram[11...20].reduce(0, +))
    }

    @Test func exponentZeroIsUniform() {
        let sampler = ZipfSampler(count: 10, exponent: 0)
        var random = SeededRandom(seed: 1)
        var histogram = [Int](repeating: 0, count: 11)
        for _ in 0..<100_000 { histogram[sampler.nextRank(&random)] += 1 }
        for rank in 1...10 { #expect(abs(histogram[rank] - 10_000) < 600) }
    }

    @Test func indexMapIsABijection() {
        for count in [1, 2, 10, 1000, 65_536, 99_991] {
            let sampler = ZipfSampler(count: count, exponent: 1)
            var seen = [Bool](repeating: false, count: count)
            for rank in 1...count {
                let index = sampler.indexOfRank(rank)
                #expect(index >= 0 && index < count)
                #expect(!seen[index])
                seen[index] = true
            }
        }
    }

    @Test func sameSeedSameSequence() {
        let sampler = ZipfSampler(count: 10_000_000, exponent: 0.99)
        var first = SeededRandom(seed: 9), second = SeededRandom(seed: 9)
        for _ in 0..<1000 { #expect(sampler.nextIndex(&first) == sampler.nextIndex(&second)) }
    }
}
