// The whole ledger as bytes and back: what the journal's snapshots hold.
//
// Kept in CreditCore (not in the journal) because it reads every internal record of the
// ledger; it does no I/O. The format is a flat little-endian encoding of every table in
// index order, with dictionaries and sets in sorted key order, so that two ledgers in the
// same state encode to the same bytes (the tests compare snapshots byte for byte). The id
// tables are not stored: their hashes come from Swift's per-process seeded `Hasher`, and
// their keys are the records' own ids (account, grant and event `i` has the id at index
// `i`), so they are rebuilt from the decoded records (`IdentityTable.init(bulk:)`).
// Version 1 also stored the three id lists; it is still read. Version 2 ends with a trailer
// giving where the grants, events and refunds start, so that decoding reads the events on a
// second thread beside the rest. Checksums and files are the journal's business.

import Dispatch

/// The events' half of a decode, handed from its thread: written before the group's
/// `wait()` returns, read after it (the group orders the two).
private final class SnapshotPart<Value>: @unchecked Sendable {
    var result: Result<Value, LedgerSnapshotError>?
}

/// A snapshot that cannot be decoded: truncated, or holding a value out of range.
public struct LedgerSnapshotError: Error, Hashable, CustomStringConvertible {
    /// What was wrong.
    public var message: String
    /// The byte offset in the snapshot where decoding stopped.
    public var offset: Int

    public var description: String { "bad ledger snapshot at byte \(offset): \(message)" }
}

extension Ledger {
    /// The version written at the start of every snapshot. Decoding reads this one and
    /// version 1 (which also held the id lists, the records' ids again); it refuses others.
    public static let snapshotFormatVersion: UInt32 = 2
    /// The oldest version decoding still reads.
    static let snapshotFormatVersionOldest: UInt32 = 1

    /// Requests accepted so far (well formed and not `time_went_backwards`): each of them
    /// passed time and so changed the state, even when refused. The journal records exactly
    /// these. Saved in snapshots.
    public var acceptedRequestCount: UInt64 { serial }

    /// The whole state as bytes, decodable by ``init(snapshotBytes:)``: the bytes that
    /// ``writeSnapshot(bufferBytes:to:)`` hands over, in one array.
    ///
    /// Pure; O(state). Safe from any thread on a copy of the ledger: a `Ledger` is a value.
    public func snapshotBytes() -> [UInt8] {
        var writer = SnapshotWriter()
        writer.bytes.reserveCapacity(64 + accounts.count * 160 + grants.count * 96 + events.count * 128)
        encodeSnapshot(into: &writer) { (_: inout SnapshotWriter) throws(Never) in }
        return writer.bytes
    }

    /// Bytes ``writeSnapshot(bufferBytes:to:)`` gathers before handing them on: 1 MiB.
    public static let snapshotBufferBytesDefault = 1 << 20

    /// Streams the bytes of ``snapshotBytes()`` to `sink` in pieces, through one reusable
    /// buffer: each piece is at least `bufferBytes` long (the last may be shorter) and at
    /// most `bufferBytes` plus one record (an account, grant, event, refund or rate version; a
    /// record's arrays are bounded by the request limits). The pieces in order are exactly
    /// the bytes of ``snapshotBytes()``; a piece is valid only during the call.
    ///
    /// Why: a snapshot of a million accounts is hundreds of megabytes. Built as one array
    /// on the snapshot thread, its allocation and page faults compete with the applying
    /// thread's (README, "Snapshot stall and the ledger's storage"); streamed, the snapshot
    /// thread touches one buffer again and again. A `sink` that throws stops the stream.
    ///
    /// Pure apart from `sink`. Safe from any thread on a copy of the ledger.
    public func writeSnapshot<Failure: Error>(
        bufferBytes: Int = snapshotBufferBytesDefault, to sink: (UnsafeRawBufferPointer) throws(Failure) -> Void
    ) throws(Failure) {
        precondition(bufferBytes >= 1, "a snapshot buffer holds at least one byte")
        var writer = SnapshotWriter()
        writer.flushBytes = bufferBytes
        writer.bytes.reserveCapacity(bufferBytes + Self.snapshotBufferSlackBytes)
        func flush(_ writer: inout SnapshotWriter) throws(Failure) {
            let result = writer.bytes.withUnsafeBytes { (raw) -> Result<Void, Failure> in
                do throws(Failure) {
                    try sink(raw)
                    return .success(())
                } catch {
                    return .failure(error)
                }
            }
            try result.get()
            writer.flushedCount += writer.bytes.count
            writer.bytes.removeAll(keepingCapacity: true)
        }
        try encodeSnapshot(into: &writer, flush: flush)
        if !writer.bytes.isEmpty { try flush(&writer) }
    }

    /// Room reserved past `bufferBytes` for the record that crosses it (a larger record
    /// grows the buffer once).
    static var snapshotBufferSlackBytes: Int { 64 << 10 }

    /// Encodes the state into `writer`, calling `flush` after a record whenever the writer
    /// holds `flushBytes` or more (`flush` empties it).
    private func encodeSnapshot<Failure: Error>(
        into writer: inout SnapshotWriter, flush: (inout SnapshotWriter) throws(Failure) -> Void
    ) throws(Failure) {
        func recordDone() throws(Failure) {
            if writer.bytes.count >= writer.flushBytes { try flush(&writer) }
        }
        writer.u32(Self.snapshotFormatVersion)
        writer.i64(lastTime)
        writer.i64(lastDayIndex)
        writer.i64(lastMonthIndex)
        writer.u64(serial)
        writer.count(accounts.count)
        for account in accounts {
            writer.account(account)
            try recordDone()
        }
        let grantsOffset = writer.offset
        writer.count(grants.count)
        for grant in grants {
            writer.grant(grant)
            try recordDone()
        }
        let eventsOffset = writer.offset
        writer.count(events.count)
        for index in events.indices {
            // A restored event never decoded is copied as it is: the same bytes.
            if let bytes = events.encodedBytes(of: index) {
                writer.bytes.append(contentsOf: bytes)
            } else {
                writer.event(events[index])
            }
            try recordDone()
        }
        let refundsOffset = writer.offset
        // The id tables are the records' ids (see the file's opening): not written.
        // In insertion order: restoring inserts them again in that order, the same table.
        writer.count(refunds.count)
        for refund in refunds.values {
            writer.refund(refund)
            try recordDone()
        }
        writer.count(rateCard.versions.count)
        for version in rateCard.versions {
            writer.rates(version.request)
            writer.i64(version.effectiveAt)
            try recordDone()
        }
        let due = deadlines.unordered.sorted()
        writer.count(due.count)
        for deadline in due {
            writer.i64(deadline.time)
            writer.u8(deadline.kind.rawValue)
            writer.i32(deadline.index)
            try recordDone()
        }
        let boundary = accountsAlertingAtBoundary.sorted()
        writer.count(boundary.count)
        for index in boundary {
            writer.i32(index)
            try recordDone()
        }
        // Where the grants, events and refunds start, so that the events (most of a big
        // state) can be decoded on another thread beside the rest.
        for offset in [grantsOffset, eventsOffset, refundsOffset] { writer.u64(UInt64(offset)) }
        writer.u32(UInt32(Self.snapshotSectionCount))
    }

    /// Restores a ledger from ``snapshotBytes()``.
    ///
    /// Throws `LedgerSnapshotError` when the bytes are truncated, of another format version,
    /// or hold an index out of range. The bytes' integrity (a checksum) is the caller's: a
    /// snapshot that decodes is taken as written.
    public init(snapshotBytes bytes: [UInt8]) throws(LedgerSnapshotError) {
        try self.init(snapshot: SnapshotBuffer(copying: bytes))
    }

    /// Restores a ledger from the bytes of ``snapshotBytes()`` in `snapshot`, which the
    /// ledger keeps (closed events stay encoded there until read; EventTable.swift).
    ///
    /// Throws as ``init(snapshotBytes:)``.
    public init(snapshot: SnapshotBuffer) throws(LedgerSnapshotError) {
        self.init()
        var reader = SnapshotReader(snapshot)
        let version = try reader.u32()
        guard (Self.snapshotFormatVersionOldest...Self.snapshotFormatVersion).contains(version) else {
            throw reader.error("format version \(version)")
        }
        lastTime = try reader.i64()
        lastDayIndex = try reader.i64()
        lastMonthIndex = try reader.i64()
        serial = try reader.u64()
        guard version >= 2 else {
            try decodeVersion1(&reader)
            return
        }
        let sections = try reader.sectionTrailer()
        let start = reader
        // The events on another thread: most of a big state (10M events of 1M accounts: 90%
        // of the bytes), and independent of the rest until the indices are checked.
        let eventsPart = SnapshotPart<(events: EventTable, ids: IdentityTable)>()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) {
            eventsPart.result = Result { () throws(LedgerSnapshotError) in
                var eventsReader = start
                eventsReader.offset = sections.events
                eventsReader.end = sections.refunds
                return try Self.restoreEvents(&eventsReader, accountsAt: start.offset, grantsAt: sections.grants)
            }
        }
        // Meanwhile everything else, here: accounts, grants, their id tables, the tables after
        // the events. The first error is kept until the events' thread is done.
        var restReader = start
        var restError: LedgerSnapshotError? = nil
        do throws(LedgerSnapshotError) {
            restReader.end = sections.grants
            accounts = try restReader.table(section: "accounts") { (reader) throws(LedgerSnapshotError) in try reader.account() }
            restReader.end = sections.events
            grants = try restReader.table(section: "grants") { (reader) throws(LedgerSnapshotError) in try reader.grant() }
            accountIDs = try Self.identityTable(accounts.lazy.map(\.id), "account", at: start.offset)
            grantIDs = try Self.identityTable(grants.lazy.map(\.id), "grant", at: sections.grants)
            restReader.offset = sections.refunds
            restReader.end = start.end
            try decodeRest(&restReader)
        } catch {
            restError = error
        }
        group.wait()
        // The first damage in byte order: the accounts and grants come before the events.
        if let restError, restError.offset < sections.events { throw restError }
        (events, eventIDs) = try eventsPart.result!.get()
        if let restError { throw restError }
        try checkSnapshotIndices(restReader)
    }

    /// The events' section of a format 2 snapshot, `reader` at its start and ending at its end:
    /// the events, closed ones (settled, no debt) left encoded (see EventTable.swift), and
    /// their id table. The account and grant tables' counts, read at their starts, bound the
    /// indices of the events left encoded.
    private static func restoreEvents(
        _ reader: inout SnapshotReader, accountsAt: Int, grantsAt: Int
    ) throws(LedgerSnapshotError) -> (events: EventTable, ids: IdentityTable) {
        var counts = reader
        counts.offset = accountsAt
        let accountCount = Int(try counts.u32())
        counts.offset = grantsAt
        let grantCount = Int(try counts.u32())
        let start = reader.offset
        let count = try reader.count()
        var events = EventTable(encodedIn: reader.buffer)
        var keys = ChunkedArray<String>()
        for _ in 0..<count {
            let eventStart = reader.offset
            let skimmed = try reader.skimEvent(accountCount: accountCount, grantCount: grantCount)
            let length = reader.offset - eventStart
            if skimmed.closed && length <= EventTable.encodedBytesMax && eventStart <= EventTable.encodedOffsetMax {
                events.appendEncoded(offset: eventStart, length: length)
            } else {
                var decoder = reader
                decoder.offset = eventStart
                events.appendRestored(try decoder.event())
                precondition(decoder.offset == reader.offset, "an event skims and decodes to the same end")
            }
            keys.append(skimmed.id)
        }
        if reader.offset != reader.end {
            throw reader.error("the events end here, the trailer says at byte \(reader.end)")
        }
        return (events, try identityTable(keys, "event", at: start))
    }

    /// Offsets in a snapshot's trailer (format 2): where the grants, events and refunds start.
    static let snapshotSectionCount = 3

    /// Version 1: one pass, the id lists after the events.
    private mutating func decodeVersion1(_ reader: inout SnapshotReader) throws(LedgerSnapshotError) {
        accounts = try reader.table(section: nil) { (reader) throws(LedgerSnapshotError) in try reader.account() }
        grants = try reader.table(section: nil) { (reader) throws(LedgerSnapshotError) in try reader.grant() }
        events = EventTable(decoded: try reader.table(section: nil) { (reader) throws(LedgerSnapshotError) in try reader.event() })
        // The id lists of version 1: each must be the records' ids, in order.
        try reader.idList(equalTo: accounts.lazy.map(\.id), "account")
        try reader.idList(equalTo: grants.lazy.map(\.id), "grant")
        try reader.idList(equalTo: events.lazy.map(\.id), "event")
        accountIDs = try Self.identityTable(accounts.lazy.map(\.id), "account", at: reader.offset)
        grantIDs = try Self.identityTable(grants.lazy.map(\.id), "grant", at: reader.offset)
        eventIDs = try Self.identityTable(events.lazy.map(\.id), "event", at: reader.offset)
        try decodeRest(&reader)
        try checkSnapshotIndices(reader)
    }

    /// The tables after the events: refunds, rate versions, deadlines, boundary alerts; then
    /// the reader must be at its end.
    private mutating func decodeRest(_ reader: inout SnapshotReader) throws(LedgerSnapshotError) {
        let refundCount = try reader.count()
        for _ in 0..<refundCount {
            let refund = try reader.refund()
            refunds[refund.request.id] = refund
        }
        let versionCount = try reader.count()
        for _ in 0..<versionCount {
            let request = try reader.rates()
            let effectiveAt = try reader.i64()
            guard rateCard.index(of: request.version) == nil else { throw reader.error("rate version twice") }
            rateCard.add(request, at: effectiveAt)
        }
        let deadlineCount = try reader.count()
        var due: [Deadline] = []
        due.reserveCapacity(deadlineCount)
        for _ in 0..<deadlineCount {
            let time = try reader.i64()
            guard let kind = Deadline.Kind(rawValue: try reader.u8()) else { throw reader.error("deadline kind") }
            due.append(Deadline(time: time, kind: kind, index: try reader.i32()))
        }
        deadlines = DeadlineHeap(due)
        let boundaryCount = try reader.count()
        for _ in 0..<boundaryCount { accountsAlertingAtBoundary.insert(try reader.i32()) }
        guard reader.offset == reader.end else { throw reader.error("bytes after the end") }
    }

    /// The id table of `ids` (the records' ids in index order); a duplicate id is an error
    /// at `offset` (where the tables would be).
    private static func identityTable<IDs: Collection<String>>(
        _ ids: IDs, _ kind: String, at offset: Int
    ) throws(LedgerSnapshotError) -> IdentityTable {
        var keys = ChunkedArray<String>()
        for id in ids { keys.append(id) }
        return try identityTable(keys, kind, at: offset)
    }

    private static func identityTable(
        _ keys: ChunkedArray<String>, _ kind: String, at offset: Int
    ) throws(LedgerSnapshotError) -> IdentityTable {
        do {
            return try IdentityTable(bulk: keys)
        } catch {
            throw LedgerSnapshotError(message: "\(kind) id \(keys[error.index]) twice", offset: offset)
        }
    }

    /// Every stored index points into its table: a decoded snapshot never traps later.
    private func checkSnapshotIndices(_ reader: SnapshotReader) throws(LedgerSnapshotError) {
        func inRange(_ index: RecordIndex, _ count: Int) -> Bool { index >= 0 && Int(index) < count }
        for account in accounts {
            for grant in account.grantsInBurnOrder where !inRange(grant, grants.count) {
                throw reader.error("grant index \(grant)")
            }
            for event in account.eventsInDebt where !inRange(event, events.count) {
                throw reader.error("event index \(event)")
            }
        }
        for grant in grants where !inRange(grant.account, accounts.count) {
            throw reader.error("account index \(grant.account)")
        }
        // The events still encoded had theirs checked by `skimEvent`.
        try events.forEachDecoded { (event) throws(LedgerSnapshotError) in
            guard inRange(event.account, accounts.count) else { throw reader.error("account index \(event.account)") }
            for share in event.allocation + event.records where !inRange(share.grant, grants.count) {
                throw reader.error("grant index \(share.grant)")
            }
        }
        for deadline in deadlines.unordered {
            let count = deadline.kind == .grant ? grants.count : events.count
            guard inRange(deadline.index, count) else { throw reader.error("deadline index \(deadline.index)") }
        }
        for index in accountsAlertingAtBoundary where !inRange(index, accounts.count) {
            throw reader.error("account index \(index)")
        }
    }
}

// MARK: - Writing

/// Appends little-endian values to a byte array.
struct SnapshotWriter {
    var bytes: [UInt8] = []
    /// The size at which `encodeSnapshot` hands the bytes on (never, by default).
    var flushBytes = Int.max
    /// Bytes handed on before `bytes`.
    var flushedCount = 0
    /// The offset of the next byte written, from the snapshot's start.
    var offset: Int { flushedCount + bytes.count }

    mutating func u8(_ value: UInt8) { bytes.append(value) }
    mutating func bool(_ value: Bool) { bytes.append(value ? 1 : 0) }
    mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func i64(_ value: Int64) { u64(UInt64(bitPattern: value)) }
    mutating func i32(_ value: Int32) { u32(UInt32(bitPattern: value)) }
    mutating func count(_ value: Int) {
        precondition(value >= 0 && value <= Int(UInt32.max), "a snapshot count fits 32 bits")
        u32(UInt32(value))
    }
    mutating func string(_ value: String) {
        count(value.utf8.count)
        bytes.append(contentsOf: value.utf8)
    }
    mutating func integers(_ values: [Int64]) {
        count(values.count)
        for value in values { i64(value) }
    }
    mutating func indices(_ values: [RecordIndex]) {
        count(values.count)
        for value in values { i32(value) }
    }
    mutating func flags(_ values: [Bool]) {
        count(values.count)
        for value in values { bool(value) }
    }
    /// An optional: a presence byte, then the value.
    mutating func optional<T>(_ value: T?, _ body: (inout SnapshotWriter, T) -> Void) {
        guard let value else { return u8(0) }
        u8(1)
        body(&self, value)
    }
    mutating func optionalI64(_ value: Int64?) { optional(value) { $0.i64($1) } }

    mutating func limitsSpec(_ spec: LimitsSpec) {
        optionalI64(spec.overdraft)
        optional(spec.period) { $0.u8($1.rawValue) }
        optionalI64(spec.periodCap)
        optional(spec.capMode) { $0.u8($1.rawValue) }
        optional(spec.alerts) { $0.integers($1) }
        optional(spec.periodAlerts) { $0.integers($1) }
        optional(spec.downgrade) { $0.bool($1) }
    }

    mutating func effectiveLimits(_ limits: EffectiveLimits) {
        i64(limits.overdraft)
        optional(limits.period) { $0.u8($1.rawValue) }
        optionalI64(limits.periodCap)
        u8(limits.capMode.rawValue)
        integers(limits.alertThresholds)
        integers(limits.periodAlertPercents)
        bool(limits.downgrade)
    }

    mutating func account(_ account: AccountState) {
        string(account.id)
        optional(account.createdLimits) { $0.limitsSpec($1) }
        effectiveLimits(account.limits)
        bool(account.paused)
        indices(account.grantsInBurnOrder)
        count(account.burnScanStart)
        for value in [account.free, account.allocated, account.unbacked, account.debt, account.granted] { i64(value) }
        i64(account.netCharged)
        indices(account.eventsInDebt)
        count(account.eventsInDebtHead)
        for value in [account.daySpent, account.dayIndex, account.monthSpent, account.monthIndex] { i64(value) }
        flags(account.lowBalanceArmed)
        flags(account.periodAlertFired)
        i64(account.periodAlertsIndex)
        bool(account.debtAlertArmed)
        u64(account.touchedSerial)
    }

    mutating func grantRequest(_ request: GrantRequest) {
        string(request.account)
        string(request.id)
        i64(request.amount)
        optionalI64(request.expiresAt)
        optionalI64(request.priority)
        optionalI64(request.paid)
    }

    mutating func grant(_ grant: GrantState) {
        grantRequest(grant.request)
        i32(grant.account)
        for value in [grant.availableAfterCreation, grant.amount, grant.free, grant.allocated, grant.consumed] {
            i64(value)
        }
        i64(grant.expired)
        bool(grant.isExpired)
    }

    mutating func usage(_ usage: Usage) {
        count(usage.entries.count)
        for entry in usage.entries {
            string(entry.meter)
            i64(entry.quantity)
        }
    }

    mutating func cost(_ cost: CostSpec) {
        switch cost {
        case .amount(let credits):
            u8(0)
            i64(credits)
        case .item(let item, let usage):
            u8(1)
            string(item)
            optional(usage) { $0.usage($1) }
        }
    }

    mutating func shares(_ shares: [GrantShare]) {
        count(shares.count)
        for share in shares {
            i32(share.grant)
            i64(share.credits)
        }
    }

    mutating func eventRequest(_ request: EventRequest) {
        switch request {
        case .reserve(let reserve):
            u8(0)
            string(reserve.account)
            string(reserve.id)
            cost(reserve.cost)
            optionalI64(reserve.ttlMilliseconds)
        case .charge(let charge):
            u8(1)
            string(charge.account)
            string(charge.id)
            cost(charge.cost)
            optional(charge.force) { $0.bool($1) }
        }
    }

    mutating func event(_ event: EventState) {
        eventRequest(event.request)
        i32(event.account)
        u8(event.status.rawValue)
        i64(event.hold)
        optional(event.pricedItem) {
            $0.string($1.item)
            $0.string($1.version)
        }
        i32(event.rateVersion)
        shares(event.allocation)
        i64(event.unbacked)
        optionalI64(event.expiresAt)
        shares(event.records)
        for value in [event.debt, event.charged, event.refunded] { i64(value) }
        for flag in [event.late, event.downgraded, event.overCap] { bool(flag) }
        i64(event.availableAfterCreation)
        optional(event.settlement) { writer, settlement in
            switch settlement {
            case .release: writer.u8(0)
            case .commit(.amount(let credits)):
                writer.u8(1)
                writer.i64(credits)
            case .commit(.usage(let usage)):
                writer.u8(2)
                writer.usage(usage)
            }
        }
        i64(event.availableAfterSettlement)
    }

    mutating func refund(_ refund: RefundState) {
        string(refund.request.id)
        string(refund.request.event)
        optionalI64(refund.request.amount)
        i64(refund.refunded)
        i64(refund.availableAfter)
    }

    mutating func rates(_ request: RatesRequest) {
        string(request.version)
        optionalI64(request.effectiveAt)
        let items = request.items.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        count(items.count)
        for (name, item) in items {
            string(name)
            optionalI64(item.base)
            optional(item.meters) { writer, meters in
                let sorted = meters.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
                writer.count(sorted.count)
                for (meter, price) in sorted {
                    writer.string(meter)
                    writer.i64(price.price)
                    writer.optionalI64(price.per)
                }
            }
            optional(item.fallback) { $0.string($1) }
        }
    }
}

// MARK: - Reading

/// Reads what ``SnapshotWriter`` wrote, checking every bound.
// Sendable: `bytes` point into `buffer`, immutable and kept alive by the reader.
struct SnapshotReader: @unchecked Sendable {
    /// What `bytes` are in, kept alive by the reader.
    let buffer: SnapshotBuffer
    let bytes: UnsafeRawBufferPointer
    var offset = 0
    /// Where the part being read ends: reads past it are refused as truncated.
    var end: Int

    init(_ buffer: SnapshotBuffer) {
        self.buffer = buffer
        bytes = buffer.bytes
        end = bytes.count
    }

    func error(_ message: String) -> LedgerSnapshotError { LedgerSnapshotError(message: message, offset: offset) }

    /// Reads the trailer (format 2) and ends the reader before it: the offsets where the
    /// grants, events and refunds start, each checked to be in order and inside the bytes.
    mutating func sectionTrailer() throws(LedgerSnapshotError) -> (grants: Int, events: Int, refunds: Int) {
        let trailerBytes = Ledger.snapshotSectionCount * 8 + 4
        guard end - offset >= trailerBytes else { throw error("truncated: no section trailer") }
        var trailer = self
        trailer.offset = end - 4
        guard try trailer.u32() == UInt32(Ledger.snapshotSectionCount) else {
            trailer.offset = end - 4
            throw trailer.error("section trailer count")
        }
        trailer.offset = end - trailerBytes
        var offsets: [Int] = []
        for _ in 0..<Ledger.snapshotSectionCount {
            let value = try trailer.u64()
            guard value <= UInt64(end - trailerBytes), offsets.last.map({ UInt64($0) <= value }) ?? (value >= UInt64(offset)) else {
                trailer.offset -= 8
                throw trailer.error("section offset \(value)")
            }
            offsets.append(Int(value))
        }
        end -= trailerBytes
        return (offsets[0], offsets[1], offsets[2])
    }

    /// A counted table of records read by `record`. With a `section` name, the reader must
    /// end exactly at `end` (where the next section starts).
    mutating func table<Element>(
        section: String?, _ record: (inout SnapshotReader) throws(LedgerSnapshotError) -> Element
    ) throws(LedgerSnapshotError) -> ChunkedArray<Element> {
        let count = try count()
        var table = ChunkedArray<Element>()
        for _ in 0..<count { table.append(try record(&self)) }
        if let section, offset != end {
            throw error("the \(section) end here, the trailer says at byte \(end)")
        }
        return table
    }

    mutating func take(_ count: Int) throws(LedgerSnapshotError) -> Int {
        guard count <= end - offset else { throw error("truncated") }
        defer { offset += count }
        return offset
    }
    mutating func u8() throws(LedgerSnapshotError) -> UInt8 { bytes[try take(1)] }
    mutating func bool() throws(LedgerSnapshotError) -> Bool {
        let value = try u8()
        guard value <= 1 else { throw error("boolean \(value)") }
        return value == 1
    }
    // Integers are loaded whole (bounds checked by `take`): a snapshot holds tens of millions.
    mutating func u64() throws(LedgerSnapshotError) -> UInt64 {
        let start = try take(8)
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: start, as: UInt64.self))
    }
    mutating func u32() throws(LedgerSnapshotError) -> UInt32 {
        let start = try take(4)
        return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: start, as: UInt32.self))
    }
    mutating func i64() throws(LedgerSnapshotError) -> Int64 { Int64(bitPattern: try u64()) }
    mutating func i32() throws(LedgerSnapshotError) -> Int32 { Int32(bitPattern: try u32()) }
    /// A count; every counted element takes at least one byte, so a count above the bytes
    /// left is corrupt (and never allocates a huge array).
    mutating func count() throws(LedgerSnapshotError) -> Int {
        let value = Int(try u32())
        guard value <= end - offset else { throw error("count \(value) beyond the end") }
        return value
    }
    mutating func string() throws(LedgerSnapshotError) -> String {
        let length = try count()
        let start = try take(length)
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<start + length]), as: UTF8.self)
    }
    mutating func integers() throws(LedgerSnapshotError) -> [Int64] {
        let n = try count()
        var values: [Int64] = []
        values.reserveCapacity(n)
        for _ in 0..<n { values.append(try i64()) }
        return values
    }
    mutating func indices() throws(LedgerSnapshotError) -> [RecordIndex] {
        let n = try count()
        var values: [RecordIndex] = []
        values.reserveCapacity(n)
        for _ in 0..<n { values.append(try i32()) }
        return values
    }
    mutating func flags() throws(LedgerSnapshotError) -> [Bool] {
        let n = try count()
        var values: [Bool] = []
        values.reserveCapacity(n)
        for _ in 0..<n { values.append(try bool()) }
        return values
    }
    mutating func present() throws(LedgerSnapshotError) -> Bool { try bool() }
    mutating func optionalI64() throws(LedgerSnapshotError) -> Int64? { try present() ? try i64() : nil }
    mutating func period() throws(LedgerSnapshotError) -> Period {
        guard let period = Period(rawValue: try u8()) else { throw error("period") }
        return period
    }
    mutating func capMode() throws(LedgerSnapshotError) -> CapMode {
        guard let mode = CapMode(rawValue: try u8()) else { throw error("cap mode") }
        return mode
    }

    mutating func limitsSpec() throws(LedgerSnapshotError) -> LimitsSpec {
        var spec = LimitsSpec()
        spec.overdraft = try optionalI64()
        spec.period = try present() ? try period() : nil
        spec.periodCap = try optionalI64()
        spec.capMode = try present() ? try capMode() : nil
        spec.alerts = try present() ? try integers() : nil
        spec.periodAlerts = try present() ? try integers() : nil
        spec.downgrade = try present() ? try bool() : nil
        return spec
    }

    mutating func effectiveLimits() throws(LedgerSnapshotError) -> EffectiveLimits {
        var limits = EffectiveLimits()
        limits.overdraft = try i64()
        limits.period = try present() ? try period() : nil
        limits.periodCap = try optionalI64()
        limits.capMode = try capMode()
        limits.alertThresholds = try integers()
        limits.periodAlertPercents = try integers()
        limits.downgrade = try bool()
        return limits
    }

    mutating func account() throws(LedgerSnapshotError) -> AccountState {
        let id = try string()
        var account = AccountState(id: id, createdLimits: try present() ? try limitsSpec() : nil)
        account.limits = try effectiveLimits()
        account.paused = try bool()
        account.grantsInBurnOrder = try indices()
        account.burnScanStart = Int(try u32())
        account.free = try i64()
        account.allocated = try i64()
        account.unbacked = try i64()
        account.debt = try i64()
        account.granted = try i64()
        account.netCharged = try i64()
        account.eventsInDebt = try indices()
        account.eventsInDebtHead = Int(try u32())
        account.daySpent = try i64()
        account.dayIndex = try i64()
        account.monthSpent = try i64()
        account.monthIndex = try i64()
        account.lowBalanceArmed = try flags()
        account.periodAlertFired = try flags()
        account.periodAlertsIndex = try i64()
        account.debtAlertArmed = try bool()
        account.touchedSerial = try u64()
        guard account.burnScanStart <= account.grantsInBurnOrder.count else { throw error("burn scan start") }
        guard account.eventsInDebtHead <= account.eventsInDebt.count else { throw error("debt head") }
        guard account.lowBalanceArmed.count == account.limits.alertThresholds.count else { throw error("alert flags") }
        return account
    }

    mutating func grant() throws(LedgerSnapshotError) -> GrantState {
        let request = GrantRequest(
            account: try string(), id: try string(), amount: try i64(), expiresAt: try optionalI64(),
            priority: try optionalI64(), paid: try optionalI64())
        let account = try i32()
        var grant = GrantState(
            request: request, account: account, availableAfterCreation: try i64(), amount: try i64(), free: try i64())
        grant.allocated = try i64()
        grant.consumed = try i64()
        grant.expired = try i64()
        grant.isExpired = try bool()
        return grant
    }

    mutating func usage() throws(LedgerSnapshotError) -> Usage {
        let n = try count()
        var entries: [Usage.Entry] = []
        for _ in 0..<n { entries.append(Usage.Entry(meter: try string(), quantity: try i64())) }
        guard let usage = Usage(entries) else { throw error("usage meter twice") }
        return usage
    }

    mutating func cost() throws(LedgerSnapshotError) -> CostSpec {
        switch try u8() {
        case 0: return .amount(try i64())
        case 1: return .item(try string(), usage: try present() ? try usage() : nil)
        default: throw error("cost kind")
        }
    }

    mutating func shares() throws(LedgerSnapshotError) -> [GrantShare] {
        let n = try count()
        var shares: [GrantShare] = []
        shares.reserveCapacity(n)
        for _ in 0..<n { shares.append(GrantShare(grant: try i32(), credits: try i64())) }
        return shares
    }

    mutating func eventRequest() throws(LedgerSnapshotError) -> EventRequest {
        switch try u8() {
        case 0:
            return .reserve(
                ReserveRequest(account: try string(), id: try string(), cost: try cost(), ttlMilliseconds: try optionalI64()))
        case 1:
            return .charge(
                ChargeRequest(account: try string(), id: try string(), cost: try cost(), force: try present() ? try bool() : nil))
        default: throw error("event request kind")
        }
    }

    mutating func event() throws(LedgerSnapshotError) -> EventState {
        let request = try eventRequest()
        let account = try i32()
        guard let status = EventStatus(rawValue: try u8()) else { throw error("event status") }
        var event = EventState(request: request, account: account, status: status)
        event.hold = try i64()
        event.pricedItem = try present() ? PricedItem(item: try string(), version: try string()) : nil
        event.rateVersion = try i32()
        event.allocation = try shares()
        event.unbacked = try i64()
        event.expiresAt = try optionalI64()
        event.records = try shares()
        event.debt = try i64()
        event.charged = try i64()
        event.refunded = try i64()
        event.late = try bool()
        event.downgraded = try bool()
        event.overCap = try bool()
        event.availableAfterCreation = try i64()
        if try present() {
            switch try u8() {
            case 0: event.settlement = .release
            case 1: event.settlement = .commit(.amount(try i64()))
            case 2: event.settlement = .commit(.usage(try usage()))
            default: throw error("settlement kind")
            }
        }
        event.availableAfterSettlement = try i64()
        return event
    }

    /// Reads an event's bytes as `event()` does, refusing whatever it refuses, and checks
    /// its account and grant indices against the tables' counts, without building the event
    /// (no heap allocation unless a usage names a non-ASCII meter): its id, and whether it is
    /// closed (settled or expired, with no debt). Kept next to `event()`: the two read the
    /// same fields in the same order.
    mutating func skimEvent(accountCount: Int, grantCount: Int) throws(LedgerSnapshotError) -> (id: String, closed: Bool) {
        // The request (`eventRequest()`).
        let kind = try u8()
        guard kind <= 1 else { throw error("event request kind") }
        try skipString()  // account
        let id = try string()
        try skimCost()
        if kind == 0 {
            _ = try optionalI64()  // ttl
        } else if try present() {
            _ = try bool()  // force
        }
        let account = try i32()
        guard let status = EventStatus(rawValue: try u8()) else { throw error("event status") }
        guard account >= 0 && Int(account) < accountCount else { throw error("account index \(account)") }
        _ = try i64()  // hold
        if try present() {  // priced item and version
            try skipString()
            try skipString()
        }
        _ = try i32()  // rate version
        try skimShares(grantCount: grantCount)  // allocation
        _ = try i64()  // unbacked
        _ = try optionalI64()  // expires at
        try skimShares(grantCount: grantCount)  // records
        let debt = try i64()
        _ = try i64()  // charged
        _ = try i64()  // refunded
        _ = try bool()  // late
        _ = try bool()  // downgraded
        _ = try bool()  // over cap
        _ = try i64()  // available after creation
        if try present() {
            switch try u8() {
            case 0: break
            case 1: _ = try i64()
            case 2: try skimUsage()
            default: throw error("settlement kind")
            }
        }
        _ = try i64()  // available after settlement
        return (id, status != .open && debt == 0)
    }

    private mutating func skipString() throws(LedgerSnapshotError) { _ = try take(try count()) }

    private mutating func skimCost() throws(LedgerSnapshotError) {
        switch try u8() {
        case 0: _ = try i64()
        case 1:
            try skipString()
            if try present() { try skimUsage() }
        default: throw error("cost kind")
        }
    }

    private mutating func skimShares(grantCount: Int) throws(LedgerSnapshotError) {
        let n = try count()
        for _ in 0..<n {
            let grant = try i32()
            guard grant >= 0 && Int(grant) < grantCount else { throw error("grant index \(grant)") }
            _ = try i64()
        }
    }

    /// Refuses what `usage()` refuses, a meter twice. The writer puts the meters in
    /// ascending byte order; for ASCII meters, in that order, a meter twice is two equal
    /// neighbours. Anything else (non-ASCII, which `String` compares by canonical
    /// equivalence, or another order) is checked by `usage()` itself.
    private mutating func skimUsage() throws(LedgerSnapshotError) {
        let start = offset
        let n = try count()
        var previous: Range<Int>? = nil
        var simple = true
        for _ in 0..<n {
            let length = try count()
            let meter = try take(length)..<offset
            _ = try i64()
            if simple {
                simple = bytes[meter].allSatisfy { $0 < 0x80 }
                if let previous, simple {
                    simple = bytes[previous].lexicographicallyPrecedes(bytes[meter])
                }
            }
            previous = meter
        }
        guard !simple else { return }
        let end = offset
        offset = start
        _ = try usage()
        precondition(offset == end, "a usage skims and decodes to the same end")
    }

    mutating func refund() throws(LedgerSnapshotError) -> RefundState {
        let request = RefundRequest(id: try string(), event: try string(), amount: try optionalI64())
        return RefundState(request: request, refunded: try i64(), availableAfter: try i64())
    }

    mutating func rates() throws(LedgerSnapshotError) -> RatesRequest {
        let version = try string()
        let effectiveAt = try optionalI64()
        let itemCount = try count()
        var items: [String: ItemSpec] = [:]
        for _ in 0..<itemCount {
            let name = try string()
            var item = ItemSpec(base: try optionalI64())
            if try present() {
                let meterCount = try count()
                var meters: [String: MeterPriceSpec] = [:]
                for _ in 0..<meterCount {
                    meters[try string()] = MeterPriceSpec(price: try i64(), per: try optionalI64())
                }
                item.meters = meters
            }
            item.fallback = try present() ? try string() : nil
            items[name] = item
        }
        return RatesRequest(version: version, effectiveAt: effectiveAt, items: items)
    }

    /// Reads a list of ids (version 1) and checks that it is `expected`.
    mutating func idList<Expected: Collection<String>>(
        equalTo expected: Expected, _ kind: String
    ) throws(LedgerSnapshotError) {
        let count = try count()
        guard count == expected.count else { throw error("\(kind) id list of \(count), expected \(expected.count)") }
        for id in expected {
            guard try string() == id else { throw error("\(kind) id list differs from the \(kind)s' ids") }
        }
    }
}

extension Ledger {
    /// Calls `grant` with every grant id and `refund` with every refund id the ledger holds,
    /// each in creation order: what an engine needs to rebuild its id → shard registry from
    /// its shards' ledgers. Pure; safe from any thread on a copy of the ledger.
    public func forEachGrantAndRefundID(grant: (String) -> Void, refund: (String) -> Void) {
        for id in grantIDs.keys { grant(id) }
        for id in refunds.keys { refund(id) }
    }
}
