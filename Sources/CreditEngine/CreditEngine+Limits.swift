// The engine's limits on open reservations: per account (`openReservationsPerAccountMax`)
// and in all (`openReservationsMax`). Separate from the paths that enforce them so that the
// counting protocol, whose every give-back must happen exactly once, is in one place.
//
// A reserve takes one count of its account and one of the engine before it is admitted, and
// gives them back at once when it is not (refused, or handed to the slow path). An admitted
// reservation marks its event slot as holding a count (`eventCounted`); whatever closes it
// first gives the counts back by exchanging that mark for 0, so a second closing (a late
// commit after the expiry, a release after a commit) finds 0 and gives nothing:
// - a commit or release on the hot path, after its compare-and-swap;
// - a successful commit or release through the ledger;
// - its expiry: each shard keeps the deadlines of its counted reservations in a heap and,
//   after every request it runs, gives back those at or before the ledger's time (the ledger
//   has then expired them, or they were closed before).

import CreditCore
import Synchronization

/// Deadlines of a shard's counted reservations, soonest first: a binary min-heap. Entries of
/// reservations closed before their deadline stay until they come up (their mark is 0 then)
/// or until a compaction drops them. Not thread-safe: behind the shard's lock.
struct ExpiryHeap {
    struct Entry {
        var expiresAt: Milliseconds
        var eventSlot: Int32
    }

    /// Entries below this count are never compacted.
    static let compactionCountMin = 1024

    private(set) var entries: [Entry] = []
    /// The count at which the next compaction runs: twice the live entries after the last.
    private var compactionCount = Self.compactionCountMin

    var min: Entry? { entries.first }
    var count: Int { entries.count }

    /// Whether enough entries were added since the last compaction to run another.
    var needsCompaction: Bool { entries.count >= compactionCount }

    mutating func insert(_ entry: Entry) {
        entries.append(entry)
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].expiresAt < entries[parent].expiresAt else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    mutating func removeMin() {
        precondition(!entries.isEmpty, "removeMin of an empty heap")
        let last = entries.removeLast()
        if entries.isEmpty { return }
        entries[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            guard left < entries.count else { break }
            let right = left + 1
            let smaller = right < entries.count && entries[right].expiresAt < entries[left].expiresAt ? right : left
            guard entries[smaller].expiresAt < entries[parent].expiresAt else { break }
            entries.swapAt(smaller, parent)
            parent = smaller
        }
    }

    /// Keeps only the entries for which `isLive` holds (in an order that is a heap: sorted).
    mutating func compact(keeping isLive: (Entry) -> Bool) {
        entries.removeAll { !isLive($0) }
        entries.sort { $0.expiresAt < $1.expiresAt }
        compactionCount = Swift.max(Self.compactionCountMin, 2 * entries.count)
    }
}

extension CreditEngine {
    /// Takes one open-reservation count of an account and one of the engine; nil when taken,
    /// else the limit that refused (nothing taken then). Safe from any thread.
    @inline(__always)
    func takeReservationCount(account slot: Int) -> EngineError.Code? {
        // Relaxed: the counts order nothing else; each is exact by its own atomicity.
        let forAccount = openReservationsByAccount[slot].wrappingAdd(1, ordering: .relaxed).oldValue
        guard Int(forAccount) < configuration.openReservationsPerAccountMax else {
            openReservationsByAccount[slot].wrappingSubtract(1, ordering: .relaxed)
            return .openReservationsPerAccountFull
        }
        let inAll = openReservations.wrappingAdd(1, ordering: .relaxed).oldValue
        guard inAll < configuration.openReservationsMax else {
            openReservations.wrappingSubtract(1, ordering: .relaxed)
            openReservationsByAccount[slot].wrappingSubtract(1, ordering: .relaxed)
            return .openReservationsFull
        }
        return nil
    }

    /// Gives back counts taken by `takeReservationCount` for a reserve that was not admitted.
    @inline(__always)
    func returnReservationCount(account slot: Int) {
        let forAccount = openReservationsByAccount[slot].wrappingSubtract(1, ordering: .relaxed).oldValue
        precondition(forAccount > 0, "an account's open reservation count never goes below 0")
        let inAll = openReservations.wrappingSubtract(1, ordering: .relaxed).oldValue
        precondition(inAll > 0, "the open reservation count never goes below 0")
    }

    /// Marks an admitted reservation as holding its counts, before its status is published.
    @inline(__always)
    func markCounted(_ event: Int) {
        eventCounted[event].store(1, ordering: .relaxed)
    }

    /// Gives back a reservation's counts if it still holds them: exactly once per reservation,
    /// whoever calls first. Safe from any thread.
    @inline(__always)
    func releaseReservationCount(ofEvent event: Int) {
        guard eventCounted[event].exchange(0, ordering: .relaxed) == 1 else { return }
        returnReservationCount(account: Int(eventAccount[event]))
    }

    /// The error for a limit that refused a reserve.
    func reservationLimitError(_ code: EngineError.Code) -> EngineError {
        switch code {
        case .openReservationsPerAccountFull:
            EngineError(
                code,
                "open reservations of one account full: openReservationsPerAccountMax = \(configuration.openReservationsPerAccountMax)")
        default:
            EngineError(code, "open reservations full: openReservationsMax = \(configuration.openReservationsMax)")
        }
    }

    /// Adds a counted reservation's deadline to its shard's heap (none when it never
    /// expires). Holding the shard's lock.
    func scheduleExpiry(ofEvent event: Int, _ state: inout ShardState) {
        let expiresAt = eventExpiresAt[event]
        guard expiresAt != Int64.max else { return }
        state.expiries.insert(ExpiryHeap.Entry(expiresAt: expiresAt, eventSlot: Int32(event)))
    }

    /// Gives back the counts of reservations whose deadline the ledger's time has reached,
    /// and drops entries of closed ones when there are many. Holding the shard's lock, gate
    /// closed: no mark of this shard's events changes meanwhile.
    func processExpiries(_ state: inout ShardState) {
        let now = state.ledger.lastTime
        while let next = state.expiries.min, next.expiresAt <= now {
            state.expiries.removeMin()
            releaseReservationCount(ofEvent: Int(next.eventSlot))
        }
        if state.expiries.needsCompaction {
            state.expiries.compact { self.eventCounted[Int($0.eventSlot)].load(ordering: .relaxed) == 1 }
        }
    }

    /// Open reservations counted in the whole engine (those whose expiry no shard has passed
    /// yet included). Safe from any thread.
    public var openReservationCount: Int { openReservations.load(ordering: .relaxed) }

    /// Open reservations counted for one account slot. For tests.
    func openReservationCount(ofAccount id: String) -> Int {
        guard let slot = accountIDs.find(id) else { return 0 }
        return Int(openReservationsByAccount[slot].load(ordering: .relaxed))
    }
}
