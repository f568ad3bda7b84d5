// Ledger snapshots round-trip: after random traces, the state restored from a snapshot
// encodes to the same bytes, and replaying further lines on the original and the restored
// ledger prints the same results (balances, reports and event views included).

import CreditCore
import CreditTrace
import Testing

@Suite struct LedgerSnapshotTests {
    @Test(arguments: [1, 2, 3, 5, 8, 13, 21, 34] as [UInt64])
    func roundTripAfterRandomTrace(seed: UInt64) throws {
        var generator = TraceGenerator(seed: seed, accountCount: 40)
        var original = TraceReplayer()
        for _ in 0..<3_000 {
            var line: [UInt8] = []
            generator.appendLine(to: &line)
            _ = original.replay(bytes: line)
        }
        let bytes = original.ledger.snapshotBytes()
        let restored = try Ledger(snapshotBytes: bytes)
        #expect(restored.snapshotBytes() == bytes, "seed \(seed): restored state encodes differently")
        #expect(restored.acceptedRequestCount == original.ledger.acceptedRequestCount)
        var copy = TraceReplayer(ledger: restored)
        for _ in 0..<3_000 {
            var line: [UInt8] = []
            generator.appendLine(to: &line)
            let expected = original.replay(bytes: line)
            let actual = copy.replay(bytes: line)
            #expect(actual == expected, "seed \(seed): \(String(decoding: line, as: UTF8.self))")
            if actual != expected { return }
        }
        #expect(copy.ledger.snapshotBytes() == original.ledger.snapshotBytes())
    }

    @Test func viewsAgreeAfterRestore() throws {
        let expected = ExpectedTrace(seed: 99, lineCount: 2_000, accountCount: 20)
        let restored = try Ledger(snapshotBytes: expected.finalLedger.snapshotBytes())
        var a = TraceReplayer(ledger: expected.finalLedger)
        var b = TraceReplayer(ledger: restored)
        let t = expected.finalLedger.lastTime
        var queries = "{\"op\":\"report\",\"t\":\(t)}\n"
        for index in 0..<20 { queries += "{\"op\":\"balance\",\"t\":\(t),\"account\":\"acct\(index)\"}\n" }
        #expect(a.replay(text: queries) == b.replay(text: queries))
    }

    @Test func emptyLedgerRoundTrips() throws {
        let bytes = Ledger().snapshotBytes()
        #expect(try Ledger(snapshotBytes: bytes).snapshotBytes() == bytes)
    }

    /// The streamed snapshot's pieces, in order, are the bytes of `snapshotBytes()`; every
    /// piece but the last holds at least the buffer's size and at most one record more.
    @Test(arguments: [1, 7, 512, 4_096, Ledger.snapshotBufferBytesDefault])
    func streamedPiecesAreTheSnapshotBytes(bufferBytes: Int) {
        let ledger = ExpectedTrace(seed: 21, lineCount: 3_000, accountCount: 40).finalLedger
        let whole = ledger.snapshotBytes()
        var pieces: [[UInt8]] = []
        ledger.writeSnapshot(bufferBytes: bufferBytes) { (piece) throws(Never) in pieces.append(Array(piece)) }
        #expect(pieces.flatMap { $0 } == whole)
        #expect(pieces.count > whole.count / (bufferBytes + 4_096), "\(pieces.count) pieces of \(whole.count) bytes")
        for piece in pieces.dropLast() {
            #expect(piece.count >= bufferBytes)
            #expect(piece.count <= bufferBytes + 4_096, "a piece is the buffer and at most one record")
        }
        #expect(pieces.last.map { !$0.isEmpty && $0.count <= bufferBytes + 4_096 } ?? false)
    }

    /// A sink that throws stops the stream: no piece is handed over after it.
    @Test func aFailingSinkStopsTheStream() {
        struct Full: Error {}
        let ledger = ExpectedTrace(seed: 21, lineCount: 1_000, accountCount: 20).finalLedger
        var calls = 0
        #expect(throws: Full.self) {
            try ledger.writeSnapshot(bufferBytes: 64) { (_) throws(Full) in
                calls += 1
                if calls == 3 { throw Full() }
            }
        }
        #expect(calls == 3)
    }

    @Test func emptyLedgerStreamsInOnePiece() {
        var pieces: [[UInt8]] = []
        Ledger().writeSnapshot(bufferBytes: 1 << 20) { (piece) throws(Never) in pieces.append(Array(piece)) }
        #expect(pieces == [Ledger().snapshotBytes()])
    }

    @Test func truncatedSnapshotIsRefused() {
        let bytes = ExpectedTrace(seed: 4, lineCount: 500, accountCount: 10).finalLedger.snapshotBytes()
        for cut in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 50)) {
            #expect(throws: LedgerSnapshotError.self) { try Ledger(snapshotBytes: Array(bytes[0..<cut])) }
        }
    }
}
