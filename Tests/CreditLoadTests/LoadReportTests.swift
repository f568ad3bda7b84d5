// Histogram percentile extraction and the shape of the JSON summary, the table and the plot.

import CreditCore
import CreditLoad
import Foundation
import Histogram
import Testing

@Suite struct LoadReportTests {
    @Test func percentilesOfAKnownDistribution() {
        var histogram = makeLatencyHistogram()
        // 1 ... 100,000 ns, once each: p50 = 50,000, p99 = 99,000, p99.9 = 99,900 (to 3 digits).
        for value in 1...100_000 { _ = histogram.record(UInt64(value)) }
        let figures = Dictionary(uniqueKeysWithValues: latencyFigures(histogram).map { ($0.key, $0.nanoseconds) })
        #expect(Set(figures.keys) == ["p50", "p90", "p99", "p999", "p9999", "max"])
        func near(_ key: String, _ expected: Double) -> Bool {
            abs(Double(figures[key]!) - expected) <= expected * 0.001 + 1
        }
        #expect(near("p50", 50_000))
        #expect(near("p90", 90_000))
        #expect(near("p99", 99_000))
        #expect(near("p999", 99_900))
        #expect(near("p9999", 99_990))
        #expect(near("max", 100_000))
    }

    @Test func emptyHistogramGivesZeros() {
        #expect(latencyFigures(makeLatencyHistogram()).allSatisfy { $0.nanoseconds == 0 })
    }

    @Test func formatting() {
        #expect(formatNanoseconds(850) == "850 ns")
        #expect(formatNanoseconds(12_345) == "12.3 µs")
        #expect(formatNanoseconds(4_560_000) == "4.56 ms")
        #expect(formatNanoseconds(1_200_000_000) == "1.20 s")
    }

    static func sampleResult(name: String, operations: Int) -> TargetResult {
        var histogram = makeLatencyHistogram()
        for value in 1...1000 { _ = histogram.record(UInt64(value * 10)) }
        return TargetResult(
            name: name, operations: operations, elapsedNanoseconds: 1_000_000_000, latency: histogram,
            latencyByKind: [(.reserve, histogram)], refusals: [("insufficient_credits", 3)], duplicates: 1,
            overAdmissions: 0, reconciliationMismatches: 0, problems: [])
    }

    @Test func jsonSummaryShape() throws {
        let configuration = LoadConfiguration(
            profile: .mixed, plan: AccountPlan(accountCount: 10, startingCredits: 100, overdraftCredits: 0))
        let text = summaryJSON(
            [Self.sampleResult(name: "mutex", operations: 1000), Self.sampleResult(name: "floor", operations: 4000)],
            skipped: [("redis", "redis: cannot connect")], configuration: configuration)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let targets = try #require(object["targets"] as? [String: Any])
        #expect(Set(targets.keys) == ["mutex", "floor"])
        for (_, value) in targets {
            let target = try #require(value as? [String: Any])
            #expect(target["operations"] is Int)
            #expect(target["ops_per_second"] is Double || target["ops_per_second"] is Int)
            #expect(target["over_admissions"] as? Int == 0)
            let latency = try #require(target["latency_ns"] as? [String: Any])
            #expect(Set(latency.keys) == ["p50", "p90", "p99", "p999", "p9999", "max"])
            let refusals = try #require(target["refusals"] as? [String: Any])
            #expect(refusals["insufficient_credits"] as? Int == 3)
        }
        let floor = try #require(targets["floor"] as? [String: Any])
        #expect(abs((floor["ratio_to_first"] as? Double ?? 0) - 4) < 1e-9)
        let skipped = try #require(object["skipped"] as? [String: String])
        #expect(skipped["redis"] == "redis: cannot connect")
    }

    @Test func tableAndPlot() {
        let results = [Self.sampleResult(name: "mutex", operations: 1000), Self.sampleResult(name: "floor", operations: 2500)]
        let table = summaryTable(results)
        #expect(table.contains("mutex"))
        #expect(table.contains("2.50"))
        let svg = spectrumSVG(results, title: "a <test>")
        #expect(svg.hasPrefix("<svg"))
        #expect(svg.contains("a &lt;test&gt;"))
        #expect(svg.components(separatedBy: "<polyline").count == 3)
        #expect(hgrmText(results[0].latency).contains("Percentile"))
    }
}
