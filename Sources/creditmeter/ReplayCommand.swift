// `creditmeter replay TRACE`: prints the result and alert lines of a trace, streaming.
import ArgumentParser
import CreditTrace

#if canImport(Darwin)
    import Darwin
#else
    import Glibc
#endif

struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay a JSON-lines trace and print one result line per request, then its alerts."
    )

    @Argument(help: "The trace file, or - for standard input.")
    var trace: String

    /// Output is flushed to standard output whenever this many bytes are buffered.
    static let outputFlushBytes = 1 << 16

    func run() throws {
        let fileDescriptor = trace == "-" ? 0 : open(trace, O_RDONLY)
        guard fileDescriptor >= 0 else {
            throw ValidationError("cannot open \(trace): \(String(cString: strerror(errno)))")
        }
        defer { if fileDescriptor != 0 { close(fileDescriptor) } }
        var replayer = TraceReplayer()
        var output = StandardOutput()
        try LineReader(fileDescriptor: fileDescriptor).forEachLine { line, _ in
            replayer.replay(line, into: &output.buffer)
            if output.buffer.count >= Self.outputFlushBytes { try output.flush() }
        }
        try output.flush()
        // The process ends here: freeing millions of records one by one would only cost time.
        withExtendedLifetime(replayer) { exitProcess(EXIT_SUCCESS) }
    }
}

/// Ends the process at once, without tearing down what is still in memory.
func exitProcess(_ status: Int32) -> Never {
    #if canImport(Darwin)
        Darwin.exit(status)
    #else
        Glibc.exit(status)
    #endif
}

/// Buffered writes to file descriptor 1.
struct StandardOutput {
    var buffer: [UInt8] = []

    init() { buffer.reserveCapacity(ReplayCommand.outputFlushBytes * 2) }

    struct WriteError: Error, CustomStringConvertible {
        var errno: Int32
        var description: String { "cannot write to standard output: \(String(cString: strerror(errno)))" }
    }

    mutating func flush() throws {
        var written = 0
        while written < buffer.count {
            let result = buffer.withUnsafeBytes { write(1, $0.baseAddress! + written, $0.count - written) }
            if result < 0 {
                if errno == EINTR { continue }
                throw WriteError(errno: errno)
            }
            written += result
        }
        buffer.removeAll(keepingCapacity: true)
    }
}
