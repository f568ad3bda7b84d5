// One test per rule of `semantics.md`, through the Swift API of the ledger.
import Testing

@testable import CreditCore

@Suite("Time and validation")
struct TimeAndValidationTests {
    @Test func timeGoingBackwardsIsRefusedAndChangesNothing() {
        var h = LedgerHarness()
        h.ok(1000, .account(id: "a", limits: nil))
        h.refused(999, .grant("a", "g", 10), .timeWentBackwards)
        #expect(h.ledger.lastTime == 1000)
        h.refused(1000, .grant("a", "g2", 10, expiresAt: 1000), .invalid)
        // The refused lines left the id free.
        #expect(h.ok(1000, .grant("a", "g", 10)) == .granted(available: 10))
    }

    @Test func invalidRequestsDoNotPassTime() {
        var h = LedgerHarness()
        h.ok(1000, .account(id: "a", limits: nil))
        h.refused(5000, .account(id: "bad name", limits: nil), .invalid)
        #expect(h.ledger.lastTime == 1000)
        h.refused(5000, .reserve("a", "r", 1, ttl: 0), .invalid)
        h.refused(5000, .reserve("a", "r", 1, ttl: 86_400_001), .invalid)
        h.refused(5000, .grant("a", "g", 0), .invalid)
        h.refused(5000, .grant("a", "g", SpecLimits.amountMax + 1), .invalid)
        h.refused(5000, .refund("f", "e", 0), .invalid)
        h.refused(5000, .limits(account: "a", LimitsSpec(periodCap: 10)), .invalid)
        h.refused(5000, .account(id: String(repeating: "x", count: 65), limits: nil), .invalid)
        #expect(h.ledger.lastTime == 1000)
        h.ok(1000, .account(id: String(repeating: "x", count: 64), limits: nil))
    }

    @Test func namesFollowTheCharacterRules() {
        #expect(SpecLimits.isValidName("A-z.0_9:x"))
        #expect(!SpecLimits.isValidName(""))
        #expect(!SpecLimits.isValidName("a b"))
        #expect(!SpecLimits.isValidName("é"))
        #expect(SpecLimits.isValidMeterName("tok_in2"))
        #expect(!SpecLimits.isValidMeterName("Tok"))
        #expect(!SpecLimits.isValidMeterName(String(repeating: "a", count: 33)))
        #expect(SpecLimits.isValidMeterName(String(repeating: "a", count: 32)))
    }

    @Test func utcMonthsFollowTheCalendar() {
        // 2024-02-29T23:59:59.999Z and 2024-03-01T00:00:00Z.
        #expect(UTCCalendar.monthIndex(1_709_251_199_999) == 2024 * 12 + 1)
        #expect(UTCCalendar.monthIndex(1_709_251_200_000) == 2024 * 12 + 2)
        #expect(UTCCalendar.monthIndex(0) == 1970 * 12)
        #expect(UTCCalendar.monthIndex(Int64.max) > 0)
    }
}

@Suite("Burn order, expiry and debt")
struct BurnOrderTests {
    @Test func freeCreditsBurnByPriorityThenExpiryThenCreation() {
        var h = LedgerHarness()
        h.ok(1000, .account(id: "a", limits: nil))
        h.ok(1000, .grant("a", "never", 100))
        h.ok(1000, .grant("a", "late", 100, expiresAt: 9000))
        h.ok(1000, .grant("a", "soon", 100, expiresAt: 5000))
        h.ok(1000, .grant("a", "prio", 100, expiresAt: 2000, priority: 1))
        h.ok(1000, .grant("a", "soon2", 50, expiresAt: 5000))
        #expect(h.balance("a")?.grants.map(\.id) == ["soon", "soon2", "late", "never", "prio"])
        h.ok(1001, .charge("a", "c1", 120))
        #expect(h.balance("a")?.grants.map(\.remaining) == [30, 100, 100, 100])
        #expect(h.event("c1")?.burns == [Burn(grant: "soon", credits: 100), Burn(grant: "soon2", credits: 20)])
    }

    @Test func grantExpiryTakesOnlyFreeCredits() {
        var h = LedgerHarness()
        h.ok(1000, .account(id: "x", limits: nil))
        h.ok(1000, .grant("x", "gA", 100, expiresAt: 5000, paid: 1000))
        h.ok(1000, .grant("x", "gB", 100, paid: 500))
        h.ok(2000, .reserve("x", "r1", 150))
        h.ok(5000, .tick)
        // gA is expired but still backs r1, so it is listed.
        #expect(h.balance("x")?.grants == [GrantRemaining(id: "gA", remaining: 100), GrantRemaining(id: "gB", remaining: 100)])
        #expect(h.ok(6000, .commit("r1", 70)) == .charged(charged: 70, available: 100, item: nil, downgraded: false, overCap: false, late: false))
        let report = h.report()
        #expect(report?.expired == 30)
        #expect(report?.recognized == 700)
        #expect(report?.breakage == 300)
        #expect(report?.deferred == 500)
    }

    @Test func newGrantPaysDebtOldestRecordFirst() {
        var h = LedgerHarness()
        h.ok(1000, .account(id: "d", limits: nil))
        h.ok(1001, .charge("d", "c1", 50, force: true))
        h.ok(1002, .charge("d", "c2", 15, force: true))
        #expect(h.available("d") == -65)
        #expect(h.ok(1003, .grant("d", "g1", 60)) == .granted(available: -5))
        #expect(h.event("c1")?.burns == [Burn(grant: "g1", credits: 50)])
        #expect(h.event("c1")?.debt == 0)
        #expect(h.event("c2")?.burns == [Burn(grant: "g1", credits: 10)])
        #expect(h.event("c2")?.debt == 5)
        #expect(h.balance("d")?.debt == 5)
    }

    @Test func releasedAllocationPaysDebtInAllocationOrder() {
        var h = LedgerHarness()
        h.ok(1000, .account(id: "p", limits: nil))
        h.ok(1000, .grant("p", "gA", 30, expiresAt: 100_000))
        h.ok(1000, .grant("p", "gB", 70))
        h.ok(1001, .reserve("p", "r1", 50))
        h.ok(1002, .charge("p", "c1", 85, force: true))
        h.ok(1003, .charge("p", "c2", 10, force: true))
        #expect(h.ok(1004, .release(id: "r1")) == .released(released: 50, available: 5))
        #expect(
            h.event("c1")?.burns == [
                Burn(grant: "gB", credits: 50), Burn(grant: "gA", credits: 30), Burn(grant: "gB", credits: 5),
            ])
        #expect(h.event("c2")?.burns == [Burn(grant: "gB", credits: 10)])
    }

    @Test func allocationReturnedToAnExpiredGrantExpires() {
        var h = LedgerHarness()
        h.ok(1000, .account(id: "x", limits: nil))
        h.ok(1000, .grant("x", "g", 10, expiresAt: 2000))
        h.ok(1000, .charge("x", "c", 5, force: true))  // no debt: takes free credits
        h.ok(1001, .reserve("x", "r", 5))
        h.ok(1500, .charge("x", "c2", 3, force: true))  // debt 3
        h.ok(2000, .tick)
        #expect(h.ok(2001, .release(id: "r")) == .released(released: 5, available: -3))
        #expect(h.report()?.expired == 5)
        #expect(h.balance("x")?.debt == 3)
    }
}

@Suite("Reservations")
struct ReservationTests {
    @Test func commitAboveTheHoldTakesFreeThenDebt() {
        var h = LedgerHarness()
        h.ok(1000, .account(id: "o", limits: LimitsSpec(overdraft: 100)))
        h.ok(1000, .grant("o", "g1", 60))
        #expect(h.ok(1001, .reserve("o", "r1", 100)) == .reserved(held: 100, available: -40, item: nil, downgraded: false, overCap: false))
        let refusal = h.apply(1002, .reserve("o", "r2", 61)).result
        #expect(refusal == .failure(Refusal(.insufficientCredits, available: -40, needed: 61)))
        h.ok(1003, .reserve("o", "r2", 60))
        #expect(h.ok(1004, .commit("r1", 130)) == .charged(charged: 130, available: -130, item: nil, downgraded: false, overCap: false, late: false))
        #expect(h.alerts == [.debt(account: "o", debt: 70, t: 1004)])
        #expect(h.ok(1005, .grant("o", "g2", 200)) == .granted(available: 70))
        #expect(h.ok(1006, .commit("r2", 20)) == .charged(charged: 20, available: 110, item: nil, downgraded: false, overCap: false, late: false))
    }

    @Test func commitAtTheExpiryInstantIsLate() {
        var h = LedgerHarness()
        h.ok(1000, .account(id: "l", limits: nil))
        h.ok(1000, .grant("l", "g1", 100))
        h.ok(1000, .reserve("l", "r1", 40, ttl: 1000))
        #expect(h.ok(2000, .commit("r1", 25)) == .charged(charged: 25, available: 75, item: nil, downgraded: false, overCap: false, late: true))
        #expect(h.event("r1")?.status == .committed)
        #expect(h.event("r1")?.late == true)
        h.refused(2001, .release(id: "r1"), .reservationClosed)
        let retry = h.apply(2002, .commit("r1", 25))
        #expect(retry.duplicate)
        #expect(retry.result == .success(.charged(charged: 25, available: 75, item: nil, downgraded: false, overCap: false, late: true)))
    }

    @Test func releaseAfterExpiryReleasesNothingAndKeepsStatusExpired() {
        var h = LedgerHarness()
        h.ok(1000, .account(id: "l", limits: nil))
        h.ok(1000, .grant("l", "g1", 100))
        h.ok(1500, .reserve("l", "r2", 30, ttl: 500))
        #expect(h.ok(2001, .release(id: "r2")) == .released(released: 0, available: 100))
        #expect(h.event("r2")?.status == .expired)
        h.refused(2002, .commit("r2", 1), .reservationClosed)
        #expect(h.apply(2003, .release(id: "r2")).duplicate)
    }

    @Test func secondCommitIsARetryOrAConflict() {
        var h = LedgerHarness()
        h.ok(1000, .account(id: "r", limits: nil))
        h.ok(1000, .grant("r", "g", 100))
        h.ok(1001, .reserve("r", "e2", 20))
        h.ok(1002, .commit("e2", 25))
        #expect(h.apply(1003, .commit("e2", 25)).duplicate)
        h.refused(1004, .commit("e2", 26), .idConflict)
        h.refused(1005, .release(id: "e2"), .reservationClosed)
        h.refused(1006, .release(id: "nope"), .unknownEvent)
        h.ok(1007, .charge("r", "c", 1))
        h.refused(1008, .commit("c", 1), .reservationClosed)
        h.refused(1008, .release(id: "c"), .reservationClosed)
    }

    @Test func reservationAndGrantExpiringTogetherReturnCreditsBeforeTheGrantExpires() {
        var h = LedgerHarness()
        h.ok(1000, .account(id: "x", limits: nil))
        h.ok(1000, .grant("x", "gC", 10, expiresAt: 2000))
        h.ok(1000, .reserve("x", "r", 10, ttl: 1000))
        h.ok(1500, .charge("x", "c", 4, force: true))  // debt 4
        h.ok(2000, .tick)
        // The reservation's credits went back to gC first and paid the debt; the rest expired.
        #expect(h.event("c")?.burns == [Burn(grant: "gC", credits: 4)])
        #expect(h.report()?.expired == 6)
        #expect(h.balance("x")?.debt == 0)
    }

    @Test func anExpiryBeyondTheLastMillisecondIsNeverReached() {
        var h = LedgerHarness()
        h.ok(1000, .account(id: "x", limits: nil))
        h.ok(1000, .grant("x", "g", 10))
        h.ok(Int64.max - 5, .reserve("x", "r", 3, ttl: 10))
        h.ok(Int64.max, .tick)
        #expect(h.event("r")?.status == .open)
    }
}

@Suite("Admission and caps")
struct AdmissionTests {
    @Test func checksRunInOrderPausedCreditsCap() {
        var h = LedgerHarness()
        h.ok(0, .account(id: "a", limits: LimitsSpec(period: .day, periodCap: 10)))
        h.ok(0, .grant("a", "g", 5))
        h.ok(0, .pause(account: "a"))
        h.refused(1, .charge("a", "c", 100), .paused)
        h.ok(2, .resume(account: "a"))
        h.refused(3, .charge("a", "c", 100), .insufficientCredits)
        h.ok(4, .grant("a", "g2", 100))
        h.refused(5, .charge("a", "c", 11), .periodCap)
        h.ok(6, .charge("a", "c", 10))
        h.ok(7, .charge("a", "c0", 0))  // spent + held + 0 == cap is admitted
        h.refused(7, .charge("a", "c1", 1), .periodCap)
        // Forced charges pass pause, credits and caps.
        h.ok(8, .pause(account: "a"))
        #expect(h.ok(9, .charge("a", "f", 500, force: true)) == .charged(charged: 500, available: -405, item: nil, downgraded: false, overCap: false, late: false))
    }

    @Test func holdsCountAgainstTheHardCap() {
        var h = LedgerHarness()
        h.ok(86_400_000, .account(id: "h", limits: LimitsSpec(period: .day, periodCap: 100)))
        h.ok(86_400_000, .grant("h", "g", 1000))
        h.ok(86_400_001, .charge("h", "h1", 60))
        h.ok(86_400_002, .reserve("h", "h2", 30))
        h.refused(86_400_003, .charge("h", "h3", 11), .periodCap)
        h.ok(86_400_003, .charge("h", "h3", 10))
        // A commit may pass the cap.
        h.ok(86_400_004, .commit("h2", 45))
        #expect(h.balance("h")?.periodSpent == 115)
        // The next day starts from 0.
        h.ok(172_800_000, .charge("h", "h5", 100))
    }

    @Test func softCapAdmitsAndSaysOverCap() {
        var h = LedgerHarness()
        h.ok(0, .account(id: "s", limits: LimitsSpec(period: .day, periodCap: 100, capMode: .soft)))
        h.ok(0, .grant("s", "g", 1000))
        #expect(h.ok(1, .charge("s", "s1", 90)) == .charged(charged: 90, available: 910, item: nil, downgraded: false, overCap: false, late: false))
        #expect(h.ok(2, .charge("s", "s2", 20)) == .charged(charged: 20, available: 890, item: nil, downgraded: false, overCap: true, late: false))
        #expect(h.ok(3, .reserve("s", "s3", 5)) == .reserved(held: 5, available: 885, item: nil, downgraded: false, overCap: true))
    }

    @Test func monthPeriodsFollowTheUTCCalendar() {
        var h = LedgerHarness()
        let february29 = Int64(1_709_164_800_000)  // 2024-02-29T00:00:00Z
        h.ok(february29, .account(id: "m", limits: LimitsSpec(period: .month, periodCap: 100)))
        h.ok(february29, .grant("m", "g", 1000))
        h.ok(february29 + 1, .charge("m", "c1", 100))
        h.refused(february29 + 2, .charge("m", "c2", 1), .periodCap)
        h.ok(february29 + 86_400_000, .charge("m", "c2", 1))  // March 1st
        #expect(h.balance("m")?.periodSpent == 1)
    }

    @Test func changingThePeriodSwitchesFiguresAndLosesNothing() {
        var h = LedgerHarness()
        h.ok(0, .account(id: "a", limits: LimitsSpec(period: .day)))
        h.ok(0, .grant("a", "g", 1000))
        h.ok(1, .charge("a", "c1", 30))
        h.ok(86_400_000, .charge("a", "c2", 20))
        #expect(h.balance("a")?.periodSpent == 20)
        h.ok(86_400_001, .limits(account: "a", LimitsSpec(period: .month)))
        #expect(h.balance("a")?.periodSpent == 50)
        h.ok(86_400_002, .limits(account: "a", LimitsSpec()))
        #expect(h.balance("a")?.periodSpent == 50)
    }
}

@Suite("Rates, pricing and downgrade")
struct RatesTests {
    static let items: [String: ItemSpec] = [
        "chat:premium": ItemSpec(base: 100, meters: ["in": MeterPriceSpec(price: 1), "out": MeterPriceSpec(price: 1)], fallback: "chat:mid"),
        "chat:mid": ItemSpec(base: 60, meters: ["in": MeterPriceSpec(price: 1)], fallback: "chat:std"),
        "chat:std": ItemSpec(base: 40, meters: ["in": MeterPriceSpec(price: 1), "out": MeterPriceSpec(price: 1)], fallback: "chat:premium"),
        "tok": ItemSpec(base: 2, meters: ["tok": MeterPriceSpec(price: 3, per: 10)]),
    ]

    @Test func costRoundsEachMeterUp() {
        var h = LedgerHarness()
        h.ok(0, .account(id: "p", limits: nil))
        h.ok(0, .rates(RatesRequest(version: "v1", items: Self.items)))
        #expect(h.ok(1, .quote(account: "p", item: "tok", usage: Usage(["tok": 11]))) == .quoted(credits: 6, version: "v1", affordable: false))
        h.refused(1, .quote(account: "p", item: "tok", usage: Usage(["img": 0])), .unknownMeter)
        h.refused(1, .quote(account: "p", item: "nope", usage: nil), .unknownItem)
        h.refused(1, .quote(account: "q", item: "tok", usage: nil), .unknownAccount)
    }

    @Test func noRatesBeforeAnyVersionIsInForce() {
        var h = LedgerHarness()
        h.ok(0, .account(id: "p", limits: nil))
        h.refused(0, .quote(account: "p", item: "tok", usage: nil), .noRates)
        h.ok(0, .rates(RatesRequest(version: "v1", effectiveAt: 10, items: Self.items)))
        h.refused(9, .charge("p", "c", item: "tok"), .noRates)
        #expect(h.ok(10, .quote(account: "p", item: "tok", usage: nil)) == .quoted(credits: 2, version: "v1", affordable: false))
    }

    @Test func costAboveTheLimitIsInvalidAndAccepted() {
        var h = LedgerHarness()
        h.ok(0, .account(id: "p", limits: nil))
        h.ok(0, .rates(RatesRequest(version: "v5", items: ["big": ItemSpec(base: SpecLimits.amountMax, meters: ["n": MeterPriceSpec(price: 1)])])))
        h.refused(5, .quote(account: "p", item: "big", usage: Usage(["n": 1])), .invalid)
        #expect(h.ledger.lastTime == 5)
        #expect(h.ok(6, .quote(account: "p", item: "big", usage: Usage(["n": 0]))) == .quoted(credits: SpecLimits.amountMax, version: "v5", affordable: false))
    }

    @Test func downgradeWalksTheChainAndSkipsItemsLackingAMeter() {
        var h = LedgerHarness()
        h.ok(0, .account(id: "dg", limits: LimitsSpec(downgrade: true)))
        h.ok(0, .grant("dg", "g1", 50))
        h.ok(0, .rates(RatesRequest(version: "v1", items: Self.items)))
        let usage = Usage(["in": 5, "out": 3])
        #expect(
            h.ok(1, .charge("dg", "c1", item: "chat:premium", usage: usage))
                == .charged(charged: 48, available: 2, item: PricedItem(item: "chat:std", version: "v1"), downgraded: true, overCap: false, late: false))
        let refused = h.apply(2, .reserve("dg", "r1", item: "chat:premium", usage: Usage(["in": 5]))).result
        #expect(refused == .failure(Refusal(.insufficientCredits, available: 2, needed: 105)))
        h.ok(3, .pause(account: "dg"))
        h.refused(4, .charge("dg", "c2", item: "chat:std", usage: usage), .paused)
    }

    @Test func aReservationKeepsItsVersionForCommitByUsage() {
        var h = LedgerHarness()
        h.ok(0, .account(id: "p", limits: nil))
        h.ok(0, .grant("p", "g", 10_000))
        h.ok(0, .rates(RatesRequest(version: "v1", items: Self.items)))
        h.ok(1, .reserve("p", "r1", item: "tok", usage: Usage(["tok": 100])))
        h.ok(2, .rates(RatesRequest(version: "v2", items: ["tok": ItemSpec(base: 1000)])))
        #expect(h.ok(3, .commit(id: "r1", .usage(Usage(["tok": 200])))) == .charged(charged: 62, available: 9938, item: nil, downgraded: false, overCap: false, late: false))
        h.ok(4, .reserve("p", "r2", 10))
        h.refused(5, .commit(id: "r2", .usage(Usage(["tok": 1]))), .invalid)
    }

    @Test func aLaterVersionWithAnEarlierEffectiveTimeTakesForceAtOnce() {
        var h = LedgerHarness()
        h.ok(0, .account(id: "p", limits: nil))
        h.ok(0, .rates(RatesRequest(version: "v1", effectiveAt: 0, items: Self.items)))
        h.ok(0, .rates(RatesRequest(version: "v2", effectiveAt: 500, items: ["tok": ItemSpec(base: 7)])))
        h.ok(600, .rates(RatesRequest(version: "v3", effectiveAt: 500, items: ["tok": ItemSpec(base: 9)])))
        #expect(h.ok(601, .quote(account: "p", item: "tok", usage: nil)) == .quoted(credits: 9, version: "v3", affordable: false))
        h.ok(602, .rates(RatesRequest(version: "v4", effectiveAt: 100, items: ["tok": ItemSpec(base: 1)])))
        #expect(h.ok(603, .quote(account: "p", item: "tok", usage: nil)) == .quoted(credits: 9, version: "v3", affordable: false))
    }
}

@Suite("Refunds and events")
struct RefundTests {
    @Test func refundsWalkRecordsBackwardsAndLowerTheSpend() {
        var h = LedgerHarness()
        h.ok(1000, .account(id: "f", limits: LimitsSpec(period: .day)))
        h.ok(1000, .grant("f", "gA", 50, expiresAt: 3000))
        h.ok(1000, .grant("f", "gB", 100))
        h.ok(1001, .charge("f", "c1", 80))
        #expect(h.ok(1002, .refund("f1", "c1", 20)) == .refunded(refunded: 20, available: 90))
        #expect(h.event("c1")?.burns == [Burn(grant: "gA", credits: 50), Burn(grant: "gB", credits: 10)])
        h.ok(3000, .tick)
        // gB's 10 go back to gB; gA has expired, so its 30 go to expired.
        #expect(h.ok(3001, .refund("f2", "c1", 40)) == .refunded(refunded: 40, available: 100))
        h.refused(3002, .refund("f3", "c1", 21), .exceedsRefundable)
        #expect(h.ok(3003, .refund("f3", "c1")) == .refunded(refunded: 20, available: 100))
        #expect(h.ok(3004, .refund("f4", "c1")) == .refunded(refunded: 0, available: 100))
        #expect(h.balance("f")?.periodSpent == 0)
        #expect(h.report()?.expired == 50)
    }

    @Test func refundReducesItsOwnDebtFirst() {
        var h = LedgerHarness()
        h.ok(1000, .account(id: "d", limits: nil))
        h.ok(1000, .grant("d", "g1", 30))
        h.ok(1001, .charge("d", "c1", 50, force: true))
        #expect(h.ok(1002, .refund("f1", "c1", 25)) == .refunded(refunded: 25, available: 5))
        #expect(h.event("c1")?.debt == 0)
        #expect(h.event("c1")?.burns == [Burn(grant: "g1", credits: 25)])
    }

    @Test func uncommittedReservationsAreNotRefundable() {
        var h = LedgerHarness()
        h.ok(0, .account(id: "f", limits: nil))
        h.ok(0, .grant("f", "g", 10))
        h.ok(1, .reserve("f", "r", 5))
        h.refused(2, .refund("x", "r"), .exceedsRefundable)
        h.refused(2, .refund("x", "zz"), .unknownEvent)
        h.ok(3, .release(id: "r"))
        h.refused(4, .refund("x", "r"), .exceedsRefundable)
        #expect(h.event("r")?.status == .released)
        #expect(h.event("r")?.held == 5)
    }
}

@Suite("Alerts")
struct AlertTests {
    @Test func lowBalanceFiresOnceUntilReArmed() {
        var h = LedgerHarness()
        h.ok(0, .account(id: "a", limits: LimitsSpec(alerts: [100, 50, 50])))
        #expect(h.alerts.isEmpty)
        h.ok(1, .grant("a", "g", 300))
        h.ok(2, .charge("a", "c1", 220))
        #expect(h.alerts == [.lowBalance(account: "a", threshold: 100, available: 80, t: 2)])
        h.ok(3, .charge("a", "c2", 40))
        #expect(h.alerts == [.lowBalance(account: "a", threshold: 50, available: 40, t: 3)])
        h.ok(4, .charge("a", "c3", 1))
        #expect(h.alerts.isEmpty)
        h.ok(5, .refund("f", "c1"))  // back to 259: both re-armed
        h.ok(6, .charge("a", "c4", 250))
        #expect(h.alerts == [
            .lowBalance(account: "a", threshold: 100, available: 9, t: 6),
            .lowBalance(account: "a", threshold: 50, available: 9, t: 6),
        ])
    }

    @Test func periodUsageFiresOncePerPeriodAndAtBoundariesForZero() {
        var h = LedgerHarness()
        h.ok(0, .account(id: "a", limits: LimitsSpec(period: .day, periodCap: 200, periodAlerts: [0, 50])))
        #expect(h.alerts.isEmpty)  // 0% counts as reached when the limits are set
        h.ok(1, .grant("a", "g", 1000))
        h.ok(2, .charge("a", "c", 100))
        #expect(h.alerts == [.periodUsage(account: "a", percent: 50, spent: 100, cap: 200, t: 2)])
        h.ok(3, .account(id: "b", limits: nil))
        #expect(h.alerts.isEmpty)
        // The next day, a request on another account raises the 0% alert of "a".
        h.ok(86_400_000, .balance(account: "b"))
        #expect(h.alerts == [.periodUsage(account: "a", percent: 0, spent: 0, cap: 200, t: 86_400_000)])
    }

    @Test func debtAlertFiresOnceUntilDebtIsZero() {
        var h = LedgerHarness()
        h.ok(0, .account(id: "a", limits: nil))
        h.ok(1, .charge("a", "c1", 5, force: true))
        #expect(h.alerts == [.debt(account: "a", debt: 5, t: 1)])
        h.ok(2, .charge("a", "c2", 5, force: true))
        #expect(h.alerts.isEmpty)
        h.ok(3, .grant("a", "g", 10))
        h.ok(4, .charge("a", "c3", 1, force: true))
        #expect(h.alerts == [.debt(account: "a", debt: 1, t: 4)])
    }

    @Test func alertsAreOrderedByAccountId() {
        var h = LedgerHarness()
        h.ok(0, .account(id: "b", limits: LimitsSpec(alerts: [10])))
        h.ok(0, .account(id: "a", limits: LimitsSpec(alerts: [10])))
        h.ok(0, .grant("b", "gb", 20, expiresAt: 100))
        h.ok(0, .grant("a", "ga", 20, expiresAt: 100))
        h.ok(100, .tick)
        #expect(h.alerts == [
            .lowBalance(account: "a", threshold: 10, available: 0, t: 100),
            .lowBalance(account: "b", threshold: 10, available: 0, t: 100),
        ])
    }
}

@Suite("Identity, retries and limits")
struct RetryTests {
    @Test func retriesCompareRequestsWithoutTime() {
        var h = LedgerHarness()
        h.ok(1000, .account(id: "r", limits: nil))
        #expect(h.apply(1001, .account(id: "r", limits: nil)) == Response(.success(.done), duplicate: true))
        h.refused(1002, .account(id: "r", limits: LimitsSpec(overdraft: 5)), .idConflict)
        h.refused(1002, .account(id: "r", limits: LimitsSpec()), .idConflict)  // {} is not left out
        h.ok(1003, .grant("r", "g1", 100))
        #expect(h.apply(1004, .grant("r", "g1", 100)) == Response(.success(.granted(available: 100)), duplicate: true))
        h.refused(1005, .grant("nobody", "g1", 100), .idConflict)
        h.refused(1005, .grant("r", "g1", 100, priority: 0), .idConflict)
        h.refused(1006, .charge("r", "e1", 500), .insufficientCredits)
        h.ok(1007, .charge("r", "e1", 30))
        h.refused(1008, .reserve("r", "e1", 30), .idConflict)
        h.ok(1009, .reserve("r", "e2", 10, ttl: 600_000))
        h.refused(1010, .reserve("r", "e2", 10), .idConflict)
        h.ok(1011, .refund("f1", "e1", 10))
        h.refused(1012, .refund("f1", "e2", 10), .idConflict)
        // A retry returns the first result even where the request would now be refused.
        h.ok(1013, .pause(account: "r"))
        #expect(h.apply(1014, .charge("r", "e1", 30)).duplicate)
    }

    @Test func grantsAreBoundedByTheLifetimeTotal() {
        var h = LedgerHarness()
        h.ok(0, .account(id: "a", limits: nil))
        for index in 0..<1000 { h.ok(0, .grant("a", "g\(index)", SpecLimits.amountMax)) }
        h.refused(0, .grant("a", "over", 1), .overflow)
        h.ok(0, .charge("a", "c", SpecLimits.amountMax))
        h.refused(0, .grant("a", "over", 1), .overflow)  // lifetime, not current
    }

    @Test func debtIsBoundedAtTheLimit() {
        var h = LedgerHarness()
        h.ok(0, .account(id: "a", limits: nil))
        for index in 0..<1000 { h.ok(0, .charge("a", "c\(index)", SpecLimits.amountMax, force: true)) }
        #expect(h.balance("a")?.debt == SpecLimits.accountTotalMax)
        h.refused(0, .charge("a", "over", 1, force: true), .overflow)
        h.ok(0, .charge("a", "zero", 0, force: true))
        h.ok(0, .account(id: "b", limits: LimitsSpec(overdraft: 10)))
        h.ok(0, .reserve("b", "r", 5))
        for index in 0..<1000 { h.ok(0, .charge("b", "d\(index)", SpecLimits.amountMax, force: true)) }
        h.refused(1, .commit("r", 6), .overflow)
        h.ok(1, .commit("r", 0))
    }
}
