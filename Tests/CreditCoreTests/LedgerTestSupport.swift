// A small harness for ledger tests: applies requests at given times, keeps the alerts,
// checks every account's invariants after every request, and unwraps replies.
import Testing

@testable import CreditCore

struct LedgerHarness {
    var ledger = Ledger()
    var alerts: [Alert] = []

    @discardableResult
    mutating func apply(_ t: Milliseconds, _ request: Request) -> Response {
        alerts.removeAll()
        let response = ledger.apply(request, at: t, alerts: &alerts)
        if let violation = ledger.invariantViolation() { Issue.record("\(violation)") }
        return response
    }

    /// Applies a request that must succeed and returns its reply.
    @discardableResult
    mutating func ok(_ t: Milliseconds, _ request: Request, sourceLocation: SourceLocation = #_sourceLocation) -> Reply? {
        let response = apply(t, request)
        guard case .success(let reply) = response.result else {
            Issue.record("expected success, got \(response)", sourceLocation: sourceLocation)
            return nil
        }
        return reply
    }

    /// Applies a request that must be refused with `code`.
    mutating func refused(
        _ t: Milliseconds, _ request: Request, _ code: RefusalCode, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let response = apply(t, request)
        guard case .failure(let refusal) = response.result, refusal.code == code else {
            Issue.record("expected \(code), got \(response)", sourceLocation: sourceLocation)
            return
        }
    }

    func available(_ account: String) -> Credits {
        var copy = ledger
        guard case .success(.balance(let view)) = copy.apply(.balance(account: account), at: ledger.lastTime).result
        else { return .min }
        return view.available
    }

    func balance(_ account: String) -> BalanceView? {
        var copy = ledger
        guard case .success(.balance(let view)) = copy.apply(.balance(account: account), at: ledger.lastTime).result
        else { return nil }
        return view
    }

    func event(_ id: String) -> EventView? {
        var copy = ledger
        guard case .success(.event(let view)) = copy.apply(.event(id: id), at: ledger.lastTime).result else {
            return nil
        }
        return view
    }

    func report(_ account: String? = nil) -> ReportView? {
        var copy = ledger
        guard case .success(.report(let view)) = copy.apply(.report(account: account), at: ledger.lastTime).result
        else { return nil }
        return view
    }
}

extension Request {
    static func grant(_ account: String, _ id: String, _ amount: Credits, expiresAt: Milliseconds? = nil,
        priority: Int64? = nil, paid: Int64? = nil) -> Request
    {
        .grant(GrantRequest(account: account, id: id, amount: amount, expiresAt: expiresAt, priority: priority, paid: paid))
    }

    static func reserve(_ account: String, _ id: String, _ amount: Credits, ttl: Milliseconds? = nil) -> Request {
        .reserve(ReserveRequest(account: account, id: id, cost: .amount(amount), ttlMilliseconds: ttl))
    }

    static func reserve(_ account: String, _ id: String, item: String, usage: Usage? = nil, ttl: Milliseconds? = nil)
        -> Request
    {
        .reserve(ReserveRequest(account: account, id: id, cost: .item(item, usage: usage), ttlMilliseconds: ttl))
    }

    static func charge(_ account: String, _ id: String, _ amount: Credits, force: Bool? = nil) -> Request {
        .charge(ChargeRequest(account: account, id: id, cost: .amount(amount), force: force))
    }

    static func charge(_ account: String, _ id: String, item: String, usage: Usage? = nil, force: Bool? = nil)
        -> Request
    {
        .charge(ChargeRequest(account: account, id: id, cost: .item(item, usage: usage), force: force))
    }

    static func commit(_ id: String, _ amount: Credits) -> Request { .commit(id: id, .amount(amount)) }

    static func refund(_ id: String, _ event: String, _ amount: Credits? = nil) -> Request {
        .refund(RefundRequest(id: id, event: event, amount: amount))
    }
}
