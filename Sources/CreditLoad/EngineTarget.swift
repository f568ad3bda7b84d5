// The `engine` target: the concurrent engine (`CreditEngine`, issue 4) in memory, driven
// through its public `apply(_:at:alerts:)` with the same ledger requests as the `mutex`
// target (so both answer exactly as the spec does, and differ only in concurrency).

import CreditCore
import CreditEngine
import Synchronization

/// `CreditEngine` in memory. Safe from any thread.
public final class EngineTarget: LoadTarget {
    public let name = "engine"
    public let batchCountMax = 1
    /// Events (reservations and charges) one run may create: the engine keeps every id for
    /// retries, so a run past this fails with the engine's limit error, said so.
    public static let eventsMax = 1 << 25
    let engine = Mutex<CreditEngine?>(nil)
    let accountCount = Atomic<Int>(0)

    public init() {}

    func current() throws -> CreditEngine {
        guard let engine = engine.withLock({ $0 }) else { throw LoadTargetError("engine: not set up") }
        return engine
    }

    /// The engine's configuration for a plan: room for its accounts and `eventsMax` events.
    static func configuration(for plan: AccountPlan) -> EngineConfiguration {
        var configuration = EngineConfiguration()
        var accountsMax = 1
        while accountsMax < plan.accountCount { accountsMax <<= 1 }
        configuration.accountsMax = accountsMax
        configuration.eventsMax = Self.eventsMax
        return configuration
    }

    public func setUp(_ plan: AccountPlan) throws {
        let fresh = try CreditEngine(configuration: Self.configuration(for: plan))
        var alerts: [Alert] = []
        for account in 0..<plan.accountCount {
            let limits = LimitsSpec(overdraft: plan.overdraft(ofAccount: account))
            let created = try fresh.apply(
                .account(id: MutexTarget.accountName(account), limits: limits), at: MutexTarget.instant, alerts: &alerts)
            guard case .success = created.result else { throw LoadTargetError("engine: account \(account): \(created)") }
            if plan.startingCredits > 0 {
                let grant = GrantRequest(
                    account: MutexTarget.accountName(account), id: "g\(account)", amount: plan.startingCredits)
                let granted = try fresh.apply(.grant(grant), at: MutexTarget.instant, alerts: &alerts)
                guard case .success = granted.result else { throw LoadTargetError("engine: grant \(account): \(granted)") }
            }
            alerts.removeAll(keepingCapacity: true)
        }
        engine.withLock { $0 = fresh }
        accountCount.store(plan.accountCount, ordering: .relaxed)
    }

    public func makeClient(threadIndex: Int) throws -> any LoadClient { EngineClient(engine: try current()) }

    public func readAccounts(_ body: (Int, AccountFigures) -> Void) throws {
        try Self.readAccounts(of: try current(), count: accountCount.load(ordering: .relaxed), target: name, body)
    }

    /// Settles `engine`, calls `body` with the figures of accounts 0 ..< `count`, and fails
    /// if any hot-path answer disagreed with the ledger. Shared with `engine-durable`.
    static func readAccounts(
        of engine: CreditEngine, count: Int, target: String, _ body: (Int, AccountFigures) -> Void
    ) throws {
        engine.settle()
        var alerts: [Alert] = []
        for account in 0..<count {
            let response = try engine.apply(
                .balance(account: MutexTarget.accountName(account)), at: MutexTarget.instant, alerts: &alerts)
            guard case .success(.balance(let view)) = response.result else {
                throw LoadTargetError("\(target): balance of account \(account): \(response)")
            }
            body(account, AccountFigures(availableCredits: view.available, heldCredits: view.held))
        }
        if engine.mismatchCount != 0 {
            throw LoadTargetError("\(target): \(engine.mismatchCount) settlement mismatches (hot path vs ledger)")
        }
    }

    public func tearDown() { engine.withLock { $0 = nil } }
}

/// One thread's handle on the engine.
final class EngineClient: LoadClient {
    let engine: CreditEngine
    var alerts: [Alert] = []

    init(engine: CreditEngine) {
        self.engine = engine
        alerts.reserveCapacity(16)
    }

    func perform(_ operation: LoadOperation) throws -> LoadOutcome {
        alerts.removeAll(keepingCapacity: true)
        let response = try engine.apply(MutexTarget.request(for: operation), at: MutexTarget.instant, alerts: &alerts)
        return MutexTarget.outcome(of: response)
    }
}
