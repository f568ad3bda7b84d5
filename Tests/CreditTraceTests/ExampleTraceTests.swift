// Every line of the spec's example traces (shared/spec/examples, beside the repository)
// parses, except where the expected output says `invalid` for a malformed line. Some
// `invalid` results there are semantic, the ledger's (a cost above 10^12, a commit by usage
// of a reservation made by amount): those lines must parse, and are listed by name.

import CreditCore
import CreditTrace
import Foundation
import Testing

/// The examples folder, or nil when the spec is not beside this checkout.
private let examplesDirectory: URL? = {
    // Resolve symlinks so that the folder is found from the real checkout.
    guard let real = realpath(#filePath, nil) else { return nil }
    defer { free(real) }
    let url = URL(fileURLWithPath: String(cString: real))
        .deletingLastPathComponent()  // CreditTraceTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // the checkout
        .deletingLastPathComponent()  // beside it: shared/
        .appendingPathComponent("shared/spec/examples")
    var isDirectory: ObjCBool = false
    return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && isDirectory.boolValue
        ? url : nil
}()

/// Lines whose expected result is `invalid` although they are well-formed: the ledger
/// refuses them. "file:line", 1-based.
private let semanticallyInvalidLines: Set<String> = [
    "rate_versions:17",  // commit by usage of a reservation made by amount
    "rate_versions:20",  // cost above 10^12
]

/// The example names (file names without extension) that have both a trace and its output.
private func exampleNames() throws -> [String] {
    guard let directory = examplesDirectory else { return [] }
    let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
    return files.filter { $0.hasSuffix(".jsonl") }.map { String($0.dropLast(".jsonl".count)) }
        .filter { files.contains($0 + ".expected") }.sorted()
}

/// The lines of a file: split on LF, the last one kept only when it is not empty.
private func lines(of url: URL) throws -> [String] {
    var lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        .map(String.init)
    if lines.last == "" { lines.removeLast() }
    return lines
}

@Suite struct ExampleTraceTests {
    @Test func examplesAreFound() throws {
        try #require(examplesDirectory != nil, "shared/spec/examples is not beside the checkout: skipped")
        #expect(try exampleNames().count >= 10)
    }

    @Test(arguments: try exampleNames())
    func everyLineParsesUnlessExpectedInvalid(_ name: String) throws {
        let directory = try #require(examplesDirectory)
        let trace = try lines(of: directory.appendingPathComponent(name + ".jsonl"))
        let results = try lines(of: directory.appendingPathComponent(name + ".expected"))
            .filter { !$0.hasPrefix(#"{"alert":"#) }
        var parser = TraceParser()
        var resultIndex = 0
        for (offset, line) in trace.enumerated() {
            let parsed = parser.parse(line)
            if parsed == .blank { continue }
            let place = "\(name):\(offset + 1)"
            try #require(resultIndex < results.count, "\(place): more requests than results")
            let expectedInvalid = results[resultIndex] == #"{"ok":false,"error":"invalid"}"#
            resultIndex += 1
            if parsed == .malformed {
                #expect(expectedInvalid, "\(place) is malformed but expected \(results[resultIndex - 1])")
            } else if expectedInvalid {
                #expect(semanticallyInvalidLines.contains(place), "\(place) parses but is expected invalid")
            }
            if semanticallyInvalidLines.contains(place) {
                #expect(parsed != .malformed, "\(place) is listed as semantic but does not parse")
            }
        }
        #expect(resultIndex == results.count, "\(name): results left over")
    }

    @Test func theMalformedExampleIsAFallbackToAMissingItem() throws {
        var parser = TraceParser()
        #expect(
            parser.parse(#"{"op":"rates","t":5006,"version":"v4","items":{"a":{"fallback":"b"}}}"#) == .malformed)
    }
}
