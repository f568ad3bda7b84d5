// The concurrent engine made durable: every request that changes state is journalled, and
// its answer returned only once its record is as durable as the journal's mode promises.
//
// Order. Recovery replays the journal, so the journal must hold the requests of each
// account in the order the engine applied them. The engine's hot path has no lock to hang
// that order on, so this layer adds one per account stripe (`stripeCount` pthread mutexes,
// by the account id's hash): a state-changing request takes its account's stripe, applies
// through the engine and appends its record before letting go, then waits for durability
// outside the stripe. Requests on different stripes run in parallel and commute, except
// through what every stripe sees (rates, tick), which take every stripe. Requests by event
// id (commit, release, refund) find the event's stripe in a map that a creating request
// (reserve, charge) writes while it holds the id's bucket of that map, from before the
// engine sees the id until the answer: a request by the same id waits for it.
//
// Time. Each record carries the request's time. The engine never accepts a time earlier than
// one it accepted, and a stripe applies one request at a time, so along each stripe the
// records' times never go back: sorting all records by time, stably, keeps every stripe's
// order and gives the engine times that never go back.
//
// Reads (balance, event, quote, report) take the stripe of what they read (every stripe
// for a report over all accounts), then wait until everything journalled before them is
// durable, so that no answer shows state a crash could lose.
// Refusals and retries answered as duplicates change nothing and are not journalled.
//
// The cost, against the in-memory engine: one uncontended mutex, one record encoding and
// one append under the journal's lock per change, and the wait for the group commit.
//
// Snapshots (DurableEngine+Snapshot.swift): holding every stripe, no change is between its
// apply and its append, so the engine's state is exactly that of the records through the
// journal's last ticket; a snapshot captured then covers that ticket, and recovery is the
// snapshot plus the records after it.

import CreditCore
import CreditEngine
import CreditJournal
import Synchronization

/// Ordered appends from many threads and a wait for durability: what `DurableEngine` needs of
/// a journal. Tickets grow with every append; waiting for one covers every earlier append.
public protocol EngineJournal: AnyObject, Sendable {
    /// Appends the record of `request` at time `t`; returns its ticket. Throws when the
    /// journal has failed: the record is not stored.
    func append(_ request: Request, at t: Milliseconds) throws -> UInt64
    /// Returns once every record up to `ticket` is durable in the journal's mode; throws if
    /// the journal failed before that.
    func waitDurable(through ticket: UInt64) throws
    /// The ticket of the last append (0 before any).
    var lastTicket: UInt64 { get }
    /// Makes everything appended durable and stops; later appends throw.
    func close() throws
    /// Returns the last append's ticket and ends the journal's current run of records there
    /// (a file journal starts a new segment with the next record). Called while no append
    /// runs, for a snapshot covering exactly that ticket.
    func markSnapshotPoint() -> UInt64
    /// Stores an engine snapshot (`EngineSnapshot.encoded()`) covering every record through
    /// `ticket`, published only once those records are durable, then drops the records it
    /// covers; returns the bytes stored. Throws when it cannot: the records stay.
    func storeSnapshot(_ bytes: [UInt8], through ticket: UInt64) throws -> Int
}

extension EngineJournal {
    public func markSnapshotPoint() -> UInt64 { lastTicket }

    public func storeSnapshot(_ bytes: [UInt8], through ticket: UInt64) throws -> Int {
        throw DurableEngineError("this journal (\(type(of: self))) does not store snapshots")
    }
}

/// A `CreditEngine` whose changes are journalled (see the file's opening paragraph).
public final class DurableEngine: @unchecked Sendable {
    // Safe to share: the engine is; stripes and the event map are behind their locks; the
    // time is atomic.

    /// Account stripes: a power of two. 128, not more: a snapshot (and rates, tick) takes
    /// every stripe, one cold lock each, while the appliers wait; with 1,024 that took 16-44 µs
    /// even uncontended and the snapshot stall's median was 140-387 µs, with 128 2 µs and
    /// 62-228 µs (4 alternating pairs of `DurableSnapshotMeasurement`, 100k accounts, 2026-11-25
    /// 10:00-10:05 UTC), with no loss of throughput on 2 threads. Two requests of different
    /// accounts meet on a stripe with probability 1/128 per pair of threads.
    public static let stripeCount = 1 << 7
    /// Buckets of the event-id map.
    static let eventBucketCount = 1 << 8

    public let engine: CreditEngine
    let journal: any EngineJournal
    let clock: any EngineClock
    let stripes: [PthreadMutex]
    let eventBuckets: [Locked<[String: UInt16]>]
    /// The latest time a request was applied at, or that the clock gave (see `apply`).
    let lastTime = Atomic<Milliseconds>(0)

    /// When snapshots are taken, and their bookkeeping (DurableEngine+Snapshot.swift).
    public let snapshotPolicy: SnapshotPolicy
    /// One snapshot at a time: held from the capture to the end of the write.
    let snapshotMutex = PthreadMutex()
    let snapshotRecord = Locked(SnapshotRecord())
    /// The ticket whose append wakes the snapshot thread (`UInt64.max`: none pending).
    let snapshotDueTicket = Atomic<UInt64>(UInt64.max)
    /// The snapshot thread's wake-ups; nil when snapshots are only taken by `snapshot()`.
    let snapshotSignal: SnapshotSignal?

    /// A durable engine over `engine` (empty, or recovered by `recover`) and `journal`.
    /// With an automatic `snapshots` policy, a snapshot thread starts; `close` stops it.
    public init(
        engine: CreditEngine, journal: any EngineJournal, clock: any EngineClock = SystemClock(),
        snapshots: SnapshotPolicy = .manual
    ) {
        self.engine = engine
        self.journal = journal
        self.clock = clock
        stripes = (0..<Self.stripeCount).map { _ in PthreadMutex() }
        eventBuckets = (0..<Self.eventBucketCount).map { _ in Locked([:]) }
        snapshotPolicy = snapshots
        snapshotSignal = snapshots.recordsBetweenSnapshots == nil ? nil : SnapshotSignal()
        startSnapshotThread()
    }

    deinit {
        // Never waits: the last reference may be the snapshot thread's own.
        snapshotSignal?.stop(waiting: false)
    }

    /// Applies a request at the clock's time (never before the last request's).
    public func apply(_ request: Request, alerts: inout [Alert]) throws -> Response {
        while true {
            let t = lastTime.max(clock.now(), ordering: .relaxed).newValue
            let response = try apply(request, at: t, alerts: &alerts)
            // Another thread's later time reached the engine first: take a new time.
            if case .failure(let refusal) = response.result, refusal.code == .timeWentBackwards { continue }
            return response
        }
    }

    /// Applies a request at time `t`; returns once the change (if any) is durable. Throws an
    /// `EngineError` (a limit: nothing changed) or the journal's error (nothing acknowledged;
    /// the engine may hold the change in memory, and must not be used further).
    public func apply(_ request: Request, at t: Milliseconds, alerts: inout [Alert]) throws -> Response {
        let (response, ticket) = try applyDeferringDurability(request, at: t, alerts: &alerts)
        try journal.waitDurable(through: ticket)
        return response
    }

    /// Applies a request at time `t` without waiting for durability: the answer may be given
    /// only after `waitDurable(through: ticket)` returned. A caller with several independent
    /// requests applies them all, then waits once for the largest ticket (one group commit).
    public func applyDeferringDurability(_ request: Request, at t: Milliseconds, alerts: inout [Alert]) throws
        -> (response: Response, ticket: UInt64)
    {
        // Every time the engine sees is at most `lastTime`: the clock form above then always
        // finds a time the engine takes.
        lastTime.max(t, ordering: .relaxed)
        switch request {
        case .account(let id, _), .limits(let id, _), .pause(let id), .resume(let id), .balance(let id),
            .quote(let id, _, _), .report(let id?):
            return try applyOnStripe(stripe(ofAccount: id), request, at: t, alerts: &alerts)
        case .grant(let grant):
            return try applyOnStripe(stripe(ofAccount: grant.account), request, at: t, alerts: &alerts)
        case .reserve(let reserve):
            return try applyCreating(event: reserve.id, account: reserve.account, request, at: t, alerts: &alerts)
        case .charge(let charge):
            return try applyCreating(event: charge.id, account: charge.account, request, at: t, alerts: &alerts)
        case .commit(let id, _), .release(let id), .event(let id):
            return try applyOnEvent(id, request, at: t, alerts: &alerts)
        case .refund(let refund):
            return try applyOnEvent(refund.event, request, at: t, alerts: &alerts)
        case .rates, .tick, .report(nil):
            return try applyOnEveryStripe(request, at: t, alerts: &alerts)
        }
    }

    /// Returns once every change up to `ticket` is durable; throws if the journal failed.
    public func waitDurable(through ticket: UInt64) throws { try journal.waitDurable(through: ticket) }

    /// Stops the snapshot thread (after the snapshot it is writing, if any), makes every
    /// journalled change durable and closes the journal; the engine takes no more changes
    /// after this (they would throw).
    public func close() throws {
        snapshotSignal?.stop(waiting: true)
        try journal.close()
    }

    // MARK: - Stripes

    func stripe(ofAccount id: String) -> Int { id.hashValue & (Self.stripeCount - 1) }

    func bucket(ofEvent id: String) -> Locked<[String: UInt16]> {
        eventBuckets[id.hashValue & (Self.eventBucketCount - 1)]
    }

    /// Applies and journals holding one stripe.
    private func applyOnStripe(_ stripe: Int, _ request: Request, at t: Milliseconds, alerts: inout [Alert]) throws
        -> (Response, UInt64)
    {
        let lock = stripes[stripe]
        lock.lock()
        defer { lock.unlock() }
        return try applyAndJournal(request, at: t, alerts: &alerts)
    }

    /// Reserve or charge, holding the id's bucket of the event map throughout: the event's
    /// stripe is its account's, and is written to the map if the engine created the event.
    private func applyCreating(
        event id: String, account: String, _ request: Request, at t: Milliseconds, alerts: inout [Alert]
    ) throws -> (Response, UInt64) {
        let stripe = stripe(ofAccount: account)
        return try bucket(ofEvent: id).withLock { map in
            let lock = stripes[stripe]
            lock.lock()
            defer { lock.unlock() }
            let (response, ticket) = try applyAndJournal(request, at: t, alerts: &alerts)
            if case .success = response.result, map[id] == nil { map[id] = UInt16(stripe) }
            return (response, ticket)
        }
    }

    /// Commit, release, refund, the event view: on the stripe of the event's account. An id
    /// not in the map was not created through this layer since it started: the engine is
    /// asked for the event (it may have been recovered from the journal) and the map learns
    /// its stripe; an event the engine does not know is refused by it. Both while the map's
    /// bucket is held, so that no creation of that id can start meanwhile.
    private func applyOnEvent(_ id: String, _ request: Request, at t: Milliseconds, alerts: inout [Alert]) throws
        -> (Response, UInt64)
    {
        var unknown: (Response, UInt64)?
        let stripe: UInt16? = try bucket(ofEvent: id).withLock { map in
            if let stripe = map[id] { return stripe }
            let found = try engine.apply(.event(id: id), at: t, alerts: &alerts)
            if case .success(.event(let view)) = found.result {
                let stripe = UInt16(self.stripe(ofAccount: view.account))
                map[id] = stripe
                return stripe
            }
            unknown = try applyAndJournal(request, at: t, alerts: &alerts)
            return nil
        }
        if let unknown { return unknown }
        return try applyOnStripe(Int(stripe!), request, at: t, alerts: &alerts)
    }

    /// Rates, tick, a report over all accounts: every stripe, in index order.
    private func applyOnEveryStripe(_ request: Request, at t: Milliseconds, alerts: inout [Alert]) throws
        -> (Response, UInt64)
    {
        for lock in stripes { lock.lock() }
        defer { for lock in stripes.reversed() { lock.unlock() } }
        return try applyAndJournal(request, at: t, alerts: &alerts)
    }

    /// Applies through the engine and, if the request changed state, appends its record.
    /// Returns the ticket to wait for: the record's, or, when nothing was journalled, the
    /// last append's (what the answer may have seen).
    private func applyAndJournal(_ request: Request, at t: Milliseconds, alerts: inout [Alert]) throws
        -> (Response, UInt64)
    {
        let response = try engine.apply(request, at: t, alerts: &alerts)
        guard case .success = response.result, !response.duplicate, request.changesState else {
            return (response, journal.lastTicket)
        }
        let ticket = try journal.append(request, at: t)
        if ticket >= snapshotDueTicket.load(ordering: .relaxed) { requestScheduledSnapshot() }
        return (response, ticket)
    }

    // MARK: - Recovery

    /// Replays journalled records (each `RequestCodec`'s encoding of a request and its time)
    /// into `engine`, which must be new: sorted by time, stably, as the opening paragraph
    /// explains. Every record must replay as a change, as it did when it was journalled;
    /// anything else is an error naming the record.
    public static func recover(_ records: some Sequence<[UInt8]>, into engine: CreditEngine) throws -> Int {
        var decoded: [(t: Milliseconds, position: Int, request: Request)] = []
        for (position, record) in records.enumerated() {
            let (request, t) = try RequestCodec.decode(record)
            decoded.append((t, position, request))
        }
        decoded.sort { ($0.t, $0.position) < ($1.t, $1.position) }
        var alerts: [Alert] = []
        for entry in decoded {
            alerts.removeAll(keepingCapacity: true)
            let response = try engine.apply(entry.request, at: entry.t, alerts: &alerts)
            guard case .success = response.result, !response.duplicate else {
                throw DurableEngineError(
                    "journal record \(entry.position) (t \(entry.t)) did not replay as a change: \(response)")
            }
        }
        return decoded.count
    }
}

extension Request {
    /// Whether an accepted request of this kind changes state (reads do not).
    var changesState: Bool {
        switch self {
        case .quote, .event, .balance, .report: false
        default: true
        }
    }
}

/// Recovery found a record that does not replay as it did, or a damaged snapshot file; or a
/// snapshot policy is out of range.
public struct DurableEngineError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
    /// A damaged file: names it and the byte offset.
    init(path: String, offset: Int, _ message: String) {
        description = "\(path): bad engine snapshot at byte \(offset): \(message)"
    }
}
