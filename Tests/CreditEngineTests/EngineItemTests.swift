// Reserve and charge by item on the hot path: every reply equals the core's, byte for byte
// as values (item, version, over_cap, refusals with their figures), across rate-card versions
// that take force later, downgrades, unknown items and meters and costs out of range; and
// the simple cases really take the hot path.

import CreditCore
@testable import CreditEngine
import Testing

@Suite struct EngineItemTests {
    static let t0: Milliseconds = 1_767_225_600_000

    static func engine(shards: Int = 4) throws -> CreditEngine {
        var configuration = EngineConfiguration()
        configuration.shardCount = shards
        configuration.accountsMax = 64
        configuration.eventsMax = 1 << 16
        configuration.settleQueueCapacity = 64
        return try CreditEngine(configuration: configuration, clock: ManualClock(t0))
    }

    static func rates(_ version: String, effectiveAt: Milliseconds?, scale: Int64) -> Request {
        .rates(
            RatesRequest(
                version: version, effectiveAt: effectiveAt,
                items: [
                    "chat:premium": ItemSpec(
                        base: 3 * scale,
                        meters: ["in": MeterPriceSpec(price: 7 * scale, per: 1000), "out": MeterPriceSpec(price: scale)],
                        fallback: "chat:basic"),
                    "chat:basic": ItemSpec(
                        base: scale, meters: ["in": MeterPriceSpec(price: scale, per: 3), "out": MeterPriceSpec(price: 1)],
                        fallback: "chat:free"),
                    "chat:free": ItemSpec(meters: ["in": MeterPriceSpec(price: 1, per: 1_000_000)], fallback: "chat:premium"),
                    "embed:small": ItemSpec(meters: ["tok": MeterPriceSpec(price: 1, per: 1000)]),
                    "huge": ItemSpec(meters: ["x": MeterPriceSpec(price: 1_000_000_000_000)]),
                ]))
    }

    /// Applies `request` to the engine and the core at `t` and expects equal responses.
    static func both(
        _ engine: CreditEngine, _ ledger: inout Ledger, _ request: Request, at t: Milliseconds,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> Response {
        var alerts: [Alert] = []
        let actual = try engine.apply(request, at: t, alerts: &alerts)
        let expected = ledger.apply(request, at: t)
        #expect(actual == expected, "\(request) at \(t)", sourceLocation: sourceLocation)
        return actual
    }

    @Test func simpleRequestsByItemTakeTheHotPathAndAnswerAsTheCore() throws {
        let engine = try Self.engine()
        var ledger = Ledger()
        let t = Self.t0
        _ = try Self.both(engine, &ledger, .account(id: "a", limits: LimitsSpec(period: .day, periodCap: 100_000, capMode: .soft)), at: t)
        _ = try Self.both(engine, &ledger, .grant(GrantRequest(account: "a", id: "g", amount: 1_000_000)), at: t)
        _ = try Self.both(engine, &ledger, Self.rates("v1", effectiveAt: nil, scale: 1), at: t)
        let before = engine.statistics().hotOperations
        let usage = Usage(["in": 1234, "out": 56])
        let reserved = try Self.both(
            engine, &ledger, .reserve(ReserveRequest(account: "a", id: "r1", cost: .item("chat:premium", usage: usage))),
            at: t + 1)
        // 3 + ceil(1234 * 7 / 1000) + 56 = 3 + 9 + 56.
        #expect(
            reserved.result
                == .success(
                    .reserved(held: 68, available: 1_000_000 - 68, item: PricedItem(item: "chat:premium", version: "v1"),
                        downgraded: false, overCap: false)))
        _ = try Self.both(
            engine, &ledger, .charge(ChargeRequest(account: "a", id: "c1", cost: .item("embed:small", usage: Usage(["tok": 1])))),
            at: t + 2)
        _ = try Self.both(
            engine, &ledger, .charge(ChargeRequest(account: "a", id: "c2", cost: .item("embed:small", usage: nil), force: false)),
            at: t + 2)
        _ = try Self.both(engine, &ledger, .commit(id: "r1", .amount(50)), at: t + 3)
        // Past the soft cap: over_cap, still on the hot path.
        let overCap = try Self.both(
            engine, &ledger, .charge(ChargeRequest(account: "a", id: "c3", cost: .item("chat:basic", usage: Usage(["out": 100_000])))),
            at: t + 4)
        guard case .success(.charged(_, _, _, _, true, _)) = overCap.result else {
            Issue.record("expected over_cap: \(overCap)")
            return
        }
        #expect(engine.statistics().hotOperations - before == 5)
        #expect(engine.mismatchCount == 0)
        // The ledger kept the item and version: a commit by usage (slow path) prices with them.
        _ = try Self.both(engine, &ledger, .reserve(ReserveRequest(account: "a", id: "r2", cost: .item("chat:basic", usage: usage))), at: t + 5)
        _ = try Self.both(engine, &ledger, .commit(id: "r2", .usage(Usage(["in": 9]))), at: t + 6)
        _ = try Self.both(engine, &ledger, .event(id: "r2"), at: t + 6)
        // Retries are the ledger's: the same request is a duplicate, another a conflict.
        let retry = try Self.both(
            engine, &ledger, .reserve(ReserveRequest(account: "a", id: "r1", cost: .item("chat:premium", usage: usage))), at: t + 7)
        #expect(retry.duplicate)
        _ = try Self.both(
            engine, &ledger, .reserve(ReserveRequest(account: "a", id: "r1", cost: .item("chat:premium", usage: nil))), at: t + 7)
        #expect(engine.invariantViolation() == nil)
    }

    @Test func aVersionTakingForceLaterPricesFromItsInstant() throws {
        let engine = try Self.engine()
        var ledger = Ledger()
        let t = Self.t0
        _ = try Self.both(engine, &ledger, .account(id: "a", limits: nil), at: t)
        _ = try Self.both(engine, &ledger, .grant(GrantRequest(account: "a", id: "g", amount: 1_000_000)), at: t)
        // Before any version is in force: no_rates (the ledger answers).
        _ = try Self.both(engine, &ledger, Self.rates("v2", effectiveAt: t + 100, scale: 10), at: t)
        _ = try Self.both(engine, &ledger, .charge(ChargeRequest(account: "a", id: "c0", cost: .item("chat:free", usage: nil))), at: t + 1)
        _ = try Self.both(engine, &ledger, Self.rates("v1", effectiveAt: t - 5, scale: 1), at: t + 2)
        let usage = Usage(["in": 10, "out": 10])
        for step in Int64(0)..<8 {
            // Steps cross v2's instant (t + 100) and its exact millisecond.
            let at = t + 40 + step * 20
            let response = try Self.both(
                engine, &ledger, .charge(ChargeRequest(account: "a", id: "c\(step + 1)", cost: .item("chat:premium", usage: usage))),
                at: at)
            guard case .success(.charged(_, _, let item, _, _, _)) = response.result else {
                Issue.record("charge refused: \(response)")
                continue
            }
            #expect(item?.version == (at >= t + 100 ? "v2" : "v1"))
        }
        _ = try Self.both(engine, &ledger, .charge(ChargeRequest(account: "a", id: "x", cost: .item("chat:premium", usage: usage))), at: t + 100)
        // A version effective in the past takes force from its request on.
        _ = try Self.both(engine, &ledger, Self.rates("v3", effectiveAt: t + 150, scale: 2), at: t + 200)
        _ = try Self.both(engine, &ledger, .charge(ChargeRequest(account: "a", id: "y", cost: .item("chat:premium", usage: usage))), at: t + 200)
        #expect(engine.mismatchCount == 0)
    }

    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func randomRequestsByItemAnswerAsTheCore(seed: UInt64) throws {
        let engine = try Self.engine(shards: 2)
        var ledger = Ledger()
        var random = SeededRandom(seed: seed)
        var t = Self.t0
        let accounts = ["a", "b", "c", "d", "e"]
        let limits: [LimitsSpec?] = [
            nil, LimitsSpec(overdraft: 300, downgrade: true), LimitsSpec(period: .day, periodCap: 20_000, downgrade: true),
            LimitsSpec(period: .day, periodCap: 5_000, capMode: .soft), LimitsSpec(downgrade: false),
        ]
        for (index, account) in accounts.enumerated() {
            _ = try Self.both(engine, &ledger, .account(id: account, limits: limits[index]), at: t)
            _ = try Self.both(engine, &ledger, .grant(GrantRequest(account: account, id: "g\(account)", amount: 30_000)), at: t)
        }
        _ = try Self.both(engine, &ledger, Self.rates("v0", effectiveAt: nil, scale: 1), at: t)
        let items = ["chat:premium", "chat:basic", "chat:free", "embed:small", "huge", "nope"]
        let meters = ["in", "out", "tok", "x", "zz"]
        var versions = 1
        var open: [String] = []
        for serial in 0..<3000 {
            t += Int64(random.next() % 40)
            let account = accounts[Int(random.next() % UInt64(accounts.count))]
            var entries: [Usage.Entry] = []
            for meter in meters where random.next() % 3 == 0 {
                let quantity = random.next() % 50 == 0 ? Int64(1_000_000_000) : Int64(random.next() % 2000)
                entries.append(Usage.Entry(meter: meter, quantity: quantity))
            }
            let usage = random.next() % 4 == 0 ? nil : Usage(entries)
            let item = items[Int(random.next() % UInt64(items.count))]
            let roll = random.next() % 100
            let request: Request
            switch roll {
            case 0..<35:
                let id = "r\(serial)"
                open.append(id)
                request = .reserve(ReserveRequest(account: account, id: id, cost: .item(item, usage: usage), ttlMilliseconds: 1 + Int64(random.next() % 5000)))
            case 35..<65:
                let force: Bool? = random.next() % 10 == 0 ? true : (random.next() % 2 == 0 ? false : nil)
                request = .charge(ChargeRequest(account: account, id: "c\(serial)", cost: .item(item, usage: usage), force: force))
            case 65..<80 where !open.isEmpty:
                let id = open.remove(at: Int(random.next() % UInt64(open.count)))
                request = random.next() % 2 == 0 ? .commit(id: id, .amount(Int64(random.next() % 500))) : .release(id: id)
            case 80..<83:
                // A new version, taking force now, in the past or later.
                let offset = Int64(random.next() % 600) - 200
                request = Self.rates("v\(versions)", effectiveAt: random.next() % 3 == 0 ? nil : t + offset, scale: 1 + Int64(random.next() % 4))
                versions += 1
            case 83..<85:
                request = random.next() % 2 == 0 ? .pause(account: account) : .resume(account: account)
            case 85..<88:
                request = .grant(GrantRequest(account: account, id: "g\(serial)", amount: 5_000, expiresAt: t + 1 + Int64(random.next() % 3000)))
            default:
                request = .charge(ChargeRequest(account: account, id: "c\(serial)", cost: .item("embed:small", usage: Usage(["tok": 1500]))))
            }
            _ = try Self.both(engine, &ledger, request, at: t)
        }
        #expect(engine.mismatchCount == 0)
        #expect(engine.invariantViolation() == nil)
        // The simple cases took the hot path: far more than a handful of operations.
        #expect(engine.statistics().hotOperations > 300)
    }
}
