// The `mutex` target: the exact sequential core (`CreditCore.Ledger`) behind one global
// `Mutex`, what a careful team would write first. Every request is a real ledger request
// (string ids, grants, events, refunds), so its figures are the spec's to the credit.

import CreditCore
import Synchronization

/// `Ledger` behind one `Synchronization.Mutex`. Safe from any thread.
public final class MutexTarget: LoadTarget {
    public let name = "mutex"
    public let batchCountMax = 1
    /// Every request runs at this one instant: nothing expires during a run (holds are
    /// made with the longest ttl) and the ledger's clock never goes backwards.
    static let instant: Milliseconds = 1_772_409_600_000
    static let ttlMilliseconds: Milliseconds = 86_400_000

    let ledger = Mutex(Ledger())
    let accountCount = Atomic<Int>(0)

    public init() {}

    public func setUp(_ plan: AccountPlan) throws {
        var fresh = Ledger()
        for account in 0..<plan.accountCount {
            let limits = LimitsSpec(overdraft: plan.overdraft(ofAccount: account))
            let created = fresh.apply(.account(id: Self.accountName(account), limits: limits), at: Self.instant)
            guard case .success = created.result else { throw LoadTargetError("mutex: account \(account): \(created)") }
            if plan.startingCredits > 0 {
                let grant = GrantRequest(account: Self.accountName(account), id: "g\(account)", amount: plan.startingCredits)
                let granted = fresh.apply(.grant(grant), at: Self.instant)
                guard case .success = granted.result else { throw LoadTargetError("mutex: grant \(account): \(granted)") }
            }
        }
        ledger.withLock { $0 = fresh }
        accountCount.store(plan.accountCount, ordering: .relaxed)
    }

    public func makeClient(threadIndex: Int) throws -> any LoadClient { MutexClient(target: self) }

    public func readAccounts(_ body: (Int, AccountFigures) -> Void) throws {
        let count = accountCount.load(ordering: .relaxed)
        try ledger.withLock { ledger in
            for account in 0..<count {
                let response = ledger.apply(.balance(account: Self.accountName(account)), at: Self.instant)
                guard case .success(.balance(let view)) = response.result else {
                    throw LoadTargetError("mutex: balance of account \(account): \(response)")
                }
                body(account, AccountFigures(availableCredits: view.available, heldCredits: view.held))
            }
        }
    }

    public func tearDown() { ledger.withLock { $0 = Ledger() } }

    static func accountName(_ index: Int) -> String { "a\(index)" }
    static func eventName(_ id: Int64) -> String { "e\(id)" }

    /// The ledger request for an operation. Built outside the lock.
    static func request(for operation: LoadOperation) -> Request {
        switch operation.kind {
        case .reserve:
            .reserve(
                ReserveRequest(
                    account: accountName(operation.accountIndex), id: eventName(operation.id),
                    cost: .amount(operation.credits), ttlMilliseconds: ttlMilliseconds))
        case .commit: .commit(id: eventName(operation.id), .amount(operation.credits))
        case .release: .release(id: eventName(operation.id))
        case .charge:
            .charge(ChargeRequest(account: accountName(operation.accountIndex), id: eventName(operation.id), cost: .amount(operation.credits)))
        case .grant:
            .grant(GrantRequest(account: accountName(operation.accountIndex), id: "g\(operation.id)", amount: operation.credits))
        case .refund:
            .refund(RefundRequest(id: "f\(operation.id)", event: eventName(operation.eventID), amount: operation.credits))
        }
    }

    /// The outcome of a ledger response.
    static func outcome(of response: Response) -> LoadOutcome {
        switch response.result {
        case .failure(let refusal): return .refused(refusal.code)
        case .success(let reply):
            if response.duplicate { return .duplicate }
            switch reply {
            case .reserved(_, let available, _, _, _): return .done(available: available)
            case .charged(_, let available, _, _, _, _): return .done(available: available)
            case .released(_, let available): return .done(available: available)
            case .refunded(_, let available): return .done(available: available)
            case .granted(let available): return .done(available: available)
            default: return .done(available: 0)
            }
        }
    }
}

/// One thread's handle on the mutex target.
final class MutexClient: LoadClient {
    let target: MutexTarget
    var alerts: [Alert] = []

    init(target: MutexTarget) {
        self.target = target
        alerts.reserveCapacity(16)
    }

    func perform(_ operation: LoadOperation) throws -> LoadOutcome {
        let request = MutexTarget.request(for: operation)
        alerts.removeAll(keepingCapacity: true)
        let response = target.ledger.withLock { $0.apply(request, at: MutexTarget.instant, alerts: &alerts) }
        return MutexTarget.outcome(of: response)
    }
}
