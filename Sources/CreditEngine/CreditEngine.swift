// The concurrent credit engine: any number of threads call it directly and synchronously.
//
// Accounts are spread over shards. Each account's admission figures (available credits, cap
// usage, paused) live in one 128-bit atomic word: reserve and charge (by amount or by item),
// commit (by amount or by usage) and release decide and take effect with one compare-and-swap
// on it, with no lock and no allocation, and queue a record for the account's shard. The
// shard settles those records into its `Ledger` (the exact sequential core) in each
// account's order, off the hot path; every other request, and any request that finds
// something due, goes through the shard's ledger under its lock. Results are exactly the
// core's.

import CreditCore
import Synchronization

/// The concurrent engine. Safe from any thread; see the file's opening paragraph for how.
public final class CreditEngine: @unchecked Sendable {
    // Safe to share: the atomic tables are atomics; the plain per-account and per-event
    // tables are written either before an acquiring publication (event fields, before their
    // status) or while the owning shard's gate is closed (profiles), and read after the
    // matching acquire; everything else is behind a lock (`Locked`).

    public let configuration: EngineConfiguration
    let clock: any EngineClock
    let shards: [Shard]
    let shardMask: Int
    /// log2 of the shard count: an account's index within its shard is `slot >> shardShift`.
    let shardShift: Int

    let accountIDs: ConcurrentIDMap
    let words: UnsafeMutablePointer<Atomic<WordPair>>
    let profiles: UnsafeMutablePointer<AccountProfile>

    let eventIDs: ConcurrentIDMap
    /// Per event slot: `EventStatus` raw values.
    let eventStatus: UnsafeMutablePointer<Atomic<UInt8>>
    let eventAccount: UnsafeMutablePointer<Int32>
    let eventHold: UnsafeMutablePointer<Int64>
    let eventExpiresAt: UnsafeMutablePointer<Int64>
    /// Per event slot: how a reservation's commit by usage is priced without the ledger
    /// (`EventPricing`); written with the other event fields, before the status.
    let eventPricing: UnsafeMutablePointer<EventPricing>
    /// Per event slot: 1 while the reservation holds its open-reservation counts
    /// (CreditEngine+Limits.swift).
    let eventCounted: UnsafeMutablePointer<Atomic<UInt8>>
    /// Per account slot: its open reservations; and all of them.
    let openReservationsByAccount: UnsafeMutablePointer<Atomic<Int32>>
    let openReservations = Atomic<Int>(0)

    /// The `t` of the latest accepted request.
    let lastTime = Atomic<Int64>(0)
    /// Ids of grants and refunds, by shard: created through the slow path only.
    let registry = Locked(Registry())

    let alertSubscribers = Locked(AlertSubscribers())
    /// Settled operations whose ledger result differed from the hot path's answer: always 0
    /// unless the engine has a bug. Checked by the tests.
    let settlementMismatches = Atomic<Int>(0)

    /// The count of settlement mismatches (see above).
    public var mismatchCount: Int { settlementMismatches.load(ordering: .relaxed) }

    /// An event slot's state, as the hot path sees it.
    enum EventSlotStatus: UInt8 {
        /// Never created, or its creation was refused: the id is free.
        case free = 0
        /// Being created by one thread.
        case creating = 1
        /// An open reservation (it may have expired: see `eventExpiresAt`).
        case open = 2
        /// Anything else: a charge, a closed reservation, or one being closed.
        case other = 3
        /// Being committed or released by one thread.
        case closing = 4
    }

    struct Registry {
        var grantShard: [String: Int] = [:]
        var refundShard: [String: Int] = [:]
    }

    /// An engine with the given limits and clock.
    public init(configuration: EngineConfiguration = EngineConfiguration(), clock: any EngineClock = SystemClock())
        throws(EngineError)
    {
        try configuration.validate()
        self.configuration = configuration
        self.clock = clock
        shardMask = configuration.shardCount - 1
        shardShift = configuration.shardCount.trailingZeroBitCount
        let accountsPerShard = (configuration.accountsMax + shardMask) >> shardShift
        shards = (0..<configuration.shardCount).map {
            Shard(index: $0, queueCapacity: configuration.settleQueueCapacity, accountCount: accountsPerShard)
        }
        accountIDs = ConcurrentIDMap(capacity: configuration.accountsMax)
        words = .allocate(capacity: configuration.accountsMax)
        profiles = .allocate(capacity: configuration.accountsMax)
        openReservationsByAccount = .allocate(capacity: configuration.accountsMax)
        for slot in 0..<configuration.accountsMax {
            (words + slot).initialize(to: Atomic(WordPair(first: 0, second: 0)))
            (profiles + slot).initialize(to: AccountProfile())
            (openReservationsByAccount + slot).initialize(to: Atomic(0))
        }
        eventIDs = ConcurrentIDMap(capacity: configuration.eventsMax)
        // Event tables are touched lazily: the operating system gives pages on first write.
        eventStatus = .allocate(capacity: configuration.eventsMax)
        eventAccount = .allocate(capacity: configuration.eventsMax)
        eventHold = .allocate(capacity: configuration.eventsMax)
        eventExpiresAt = .allocate(capacity: configuration.eventsMax)
        eventPricing = .allocate(capacity: configuration.eventsMax)
        eventCounted = .allocate(capacity: configuration.eventsMax)
        // Atomics must be initialized before use; a zeroed page is the `free` status.
        for slot in 0..<configuration.eventsMax {
            (eventStatus + slot).initialize(to: Atomic(0))
            (eventCounted + slot).initialize(to: Atomic(0))
        }
    }

    deinit {
        words.deinitialize(count: configuration.accountsMax)
        words.deallocate()
        profiles.deinitialize(count: configuration.accountsMax)
        profiles.deallocate()
        eventStatus.deinitialize(count: configuration.eventsMax)
        eventStatus.deallocate()
        eventCounted.deinitialize(count: configuration.eventsMax)
        eventCounted.deallocate()
        openReservationsByAccount.deinitialize(count: configuration.accountsMax)
        openReservationsByAccount.deallocate()
        eventAccount.deallocate()
        eventHold.deallocate()
        eventExpiresAt.deallocate()
        eventPricing.deallocate()
    }

    @inline(__always)
    func shard(ofAccount slot: Int) -> Shard { shards[slot & shardMask] }

    // MARK: - Requests

    /// Applies a request at the engine clock's time (never earlier than the last accepted
    /// request's). Safe from any thread.
    public func apply(_ request: Request) throws(EngineError) -> Response {
        var alerts: [Alert] = []
        return try apply(request, alerts: &alerts)
    }

    /// Applies a request at the engine clock's time, appending the alerts settled with it.
    public func apply(_ request: Request, alerts: inout [Alert]) throws(EngineError) -> Response {
        while true {
            let t = max(clock.now(), lastTime.load(ordering: .relaxed))
            let response = try apply(request, at: t, alerts: &alerts)
            // Another thread moved time past ours between the read and the check: read again.
            if case .failure(let refusal) = response.result, refusal.code == .timeWentBackwards { continue }
            return response
        }
    }

    /// Applies a request at time `t`, as the sequential spec does: `invalid` and
    /// `time_went_backwards` change nothing. Safe from any thread; concurrent requests are
    /// linearizable. Throws only when an engine limit is reached (nothing changed then).
    public func apply(_ request: Request, at t: Milliseconds, alerts: inout [Alert]) throws(EngineError) -> Response {
        guard request.isWellFormed(at: t) else { return .refused(.invalid) }
        guard advanceTime(to: t) else { return .refused(.timeWentBackwards) }
        let first = alerts.count
        if configuration.eagerTimePassing {
            // The request's own shard passes time inside its ledger, with the request, so
            // that its alerts are evaluated once, on the state after both.
            passTime(to: t, except: ownShard(of: request), alerts: &alerts)
        }
        var response = try hotPath(request, at: t, alerts: &alerts)
        if response == nil { response = try slowPath(request, at: t, alerts: &alerts) }
        // Alerts from several shards (time passing elsewhere, the request's own): one request's
        // alerts are ordered by account id.
        sortByAccount(&alerts, from: first)
        return response!
    }

    /// Moves the engine's time to `t`; false when `t` is before the last accepted request's.
    @inline(__always)
    func advanceTime(to t: Milliseconds) -> Bool {
        var last = lastTime.load(ordering: .sequentiallyConsistent)
        while t > last {
            let (exchanged, current) = lastTime.weakCompareExchange(
                expected: last, desired: t, ordering: .sequentiallyConsistent)
            if exchanged { return true }
            last = current
        }
        return t >= last
    }
}

// MARK: - Alerts

/// Subscribers to the alert stream.
struct AlertSubscribers {
    var callbacks: [@Sendable ([Alert]) -> Void] = []
    var continuations: [AsyncStream<Alert>.Continuation] = []
}

extension CreditEngine {
    /// Calls `body` with the alerts of every settled request, in each account's order, on
    /// the thread that settled them (keep it short). Safe from any thread.
    public func onAlerts(_ body: @escaping @Sendable ([Alert]) -> Void) {
        alertSubscribers.withLock { $0.callbacks.append(body) }
    }

    /// The alerts of every settled request, in each account's order, as a stream.
    public func alertStream() -> AsyncStream<Alert> {
        let (stream, continuation) = AsyncStream<Alert>.makeStream()
        alertSubscribers.withLock { $0.continuations.append(continuation) }
        return stream
    }

    func deliver(_ alerts: ArraySlice<Alert>) {
        if alerts.isEmpty { return }
        let batch = Array(alerts)
        alertSubscribers.withLock { subscribers in
            for callback in subscribers.callbacks { callback(batch) }
            for continuation in subscribers.continuations { for alert in batch { continuation.yield(alert) } }
        }
    }
}
