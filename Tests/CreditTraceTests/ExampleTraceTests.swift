// Every line of the spec's example traces (shared/spec/examples, beside the repository)
// parses, except where the expected output says `invalid` for a malformed line. Some
// `invalid` results there are semantic, the ledger's (a cost above 10^12, a commit by usage
// of a reservation made by amount): those lines must parse, and are listed by name.

import CreditCore
import CreditTrace
import Foundation
import Testing

/// Lines whose expected result is `invalid` although they are well-formed: the ledger
/// refuses them. "file:line", 1-based.
private let semanticallyInvalidLines: Set<String> = [
    "rate_versions:17",  // commit by usage of a reservation made by amount
    "rate_versions:20",  // cost above 10^12
]

@Suite(.enabled(if: examplesDirectory != nil, "shared/spec/examples is not beside this checkout: skipped"))
struct ExampleTraceTests {
    @Test func examplesAreFound() throws {
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
