// Replaying through the engine gives exactly the core's output: every spec example, the
// project's own traces, and long random traces of the generator.

import CreditCore
import CreditEngine
import CreditTrace
import Foundation
import Testing

/// Replays a trace through an engine (exact sequential configuration) and returns its output.
func replayThroughEngine(_ text: String, configuration: EngineConfiguration = .replay) throws -> String {
    let engine = try CreditEngine(configuration: configuration, clock: ManualClock())
    var parser = TraceParser()
    let encoder = TraceEncoder()
    var out: [UInt8] = []
    var alerts: [Alert] = []
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        switch parser.parse(String(line)) {
        case .blank: continue
        case .malformed: encoder.append(Response.refused(.invalid), to: &out)
        case .request(let request, let t):
            alerts.removeAll()
            let response = try engine.apply(request, at: t, alerts: &alerts)
            encoder.append(response, to: &out)
            for alert in alerts { encoder.append(alert, to: &out) }
        }
    }
    return String(decoding: out, as: UTF8.self)
}

func replayThroughCore(_ text: String) -> String {
    var replayer = TraceReplayer()
    return replayer.replay(text: text)
}

/// The first line where two outputs differ, with the trace line that caused it.
func firstMismatch(_ actual: String, _ expected: String) -> String? {
    let a = actual.split(separator: "\n")
    let e = expected.split(separator: "\n")
    for index in 0..<max(a.count, e.count) {
        let left = index < a.count ? String(a[index]) : "<none>"
        let right = index < e.count ? String(e[index]) : "<none>"
        if left != right { return "output line \(index + 1): engine \(left), core \(right)" }
    }
    return nil
}

let specExamples: URL = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath().deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/spec/examples")
let projectTraces: URL = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath().deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("scripts/traces")

func traces(in directory: URL) -> [URL] {
    ((try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)) ?? [])
        .filter { $0.pathExtension == "jsonl" }.sorted { $0.path < $1.path }
}

@Suite struct EngineReplayTests {
    @Test func everyExampleReplaysAsTheCoreDoes() throws {
        let files = traces(in: specExamples) + traces(in: projectTraces)
        #expect(!files.isEmpty)
        for file in files {
            let text = try String(contentsOf: file, encoding: .utf8)
            let mismatch = firstMismatch(try replayThroughEngine(text), replayThroughCore(text))
            #expect(mismatch == nil, "\(file.lastPathComponent): \(mismatch ?? "")")
        }
    }

    /// Found by the differential test: a request's alerts come from two shards (a boundary
    /// alert from time passing in one, the request's own debt alert in the other) and must
    /// still be ordered by account id.
    @Test func alertsFromSeveralShardsAreOrderedByAccount() throws {
        let trace = """
            {"op":"account","t":1000,"id":"alice","limits":{"period":"day","period_cap":100,"period_alerts":[0]}}
            {"op":"account","t":1000,"id":"acct:42"}
            {"op":"charge","t":86400000,"account":"acct:42","id":"c1","amount":5,"force":true}
            """
        let core = replayThroughCore(trace)
        #expect(core.contains(#"{"alert":"debt","account":"acct:42","debt":5,"t":86400000}"# + "\n" + #"{"alert":"period_usage""#))
        #expect(firstMismatch(try replayThroughEngine(trace), core) == nil)
    }

    /// Found by the differential test: a retried refund id goes to the shard holding that
    /// refund, not to its event's; time passing must still run in the event's shard.
    @Test func aRetriedIdInAnotherShardStillPassesTimeEverywhere() throws {
        let trace = """
            {"op":"account","t":1000,"id":"a","limits":{"alerts":[10]}}
            {"op":"account","t":1000,"id":"b"}
            {"op":"grant","t":1000,"account":"a","id":"ga","amount":20,"expires_at":5000}
            {"op":"grant","t":1000,"account":"b","id":"gb","amount":100}
            {"op":"charge","t":1001,"account":"a","id":"ca","amount":5}
            {"op":"charge","t":1002,"account":"b","id":"cb","amount":10}
            {"op":"refund","t":1003,"id":"f1","event":"cb","amount":1}
            {"op":"refund","t":5000,"id":"f1","event":"ca","amount":1}
            """
        let core = replayThroughCore(trace)
        #expect(core.contains(#"{"alert":"low_balance","account":"a","threshold":10,"available":0,"t":5000}"#))
        #expect(firstMismatch(try replayThroughEngine(trace), core) == nil)
    }

    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func randomTracesReplayAsTheCoreDoes(seed: UInt64) throws {
        var generator = TraceGenerator(seed: seed, accountCount: 40)
        var bytes: [UInt8] = []
        for _ in 0..<20_000 { generator.appendLine(to: &bytes) }
        let text = String(decoding: bytes, as: UTF8.self)
        let mismatch = firstMismatch(try replayThroughEngine(text), replayThroughCore(text))
        #expect(mismatch == nil, "seed \(seed): \(mismatch ?? "")")
    }
}
