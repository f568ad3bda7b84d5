// The sequential credit ledger: the exact state machine of `semantics.md`, one request at
// a time. Pure and deterministic: time comes with each request, nothing reads a clock or
// touches a file. The concurrent engine and the replayer are checked against this type.

/// The exact, sequential credit ledger.
///
/// Every request goes through ``apply(_:at:alerts:)``, which runs the spec's steps in order:
/// validation, the time check, time passing to the request's `t`, the request itself, then
/// alert evaluation. Not thread-safe: one caller at a time (it is a value type; the
/// concurrent engine wraps it).
public struct Ledger: Sendable {
    // Chunked rather than plain arrays so that a snapshot (a copy of the ledger) costs the
    // next write one small chunk, not a copy of the whole table (ChunkedArray.swift).
    var accounts = ChunkedArray<AccountState>()
    var accountIDs = IdentityTable()
    var grants = ChunkedArray<GrantState>()
    var grantIDs = IdentityTable()
    var events = EventTable()
    var eventIDs = IdentityTable()
    var refunds = RefundTable<RefundState>()
    var rateCard = RateCard()
    var deadlines = DeadlineHeap<Deadline>()

    /// The `t` of the last accepted request (0 before any: every `t` is at least 0).
    public internal(set) var lastTime: Milliseconds = 0
    var lastDayIndex: Int64 = 0
    var lastMonthIndex: Int64 = 0
    /// Accounts whose period alerts fire at a period boundary with nothing spent
    /// (a cap of 0, or a percentage of 0).
    var accountsAlertingAtBoundary: Set<RecordIndex> = []

    /// Serial of the request being applied; accounts touched by it are in `touchedAccounts`.
    var serial: UInt64 = 0
    var touchedAccounts: [RecordIndex] = []

    public init() {}

    /// The number of accounts.
    public var accountCount: Int { accounts.count }

    /// Applies one request at time `t` and returns its response; the alerts it raised are
    /// appended to `alerts` in the spec's order.
    ///
    /// A request that is not well formed is `invalid` and changes nothing; a `t` below the
    /// last accepted request's is `time_went_backwards` and changes nothing. Otherwise time
    /// passes to `t`, the request runs, and alerts are evaluated, whatever its result.
    public mutating func apply(_ request: Request, at t: Milliseconds, alerts: inout [Alert]) -> Response {
        guard request.isWellFormed(at: t) else { return .refused(.invalid) }
        guard t >= lastTime else { return .refused(.timeWentBackwards) }
        return applyAccepted(request, at: t, alerts: &alerts)
    }

    /// `apply(_:at:alerts:)` for a request its caller has already checked: well formed at `t`
    /// (`Request.isWellFormed(at:)`) and `t` at or after `lastTime` (a precondition). The
    /// concurrent engine settles with it the operations it admitted, which it validated when
    /// they arrived: validating each again cost about 300 instructions (callgrind).
    public mutating func applyAccepted(_ request: Request, at t: Milliseconds, alerts: inout [Alert]) -> Response {
        precondition(t >= lastTime, "an accepted request's time never goes back")
        #if DEBUG
        precondition(request.isWellFormed(at: t), "an accepted request is well formed")
        #endif
        serial &+= 1
        touchedAccounts.removeAll(keepingCapacity: true)
        passTime(to: t)
        let response = handle(request, at: t)
        evaluateAlerts(at: t, into: &alerts)
        #if DEBUG
        checkInvariants()
        #endif
        return response
    }

    /// Applies a request and discards its alerts.
    public mutating func apply(_ request: Request, at t: Milliseconds) -> Response {
        var alerts: [Alert] = []
        return apply(request, at: t, alerts: &alerts)
    }

    private mutating func handle(_ request: Request, at t: Milliseconds) -> Response {
        switch request {
        case .account(let id, let limits): createAccount(id: id, limits: limits, at: t)
        case .limits(let account, let limits): setLimits(account: account, limits, at: t)
        case .pause(let account): setPaused(account: account, true)
        case .resume(let account): setPaused(account: account, false)
        case .grant(let grant): createGrant(grant, at: t)
        case .rates(let rates): addRates(rates, at: t)
        case .quote(let account, let item, let usage): quote(account: account, item: item, usage: usage, at: t)
        case .reserve(let reserve): self.reserve(reserve, at: t)
        case .commit(let id, let spec): commit(id: id, spec, at: t)
        case .release(let id): release(id: id)
        case .charge(let charge): self.charge(charge, at: t)
        case .refund(let refund): self.refund(refund, at: t)
        case .event(let id): eventView(id: id)
        case .balance(let account): balance(account: account, at: t)
        case .report(let account): report(account: account)
        case .tick: .ok(.done)
        }
    }

    /// Marks an account for alert evaluation after the current request.
    mutating func touch(_ account: RecordIndex) {
        if accounts[Int(account)].touchedSerial != serial {
            accounts[Int(account)].touchedSerial = serial
            touchedAccounts.append(account)
        }
    }

}

// MARK: - Time passing

extension Ledger {
    /// Runs everything due at or before `t`, in time order: at one instant reservation
    /// expiries (in the order made), then grant expiries, then period boundaries.
    mutating func passTime(to t: Milliseconds) {
        lastTime = t
        while let next = deadlines.min, next.time <= t {
            _ = deadlines.removeMin()
            switch next.kind {
            case .reservation: expireReservation(next.index)
            case .grant: expireGrant(next.index)
            }
        }
        let day = UTCCalendar.dayIndex(t)
        if day != lastDayIndex {
            let month = UTCCalendar.monthIndex(t)
            // Spend figures roll over lazily (`AccountState.periodSpent`); only accounts whose
            // alerts fire with nothing spent need evaluating at a boundary.
            for account in accountsAlertingAtBoundary {
                switch accounts[Int(account)].limits.period {
                case .day: touch(account)
                case .month where month != lastMonthIndex: touch(account)
                default: break
                }
            }
            lastDayIndex = day
            lastMonthIndex = month
        }
    }

    /// A reservation still open at its expiry is released at that instant.
    mutating func expireReservation(_ index: RecordIndex) {
        guard events[Int(index)].status == .open else { return }
        let account = events[Int(index)].account
        giveBackAllocation(of: index)
        events[Int(index)].status = .expired
        touch(account)
    }

    /// A grant's free credits expire; its allocated credits stay with their reservations.
    mutating func expireGrant(_ index: RecordIndex) {
        let grant = Int(index)
        precondition(!grants[grant].isExpired, "a grant expires once")
        let account = grants[grant].account
        let free = grants[grant].free
        grants[grant].isExpired = true
        grants[grant].free = 0
        grants[grant].expired += free
        accounts[Int(account)].free -= free
        touch(account)
    }
}
