// The shape of a trace line (trace.md, "Requests and their results"): the field names the
// format knows, the operations, and for each operation the fields it requires and allows.
// Keys and operation names are matched on their bytes, so that no String is made for them.

/// A top-level field of a request line, or a field of `account.limits`.
enum TraceField: UInt8 {
    case op, t, id, account, amount, item, usage, event, force
    case version, effectiveAt, items
    case expiresAt, priority, paid, ttlMs
    case limits, overdraft, period, periodCap, capMode, alerts, periodAlerts, downgrade

    /// The field a key names, or nil for a key the format does not know: the only field
    /// of the key's length and first byte (last byte for `amount`/`alerts`), if it is
    /// spelled so.
    init?(key: UnsafeBufferPointer<UInt8>) {
        guard let first = key.first, let last = key.last else { return nil }
        let candidate: TraceField? =
            switch (key.count, Unicode.Scalar(first)) {
            case (1, "t"): .t
            case (2, "o"): .op
            case (2, "i"): .id
            case (4, "i"): .item
            case (4, "p"): .paid
            case (5, "u"): .usage
            case (5, "e"): .event
            case (5, "i"): .items
            case (5, "f"): .force
            case (6, "a"): last == UInt8(ascii: "t") ? .amount : .alerts
            case (6, "t"): .ttlMs
            case (6, "l"): .limits
            case (6, "p"): .period
            case (7, "a"): .account
            case (7, "v"): .version
            case (8, "p"): .priority
            case (8, "c"): .capMode
            case (9, "o"): .overdraft
            case (9, "d"): .downgrade
            case (10, "e"): .expiresAt
            case (10, "p"): .periodCap
            case (12, "e"): .effectiveAt
            case (13, "p"): .periodAlerts
            default: nil
            }
        guard let candidate, key.equals(candidate.name) else { return nil }
        self = candidate
    }

    /// The key as the format spells it.
    var name: StaticString {
        switch self {
        case .op: "op"
        case .t: "t"
        case .id: "id"
        case .account: "account"
        case .amount: "amount"
        case .item: "item"
        case .usage: "usage"
        case .event: "event"
        case .force: "force"
        case .version: "version"
        case .effectiveAt: "effective_at"
        case .items: "items"
        case .expiresAt: "expires_at"
        case .priority: "priority"
        case .paid: "paid"
        case .ttlMs: "ttl_ms"
        case .limits: "limits"
        case .overdraft: "overdraft"
        case .period: "period"
        case .periodCap: "period_cap"
        case .capMode: "cap_mode"
        case .alerts: "alerts"
        case .periodAlerts: "period_alerts"
        case .downgrade: "downgrade"
        }
    }
}

/// A set of `TraceField`s, one bit each.
struct TraceFieldSet: OptionSet {
    var rawValue: UInt32

    init(rawValue: UInt32) { self.rawValue = rawValue }
    init(_ field: TraceField) { self.rawValue = 1 << field.rawValue }

    /// The fields of a `limits` request other than `account`: also those of `account.limits`.
    static let limitFields: TraceFieldSet = [
        .init(.overdraft), .init(.period), .init(.periodCap), .init(.capMode), .init(.alerts),
        .init(.periodAlerts), .init(.downgrade),
    ]

    @inline(__always)
    func has(_ field: TraceField) -> Bool { rawValue & (1 << field.rawValue) != 0 }
}

/// The operations of the format.
enum TraceOp: UInt8, CaseIterable {
    case account, limits, pause, resume, grant, rates, quote, reserve, commit, release, charge, refund, event
    case balance, report, tick

    /// The operation `name` spells, or nil: the only operation of the name's length, first
    /// and third bytes, if it is spelled so.
    init?(name: UnsafeBufferPointer<UInt8>) {
        guard name.count >= 4 else { return nil }
        let candidate: TraceOp? =
            switch (name.count, Unicode.Scalar(name[0]), Unicode.Scalar(name[2])) {
            case (4, "t", _): .tick
            case (5, "g", _): .grant
            case (5, "r", _): .rates
            case (5, "q", _): .quote
            case (5, "p", _): .pause
            case (5, "e", _): .event
            case (6, "l", _): .limits
            case (6, "r", "s"): .resume
            case (6, "r", "f"): .refund
            case (6, "r", "p"): .report
            case (6, "c", "m"): .commit
            case (6, "c", "a"): .charge
            case (7, "a", _): .account
            case (7, "b", _): .balance
            case (7, "r", "s"): .reserve
            case (7, "r", "l"): .release
            default: nil
            }
        guard let candidate, name.equals(candidate.name) else { return nil }
        self = candidate
    }

    /// The operation as the format spells it.
    var name: StaticString {
        switch self {
        case .account: "account"
        case .limits: "limits"
        case .pause: "pause"
        case .resume: "resume"
        case .grant: "grant"
        case .rates: "rates"
        case .quote: "quote"
        case .reserve: "reserve"
        case .commit: "commit"
        case .release: "release"
        case .charge: "charge"
        case .refund: "refund"
        case .event: "event"
        case .balance: "balance"
        case .report: "report"
        case .tick: "tick"
        }
    }

    /// The fields every line of this operation must have, `op` and `t` included.
    var required: TraceFieldSet { Self.requiredTable[Int(rawValue)] }

    /// The fields a line of this operation may have besides the required ones.
    var optional: TraceFieldSet { Self.optionalTable[Int(rawValue)] }

    private static let requiredTable = allCases.map(\.computeRequired)
    private static let optionalTable = allCases.map(\.computeOptional)

    private var computeRequired: TraceFieldSet {
        let own: [TraceField] =
            switch self {
            case .account, .commit, .release, .event: [.id]
            case .limits, .pause, .resume, .balance: [.account]
            case .grant: [.account, .id, .amount]
            case .rates: [.version, .items]
            case .quote: [.account, .item]
            case .reserve, .charge: [.account, .id]
            case .refund: [.id, .event]
            case .report, .tick: []
            }
        return own.reduce(into: [.init(.op), .init(.t)]) { $0.insert(.init($1)) }
    }

    private var computeOptional: TraceFieldSet {
        let own: [TraceField] =
            switch self {
            case .account: [.limits]
            case .limits: []
            case .grant: [.expiresAt, .priority, .paid]
            case .rates: [.effectiveAt]
            case .quote: [.usage]
            case .reserve: [.ttlMs, .amount, .item, .usage]
            case .commit: [.amount, .usage]
            case .charge: [.amount, .item, .usage, .force]
            case .refund: [.amount]
            case .report: [.account]
            case .pause, .resume, .release, .event, .balance, .tick: []
            }
        let fields = own.reduce(into: TraceFieldSet()) { $0.insert(.init($1)) }
        return self == .limits ? fields.union(.limitFields) : fields
    }
}

extension UnsafeBufferPointer<UInt8> {
    /// Whether these bytes are exactly the ASCII text `literal`.
    @inline(__always)
    func equals(_ literal: StaticString) -> Bool {
        guard count == literal.utf8CodeUnitCount else { return false }
        let expected = literal.utf8Start
        for offset in 0..<count where self[offset] != expected[offset] {
            return false
        }
        return true
    }
}
