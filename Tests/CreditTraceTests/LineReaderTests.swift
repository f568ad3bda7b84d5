// The line reader over pipes and temporary files: line numbers, a last line without LF,
// empty lines, lines at and over the limit (the real 1 MiB one and small ones that make
// every buffer boundary fall everywhere), read errors, and errors thrown by the caller.

import CreditTrace
import Foundation
import Testing

/// What the reader handed over: a line's bytes, or nil for an overlong line.
private struct ReadLine: Equatable, CustomStringConvertible {
    var number: Int
    var bytes: [UInt8]?
    var description: String { "\(number):" + (bytes.map { String(decoding: $0, as: UTF8.self) } ?? "<overlong>") }
}

/// Every line of the file `fd`, as the reader hands them over.
private func readLines(_ fd: Int32, lineBytesMax: Int = traceLineBytesMax, readBytes: Int = 1 << 16) throws
    -> [ReadLine]
{
    var lines: [ReadLine] = []
    try LineReader(fileDescriptor: fd, lineBytesMax: lineBytesMax, readBytes: readBytes).forEachLine { line, number in
        switch line {
        case .bytes(let bytes): lines.append(ReadLine(number: number, bytes: Array(bytes)))
        case .overlong: lines.append(ReadLine(number: number, bytes: nil))
        }
    }
    return lines
}

/// A temporary file holding `contents`, open for reading at its start; removed at once.
private func withTemporaryFile<Result>(_ contents: [UInt8], _ body: (Int32) throws -> Result) throws -> Result {
    var template = Array("/tmp/creditmeter-linereader-XXXXXX".utf8CString)
    let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    try #require(fd >= 0)
    defer { close(fd) }
    unlink(template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
    var written = 0
    while written < contents.count {
        let result = contents[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        try #require(result > 0)
        written += result
    }
    try #require(lseek(fd, 0, SEEK_SET) == 0)
    return try body(fd)
}

/// The lines a reader must hand over for `contents`, computed the obvious way.
private func expectedLines(_ contents: [UInt8], lineBytesMax: Int) -> [ReadLine] {
    var parts = contents.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
    if parts.last == [] { parts.removeLast() }
    return parts.enumerated().map { index, line in
        ReadLine(number: index + 1, bytes: line.count > lineBytesMax ? nil : line)
    }
}

private func lines(_ text: String) throws -> [ReadLine] {
    try withTemporaryFile(Array(text.utf8)) { try readLines($0) }
}

@Suite struct LineReaderTests {
    @Test func linesAndTheirNumbers() throws {
        #expect(
            try lines("a\nbc\n") == [ReadLine(number: 1, bytes: [0x61]), ReadLine(number: 2, bytes: [0x62, 0x63])])
        #expect(try lines("a\nbc") == [ReadLine(number: 1, bytes: [0x61]), ReadLine(number: 2, bytes: [0x62, 0x63])])
        #expect(try lines("") == [])
        #expect(try lines("\n") == [ReadLine(number: 1, bytes: [])])
        #expect(
            try lines("\n\nx\n\n") == [
                ReadLine(number: 1, bytes: []), ReadLine(number: 2, bytes: []), ReadLine(number: 3, bytes: [0x78]),
                ReadLine(number: 4, bytes: []),
            ])
        #expect(try lines("a\r\n") == [ReadLine(number: 1, bytes: [0x61, 0x0D])])
        #expect(try lines("a\0b\n") == [ReadLine(number: 1, bytes: [0x61, 0, 0x62])])
    }

    @Test func overTheRealLimit() throws {
        let longest = [UInt8](repeating: 0x20, count: traceLineBytesMax)
        let contents =
            Array("{}\n".utf8) + longest + [0x0A] + longest + [0x20, 0x0A] + Array("x\n".utf8) + longest + [0x20]
        let read = try withTemporaryFile(contents) { try readLines($0) }
        #expect(read.map(\.number) == [1, 2, 3, 4, 5])
        #expect(read[0].bytes == Array("{}".utf8))
        #expect(read[1].bytes?.count == traceLineBytesMax)
        #expect(read[2].bytes == nil)
        #expect(read[3].bytes == [0x78])
        #expect(read[4].bytes == nil)
        #expect(traceLineBytesMax == 1 << 20)
    }

    @Test func aLineFarOverTheLimitIsSkipped() throws {
        let contents = [UInt8](repeating: 0x61, count: 3 * traceLineBytesMax + 5) + Array("\nok".utf8)
        let read = try withTemporaryFile(contents) { try readLines($0) }
        #expect(read == [ReadLine(number: 1, bytes: nil), ReadLine(number: 2, bytes: Array("ok".utf8))])
    }

    @Test(arguments: [(1, 1), (1, 3), (4, 1), (4, 2), (4, 7), (8, 3), (16, 64)])
    func everyBoundary(lineBytesMax: Int, readBytes: Int) throws {
        // Lines of every length around the limit, in one file, read in tiny chunks.
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            let contents =
                (0..<200).map { _ in Int.random(in: 0..<(lineBytesMax + 3), using: &generator) == 0 ? 0x0A : 0x61 }
                as [UInt8]
            let read = try withTemporaryFile(contents) {
                try readLines($0, lineBytesMax: lineBytesMax, readBytes: readBytes)
            }
            #expect(read == expectedLines(contents, lineBytesMax: lineBytesMax))
        }
        for length in 0...(lineBytesMax + 2) {
            let contents = [UInt8](repeating: 0x61, count: length)
            for suffix in [[], [0x0A], [0x0A, 0x62]] as [[UInt8]] {
                let read = try withTemporaryFile(contents + suffix) {
                    try readLines($0, lineBytesMax: lineBytesMax, readBytes: readBytes)
                }
                #expect(read == expectedLines(contents + suffix, lineBytesMax: lineBytesMax), "\(length) \(suffix)")
            }
        }
    }

    @Test func fromAPipeWrittenInPieces() throws {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        let (readEnd, writeEnd) = (fds[0], fds[1])
        defer { close(readEnd) }
        let pieces = ["{\"op\":", "\"tick\",\"t\":1}\n", "\n", "{\"op\":\"tick\",\"t\":2}\nlast"]
        let writer = Thread {
            for piece in pieces {
                _ = Array(piece.utf8).withUnsafeBytes { write(writeEnd, $0.baseAddress, $0.count) }
                usleep(2000)
            }
            close(writeEnd)
        }
        writer.start()
        var parser = TraceParser()
        var results: [(Int, TraceLine)] = []
        try LineReader(fileDescriptor: readEnd).forEachLine { line, number in
            results.append((number, parser.parse(line)))
        }
        #expect(results.map(\.0) == [1, 2, 3, 4])
        #expect(results.map(\.1) == [.request(.tick, t: 1), .blank, .request(.tick, t: 2), .malformed])
    }

    @Test func aReadErrorIsThrown() {
        #expect(throws: LineReader.ReadError(errno: EBADF)) {
            try LineReader(fileDescriptor: -1).forEachLine { _, _ in }
        }
    }

    @Test func theCallersErrorStopsReading() throws {
        struct Stop: Error {}
        var seen: [Int] = []
        #expect(throws: Stop.self) {
            try withTemporaryFile(Array("a\nb\nc\n".utf8)) { fd in
                try LineReader(fileDescriptor: fd).forEachLine { _, number in
                    seen.append(number)
                    if number == 2 { throw Stop() }
                }
            }
        }
        #expect(seen == [1, 2])
    }
}
