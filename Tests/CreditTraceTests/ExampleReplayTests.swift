// Replaying every example trace gives exactly its expected output, compared line by line as
// JSON values (key order and spacing aside): the spec's examples (when `shared/` is beside
// the checkout) and the project's own traces in `scripts/traces`.

import CreditTrace
import Foundation
import Testing

/// The project's own traces with expected output.
let projectTracesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("scripts/traces")

/// Compares two outputs line by line as JSON values; returns the first difference.
func firstDifference(actual: [String], expected: [String]) -> String? {
    for (number, (got, want)) in zip(actual, expected).enumerated() {
        guard let gotValue = try? JSONSerialization.jsonObject(with: Data(got.utf8)) as? NSDictionary,
            let wantValue = try? JSONSerialization.jsonObject(with: Data(want.utf8)) as? NSDictionary
        else { return "line \(number + 1) is not a JSON object: \(got) / \(want)" }
        if gotValue != wantValue { return "line \(number + 1): got \(got), want \(want)" }
    }
    if actual.count != expected.count { return "got \(actual.count) lines, want \(expected.count)" }
    return nil
}

func replayAndCompare(trace: URL, expected: URL) throws -> String? {
    var replayer = TraceReplayer()
    let output = replayer.replay(text: try String(contentsOf: trace, encoding: .utf8))
    let actual = output.split(separator: "\n").map(String.init)
    return firstDifference(actual: actual, expected: try lines(of: expected))
}

@Suite(.enabled(if: examplesDirectory != nil, "shared/spec/examples is not beside this checkout: skipped"))
struct SpecExampleReplayTests {
    @Test(arguments: try exampleNames())
    func replayMatchesExpected(_ name: String) throws {
        let directory = try #require(examplesDirectory)
        let difference = try replayAndCompare(
            trace: directory.appendingPathComponent(name + ".jsonl"),
            expected: directory.appendingPathComponent(name + ".expected"))
        #expect(difference == nil, "\(name): \(difference ?? "")")
    }
}

@Suite struct ProjectTraceReplayTests {
    static func names() throws -> [String] {
        let files = try FileManager.default.contentsOfDirectory(atPath: projectTracesDirectory.path)
        return files.filter { $0.hasSuffix(".jsonl") }.map { String($0.dropLast(".jsonl".count)) }.sorted()
    }

    @Test func projectTracesExist() throws {
        #expect(try !Self.names().isEmpty)
    }

    @Test(arguments: try names())
    func replayMatchesExpected(_ name: String) throws {
        let difference = try replayAndCompare(
            trace: projectTracesDirectory.appendingPathComponent(name + ".jsonl"),
            expected: projectTracesDirectory.appendingPathComponent(name + ".expected"))
        #expect(difference == nil, "\(name): \(difference ?? "")")
    }

    @Test func comparisonSeesADifference() {
        #expect(firstDifference(actual: [#"{"ok":true,"a":1}"#], expected: [#"{"a":1,"ok":true}"#]) == nil)
        #expect(firstDifference(actual: [#"{"ok":true,"a":1}"#], expected: [#"{"ok":true,"a":2}"#]) != nil)
        #expect(firstDifference(actual: [#"{"ok":true}"#], expected: [#"{"ok":true}"#, #"{"ok":true}"#]) != nil)
    }
}
