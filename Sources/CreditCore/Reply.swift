// What the ledger answers: a success payload or a refusal, and the alerts a request raised.
// Refusals are plain values (no allocation, no existential), as the hot path wants them.

/// The refusal codes of the spec, in no particular order (the order of checks is the
/// ledger's business, see `trace.md`, Refusals).
public enum RefusalCode: UInt8, Error, Sendable, Hashable, CaseIterable {
    case invalid
    case timeWentBackwards
    case unknownAccount
    case unknownEvent
    case unknownItem
    case unknownMeter
    case noRates
    case idConflict
    case paused
    case insufficientCredits
    case periodCap
    case reservationClosed
    case exceedsRefundable
    case overflow

    /// The code as the trace format spells it.
    public var name: String {
        switch self {
        case .invalid: "invalid"
        case .timeWentBackwards: "time_went_backwards"
        case .unknownAccount: "unknown_account"
        case .unknownEvent: "unknown_event"
        case .unknownItem: "unknown_item"
        case .unknownMeter: "unknown_meter"
        case .noRates: "no_rates"
        case .idConflict: "id_conflict"
        case .paused: "paused"
        case .insufficientCredits: "insufficient_credits"
        case .periodCap: "period_cap"
        case .reservationClosed: "reservation_closed"
        case .exceedsRefundable: "exceeds_refundable"
        case .overflow: "overflow"
        }
    }
}

/// A refused request. Only `insufficientCredits` carries figures: the available credits the
/// admission check saw and the credits it needed.
public struct Refusal: Error, Sendable, Hashable {
    public var code: RefusalCode
    public var available: Credits
    public var needed: Credits

    public init(_ code: RefusalCode, available: Credits = 0, needed: Credits = 0) {
        self.code = code
        self.available = available
        self.needed = needed
    }

    public static let invalid = Refusal(.invalid)
}

/// The item and rate-card version a request was priced with.
public struct PricedItem: Sendable, Hashable {
    public var item: String
    public var version: String
    public init(item: String, version: String) {
        self.item = item
        self.version = version
    }
}

/// A grant's line in a balance: free plus allocated credits.
public struct GrantRemaining: Sendable, Hashable {
    public var id: String
    public var remaining: Credits
    public init(id: String, remaining: Credits) {
        self.id = id
        self.remaining = remaining
    }
}

/// A grant's net burn in an event.
public struct Burn: Sendable, Hashable {
    public var grant: String
    public var credits: Credits
    public init(grant: String, credits: Credits) {
        self.grant = grant
        self.credits = credits
    }
}

public enum EventKind: UInt8, Sendable, Hashable {
    case reservation
    case charge
}

public enum EventStatus: UInt8, Sendable, Hashable {
    case open
    case committed
    case released
    case expired
    case charged
}

/// The `event` look-up: what a reservation or charge burned.
public struct EventView: Sendable, Hashable {
    public var account: String
    public var kind: EventKind
    public var status: EventStatus
    public var charged: Credits
    public var refunded: Credits
    public var burns: [Burn]
    public var debt: Credits
    /// The hold, for a reservation; nil for a charge.
    public var held: Credits?
    public var item: PricedItem?
    public var late: Bool

    public init(
        account: String, kind: EventKind, status: EventStatus, charged: Credits, refunded: Credits, burns: [Burn],
        debt: Credits, held: Credits?, item: PricedItem?, late: Bool
    ) {
        self.account = account
        self.kind = kind
        self.status = status
        self.charged = charged
        self.refunded = refunded
        self.burns = burns
        self.debt = debt
        self.held = held
        self.item = item
        self.late = late
    }
}

public struct BalanceView: Sendable, Hashable {
    public var available: Credits
    public var balance: Credits
    public var held: Credits
    public var debt: Credits
    public var periodSpent: Credits
    public var grants: [GrantRemaining]

    public init(
        available: Credits, balance: Credits, held: Credits, debt: Credits, periodSpent: Credits,
        grants: [GrantRemaining]
    ) {
        self.available = available
        self.balance = balance
        self.held = held
        self.debt = debt
        self.periodSpent = periodSpent
        self.grants = grants
    }
}

/// Totals of a report. Sums over many grants or accounts can pass 64 bits: `Int128`.
public struct ReportView: Sendable, Hashable {
    public var granted: Int128 = 0
    public var consumed: Int128 = 0
    public var expired: Int128 = 0
    public var remaining: Int128 = 0
    public var debt: Int128 = 0
    public var recognized: Int128 = 0
    public var breakage: Int128 = 0
    public var deferred: Int128 = 0
    public init() {}
}

/// The payload of a successful request.
public enum Reply: Sendable, Hashable {
    /// `account`, `limits`, `pause`, `resume`, `rates`, `tick`.
    case done
    case granted(available: Credits)
    case quoted(credits: Credits, version: String, affordable: Bool)
    case reserved(held: Credits, available: Credits, item: PricedItem?, downgraded: Bool, overCap: Bool)
    /// A commit (`item` nil, `late` possible) or a charge (`late` false).
    case charged(charged: Credits, available: Credits, item: PricedItem?, downgraded: Bool, overCap: Bool, late: Bool)
    case released(released: Credits, available: Credits)
    case refunded(refunded: Credits, available: Credits)
    // The views are large and rare: boxed, so that every other reply stays small to move.
    indirect case event(EventView)
    indirect case balance(BalanceView)
    indirect case report(ReportView)
}

/// The answer to one request: the reply or the refusal, and whether it repeats the first
/// answer to an earlier, equal request (a retry).
public struct Response: Sendable, Hashable {
    public var result: Result<Reply, Refusal>
    public var duplicate: Bool

    public init(_ result: Result<Reply, Refusal>, duplicate: Bool = false) {
        self.result = result
        self.duplicate = duplicate
    }

    public static func refused(_ code: RefusalCode) -> Response { Response(.failure(Refusal(code))) }
    public static func ok(_ reply: Reply) -> Response { Response(.success(reply)) }
}

/// An alert raised by a request, with that request's time.
public enum Alert: Sendable, Hashable {
    case lowBalance(account: String, threshold: Credits, available: Credits, t: Milliseconds)
    case periodUsage(account: String, percent: Int64, spent: Credits, cap: Credits, t: Milliseconds)
    case debt(account: String, debt: Credits, t: Milliseconds)
}
