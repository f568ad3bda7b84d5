// Field-level validation of a request: names, ranges and the cross-field rules of
// `trace.md` (Lines). A request that fails it is `invalid` and is not accepted: time does
// not pass for it. The trace parser checks types and structure; this checks values, so
// that requests built in Swift and requests read from a trace obey one rule book.

extension Request {
    /// Whether every field is in its range and every name follows the naming rules, for a
    /// request at time `t`. Safe from any thread; pure.
    public func isWellFormed(at t: Milliseconds) -> Bool {
        guard t >= 0 else { return false }
        switch self {
        case .account(let id, let limits):
            return SpecLimits.isValidName(id) && (limits.map { $0.isWellFormed } ?? true)
        case .limits(let account, let limits):
            return SpecLimits.isValidName(account) && limits.isWellFormed
        case .pause(let account), .resume(let account), .balance(let account):
            return SpecLimits.isValidName(account)
        case .grant(let grant):
            return grant.isWellFormed(at: t)
        case .rates(let rates):
            return rates.isWellFormed
        case .quote(let account, let item, let usage):
            return SpecLimits.isValidName(account) && SpecLimits.isValidName(item)
                && (usage.map { $0.isWellFormed } ?? true)
        case .reserve(let reserve):
            guard SpecLimits.isValidName(reserve.account), SpecLimits.isValidName(reserve.id) else { return false }
            if let ttl = reserve.ttlMilliseconds,
                !(SpecLimits.ttlMillisecondsMin...SpecLimits.ttlMillisecondsMax).contains(ttl)
            {
                return false
            }
            return reserve.cost.isWellFormed
        case .commit(let id, let spec):
            guard SpecLimits.isValidName(id) else { return false }
            switch spec {
            case .amount(let amount): return Self.isAmount(amount)
            case .usage(let usage): return usage.isWellFormed
            }
        case .release(let id), .event(let id):
            return SpecLimits.isValidName(id)
        case .charge(let charge):
            return SpecLimits.isValidName(charge.account) && SpecLimits.isValidName(charge.id)
                && charge.cost.isWellFormed
        case .refund(let refund):
            guard SpecLimits.isValidName(refund.id), SpecLimits.isValidName(refund.event) else { return false }
            return refund.amount.map { Self.isPositiveAmount($0) } ?? true
        case .report(let account):
            return account.map { SpecLimits.isValidName($0) } ?? true
        case .tick:
            return true
        }
    }

    /// 0 ... 10^12: every integer field without a range of its own.
    @inline(__always)
    static func isAmount(_ value: Int64) -> Bool { value >= 0 && value <= SpecLimits.amountMax }

    /// 1 ... 10^12: `grant.amount`, `refund.amount`, `per`.
    @inline(__always)
    static func isPositiveAmount(_ value: Int64) -> Bool { value >= 1 && value <= SpecLimits.amountMax }
}

extension LimitsSpec {
    var isWellFormed: Bool {
        if periodCap != nil && period == nil { return false }
        if let overdraft, !Request.isAmount(overdraft) { return false }
        if let periodCap, !Request.isAmount(periodCap) { return false }
        if let alerts, !alerts.allSatisfy(Request.isAmount) { return false }
        if let periodAlerts, !periodAlerts.allSatisfy(Request.isAmount) { return false }
        return true
    }
}

extension Usage {
    var isWellFormed: Bool {
        entries.allSatisfy { SpecLimits.isValidMeterName($0.meter) && Request.isAmount($0.quantity) }
    }
}

extension CostSpec {
    var isWellFormed: Bool {
        switch self {
        case .amount(let amount): return Request.isAmount(amount)
        case .item(let item, let usage):
            return SpecLimits.isValidName(item) && (usage.map { $0.isWellFormed } ?? true)
        }
    }
}

extension GrantRequest {
    func isWellFormed(at t: Milliseconds) -> Bool {
        guard SpecLimits.isValidName(account), SpecLimits.isValidName(id) else { return false }
        guard Request.isPositiveAmount(amount) else { return false }
        if let expiresAt, expiresAt <= t { return false }
        if let priority, !Request.isAmount(priority) { return false }
        if let paid, !Request.isAmount(paid) { return false }
        return true
    }
}

extension RatesRequest {
    var isWellFormed: Bool {
        guard SpecLimits.isValidName(version) else { return false }
        if let effectiveAt, effectiveAt < 0 { return false }
        for (name, item) in items {
            guard SpecLimits.isValidName(name) else { return false }
            if let base = item.base, !Request.isAmount(base) { return false }
            if let fallback = item.fallback {
                // A fallback names an item of the same version, itself allowed.
                guard SpecLimits.isValidName(fallback), items[fallback] != nil else { return false }
            }
            for (meter, price) in item.meters ?? [:] {
                guard SpecLimits.isValidMeterName(meter), Request.isAmount(price.price) else { return false }
                if let per = price.per, !Request.isPositiveAmount(per) { return false }
            }
        }
        return true
    }
}
