// Engine benchmarks: reserve+commit on 1M accounts with Zipf-skewed picks (1 and 2 threads),
// on one hot account from 2 threads, charge by item, and reserve by item + commit by usage. Allocation counts are the stable
// figures to gate on; wall-clock figures on this 2-core machine are noisy (take medians).

import Benchmark
import CreditCore
import CreditEngine
import Foundation
import Synchronization

/// Accounts in the large benchmarks.
let accountCount = 1_000_000
/// Reserve+commit pairs per iteration and thread in the two-thread benchmarks (the
/// single-thread ones measure one pair per iteration, for per-pair latency percentiles).
let pairsPerIteration = 10_000
/// Prebuilt ids for the single-thread benchmarks (at most this many iterations each).
let singleIterationsMax = 2_000_000

/// Zipf(s = 1.1) ranks over `accountCount`: a cumulative table and a binary search. Floating
/// point only picks accounts; no credit amount is touched by it.
struct ZipfPicker {
    let cumulative: [Double]
    init(count: Int, exponent: Double) {
        var running = 0.0
        cumulative = (1...count).map { rank in
            running += 1 / pow(Double(rank), exponent)
            return running
        }
    }
    func pick(_ random: inout SeededRandom) -> Int {
        let target = Double(random.next() >> 11) / Double(1 << 53) * cumulative[cumulative.count - 1]
        var low = 0
        var high = cumulative.count - 1
        while low < high {
            let middle = (low + high) / 2
            if cumulative[middle] < target { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

/// An engine with `count` accounts of ample credits, and their names.
func makeEngine(accounts count: Int) -> (CreditEngine, [String]) {
    var configuration = EngineConfiguration()
    configuration.shardCount = 64
    configuration.accountsMax = count
    configuration.eventsMax = 1 << 26
    configuration.settleQueueCapacity = 4096
    let engine = try! CreditEngine(configuration: configuration, clock: ManualClock(1_767_225_600_000))
    let names = (0..<count).map { "a\($0)" }
    for name in names {
        _ = try! engine.apply(.account(id: name, limits: nil))
        _ = try! engine.apply(.grant(GrantRequest(account: name, id: "g" + name, amount: 1_000_000_000_000)))
    }
    _ = try! engine.apply(
        .rates(RatesRequest(version: "v1", items: ["embed:small": ItemSpec(meters: ["tok": MeterPriceSpec(price: 1, per: 1000)])])))
    return (engine, names)
}

/// Event ids, made before measuring so that the loop allocates nothing of its own.
func makeIDs(_ prefix: String, _ count: Int) -> [String] { (0..<count).map { "\(prefix)\($0)" } }

func reserveCommit(_ engine: CreditEngine, account: String, id: String) {
    var alerts: [Alert] = []
    _ = try! engine.apply(.reserve(ReserveRequest(account: account, id: id, cost: .amount(100))), alerts: &alerts)
    _ = try! engine.apply(.commit(id: id, .amount(80)), alerts: &alerts)
}

let benchmarks: @Sendable () -> Void = {
    // No ARC counters: package-benchmark's retain/release hooks crash the Swift 6.3 runtime
    // when several threads run (ordo-one/benchmark issue 349, as its own warning says).
    let single = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal], scalingFactor: .one, maxDuration: .seconds(5),
        maxIterations: 1_000_000,
        thresholds: [.mallocCountTotal: .init(absolute: [.p90: 2])])
    let batched = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal], scalingFactor: .one, maxDuration: .seconds(10),
        maxIterations: 30)

    let (engine, names) = makeEngine(accounts: accountCount)
    let zipf = ZipfPicker(count: accountCount, exponent: 1.1)
    var round = 0

    // The engine's calls take `Request` values, which hold Strings: the measured loops use
    // ids and account picks built once, here (short ids are stored inline: no allocation).
    var random = SeededRandom(seed: 42)
    let singleAccounts = (0..<singleIterationsMax).map { _ in names[zipf.pick(&random)] }
    let pairIDs = makeIDs("p", singleIterationsMax)
    let chargeIDs = makeIDs("c", singleIterationsMax)
    let usageIDs = makeIDs("u", singleIterationsMax)
    let usage = Usage(["tok": 1500])
    let finalUsage = Usage(["tok": 900])
    var pairIndex = 0
    var chargeIndex = 0
    var usageIndex = 0

    Benchmark("reserve+commit pair, 1M accounts, Zipf, 1 thread", configuration: single) { benchmark in
        for _ in benchmark.scaledIterations {
            precondition(pairIndex < singleIterationsMax, "more iterations than prebuilt ids")
            reserveCommit(engine, account: singleAccounts[pairIndex], id: pairIDs[pairIndex])
            pairIndex += 1
        }
    }

    Benchmark("charge by item, 1M accounts, Zipf, 1 thread", configuration: single) { benchmark in
        for _ in benchmark.scaledIterations {
            precondition(chargeIndex < singleIterationsMax, "more iterations than prebuilt ids")
            _ = try! engine.apply(
                .charge(ChargeRequest(account: singleAccounts[chargeIndex], id: chargeIDs[chargeIndex], cost: .item("embed:small", usage: usage))))
            chargeIndex += 1
        }
    }

    // The reservation keeps its item and version; the commit is priced by them on the hot path.
    Benchmark("reserve by item+commit by usage pair, 1M accounts, Zipf, 1 thread", configuration: single) { benchmark in
        for _ in benchmark.scaledIterations {
            precondition(usageIndex < singleIterationsMax, "more iterations than prebuilt ids")
            let id = usageIDs[usageIndex]
            var alerts: [Alert] = []
            _ = try! engine.apply(
                .reserve(ReserveRequest(account: singleAccounts[usageIndex], id: id, cost: .item("embed:small", usage: usage))),
                alerts: &alerts)
            _ = try! engine.apply(.commit(id: id, .usage(finalUsage)), alerts: &alerts)
            usageIndex += 1
        }
    }

    // One iteration: 2 threads x 10,000 pairs (pairs/s = iterations/s x 20,000).
    Benchmark("reserve+commit x20000, 1M accounts, Zipf, 2 threads", configuration: batched) { benchmark in
        round += 1
        let idsByThread = (0..<2).map { makeIDs("r\(round)-\($0)-", pairsPerIteration) }
        let accountsByThread = (0..<2).map { thread in
            var random = SeededRandom(seed: UInt64(round * 2 + thread))
            return (0..<pairsPerIteration).map { _ in names[zipf.pick(&random)] }
        }
        benchmark.startMeasurement()
        DispatchQueue.concurrentPerform(iterations: 2) { thread in
            for index in 0..<pairsPerIteration {
                reserveCommit(engine, account: accountsByThread[thread][index], id: idsByThread[thread][index])
            }
        }
        benchmark.stopMeasurement()
    }

    Benchmark("reserve+commit x20000, one hot account, 2 threads", configuration: batched) { benchmark in
        round += 1
        let idsByThread = (0..<2).map { makeIDs("h\(round)-\($0)-", pairsPerIteration) }
        benchmark.startMeasurement()
        DispatchQueue.concurrentPerform(iterations: 2) { thread in
            for index in 0..<pairsPerIteration { reserveCommit(engine, account: names[0], id: idsByThread[thread][index]) }
        }
        benchmark.stopMeasurement()
    }
}
