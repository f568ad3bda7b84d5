// Random request sequences, seeded and reproducible: after every request the ledger's
// identities hold, no admission passes a bound, the views agree with each other, and a
// refused request changes nothing but what time passing did. A failure names its seed.
import Testing

@testable import CreditCore

/// Generates plausible, often colliding requests over a few accounts, ids and items.
struct RequestGenerator {
    var random: SeededRandom
    var t: Milliseconds = 1_700_000_000_000
    var counter = 0
    let accountIDs = ["a", "b", "c", "d"]
    var eventIDs: [String] = []
    var grantIDs: [String] = []
    var refundIDs: [String] = []

    init(seed: UInt64) { random = SeededRandom(seed: seed) }

    mutating func pick<T>(_ values: [T]) -> T { values[Int.random(in: 0..<values.count, using: &random)] }
    mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &random) < percent }
    mutating func amount() -> Credits { pick([0, 1, 5, 10, 50, 100, 250, 1000, Credits.random(in: 0...500, using: &random)]) }

    mutating func freshID(_ prefix: String, into pool: inout [String]) -> String {
        counter += 1
        let id = "\(prefix)\(counter)"
        pool.append(id)
        return id
    }

    mutating func eventID() -> String {
        let known = eventIDs
        if !known.isEmpty && chance(30) { return pick(known) }
        var pool = eventIDs
        defer { eventIDs = pool }
        return freshID("e", into: &pool)
    }

    mutating func usage() -> Usage? {
        if chance(20) { return nil }
        var entries: [Usage.Entry] = []
        for meter in ["in", "out", "img"] where chance(45) {
            entries.append(Usage.Entry(meter: meter, quantity: Int64.random(in: 0...300, using: &random)))
        }
        return Usage(entries)
    }

    mutating func limits() -> LimitsSpec {
        var spec = LimitsSpec()
        if chance(40) { spec.overdraft = pick([0, 20, 100]) }
        if chance(50) {
            spec.period = pick([.day, .month])
            if chance(70) { spec.periodCap = pick([0, 100, 300, 1000]) }
        }
        if chance(30) { spec.capMode = pick([.hard, .soft]) }
        if chance(50) { spec.alerts = [pick([0, 10, 100]), pick([50, 200])] }
        if chance(40) { spec.periodAlerts = [pick([0, 50]), pick([80, 100])] }
        if chance(40) { spec.downgrade = chance(70) }
        return spec
    }

    mutating func cost() -> CostSpec {
        chance(60) ? .amount(amount()) : .item(pick(["chat:premium", "chat:std", "embed", "nope"]), usage: usage())
    }

    mutating func next() -> (Milliseconds, Request) {
        switch Int.random(in: 0..<100, using: &random) {
        case 0..<3: t -= Int64.random(in: 0...5, using: &random)  // sometimes backwards
        case 3..<8: t += 86_400_000 * Int64.random(in: 1...40, using: &random)
        default: t += Int64.random(in: 0...2000, using: &random)
        }
        let account = pick(accountIDs)
        let request: Request
        switch Int.random(in: 0..<100, using: &random) {
        case 0..<5: request = .account(id: account, limits: chance(60) ? limits() : nil)
        case 5..<8: request = .limits(account: account, limits())
        case 8..<10: request = chance(50) ? .pause(account: account) : .resume(account: account)
        case 10..<20:
            let known = grantIDs
            var pool = grantIDs
            let id = chance(15) && !known.isEmpty ? pick(known) : freshID("g", into: &pool)
            grantIDs = pool
            request = .grant(
                GrantRequest(
                    account: account, id: id, amount: max(1, amount()),
                    expiresAt: chance(40) ? t + Int64.random(in: 1...5000, using: &random) : nil,
                    priority: chance(30) ? pick([0, 1, 2]) : nil, paid: chance(40) ? amount() : nil))
        case 20..<23:
            counter += 1
            request = .rates(
                RatesRequest(
                    version: chance(10) ? "v1" : "v\(counter)",
                    effectiveAt: chance(30) ? t + Int64.random(in: -3000...3000, using: &random) : nil,
                    items: [
                        "chat:premium": ItemSpec(base: pick([50, 100]), meters: ["in": MeterPriceSpec(price: 1), "out": MeterPriceSpec(price: 2, per: 3)], fallback: "chat:std"),
                        "chat:std": ItemSpec(base: 10, meters: ["in": MeterPriceSpec(price: 1, per: 10)], fallback: chance(50) ? "chat:premium" : nil),
                        "embed": ItemSpec(meters: ["in": MeterPriceSpec(price: 1, per: 1000)]),
                    ]))
        case 23..<26: request = .quote(account: account, item: pick(["chat:premium", "embed", "x"]), usage: usage())
        case 26..<44:
            request = .reserve(ReserveRequest(account: account, id: eventID(), cost: cost(), ttlMilliseconds: chance(50) ? Int64.random(in: 1...4000, using: &random) : nil))
        case 44..<58:
            let known = eventIDs
            let id = known.isEmpty ? "none" : pick(known)
            request = .commit(id: id, chance(70) ? .amount(amount()) : .usage(usage() ?? .empty))
        case 58..<64: let known = eventIDs
            request = .release(id: known.isEmpty ? "none" : pick(known))
        case 64..<80: request = .charge(ChargeRequest(account: account, id: eventID(), cost: cost(), force: chance(30) ? chance(60) : nil))
        case 80..<88:
            let known = refundIDs
            var pool = refundIDs
            let id = chance(15) && !known.isEmpty ? pick(known) : freshID("f", into: &pool)
            refundIDs = pool
            let events = eventIDs
            request = .refund(RefundRequest(id: id, event: events.isEmpty ? "none" : pick(events), amount: chance(50) ? max(1, amount() / 4) : nil))
        case 88..<91:
            let known = eventIDs
            request = .event(id: known.isEmpty ? "none" : pick(known))
        case 91..<95: request = .balance(account: account)
        case 95..<97: request = .report(account: chance(50) ? account : nil)
        default: request = .tick
        }
        return (max(0, t), request)
    }
}

@Suite("Property: random request sequences")
struct LedgerPropertyTests {
    static let seedCount: UInt64 = 200
    static let stepsPerSeed = 400

    @Test func invariantsAndBoundsHoldAfterEveryRequest() {
        for seed in 1...Self.seedCount {
            if let failure = Self.run(seed: seed) {
                Issue.record("seed \(seed): \(failure)")
                return
            }
        }
    }

    /// Runs one seeded sequence; returns a description of the first failure.
    static func run(seed: UInt64) -> String? {
        var generator = RequestGenerator(seed: seed)
        var ledger = Ledger()
        for step in 0..<stepsPerSeed {
            let (t, request) = generator.next()
            var passedTime = ledger
            _ = passedTime.apply(.tick, at: t)
            var alerts: [Alert] = []
            let response = ledger.apply(request, at: t, alerts: &alerts)
            let context = "step \(step), t \(t), \(request) -> \(response)"
            if let violation = ledger.invariantViolation() { return "\(context): \(violation)" }
            if let violation = checkViews(ledger, at: ledger.lastTime) { return "\(context): \(violation)" }
            switch response.result {
            case .success:
                if !response.duplicate, let violation = checkAdmission(request, ledger, at: t) {
                    return "\(context): \(violation)"
                }
            case .failure(let refusal) where refusal.code != .timeWentBackwards && refusal.code != .invalid:
                if views(passedTime, at: t) != views(ledger, at: t) { return "\(context): a refusal changed state" }
            case .failure:
                break
            }
        }
        return nil
    }

    /// After an admitted reserve or unforced charge: `available >= -overdraft`, and under a
    /// hard cap `period_spent + held <= cap`.
    static func checkAdmission(_ request: Request, _ ledger: Ledger, at t: Milliseconds) -> String? {
        let accountID: String
        switch request {
        case .reserve(let reserve): accountID = reserve.account
        case .charge(let charge) where charge.force != true: accountID = charge.account
        default: return nil
        }
        let account = ledger.accounts[Int(ledger.accountIDs[accountID]!)]
        if account.available < -account.limits.overdraft { return "admitted past the overdraft" }
        if let cap = account.limits.periodCap, account.limits.capMode == .hard,
            account.periodSpent(at: t) + account.held > cap
        {
            return "admitted past the hard cap"
        }
        return nil
    }

    /// The balance, report and event views agree with the spec's identities.
    static func checkViews(_ ledger: Ledger, at t: Milliseconds) -> String? {
        var copy = ledger
        for account in ledger.accounts {
            guard case .success(.balance(let balance)) = copy.apply(.balance(account: account.id), at: t).result else {
                return "balance refused"
            }
            if balance.grants.reduce(0, { $0 + $1.remaining }) != balance.balance + balance.debt {
                return "listed grants != balance + debt"
            }
            if balance.available != balance.balance - balance.held { return "available != balance - held" }
        }
        guard case .success(.report(let report)) = copy.apply(.report(account: nil), at: t).result else {
            return "report refused"
        }
        if report.granted != report.consumed - report.debt + report.expired + report.remaining {
            return "granted != consumed - debt + expired + remaining"
        }
        if report.recognized + report.breakage + report.deferred < 0 { return "negative revenue" }
        return nil
    }

    /// Everything a caller can read of every account.
    static func views(_ ledger: Ledger, at t: Milliseconds) -> [Response] {
        var copy = ledger
        var views = ledger.accounts.map { copy.apply(.balance(account: $0.id), at: t) }
        views.append(copy.apply(.report(account: nil), at: t))
        for event in ledger.eventIDs.keys.sorted() { views.append(copy.apply(.event(id: event), at: t)) }
        return views
    }

    @Test func theSameSeedGivesTheSameResponses() {
        func responses(seed: UInt64) -> [Response] {
            var generator = RequestGenerator(seed: seed)
            var ledger = Ledger()
            return (0..<200).map { _ in
                let (t, request) = generator.next()
                return ledger.apply(request, at: t)
            }
        }
        #expect(responses(seed: 42) == responses(seed: 42))
        #expect(responses(seed: 42) != responses(seed: 43))
    }
}
