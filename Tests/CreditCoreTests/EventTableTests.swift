// Restored events left encoded (EventTable.swift): a restore keeps closed events (settled,
// no debt) as the snapshot's bytes and decodes open ones and ones in debt; every request
// that reads or changes an encoded event answers as on the ledger that was never
// restored, snapshots of the two stay byte for byte equal, and an encoded event's indices
// are checked at the restore, not when it is first read.
import Testing

@testable import CreditCore

@Suite struct EventTableTests {
    /// A ledger with closed events (a charge, a committed and two released reservations), an
    /// open reservation and a forced charge in debt.
    static func ledgerWithEvents() -> LedgerHarness {
        var h = LedgerHarness()
        h.ok(999, .account(id: "a", limits: nil))
        h.ok(999, .account(id: "b", limits: nil))
        h.ok(1_000, .grant("a", "g", 100))
        h.ok(1_001, .charge("a", "c1", 10))
        h.ok(1_002, .reserve("a", "r1", 50, ttl: 60_000))
        h.ok(1_003, .commit("r1", 30))
        h.ok(1_004, .reserve("a", "r3", 5, ttl: 60_000))
        h.ok(1_005, .release(id: "r3"))
        h.ok(1_005, .reserve("a", "r4", 5, ttl: 60_000))
        h.ok(1_005, .release(id: "r4"))
        h.ok(1_006, .reserve("a", "r2", 20, ttl: 60_000))
        h.ok(1_007, .charge("b", "c2", 7, force: true))
        return h
    }

    @Test func closedEventsStayEncodedAndAnswerAsBefore() throws {
        var original = Self.ledgerWithEvents()
        var restored = LedgerHarness()
        restored.ledger = try Ledger(snapshotBytes: original.ledger.snapshotBytes())
        #expect(restored.ledger.events.count == 6)
        #expect(restored.ledger.events.encodedCount == 4, "c1, r1, r3, r4 are closed with no debt; r2 is open, c2 in debt")
        // Reads of encoded events, retries, refunds and a commit of the open one.
        let requests: [Request] = [
            .event(id: "c1"), .charge("a", "c1", 10), .charge("a", "c1", 11), .commit("r1", 30), .commit("r1", 31),
            .release(id: "r4"), .event(id: "r3"), .refund("rf1", "c1", 4), .refund("rf2", "r1"), .event(id: "r1"), .commit("r2", 20),
            .refund("rf3", "c2", 2), .report(account: nil),
        ]
        for (offset, request) in requests.enumerated() {
            let t = Milliseconds(2_000 + offset)
            #expect(restored.apply(t, request) == original.apply(t, request), "\(request)")
        }
        #expect(restored.ledger.events.encodedCount == 1, "r3 was only read; c1, r1 and r4 were written or settled again")
        #expect(restored.ledger.snapshotBytes() == original.ledger.snapshotBytes())
        // A snapshot of a restored ledger copies the encoded events as they are, and restores alike.
        let again = try Ledger(snapshotBytes: restored.ledger.snapshotBytes())
        #expect(again.snapshotBytes() == original.ledger.snapshotBytes())
        #expect(again.events.encodedCount == 5, "c1, r1, r3, r4 and the committed r2")
    }

    @Test func anEncodedEventsAccountIndexIsCheckedAtTheRestore() throws {
        var h = LedgerHarness()
        h.ok(999, .account(id: "a", limits: nil))
        h.ok(1_000, .grant("a", "g", 100))
        h.ok(1_001, .charge("a", "c1", 10))
        var bytes = h.ledger.snapshotBytes()
        #expect(try Ledger(snapshotBytes: bytes).events.encodedCount == 1)
        // The trailer's second offset is where the events start; the first event is the
        // charge: count, kind, account "a", id "c1", cost (kind 0, amount), no force, then
        // its account index.
        let trailer = bytes.count - 4 - 3 * 8
        let events = bytes[trailer + 8..<trailer + 16].reversed().reduce(0) { $0 << 8 | Int($1) }
        let accountIndex = events + 4 + 1 + (4 + 1) + (4 + 2) + (1 + 8) + 1
        #expect(bytes[accountIndex..<accountIndex + 4] == [0, 0, 0, 0], "account 0, where the layout says")
        bytes[accountIndex] = 1
        #expect {
            try Ledger(snapshotBytes: bytes)
        } throws: { error in
            (error as? LedgerSnapshotError)?.message == "account index 1"
        }
    }
}
