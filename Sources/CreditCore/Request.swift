// The requests of the spec, as values. A request keeps exactly what its caller gave,
// optional fields left out stay `nil`, so that a retry can be compared with the first
// request "as JSON objects without t" (semantics.md, Identity and retries): a field left
// out is not equal to that field given with its default value.

/// A `period` for caps and period spending: a UTC calendar day or month.
public enum Period: UInt8, Sendable, Hashable {
    case day
    case month
}

/// How a period cap is enforced: `hard` refuses, `soft` admits and says `over_cap`.
public enum CapMode: UInt8, Sendable, Hashable {
    case hard
    case soft
}

/// An account's limits as requested (`account.limits` or a `limits` request).
/// Every field is optional as given; defaults apply when the limits are set.
public struct LimitsSpec: Sendable, Hashable {
    public var overdraft: Credits?
    public var period: Period?
    public var periodCap: Credits?
    public var capMode: CapMode?
    /// `low_balance` thresholds of `available`, in the order given (repeats count once).
    public var alerts: [Credits]?
    /// `period_usage` percentages, in the order given (repeats count once).
    public var periodAlerts: [Int64]?
    public var downgrade: Bool?

    public init(
        overdraft: Credits? = nil, period: Period? = nil, periodCap: Credits? = nil, capMode: CapMode? = nil,
        alerts: [Credits]? = nil, periodAlerts: [Int64]? = nil, downgrade: Bool? = nil
    ) {
        self.overdraft = overdraft
        self.period = period
        self.periodCap = periodCap
        self.capMode = capMode
        self.alerts = alerts
        self.periodAlerts = periodAlerts
        self.downgrade = downgrade
    }
}

/// Metered quantities of one use: `{METER: QUANTITY}`, kept sorted by meter name so that
/// two usages are equal exactly when they are equal as JSON objects.
public struct Usage: Sendable, Hashable {
    public struct Entry: Sendable, Hashable {
        public var meter: String
        public var quantity: Int64
        public init(meter: String, quantity: Int64) {
            self.meter = meter
            self.quantity = quantity
        }
    }

    /// Sorted by `meter`, no meter twice.
    public private(set) var entries: [Entry]

    /// Builds a usage; returns nil when a meter is named twice.
    public init?(_ entries: [Entry]) {
        let sorted = entries.sorted { $0.meter.utf8.lexicographicallyPrecedes($1.meter.utf8) }
        for index in sorted.indices.dropFirst() where sorted[index].meter == sorted[index - 1].meter {
            return nil
        }
        self.entries = sorted
    }

    public init(_ pairs: KeyValuePairs<String, Int64>) {
        self.init(pairs.map { Entry(meter: $0.key, quantity: $0.value) })!
    }

    public static let empty = Usage([Entry]())!
}

/// What a reserve or charge asks for: a plain amount, or an item priced by the rate card.
public enum CostSpec: Sendable, Hashable {
    case amount(Credits)
    /// `usage` is nil when the request left it out (it then counts as `{}`).
    case item(String, usage: Usage?)
}

/// What a commit settles with: an amount, or usage priced by the reservation's item.
public enum CommitSpec: Sendable, Hashable {
    case amount(Credits)
    case usage(Usage)
}

/// One meter of a rate-card item.
public struct MeterPriceSpec: Sendable, Hashable {
    public var price: Int64
    /// `per` as given; nil means left out (1).
    public var per: Int64?
    public init(price: Int64, per: Int64? = nil) {
        self.price = price
        self.per = per
    }
}

/// One item of a rate-card version, as given.
public struct ItemSpec: Sendable, Hashable {
    public var base: Int64?
    public var meters: [String: MeterPriceSpec]?
    public var fallback: String?
    public init(base: Int64? = nil, meters: [String: MeterPriceSpec]? = nil, fallback: String? = nil) {
        self.base = base
        self.meters = meters
        self.fallback = fallback
    }
}

public struct GrantRequest: Sendable, Hashable {
    public var account: String
    public var id: String
    public var amount: Credits
    public var expiresAt: Milliseconds?
    public var priority: Int64?
    public var paid: Int64?
    public init(
        account: String, id: String, amount: Credits, expiresAt: Milliseconds? = nil, priority: Int64? = nil,
        paid: Int64? = nil
    ) {
        self.account = account
        self.id = id
        self.amount = amount
        self.expiresAt = expiresAt
        self.priority = priority
        self.paid = paid
    }
}

public struct RatesRequest: Sendable, Hashable {
    public var version: String
    public var effectiveAt: Milliseconds?
    public var items: [String: ItemSpec]
    public init(version: String, effectiveAt: Milliseconds? = nil, items: [String: ItemSpec]) {
        self.version = version
        self.effectiveAt = effectiveAt
        self.items = items
    }
}

public struct ReserveRequest: Sendable, Hashable {
    public var account: String
    public var id: String
    public var cost: CostSpec
    public var ttlMilliseconds: Milliseconds?
    public init(account: String, id: String, cost: CostSpec, ttlMilliseconds: Milliseconds? = nil) {
        self.account = account
        self.id = id
        self.cost = cost
        self.ttlMilliseconds = ttlMilliseconds
    }
}

public struct ChargeRequest: Sendable, Hashable {
    public var account: String
    public var id: String
    public var cost: CostSpec
    public var force: Bool?
    public init(account: String, id: String, cost: CostSpec, force: Bool? = nil) {
        self.account = account
        self.id = id
        self.cost = cost
        self.force = force
    }
}

public struct RefundRequest: Sendable, Hashable {
    public var id: String
    public var event: String
    public var amount: Credits?
    public init(id: String, event: String, amount: Credits? = nil) {
        self.id = id
        self.event = event
        self.amount = amount
    }
}

/// One request of the spec. The request's time `t` is passed beside it, not inside it.
///
/// A request value is well-formed by construction when it comes from the trace parser;
/// callers that build requests by hand get `invalid` from the ledger for out-of-range fields.
public enum Request: Sendable, Hashable {
    case account(id: String, limits: LimitsSpec?)
    case limits(account: String, LimitsSpec)
    case pause(account: String)
    case resume(account: String)
    case grant(GrantRequest)
    case rates(RatesRequest)
    case quote(account: String, item: String, usage: Usage?)
    case reserve(ReserveRequest)
    case commit(id: String, CommitSpec)
    case release(id: String)
    case charge(ChargeRequest)
    case refund(RefundRequest)
    case event(id: String)
    case balance(account: String)
    case report(account: String?)
    case tick
}
