// Engine benchmarks: reserve+commit on 1M accounts with Zipf-skewed picks (1 and 2 threads),
// on one hot account from 2 threads, and charge by item. Allocation counts are the stable
// figures to gate on; wall-clock figures on this 2-core machine are noisy (take medians).

import Benchmark
import CreditCore
import CreditEngine
import Foundation
import Synchronization

/// Accounts in the large benchmarks.
let accountCount = 1_000_000
/// Reserve+commit pairs per benchmark iteration and thread.
let pairsPerIteration = 10_000

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
    let metrics: [BenchmarkMetric] = [.wallClock, .throughput, .mallocCountTotal, .retainCount, .releaseCount]
    let configuration = Benchmark.Configuration(
        metrics: metrics, scalingFactor: .kilo, maxDuration: .seconds(10), maxIterations: 30,
        thresholds: [.mallocCountTotal: .init(absolute: [.p90: 200_000])])

    let (engine, names) = makeEngine(accounts: accountCount)
    let zipf = ZipfPicker(count: accountCount, exponent: 1.1)
    var round = 0

    // The engine's calls take `Request` values, which hold Strings: the measured loop reuses
    // prebuilt id strings (short ids are stored inline in String: no allocation).
    Benchmark("reserve+commit, 1M accounts, Zipf, 1 thread", configuration: configuration) { benchmark in
        round += 1
        let ids = makeIDs("r\(round)-", pairsPerIteration)
        var random = SeededRandom(seed: UInt64(round))
        let accounts = (0..<pairsPerIteration).map { _ in names[zipf.pick(&random)] }
        benchmark.startMeasurement()
        for index in 0..<pairsPerIteration { reserveCommit(engine, account: accounts[index], id: ids[index]) }
        benchmark.stopMeasurement()
    }

    Benchmark("reserve+commit, 1M accounts, Zipf, 2 threads", configuration: configuration) { benchmark in
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

    Benchmark("reserve+commit, one hot account, 2 threads", configuration: configuration) { benchmark in
        round += 1
        let idsByThread = (0..<2).map { makeIDs("h\(round)-\($0)-", pairsPerIteration) }
        benchmark.startMeasurement()
        DispatchQueue.concurrentPerform(iterations: 2) { thread in
            for index in 0..<pairsPerIteration { reserveCommit(engine, account: names[0], id: idsByThread[thread][index]) }
        }
        benchmark.stopMeasurement()
    }

    Benchmark("charge by item, 1M accounts, Zipf, 1 thread", configuration: configuration) { benchmark in
        round += 1
        let ids = makeIDs("c\(round)-", pairsPerIteration)
        var random = SeededRandom(seed: UInt64(round))
        let accounts = (0..<pairsPerIteration).map { _ in names[zipf.pick(&random)] }
        let usage = Usage(["tok": 1500])
        benchmark.startMeasurement()
        for index in 0..<pairsPerIteration {
            _ = try! engine.apply(
                .charge(ChargeRequest(account: accounts[index], id: ids[index], cost: .item("embed:small", usage: usage))))
        }
        benchmark.stopMeasurement()
    }
}
