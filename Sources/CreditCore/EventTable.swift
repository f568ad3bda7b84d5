// The ledger's events (reservations and charges), by record index.
//
// Why not a plain `ChunkedArray<EventState>`: events are most of a big state (1M accounts
// after 10M requests: 9M events, 90% of a snapshot's bytes), and nearly all of them are
// closed: settled with no debt, kept only to answer a retry, an `event` query or a refund.
// Restoring a snapshot used to build every one of them (a few hundred bytes and a few heap
// objects each: seconds of allocation and page faults for millions). Now a restore keeps
// the snapshot's bytes and decodes a closed event only when it is read; a write to it
// decodes it for good. Open events and events in debt (the ones deadlines and debt payments
// reach by index) are decoded at the restore. A snapshot of a restored ledger copies a
// still-encoded event's bytes as they are (the event encoding is the same).

/// The events of a ledger: index `i` is the event whose id has index `i` in `eventIDs`.
/// A value with copy-on-write storage, like the `ChunkedArray`s it is made of; copies may be
/// read on other threads.
struct EventTable: RandomAccessCollection, Sendable {
    typealias Index = Int
    typealias Indices = Range<Int>

    /// The snapshot bytes the still-encoded events are in (nil when none). Never written:
    /// copies of the table share them, and threads may read them at once.
    private var encoded: SnapshotBuffer? = nil
    /// Where each restored event is (indices below `places.count`): an encoded place (the
    /// flag, the offset and the length of its bytes in `encoded`) or its position in
    /// `restored`.
    private var places = ChunkedArray<UInt64>()
    /// The restored events decoded so far.
    private var restored = ChunkedArray<EventState>()
    /// The events created since the restore (all of them without one): event
    /// `places.count + k` is `created[k]`.
    private var created = ChunkedArray<EventState>()

    /// The flag of an encoded place; below it the offset, then `placeLengthBits` of length.
    private static let encodedFlag: UInt64 = 1 << 63
    private static let placeLengthBits: UInt64 = 24
    /// The longest event kept encoded: 16 MiB - 1 bytes (a longer one is decoded at the restore).
    static let encodedBytesMax = Int(1 << placeLengthBits) - 1
    /// The largest offset of an encoded event: 2^39 - 1 bytes (512 GiB).
    static let encodedOffsetMax = Int(1 << (63 - placeLengthBits)) - 1

    /// An empty table.
    init() {}

    /// The table of `events`, all decoded (a snapshot of format version 1).
    init(decoded events: ChunkedArray<EventState>) { created = events }

    /// An empty table whose `appendEncoded` events are in `bytes`.
    init(encodedIn bytes: SnapshotBuffer) { encoded = bytes }

    var startIndex: Int { 0 }
    var endIndex: Int { places.count + created.count }
    var count: Int { places.count + created.count }

    /// Events still encoded (for tests and statistics).
    var encodedCount: Int { places.count - restored.count }

    subscript(index: Int) -> EventState {
        _read {
            if index >= places.count {
                yield created[index - places.count]
            } else {
                let place = places[index]
                if place & Self.encodedFlag == 0 {
                    yield restored[Int(place)]
                } else {
                    yield decode(place)
                }
            }
        }
        _modify {
            if index >= places.count {
                yield &created[index - places.count]
            } else {
                let position = decodeForGood(index)
                yield &restored[position]
            }
        }
    }

    /// Adds an event after the last.
    mutating func append(_ event: EventState) { created.append(event) }

    /// Adds a restored event, decoded (precondition: no event created yet).
    mutating func appendRestored(_ event: EventState) {
        precondition(created.isEmpty, "restored events come first")
        places.append(UInt64(restored.count))
        restored.append(event)
    }

    /// Adds a restored event left encoded: `length` bytes at `offset` of the bytes given at
    /// `init(encodedIn:)`, which decode with `SnapshotReader.event()` (the restore checked
    /// that they do). Precondition: no event created yet; the offset and length within the
    /// limits above.
    mutating func appendEncoded(offset: Int, length: Int) {
        precondition(created.isEmpty, "restored events come first")
        precondition(length >= 1 && length <= Self.encodedBytesMax, "an encoded event's length")
        precondition(
            offset >= 0 && offset <= Self.encodedOffsetMax && offset + length <= (encoded?.bytes.count ?? 0),
            "an encoded event's offset")
        places.append(Self.encodedFlag | UInt64(offset) << Self.placeLengthBits | UInt64(length))
    }

    /// The bytes of event `index` if it is still encoded: what `SnapshotWriter.event` writes
    /// for it. Nil when decoded. Valid while this table (or a copy) lives.
    func encodedBytes(of index: Int) -> UnsafeRawBufferPointer? {
        guard index < places.count, let encoded else { return nil }
        let place = places[index]
        guard place & Self.encodedFlag != 0 else { return nil }
        let (offset, length) = Self.range(place)
        return UnsafeRawBufferPointer(rebasing: encoded.bytes[offset..<offset + length])
    }

    /// Every decoded event (restored and created), without decoding the others.
    func forEachDecoded(_ body: (EventState) throws(LedgerSnapshotError) -> Void) throws(LedgerSnapshotError) {
        for event in restored { try body(event) }
        for event in created { try body(event) }
    }

    @inline(__always)
    private static func range(_ place: UInt64) -> (offset: Int, length: Int) {
        let lengthMask = (UInt64(1) << placeLengthBits) - 1
        return (Int((place & ~encodedFlag) >> placeLengthBits), Int(place & lengthMask))
    }

    /// The event at an encoded place. The restore checked these bytes by the rules of
    /// `SnapshotReader.event()` (`skimEvent`), so a failure here is a broken invariant, not
    /// bad input.
    private func decode(_ place: UInt64) -> EventState {
        let (offset, length) = Self.range(place)
        var reader = SnapshotReader(encoded!)
        reader.offset = offset
        reader.end = offset + length
        do {
            let event = try reader.event()
            precondition(reader.offset == reader.end, "an encoded event is read to its end")
            return event
        } catch {
            preconditionFailure("an event checked at the restore decodes: \(error)")
        }
    }

    /// Decodes event `index` for good if it is still encoded, so that the reads that follow
    /// don't decode it each (a commit or release reads several of its fields). Returns its
    /// position in `restored` (meaningless for a created event).
    @discardableResult
    mutating func decodeForGood(_ index: Int) -> Int {
        guard index < places.count else { return index - places.count }
        let place = places[index]
        if place & Self.encodedFlag == 0 { return Int(place) }
        let position = restored.count
        restored.append(decode(place))
        places[index] = UInt64(position)
        return position
    }
}
