// The records the ledger keeps: accounts, grants, events (reservations and charges) and
// refunds. Plain structs in arrays, addressed by 32-bit indices, so that the ledger's
// bookkeeping is a handful of array writes and the state can be snapshotted as values.

/// Index of an account, a grant or an event in the ledger's tables.
typealias RecordIndex = Int32

/// An account's limits with their defaults applied, ready to check.
struct EffectiveLimits: Sendable {
    var overdraft: Credits = 0
    var period: Period? = nil
    var periodCap: Credits? = nil
    var capMode: CapMode = .hard
    /// Unique `low_balance` thresholds, highest first.
    var alertThresholds: [Credits] = []
    /// Unique `period_usage` percentages, lowest first.
    var periodAlertPercents: [Int64] = []
    var downgrade = false

    init() {}

    init(_ spec: LimitsSpec) {
        overdraft = spec.overdraft ?? 0
        period = spec.period
        periodCap = spec.periodCap
        capMode = spec.capMode ?? .hard
        alertThresholds = Array(Set(spec.alerts ?? [])).sorted(by: >)
        periodAlertPercents = Array(Set(spec.periodAlerts ?? [])).sorted()
        downgrade = spec.downgrade ?? false
    }
}

struct AccountState: Sendable {
    var id: String
    /// The `limits` of the creating request, as given, to compare retries with.
    var createdLimits: LimitsSpec?
    var limits = EffectiveLimits()
    var paused = false

    /// Grant indices in burn order: ascending priority, then expiry (never last), then creation.
    var grantsInBurnOrder: [RecordIndex] = []
    /// Every grant before this position in `grantsInBurnOrder` has no free credits, so taking
    /// free credits starts here instead of walking an account's spent grants again.
    var burnScanStart = 0
    /// Sum of `free` over the account's grants (expired grants have none).
    var free: Credits = 0
    /// Sum of `allocated` over the account's grants.
    var allocated: Credits = 0
    /// The part of open reservations that no grant backs.
    var unbacked: Credits = 0
    var debt: Credits = 0
    /// Lifetime granted total, bounded by 10^15.
    var granted: Credits = 0
    /// Charged minus refunded, over the account's life.
    var netCharged: Credits = 0
    /// Events with a part in debt, oldest first; an event whose debt fell to 0 through a
    /// refund is dropped when it reaches the front.
    var eventsInDebt: [RecordIndex] = []
    var eventsInDebtHead = 0

    /// Spend of the day and month with index `dayIndex` / `monthIndex`.
    var daySpent: Credits = 0
    var dayIndex: Int64 = -1
    var monthSpent: Credits = 0
    var monthIndex: Int64 = -1

    /// Per threshold of `limits.alertThresholds`: armed to fire.
    var lowBalanceArmed: [Bool] = []
    /// Per percentage of `limits.periodAlertPercents`: fired in period `periodAlertsIndex`.
    var periodAlertFired: [Bool] = []
    var periodAlertsIndex: Int64 = -1
    var debtAlertArmed = true

    /// The request serial in which the account was last marked for alert evaluation.
    var touchedSerial: UInt64 = 0

    init(id: String, createdLimits: LimitsSpec?) {
        self.id = id
        self.createdLimits = createdLimits
    }

    var held: Credits { allocated + unbacked }
    var balance: Credits { free + allocated - debt }
    var available: Credits { free - unbacked - debt }

    /// `period_spent` at time `t`: the current period's spend, or the whole net spend.
    func periodSpent(at t: Milliseconds) -> Credits {
        switch limits.period {
        case .day: dayIndex == UTCCalendar.dayIndex(t) ? daySpent : 0
        case .month:
            // Within the day of the last spend the month is the same; otherwise ask the calendar.
            dayIndex == UTCCalendar.dayIndex(t) || monthIndex == UTCCalendar.monthIndex(t) ? monthSpent : 0
        case nil: netCharged
        }
    }

    /// Adds `credits` (negative for a refund) to the day's and month's spend at `t`; each
    /// figure returns to 0 at its period's boundary and never goes below 0.
    mutating func addSpend(_ credits: Credits, at t: Milliseconds) {
        let today = UTCCalendar.dayIndex(t)
        if dayIndex != today {
            // A month changes only with the day: the calendar is consulted once a day.
            dayIndex = today
            daySpent = 0
            let thisMonth = UTCCalendar.monthIndex(t)
            if monthIndex != thisMonth {
                monthIndex = thisMonth
                monthSpent = 0
            }
        }
        daySpent = max(0, daySpent + credits)
        monthSpent = max(0, monthSpent + credits)
        netCharged += credits
    }
}

struct GrantState: Sendable {
    var request: GrantRequest
    var account: RecordIndex
    /// The first result's `available`, for retries.
    var availableAfterCreation: Credits
    var amount: Credits
    var free: Credits
    var allocated: Credits = 0
    var consumed: Credits = 0
    var expired: Credits = 0
    var isExpired = false

    var id: String { request.id }
    var priority: Int64 { request.priority ?? 0 }
    var paid: Int64 { request.paid ?? 0 }
    /// Burn-order key for expiry: a grant that never expires sorts last.
    var expiryKey: UInt64 { request.expiresAt.map { UInt64($0) } ?? UInt64.max }
}

/// A grant's share of a reservation's allocation, or of an event's usage.
struct GrantShare: Sendable, Hashable {
    var grant: RecordIndex
    var credits: Credits
}

/// The creating request of an event, to compare retries with.
enum EventRequest: Sendable, Hashable {
    case reserve(ReserveRequest)
    case charge(ChargeRequest)
}

/// How a reservation was closed by its caller, to compare retries with.
enum Settlement: Sendable, Hashable {
    case commit(CommitSpec)
    case release
}

struct EventState: Sendable {
    var request: EventRequest
    var account: RecordIndex
    var status: EventStatus
    /// The reservation's hold (0 for a charge).
    var hold: Credits = 0
    /// The item and version priced with, and where to find the item's rates.
    var pricedItem: PricedItem?
    var rateVersion: RecordIndex = -1
    /// While open: the credits set aside, in the order taken, and the unbacked part.
    var allocation: [GrantShare] = []
    var unbacked: Credits = 0
    /// The reservation's expiry; nil when beyond 2^63-1 (never reached).
    var expiresAt: Milliseconds?
    /// Usage records on grants, in order; the part in debt follows them as `debt`.
    var records: [GrantShare] = []
    var debt: Credits = 0
    var charged: Credits = 0
    var refunded: Credits = 0
    var late = false
    /// What the creating request's reply said beyond the figures above, for retries.
    var downgraded = false
    var overCap = false
    var availableAfterCreation: Credits = 0
    var settlement: Settlement?
    /// The settling (commit or release) reply's `available`, for retries.
    var availableAfterSettlement: Credits = 0

    var kind: EventKind {
        if case .charge = request { return .charge }
        return .reservation
    }

    /// The event's id: its key in the ledger's event id table.
    var id: String {
        switch request {
        case .reserve(let reserve): reserve.id
        case .charge(let charge): charge.id
        }
    }
}

struct RefundState: Sendable {
    var request: RefundRequest
    /// The first reply's figures, for retries.
    var refunded: Credits
    var availableAfter: Credits

    var reply: Reply { .refunded(refunded: refunded, available: availableAfter) }
}

/// A due time-passing step. At one instant reservation expiries come first, in the order
/// they were made, then grant expiries.
struct Deadline: Comparable, Sendable {
    enum Kind: UInt8, Comparable {
        case reservation = 0
        case grant = 1
        static func < (lhs: Kind, rhs: Kind) -> Bool { lhs.rawValue < rhs.rawValue }
    }
    var time: Milliseconds
    var kind: Kind
    var index: RecordIndex

    static func < (lhs: Deadline, rhs: Deadline) -> Bool {
        (lhs.time, lhs.kind, lhs.index) < (rhs.time, rhs.kind, rhs.index)
    }
}
