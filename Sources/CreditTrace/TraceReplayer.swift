// Replaying a trace: each line parsed, applied to a ledger, and its result and alert lines
// encoded. Kept apart from the command-line tool so that tests, the engine and the journal
// replay through exactly the same path.

import CreditCore

/// Replays trace lines through a ``Ledger``: one result line per request, then its alerts.
///
/// Not thread-safe: one caller at a time.
public struct TraceReplayer {
    public private(set) var ledger: Ledger
    private var parser = TraceParser()
    private let encoder = TraceEncoder()
    private var alerts: [Alert] = []

    public init(ledger: Ledger = Ledger()) {
        self.ledger = ledger
    }

    /// Replays one line, appending what it prints to `out` (nothing for a blank line).
    public mutating func replay(_ line: LineReader.Line, into out: inout [UInt8]) {
        Self.replay(line, parser: &parser, encoder: encoder, alerts: &alerts, into: &out) { request, t, alerts in
            ledger.apply(request, at: t, alerts: &alerts)
        }
    }

    /// Replays one line through any applier of requests (the core's ledger, the concurrent
    /// engine): parses it, applies an accepted request, and appends the result line and its
    /// alert lines to `out`; a malformed line prints `invalid`, a blank one nothing.
    public static func replay<Failure: Error>(
        _ line: LineReader.Line, parser: inout TraceParser, encoder: TraceEncoder, alerts: inout [Alert],
        into out: inout [UInt8],
        apply: (Request, Milliseconds, inout [Alert]) throws(Failure) -> Response
    ) throws(Failure) {
        switch parser.parse(line) {
        case .blank:
            return
        case .malformed:
            encoder.append(Response.refused(.invalid), to: &out)
        case .request(let request, let t):
            alerts.removeAll(keepingCapacity: true)
            let response = try apply(request, t, &alerts)
            encoder.append(response, to: &out)
            for alert in alerts { encoder.append(alert, to: &out) }
        }
    }

    /// Replays a whole trace held in memory and returns its output. For tests and tools.
    public mutating func replay(text: String) -> String {
        String(decoding: replay(bytes: Array(text.utf8)), as: UTF8.self)
    }

    /// Replays a whole trace held in memory, LF-separated, and returns its output bytes.
    public mutating func replay(bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var bytes = bytes
        bytes.withUnsafeMutableBytes { buffer in
            var start = 0
            while start <= buffer.count {
                let end = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) ?? buffer.count
                if end == buffer.count && start == end { break }  // no line after a final LF
                replay(.bytes(UnsafeRawBufferPointer(rebasing: buffer[start..<end])), into: &out)
                start = end + 1
            }
        }
        return out
    }
}
