// Snapshots of the engine: its state captured at one instant, encoded as bytes in the
// background, and a new engine rebuilt from those bytes that answers every later request
// exactly as the original would have.
//
// The capture is short on purpose: O(shards + queued operations), no ledger work. With the
// registry's lock and every shard's lock held and every gate closed, it drains each shard's
// queue into the shard's `pending` batch, in settlement order (`drainQueue`), and keeps a copy
// of that batch and of each shard's `Ledger` (O(1): a value whose big tables are chunked, so
// later writes copy only what they touch), the engine's time and how many account and event
// slots were handed out (the registry's lock only keeps grants and refunds out meanwhile; the
// registry is rebuilt from the ledgers). The batch is not applied under the locks: settling
// it costs a ledger operation each (1-2 µs), thousands of them when the traffic is heavy, and
// every applier of the engine would wait for that. Instead:
// - the live shard keeps the batch in `pending`; its next settle applies it first, then what
//   was queued since (`settleQueue`). Until then the shard is exactly as if those operations
//   were still queued: the admission words already count them, the ledger does not yet, and
//   nothing is refreshed from the ledger (the capture changes no ledger);
// - the snapshot applies its copy of the batch to its copy of the ledger (`settledLedgers`,
//   on the thread that encodes), in the same order and the same way (`settle(_:into:)`), so
//   its ledgers are exactly what the live ones become, and hold what the engine answered up
//   to the capture. Their alerts are dropped (the live shard delivers them); mismatch checks,
//   statistics and expiry scheduling are the live shard's.
// Everything else the engine holds is a function of those settled ledgers and of what never
// changes once written, which `encoded()` reads later, on any thread, while the engine goes on:
// - an account's slot: its id → slot entry in `accountIDs` is written once, forever; the
//   accounts are those the captured ledgers hold;
// - an event's id, slot, account and deadline: written once, before its status is published
//   (and before its operation is queued); the events are those the settled ledgers hold, and
//   whether one is still open (so holds its hold, its open-reservation counts and a place in
//   its shard's expiry heap) is the settled ledger's answer, not the live status or count
//   (which may have moved on since);
// - the admission words and profiles: the ledger's figures (`refreshAccount`), with every
//   account's operation sequence back at 0 (nothing is queued in a restored engine).
// Not kept: statistics (settled operations, slow-path entries), alert subscribers, how the hot
// path prices open reservations' commits by usage (the ledger prices them after a restore), and ids
// that were inserted in the maps but never created (a refused reserve's id): their slots
// stay unused holes in the restored maps, so capacity is used exactly as it was.

import CreditCore
import Synchronization

/// A snapshot that cannot be restored: truncated, damaged, or for another configuration.
public struct EngineSnapshotError: Error, Hashable, CustomStringConvertible {
    /// What was wrong.
    public var message: String
    /// The byte offset in the snapshot's bytes where decoding stopped.
    public var offset: Int

    public var description: String { "bad engine snapshot at byte \(offset): \(message)" }
}

/// The engine's state captured by `CreditEngine.captureSnapshot()`: the shards' ledgers, the
/// operations queued in each shard but not yet applied to its ledger, and the registry at one
/// instant. `encoded()` turns it into bytes; it keeps the engine alive until then. Safe to
/// hand to another thread.
public struct EngineSnapshot: Sendable {
    /// The version written at the start of the bytes; restoring refuses any other.
    public static let formatVersion: UInt32 = 1

    /// The configuration of the captured engine.
    public let configuration: EngineConfiguration
    /// The engine's time at the capture (the `t` of the latest accepted request).
    public let lastTime: Milliseconds
    let engine: CreditEngine
    /// Each shard's ledger as it was at the capture, without `queued`.
    let ledgers: [Ledger]
    /// Each shard's hot-path operations admitted before the capture and not in its ledger
    /// yet, in settlement order: `settledLedgers()` applies them.
    let queued: [[SettleOp]]
    let accountsHandedOut: Int
    let eventsHandedOut: Int

    /// Accounts the captured ledgers hold, in all shards (queued operations create none).
    public var accountCount: Int { ledgers.reduce(0) { $0 + $1.accountCount } }

    /// Hot-path operations the capture found queued and left to be applied (for tests and
    /// measurements).
    public var queuedOperationCount: Int { queued.reduce(0) { $0 + $1.count } }
}

extension CreditEngine {
    /// Captures the engine's state (see the file's opening paragraph): holds the registry and
    /// every shard, drains and orders the queues without applying them, copies the ledgers and
    /// the drained batches. Hot-path operations that arrive meanwhile take the slow path and
    /// wait for the shard's lock; the wait lasts O(shards + queued operations). Safe from any
    /// thread.
    public func captureSnapshot() -> EngineSnapshot {
        // Registry first, then shards: the order `createUnique` takes them in.
        registry.withLock { _ in
            var ledgers: [Ledger] = []
            var queued: [[SettleOp]] = []
            ledgers.reserveCapacity(shards.count)
            queued.reserveCapacity(shards.count)
            var instant: (lastTime: Milliseconds, accounts: Int, events: Int) = (0, 0, 0)
            captureShards(from: 0, ledgers: &ledgers, queued: &queued) {
                // Runs with every shard held: nothing changes meanwhile.
                instant = (
                    lastTime.load(ordering: .sequentiallyConsistent), accountIDs.handedOutCount,
                    eventIDs.handedOutCount
                )
            }
            precondition(ledgers.count == shards.count && queued.count == shards.count, "one ledger and batch per shard")
            return EngineSnapshot(
                configuration: configuration, lastTime: instant.lastTime, engine: self, ledgers: ledgers,
                queued: queued, accountsHandedOut: instant.accounts, eventsHandedOut: instant.events)
        }
    }

    /// Holds shard `index` and those after it, in index order (as `withAllShards`), each with
    /// its gate closed; drains each one's queue into its `pending` batch and copies the batch
    /// and the ledger; runs `innermost` with all held. Not `withShard`: that would settle the
    /// batch into the ledger, and then refresh what the hot path reads from it. Here no ledger
    /// changes, so nothing needs refreshing (the admission words already count the batch, and a
    /// refresh from a ledger without it would undo that), the shard's next deadline stays as
    /// the hot path lowered it, and no alert is raised.
    private func captureShards(
        from index: Int, ledgers: inout [Ledger], queued: inout [[SettleOp]], _ innermost: () -> Void
    ) {
        guard index < shards.count else { return innermost() }
        let shard = shards[index]
        shard.state.withLock { state in
            shard.close()
            defer { shard.open() }
            drainQueue(shard, &state)
            ledgers.append(state.ledger)
            // A buffer of the snapshot's own, O(queued), not the live array shared copy-on-write:
            // the live shard would then append to it in place once the snapshot released it,
            // ordered after the snapshot's reads only by the reference count, which Thread
            // Sanitizer cannot see (it reported exactly that).
            queued.append(state.pending.isEmpty ? [] : state.pending.withUnsafeBufferPointer { Array($0) })
            captureShards(from: index + 1, ledgers: &ledgers, queued: &queued, innermost)
        }
    }
}

// MARK: - Encoding

extension EngineSnapshot {
    /// One event of the captured ledgers, as the engine keeps it.
    struct EventEntry {
        var index: Int
        var id: String
        var accountSlot: Int
        /// An open reservation: it holds `hold` until `expiresAt` and its open-reservation counts.
        var isOpen: Bool
        var hold: Credits
        var expiresAt: Milliseconds
    }

    /// The captured state as bytes, for `CreditEngine.restored(from:configuration:clock:)`.
    /// Deterministic: two engines in the same state give the same bytes, whatever was queued
    /// at either's capture. O(state); safe from any thread, while the engine runs (it reads
    /// only the copies and what never changes once written).
    public func encoded() -> [UInt8] {
        let ledgers = settledLedgers()
        var writer = EngineSnapshotWriter()
        writer.u32(Self.formatVersion)
        writer.configuration(configuration)
        writer.i64(lastTime)
        writer.count(accountsHandedOut)
        writer.count(eventsHandedOut)
        for ledger in ledgers { writer.block(ledger.snapshotBytes()) }
        let accounts = capturedAccounts(ledgers)
        writer.count(accounts.count)
        for (id, slot) in accounts {
            writer.count(slot)
            writer.string(id)
        }
        let events = capturedEvents(ledgers)
        writer.count(events.count)
        for event in events {
            writer.count(event.index)
            writer.string(event.id)
            writer.count(event.accountSlot)
            writer.u8(event.isOpen ? 1 : 0)
            if event.isOpen {
                writer.i64(event.hold)
                writer.i64(event.expiresAt)
            }
        }
        let registry = capturedRegistry(ledgers)
        writer.registry(registry.grantShard)
        writer.registry(registry.refundShard)
        return writer.bytes
    }

    /// The captured ledgers with the queued operations applied, each batch to its shard's
    /// ledger exactly as that shard's next settle applies it (`CreditEngine.settleQueue`): the
    /// same operations, in the same order, through `settle(_:into:alerts:)`. The engine's
    /// answers to them were given before the capture; these ledgers hold them. Alerts raised
    /// here are dropped: the live shard raises and delivers the same ones when it settles.
    func settledLedgers() -> [Ledger] {
        var settled = ledgers
        var alerts: [Alert] = []
        for shard in settled.indices {
            for op in queued[shard] {
                alerts.removeAll(keepingCapacity: true)
                _ = engine.settle(op, into: &settled[shard], alerts: &alerts)
            }
            precondition(settled[shard].accountCount == ledgers[shard].accountCount, "queued operations create no account")
        }
        return settled
    }

    /// The grant and refund ids → shard registry, rebuilt from the settled ledgers: the
    /// engine registers an id exactly when its shard's ledger created it. (Not copied from the
    /// live registry at the capture: the snapshot thread would read dictionaries the engine
    /// later mutates in place, synchronized only by reference counts, which Thread Sanitizer
    /// cannot see; and rebuilding keeps the capture free of it.)
    func capturedRegistry(_ ledgers: [Ledger]) -> CreditEngine.Registry {
        var registry = CreditEngine.Registry()
        for (shard, ledger) in ledgers.enumerated() {
            ledger.forEachGrantAndRefundID(
                grant: { registry.grantShard[$0] = shard }, refund: { registry.refundShard[$0] = shard })
        }
        return registry
    }

    /// The accounts the settled ledgers hold, with their slots, in slot order.
    func capturedAccounts(_ ledgers: [Ledger]) -> [(id: String, slot: Int)] {
        var accounts: [(id: String, slot: Int)] = []
        accounts.reserveCapacity(accountCount)
        let mask = engine.shardMask
        engine.accountIDs.forEachEntry { id, slot in
            // An id inserted after the capture, or never created (a refused `account`): not held.
            guard slot < accountsHandedOut else { return }
            let ledger = ledgers[slot & mask]
            if ledger.admissionFigures(of: id, at: ledger.lastTime) != nil { accounts.append((id, slot)) }
        }
        accounts.sort { $0.slot < $1.slot }
        precondition(accounts.count == accountCount, "every account of the ledgers has a slot")
        return accounts
    }

    /// The events the settled ledgers hold, in slot order. Each is looked up
    /// (`Ledger.openHold(ofEvent:)`, a plain read) in its shard's settled ledger, which
    /// answers as of the capture, queued reserves, commits and releases included.
    func capturedEvents(_ ledgers: [Ledger]) -> [EventEntry] {
        var events: [EventEntry] = []
        let engine = engine
        engine.eventIDs.forEachEntry { id, index in
            guard index < eventsHandedOut else { return }
            // Acquiring: pairs with the status's publication, after the event's account and
            // deadline were written; a status never goes back to free or creating once created.
            let status = engine.eventStatus[index].load(ordering: .acquiring)
            guard status == CreditEngine.EventSlotStatus.open.rawValue || status == CreditEngine.EventSlotStatus.other.rawValue
                || status == CreditEngine.EventSlotStatus.closing.rawValue
            else { return }
            let accountSlot = Int(engine.eventAccount[index])
            let shardIndex = accountSlot & engine.shardMask
            // Unknown to the captured ledger: created after the capture.
            guard let facts = ledgers[shardIndex].openHold(ofEvent: id) else { return }
            precondition(facts.account == engine.accountIDs.key(at: accountSlot), "an event's slot names its account")
            let isOpen = facts.openHold != nil
            events.append(
                EventEntry(
                    index: index, id: id, accountSlot: accountSlot, isOpen: isOpen, hold: facts.openHold ?? 0,
                    expiresAt: isOpen ? engine.eventExpiresAt[index] : Int64.max))
        }
        events.sort { $0.index < $1.index }
        return events
    }
}

// MARK: - Restoring

extension CreditEngine {
    /// A new engine in the state of a snapshot's bytes (`EngineSnapshot.encoded()`): the same
    /// ledgers, id slots, open reservations and their counts, registry and time, so that it
    /// answers every later request as the captured engine would have.
    ///
    /// `configuration` must have the snapshot's shard count and room for every account and
    /// event slot it handed out; its other limits apply from now on. Throws
    /// `EngineSnapshotError` (naming the byte offset) for bytes that are truncated, of
    /// another format version, hold a value out of range, or disagree with themselves.
    /// Integrity (a checksum) is the caller's.
    public static func restored(
        from bytes: [UInt8], configuration: EngineConfiguration, clock: any EngineClock = SystemClock()
    ) throws(EngineSnapshotError) -> CreditEngine {
        var reader = EngineSnapshotReader(bytes: bytes)
        let version = try reader.u32()
        guard version == EngineSnapshot.formatVersion else {
            throw reader.error("format version \(version), this build reads \(EngineSnapshot.formatVersion)")
        }
        let captured = try reader.configuration()
        guard captured.shardCount == configuration.shardCount else {
            throw reader.error("taken with \(captured.shardCount) shards, restoring into \(configuration.shardCount)")
        }
        let engine: CreditEngine
        do { engine = try CreditEngine(configuration: configuration, clock: clock) } catch {
            throw reader.error("configuration: \(error)")
        }
        let lastTime = try reader.i64()
        let accountsHandedOut = try reader.count()
        let eventsHandedOut = try reader.count()
        guard accountsHandedOut <= configuration.accountsMax, eventsHandedOut <= configuration.eventsMax else {
            throw reader.error(
                "\(accountsHandedOut) account and \(eventsHandedOut) event slots used; accountsMax \(configuration.accountsMax), eventsMax \(configuration.eventsMax)")
        }
        var ledgers: [Ledger] = []
        for _ in 0..<configuration.shardCount {
            let (body, start) = try reader.block()
            do { ledgers.append(try Ledger(snapshotBytes: body)) } catch {
                throw EngineSnapshotError(message: "shard \(ledgers.count)'s ledger: \(error.message)", offset: start + error.offset)
            }
        }
        let accountsByShard = try engine.restoreAccounts(&reader, ledgers: ledgers, handedOut: accountsHandedOut)
        let openByShard = try engine.restoreEvents(&reader, handedOut: eventsHandedOut)
        var registry = Registry()
        try reader.registry(into: &registry.grantShard, shardCount: configuration.shardCount)
        try reader.registry(into: &registry.refundShard, shardCount: configuration.shardCount)
        guard reader.offset == bytes.count else { throw reader.error("bytes after the end") }
        engine.registry.withLock { $0 = registry }
        engine.lastTime.store(lastTime, ordering: .sequentiallyConsistent)
        var alerts: [Alert] = []
        for shard in engine.shards {
            engine.withShard(shard, at: lastTime, alerts: &alerts) { state, _ in
                state.ledger = ledgers[shard.index]
                for slot in accountsByShard[shard.index] { engine.refreshAccount(slot, &state) }
                for event in openByShard[shard.index] { engine.scheduleExpiry(ofEvent: event, &state) }
            }
        }
        return engine
    }

    /// Reads the accounts into the id map; returns each shard's slots. Every account of every
    /// ledger must come back, in the shard its slot names.
    private func restoreAccounts(_ reader: inout EngineSnapshotReader, ledgers: [Ledger], handedOut: Int)
        throws(EngineSnapshotError) -> [[Int]]
    {
        accountIDs.beginRestore(handedOutCount: handedOut)
        var byShard = [[Int]](repeating: [], count: shards.count)
        let count = try reader.count()
        for _ in 0..<count {
            let slot = try reader.count()
            let id = try reader.string()
            guard accountIDs.restoreEntry(id, at: slot) else { throw reader.error("account \(id) at slot \(slot)") }
            let ledger = ledgers[slot & shardMask]
            guard ledger.admissionFigures(of: id, at: ledger.lastTime) != nil else {
                throw reader.error("account \(id) is not in shard \(slot & shardMask)'s ledger")
            }
            byShard[slot & shardMask].append(slot)
        }
        for (index, ledger) in ledgers.enumerated() where ledger.accountCount != byShard[index].count {
            throw reader.error("shard \(index)'s ledger holds \(ledger.accountCount) accounts, \(byShard[index].count) have slots")
        }
        return byShard
    }

    /// Reads the events into the id map and the event tables, counting open reservations;
    /// returns each shard's open reservations (for its expiry heap).
    private func restoreEvents(_ reader: inout EngineSnapshotReader, handedOut: Int) throws(EngineSnapshotError) -> [[Int]] {
        eventIDs.beginRestore(handedOutCount: handedOut)
        var openByShard = [[Int]](repeating: [], count: shards.count)
        let count = try reader.count()
        for _ in 0..<count {
            let index = try reader.count()
            let id = try reader.string()
            let accountSlot = try reader.count()
            let isOpen = try reader.bool()
            guard accountSlot < accountIDs.handedOutCount, !accountIDs.key(at: accountSlot).isEmpty else {
                throw reader.error("event \(id): account slot \(accountSlot)")
            }
            guard eventIDs.restoreEntry(id, at: index) else { throw reader.error("event \(id) at slot \(index)") }
            eventAccount[index] = Int32(accountSlot)
            eventHold[index] = 0
            eventExpiresAt[index] = Int64.max
            // Not kept in snapshots: a restored reservation's commit by usage is priced by the
            // ledger (the slow path), exactly, with the item and version the ledger kept.
            eventPricing[index] = .none
            guard isOpen else {
                eventStatus[index].store(EventSlotStatus.other.rawValue, ordering: .relaxed)
                continue
            }
            eventHold[index] = try reader.i64()
            eventExpiresAt[index] = try reader.i64()
            guard eventHold[index] >= 0 else { throw reader.error("event \(id): hold \(eventHold[index])") }
            eventStatus[index].store(EventSlotStatus.open.rawValue, ordering: .relaxed)
            markCounted(index)
            openReservationsByAccount[accountSlot].wrappingAdd(1, ordering: .relaxed)
            openReservations.wrappingAdd(1, ordering: .relaxed)
            openByShard[accountSlot & shardMask].append(index)
        }
        return openByShard
    }
}

// MARK: - Bytes

/// Appends little-endian values: the engine's part of a snapshot (ledgers have their own codec).
struct EngineSnapshotWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ value: UInt8) { bytes.append(value) }
    mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func i64(_ value: Int64) { u64(UInt64(bitPattern: value)) }
    mutating func count(_ value: Int) {
        precondition(value >= 0, "counts and slots are never negative")
        u64(UInt64(value))
    }
    mutating func string(_ value: String) {
        count(value.utf8.count)
        bytes.append(contentsOf: value.utf8)
    }
    /// A length-prefixed block of bytes.
    mutating func block(_ value: [UInt8]) {
        count(value.count)
        bytes.append(contentsOf: value)
    }

    mutating func configuration(_ configuration: EngineConfiguration) {
        count(configuration.shardCount)
        count(configuration.accountsMax)
        count(configuration.eventsMax)
        count(configuration.settleQueueCapacity)
        count(configuration.openReservationsPerAccountMax)
        count(configuration.openReservationsMax)
        u8(configuration.eagerTimePassing ? 1 : 0)
        u8(configuration.settleEagerly ? 1 : 0)
    }

    /// Id → shard entries, sorted by id so that equal registries give equal bytes.
    mutating func registry(_ map: [String: Int]) {
        let entries = map.sorted { $0.key < $1.key }
        count(entries.count)
        for (id, shard) in entries {
            string(id)
            count(shard)
        }
    }
}

/// Reads what `EngineSnapshotWriter` wrote; every read checks the bytes left.
struct EngineSnapshotReader {
    /// The longest id the engine keeps: ids longer than this are damage.
    static let idBytesMax = 1 << 20
    /// The largest count or slot: 2^40 (no table of the engine comes near; larger is damage).
    static let countMax = 1 << 40

    let bytes: [UInt8]
    var offset = 0

    func error(_ message: String) -> EngineSnapshotError { EngineSnapshotError(message: message, offset: offset) }

    mutating func take(_ count: Int) throws(EngineSnapshotError) -> Int {
        guard count >= 0, count <= bytes.count - offset else { throw error("truncated: \(count) bytes needed") }
        defer { offset += count }
        return offset
    }

    mutating func u8() throws(EngineSnapshotError) -> UInt8 { bytes[try take(1)] }
    mutating func bool() throws(EngineSnapshotError) -> Bool {
        let value = try u8()
        guard value <= 1 else { throw error("flag \(value)") }
        return value == 1
    }
    mutating func u32() throws(EngineSnapshotError) -> UInt32 {
        let start = try take(4)
        return (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[start + $1]) << (8 * $1) }
    }
    mutating func u64() throws(EngineSnapshotError) -> UInt64 {
        let start = try take(8)
        return (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[start + $1]) << (8 * $1) }
    }
    mutating func i64() throws(EngineSnapshotError) -> Int64 { Int64(bitPattern: try u64()) }
    /// A count or slot: at most `countMax`.
    mutating func count() throws(EngineSnapshotError) -> Int {
        let value = try u64()
        guard value <= UInt64(Self.countMax) else { throw error("count \(value)") }
        return Int(value)
    }
    mutating func string() throws(EngineSnapshotError) -> String {
        let length = try count()
        guard length <= Self.idBytesMax else { throw error("string of \(length) bytes") }
        let start = try take(length)
        guard let value = String(validating: bytes[start..<start + length], as: UTF8.self) else {
            throw error("string not UTF-8")
        }
        return value
    }
    /// A length-prefixed block, and the offset where its bytes start.
    mutating func block() throws(EngineSnapshotError) -> (bytes: [UInt8], start: Int) {
        let length = try count()
        let start = try take(length)
        return (Array(bytes[start..<start + length]), start)
    }

    mutating func configuration() throws(EngineSnapshotError) -> EngineConfiguration {
        var configuration = EngineConfiguration()
        configuration.shardCount = try count()
        configuration.accountsMax = try count()
        configuration.eventsMax = try count()
        configuration.settleQueueCapacity = try count()
        configuration.openReservationsPerAccountMax = try count()
        configuration.openReservationsMax = try count()
        configuration.eagerTimePassing = try bool()
        configuration.settleEagerly = try bool()
        return configuration
    }

    mutating func registry(into map: inout [String: Int], shardCount: Int) throws(EngineSnapshotError) {
        let count = try count()
        for _ in 0..<count {
            let id = try string()
            let shard = try self.count()
            guard shard < shardCount, map[id] == nil else { throw error("registry entry \(id) → shard \(shard)") }
            map[id] = shard
        }
    }
}
