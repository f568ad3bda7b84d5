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
        // The ledger kept the item and version: a commit by usage prices with them.
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

    /// The hot-path operations settled so far (settles first).
    static func hot(_ engine: CreditEngine) -> Int { engine.statistics().hotOperations }

    static func reserve(_ id: String, _ item: String, _ usage: Usage?, account: String = "a") -> Request {
        .reserve(ReserveRequest(account: account, id: id, cost: .item(item, usage: usage)))
    }

    @Test func aCommitByUsageTakesTheHotPathAndAnswersAsTheCore() throws {
        let engine = try Self.engine()
        var ledger = Ledger()
        let t = Self.t0
        _ = try Self.both(engine, &ledger, .account(id: "a", limits: LimitsSpec(period: .day, periodCap: 100_000, capMode: .soft)), at: t)
        _ = try Self.both(engine, &ledger, .grant(GrantRequest(account: "a", id: "g", amount: 1_000_000)), at: t)
        _ = try Self.both(engine, &ledger, Self.rates("v1", effectiveAt: nil, scale: 1), at: t)
        _ = try Self.both(engine, &ledger, Self.reserve("r1", "chat:premium", Usage(["in": 1234, "out": 56])), at: t + 1)
        let before = Self.hot(engine)
        // 3 + ceil(999 * 7 / 1000) + 10 = 3 + 7 + 10, below the hold of 68.
        let committed = try Self.both(engine, &ledger, .commit(id: "r1", .usage(Usage(["in": 999, "out": 10]))), at: t + 2)
        #expect(
            committed.result
                == .success(.charged(charged: 20, available: 1_000_000 - 20, item: nil, downgraded: false, overCap: false, late: false)))
        #expect(Self.hot(engine) - before == 1, "the commit by usage took the hot path")
        // Past the hold (the rest is owed from free credits), and with no usage at all (the base).
        _ = try Self.both(engine, &ledger, Self.reserve("r2", "chat:basic", Usage(["in": 3])), at: t + 3)
        _ = try Self.both(engine, &ledger, .commit(id: "r2", .usage(Usage(["in": 3000, "out": 7]))), at: t + 4)
        _ = try Self.both(engine, &ledger, Self.reserve("r3", "embed:small", nil), at: t + 5)
        _ = try Self.both(engine, &ledger, .commit(id: "r3", .usage(Usage.empty)), at: t + 6)
        #expect(Self.hot(engine) - before == 5)
        // The ledger kept the usage: the event, a retry (duplicate), another commit (conflict),
        // a release (closed), and a refund all answer as the core's.
        for id in ["r1", "r2", "r3"] { _ = try Self.both(engine, &ledger, .event(id: id), at: t + 7) }
        let retry = try Self.both(engine, &ledger, .commit(id: "r1", .usage(Usage(["in": 999, "out": 10]))), at: t + 8)
        #expect(retry.duplicate)
        _ = try Self.both(engine, &ledger, .commit(id: "r1", .usage(Usage(["in": 998, "out": 10]))), at: t + 8)
        _ = try Self.both(engine, &ledger, .commit(id: "r1", .amount(20)), at: t + 8)
        _ = try Self.both(engine, &ledger, .release(id: "r2"), at: t + 8)
        _ = try Self.both(engine, &ledger, .refund(RefundRequest(id: "f1", event: "r2", amount: 5)), at: t + 9)
        _ = try Self.both(engine, &ledger, .balance(account: "a"), at: t + 9)
        #expect(engine.mismatchCount == 0)
        #expect(engine.invariantViolation() == nil)
    }

    @Test func aRateChangeBetweenReserveAndCommitPricesWithTheReservationsVersion() throws {
        let engine = try Self.engine()
        var ledger = Ledger()
        let t = Self.t0
        _ = try Self.both(engine, &ledger, .account(id: "a", limits: nil), at: t)
        _ = try Self.both(engine, &ledger, .grant(GrantRequest(account: "a", id: "g", amount: 1_000_000)), at: t)
        _ = try Self.both(engine, &ledger, Self.rates("v1", effectiveAt: nil, scale: 1), at: t)
        let usage = Usage(["in": 100, "out": 10])
        for id in ["r1", "r2", "r3"] { _ = try Self.both(engine, &ledger, Self.reserve(id, "chat:premium", usage), at: t + 1) }
        // A version taking force later: the snapshot is rebuilt, still of v1; the commit stays
        // on the hot path, priced by v1: 3 + ceil(100 * 7 / 1000) + 10.
        _ = try Self.both(engine, &ledger, Self.rates("v2", effectiveAt: t + 1000, scale: 10), at: t + 2)
        var before = Self.hot(engine)
        let early = try Self.both(engine, &ledger, .commit(id: "r1", .usage(usage)), at: t + 3)
        #expect(early.result == .success(.charged(charged: 14, available: 1_000_000 - 14 - 28, item: nil, downgraded: false, overCap: false, late: false)))
        #expect(Self.hot(engine) - before == 1)
        // v2 in force (a slow-path request publishes its snapshot): the reservation made under
        // v1 is still priced by v1, by the ledger.
        _ = try Self.both(engine, &ledger, .balance(account: "a"), at: t + 1000)
        before = Self.hot(engine)
        let late = try Self.both(engine, &ledger, .commit(id: "r2", .usage(usage)), at: t + 1000)
        guard case .success(.charged(14, _, nil, false, false, false)) = late.result else {
            Issue.record("expected v1's price: \(late)")
            return
        }
        #expect(Self.hot(engine) == before, "a version no longer in force: the slow path")
        // A version taking force at once (v3 replaces v2).
        _ = try Self.both(engine, &ledger, Self.rates("v3", effectiveAt: nil, scale: 2), at: t + 1001)
        _ = try Self.both(engine, &ledger, .commit(id: "r3", .usage(usage)), at: t + 1002)
        // Reservations under v3 commit by usage on the hot path again, priced by v3.
        _ = try Self.both(engine, &ledger, Self.reserve("r4", "chat:premium", usage), at: t + 1003)
        before = Self.hot(engine)
        let v3 = try Self.both(engine, &ledger, .commit(id: "r4", .usage(usage)), at: t + 1004)
        guard case .success(.charged(28, _, nil, false, false, false)) = v3.result else {
            Issue.record("expected v3's price: \(v3)")
            return
        }
        #expect(Self.hot(engine) - before == 1)
        for id in ["r1", "r2", "r3", "r4"] { _ = try Self.both(engine, &ledger, .event(id: id), at: t + 1005) }
        #expect(engine.mismatchCount == 0)
        #expect(engine.invariantViolation() == nil)
    }

    @Test func commitsByUsageTheSnapshotCannotPriceAreRefusedAsTheCore() throws {
        let engine = try Self.engine()
        var ledger = Ledger()
        let t = Self.t0
        _ = try Self.both(engine, &ledger, .account(id: "a", limits: nil), at: t)
        _ = try Self.both(engine, &ledger, .grant(GrantRequest(account: "a", id: "g", amount: 1_000_000)), at: t)
        _ = try Self.both(engine, &ledger, Self.rates("v1", effectiveAt: nil, scale: 1), at: t)
        _ = try Self.both(engine, &ledger, Self.reserve("r1", "chat:premium", nil), at: t + 1)
        _ = try Self.both(engine, &ledger, Self.reserve("r2", "huge", nil), at: t + 1)
        _ = try Self.both(engine, &ledger, .reserve(ReserveRequest(account: "a", id: "r3", cost: .amount(40))), at: t + 1)
        let before = Self.hot(engine)
        // A meter the item lacks (even at 0), and with a known one.
        let unknown = try Self.both(engine, &ledger, .commit(id: "r1", .usage(Usage(["zz": 0]))), at: t + 2)
        #expect(unknown.result == .failure(Refusal(.unknownMeter)))
        _ = try Self.both(engine, &ledger, .commit(id: "r1", .usage(Usage(["in": 5, "tok": 1]))), at: t + 2)
        // A cost above 10^12: invalid.
        let over = try Self.both(engine, &ledger, .commit(id: "r2", .usage(Usage(["x": 2]))), at: t + 2)
        #expect(over.result == .failure(Refusal(.invalid)))
        // A reservation by amount has no item: invalid.
        let byAmount = try Self.both(engine, &ledger, .commit(id: "r3", .usage(Usage(["in": 5]))), at: t + 2)
        #expect(byAmount.result == .failure(Refusal(.invalid)))
        // An unknown event.
        _ = try Self.both(engine, &ledger, .commit(id: "nope", .usage(Usage(["in": 5]))), at: t + 2)
        #expect(Self.hot(engine) == before, "refusals are the ledger's")
        // The refused reservations are still open; once the ledger has answered for one, it
        // answers its later commits too (exact, not on the hot path).
        _ = try Self.both(engine, &ledger, .commit(id: "r1", .usage(Usage(["in": 5]))), at: t + 3)
        _ = try Self.both(engine, &ledger, .commit(id: "r2", .usage(Usage(["x": 0]))), at: t + 3)
        _ = try Self.both(engine, &ledger, .commit(id: "r3", .amount(40)), at: t + 4)
        #expect(Self.hot(engine) == before)
        for id in ["r1", "r2", "r3"] { _ = try Self.both(engine, &ledger, .event(id: id), at: t + 4) }
        // Expired: a late commit by usage is the ledger's.
        _ = try Self.both(engine, &ledger, .reserve(ReserveRequest(account: "a", id: "r4", cost: .item("chat:basic", usage: nil), ttlMilliseconds: 10)), at: t + 5)
        let lateCommit = try Self.both(engine, &ledger, .commit(id: "r4", .usage(Usage(["out": 3]))), at: t + 15)
        guard case .success(.charged(_, _, _, _, _, true)) = lateCommit.result else {
            Issue.record("expected a late commit: \(lateCommit)")
            return
        }
        #expect(engine.mismatchCount == 0)
        #expect(engine.invariantViolation() == nil)
    }

    @Test func aReservationTheLedgerDowngradedCommitsByUsageAsTheCore() throws {
        let engine = try Self.engine()
        var ledger = Ledger()
        let t = Self.t0
        // Too few credits for chat:premium: the ledger walks the fallback chain (slow path).
        _ = try Self.both(engine, &ledger, .account(id: "a", limits: LimitsSpec(downgrade: true)), at: t)
        _ = try Self.both(engine, &ledger, .grant(GrantRequest(account: "a", id: "g", amount: 45)), at: t)
        _ = try Self.both(engine, &ledger, Self.rates("v1", effectiveAt: nil, scale: 1), at: t)
        // chat:premium costs 3 + 43 = 46 > 45; chat:basic 1 + 43 = 44.
        let reserved = try Self.both(engine, &ledger, Self.reserve("r1", "chat:premium", Usage(["out": 43])), at: t + 1)
        guard case .success(.reserved(_, _, let item, true, _)) = reserved.result else {
            Issue.record("expected a downgrade: \(reserved)")
            return
        }
        #expect(item?.item == "chat:basic")
        // Its commit by usage prices chat:basic (the item the ledger kept), on the hot path:
        // the shard's snapshot is of the reservation's version.
        let before = Self.hot(engine)
        _ = try Self.both(engine, &ledger, .commit(id: "r1", .usage(Usage(["in": 4, "out": 5]))), at: t + 2)
        #expect(Self.hot(engine) - before == 1)
        _ = try Self.both(engine, &ledger, .event(id: "r1"), at: t + 3)
        #expect(engine.mismatchCount == 0)
        #expect(engine.invariantViolation() == nil)
    }

    @Test func snapshotsOfOneVersionNumberItsItemsAlike() {
        var ledger = Ledger()
        let t = Self.t0
        #expect(ledger.pricingSnapshot().versionIndex == -1)
        _ = ledger.apply(Self.rates("v1", effectiveAt: nil, scale: 1), at: t)
        let first = ledger.pricingSnapshot()
        // A version taking force later: a new snapshot of the same version.
        _ = ledger.apply(Self.rates("v2", effectiveAt: t + 100, scale: 5), at: t + 1)
        let second = ledger.pricingSnapshot()
        #expect(first !== second && first.versionIndex == 0 && second.versionIndex == 0)
        #expect(second.versionCount == 2)
        let usages: [Usage?] = [nil, Usage.empty, Usage(["in": 1001, "out": 3]), Usage(["tok": 7]), Usage(["x": 2]), Usage(["zz": 0])]
        var numbers: Set<Int32> = []
        for item in ["chat:premium", "chat:basic", "chat:free", "embed:small", "huge"] {
            guard let number = first.itemIndex(of: item) else {
                Issue.record("no number for \(item)")
                continue
            }
            numbers.insert(number)
            #expect(second.itemIndex(of: item) == number)
            for usage in usages {
                // By number as by name, on either snapshot (nil: an unknown meter, above 10^12).
                let byName = first.cost(of: item, usage: usage)
                #expect(first.cost(ofItemAt: number, usage: usage) == byName)
                #expect(second.cost(ofItemAt: number, usage: usage) == byName)
                #expect(first.price(item, usage: usage).map { $0.itemIndex } == (byName == nil ? nil : number))
            }
        }
        #expect(numbers == [0, 1, 2, 3, 4])
        #expect(first.itemIndex(of: "nope") == nil)
        // The version in force at v2's instant numbers v2's items.
        _ = ledger.apply(.tick, at: t + 100)
        #expect(ledger.pricingSnapshot().versionIndex == 1)
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
                switch random.next() % 3 {
                case 0: request = .commit(id: id, .amount(Int64(random.next() % 500)))
                case 1: request = .commit(id: id, .usage(usage ?? Usage.empty))
                default: request = .release(id: id)
                }
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
