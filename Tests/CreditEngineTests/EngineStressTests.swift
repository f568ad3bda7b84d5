// Concurrent stress: threads hammer a few hot accounts and many cold ones with random mixes
// of reserve, commit, release, charge (the hot path; by amount, by item and by usage, while
// other threads publish new rate-card versions), grants, refunds and reads (the slow path). Afterwards: every hot-path answer agreed with the ledger, the ledger identities
// hold, no admission passed the overdraft or a hard cap, and the totals balance exactly
// against the threads' own accounting.

import CreditCore
@testable import CreditEngine
import Foundation
import Synchronization
import Testing

/// Per-thread accounting of what the engine acknowledged.
struct ThreadLedger {
    var granted: [Int64]
    var charged: [Int64]
    var refunded: [Int64]
    var openReservations: [(id: String, account: Int, byItem: Bool)] = []
    var chargedEvents: [(id: String, account: Int, left: Int64)] = []
    var violations: [String] = []

    init(accounts: Int) {
        granted = Array(repeating: 0, count: accounts)
        charged = granted
        refunded = granted
    }
}

struct StressSetup {
    static let hotAccounts = 3
    static let coldAccounts = 200
    static var accountCount: Int { hotAccounts + coldAccounts }
    static func name(_ index: Int) -> String { "acct\(index)" }
    /// A rate card with one metered item, for charges by item (the hot path prices them).
    static func rates(_ version: String, pricePerThousand: Int64) -> Request {
        .rates(RatesRequest(version: version, items: ["embed:small": ItemSpec(meters: ["tok": MeterPriceSpec(price: pricePerThousand, per: 1000)])]))
    }
    /// Account limits: some with an overdraft, some with a hard daily cap.
    static func limits(_ index: Int) -> LimitsSpec {
        switch index % 4 {
        case 0: LimitsSpec(overdraft: 50)
        case 1: LimitsSpec(period: .day, periodCap: 5_000)
        case 2: LimitsSpec(period: .day, periodCap: 3_000, capMode: .soft)
        default: LimitsSpec()
        }
    }
}

func runStress(threads: Int, operationsPerThread: Int, seed: UInt64) throws -> (CreditEngine, [ThreadLedger]) {
    let clock = ManualClock(1_767_225_600_000)
    var configuration = EngineConfiguration()
    configuration.shardCount = 8
    configuration.accountsMax = 1024
    configuration.eventsMax = 1 << 20
    configuration.settleQueueCapacity = 256
    let engine = try CreditEngine(configuration: configuration, clock: clock)
    for index in 0..<StressSetup.accountCount {
        _ = try engine.apply(.account(id: StressSetup.name(index), limits: StressSetup.limits(index)))
        _ = try engine.apply(.grant(GrantRequest(account: StressSetup.name(index), id: "seed\(index)", amount: 2_000)))
    }
    _ = try engine.apply(StressSetup.rates("v0", pricePerThousand: 1))
    let results = Locked<[ThreadLedger]>([])
    let group = DispatchGroup()
    for thread in 0..<threads {
        group.enter()
        Thread.detachNewThread {
            var ledger = ThreadLedger(accounts: StressSetup.accountCount)
            ledger.granted = (0..<StressSetup.accountCount).map { _ in 0 }
            var random = SeededRandom(seed: seed &* 1000 &+ UInt64(thread))
            do {
                try stressLoop(engine, thread: thread, operations: operationsPerThread, random: &random, ledger: &ledger)
            } catch {
                ledger.violations.append("engine error \(error)")
            }
            results.withLock { $0.append(ledger) }
            group.leave()
        }
    }
    group.wait()
    return (engine, results.withLock { $0 })
}

func stressLoop(
    _ engine: CreditEngine, thread: Int, operations: Int, random: inout SeededRandom, ledger: inout ThreadLedger
) throws {
    for step in 0..<operations {
        let account = Int.random(in: 0..<10, using: &random) < 7
            ? Int.random(in: 0..<StressSetup.hotAccounts, using: &random)
            : Int.random(in: 0..<StressSetup.accountCount, using: &random)
        let name = StressSetup.name(account)
        let id = "t\(thread)-\(step)"
        switch Int.random(in: 0..<100, using: &random) {
        case 0..<35:
            let amount = Int64.random(in: 0...120, using: &random)
            // Half by item, as the charges below.
            let byItem = Bool.random(using: &random)
            let cost: CostSpec = byItem ? .item("embed:small", usage: Usage(["tok": amount * 1000])) : .amount(amount)
            let response = try engine.apply(.reserve(ReserveRequest(account: name, id: id, cost: cost)))
            if case .success(.reserved(_, let available, _, _, _)) = response.result {
                checkAdmission(available: available, account: account, into: &ledger)
                ledger.openReservations.append((id, account, byItem))
            }
        case 35..<65 where !ledger.openReservations.isEmpty:
            let (reservation, owner, byItem) = ledger.openReservations.removeLast()
            if Bool.random(using: &random) {
                let amount = Int64.random(in: 0...150, using: &random)
                // A reservation by item commits by usage half of the times (priced by the
                // version it was reserved with, though other threads publish new ones).
                let spec: CommitSpec = byItem && Bool.random(using: &random)
                    ? .usage(Usage(["tok": max(0, amount * 1000 - Int64.random(in: 0...999, using: &random))]))
                    : .amount(amount)
                let response = try engine.apply(.commit(id: reservation, spec))
                if case .success(.charged(let charged, _, _, _, _, _)) = response.result {
                    ledger.charged[owner] += charged
                    ledger.chargedEvents.append((reservation, owner, charged))
                } else {
                    ledger.violations.append("commit of \(reservation) refused: \(response)")
                }
            } else {
                let response = try engine.apply(.release(id: reservation))
                if case .failure = response.result { ledger.violations.append("release refused: \(response)") }
            }
        case 65..<85:
            let amount = Int64.random(in: 0...80, using: &random)
            // Half by item: 0 ... 80,000 tokens at 1 or 2 credits per thousand, rounded up.
            let cost: CostSpec = Bool.random(using: &random)
                ? .item("embed:small", usage: Usage(["tok": max(0, amount * 1000 - Int64.random(in: 0...999, using: &random))]))
                : .amount(amount)
            let response = try engine.apply(.charge(ChargeRequest(account: name, id: id, cost: cost)))
            if case .success(.charged(let charged, let available, _, _, _, _)) = response.result {
                checkAdmission(available: available, account: account, into: &ledger)
                ledger.charged[account] += charged
                ledger.chargedEvents.append((id, account, charged))
            }
        case 85..<92:
            let amount = Int64.random(in: 1...500, using: &random)
            let response = try engine.apply(.grant(GrantRequest(account: name, id: "g" + id, amount: amount)))
            if case .success = response.result { ledger.granted[account] += amount }
        case 92..<97 where !ledger.chargedEvents.isEmpty:
            let index = Int.random(in: 0..<ledger.chargedEvents.count, using: &random)
            let (event, owner, left) = ledger.chargedEvents[index]
            let amount = min(left, Int64.random(in: 1...30, using: &random))
            if amount > 0 {
                let response = try engine.apply(.refund(RefundRequest(id: "f" + id, event: event, amount: amount)))
                if case .success = response.result {
                    ledger.refunded[owner] += amount
                    ledger.chargedEvents[index].left -= amount
                } else {
                    ledger.violations.append("refund refused: \(response)")
                }
            }
        case 97 where step % 7 == 0:
            // A new rate-card version while other threads price on the hot path.
            _ = try engine.apply(StressSetup.rates("v" + id, pricePerThousand: Int64.random(in: 1...2, using: &random)))
        default:
            _ = try engine.apply(.balance(account: name))
        }
    }
    // Close what is still open, so that the totals can be checked.
    for (reservation, _, _) in ledger.openReservations {
        let response = try engine.apply(.release(id: reservation))
        if case .failure = response.result { ledger.violations.append("final release refused: \(response)") }
    }
    ledger.openReservations.removeAll()
}

/// An admitted reserve or unforced charge never takes `available` below `-overdraft`.
func checkAdmission(available: Int64, account: Int, into ledger: inout ThreadLedger) {
    let overdraft = StressSetup.limits(account).overdraft ?? 0
    if available < -overdraft { ledger.violations.append("acct\(account) admitted to \(available)") }
}

@Suite struct EngineStressTests {
    @Test(arguments: [2, 4, 8])
    func concurrentMixesBalanceExactly(threads: Int) throws {
        let (engine, ledgers) = try runStress(threads: threads, operationsPerThread: 4_000, seed: UInt64(threads))
        for ledger in ledgers { #expect(ledger.violations.isEmpty, "\(ledger.violations.prefix(3))") }
        #expect(engine.invariantViolation() == nil)
        #expect(engine.mismatchCount == 0)
        for account in 0..<StressSetup.accountCount {
            let granted = 2_000 + ledgers.reduce(0) { $0 + $1.granted[account] }
            let charged = ledgers.reduce(0) { $0 + $1.charged[account] }
            let refunded = ledgers.reduce(0) { $0 + $1.refunded[account] }
            guard case .success(.balance(let balance)) = try engine.apply(.balance(account: StressSetup.name(account))).result,
                case .success(.report(let report)) = try engine.apply(.report(account: StressSetup.name(account))).result
            else {
                Issue.record("no balance for account \(account)")
                continue
            }
            // Nothing is held at the end, nothing expired: what is left is what was granted
            // less what was charged net of refunds.
            #expect(balance.held == 0)
            #expect(report.granted == Int128(granted))
            #expect(report.consumed == Int128(charged - refunded), "account \(account)")
            #expect(Int128(balance.balance) == Int128(granted) - Int128(charged - refunded), "account \(account)")
        }
        // Every hot-path answer was replayed by the shard's ledger in the account's order; an
        // admission past the credits, the overdraft or a hard cap would have been refused
        // there and counted as a mismatch. And the hot path was really taken.
        #expect(engine.mismatchCount == 0)
        // Every reservation was closed once: every open-reservation count came back, once.
        #expect(engine.openReservationCount == 0)
        for account in 0..<StressSetup.accountCount {
            #expect(engine.openReservationCount(ofAccount: StressSetup.name(account)) == 0)
        }
        let statistics = engine.statistics()
        print("stress threads \(threads): \(statistics)")
        #expect(statistics.hotOperations > threads * 4_000 * 2 / 5, "\(statistics)")
    }
}
