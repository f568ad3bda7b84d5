// Finding the spec's example traces: `shared/spec/examples` beside the checkout (CI has it;
// a user's clone may not, and then the example suites say they skipped), or the folder named
// by the environment variable CREDITMETER_EXAMPLES.

import Foundation

/// The examples folder, or nil when the spec is not beside this checkout.
let examplesDirectory: URL? = {
    if let override = ProcessInfo.processInfo.environment["CREDITMETER_EXAMPLES"] {
        return URL(fileURLWithPath: override)
    }
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

/// The example names (file names without extension) that have both a trace and its output.
func exampleNames() throws -> [String] {
    guard let directory = examplesDirectory else { return [] }
    let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
    return files.filter { $0.hasSuffix(".jsonl") }.map { String($0.dropLast(".jsonl".count)) }
        .filter { files.contains($0 + ".expected") }.sorted()
}

/// The lines of a file: split on LF, the last one kept only when it is not empty.
func lines(of url: URL) throws -> [String] {
    var lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        .map(String.init)
    if lines.last == "" { lines.removeLast() }
    return lines
}

