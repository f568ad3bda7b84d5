// The ledger's identities, checked after every request in debug builds (for the accounts
// the request touched; no other account changed):
//   per grant:   amount = free + allocated + consumed + expired
//   per account: granted = free + allocated + consumed + expired (summed over its grants)
//                charged - refunded = consumed from grants + debt
// plus the cached totals against their sums, and "free credits never sit beside debt".

extension Ledger {
    func checkInvariants() {
        for index in touchedAccounts {
            if let violation = invariantViolation(account: index) {
                preconditionFailure("ledger invariant broken on account \(accounts[Int(index)].id): \(violation)")
            }
        }
    }

    /// The first broken ledger identity of any account, or nil when all hold. For tests.
    public func invariantViolation() -> String? {
        for index in accounts.indices {
            if let violation = invariantViolation(account: RecordIndex(index)) {
                return "account \(accounts[index].id): \(violation)"
            }
        }
        return eventViolation()
    }

    /// Checks the accounts' holds and debt against their events: `allocated` and `unbacked`
    /// are the sums over open reservations, `debt` the sum of the events' parts in debt.
    private func eventViolation() -> String? {
        var allocated = [Credits](repeating: 0, count: accounts.count)
        var unbacked = allocated
        var debt = allocated
        for event in events {
            let account = Int(event.account)
            if event.status != .open && !(event.allocation.isEmpty && event.unbacked == 0) {
                return "closed event still holds credits"
            }
            allocated[account] += event.allocation.reduce(0) { $0 + $1.credits }
            unbacked[account] += event.unbacked
            debt[account] += event.debt
            let burned = event.records.reduce(0) { $0 + $1.credits }
            if event.charged - event.refunded != burned + event.debt { return "event charged - refunded != burns + debt" }
        }
        for index in accounts.indices {
            if accounts[index].allocated != allocated[index] { return "account \(accounts[index].id): allocated != open allocations" }
            if accounts[index].unbacked != unbacked[index] { return "account \(accounts[index].id): unbacked != open unbacked" }
            if accounts[index].debt != debt[index] { return "account \(accounts[index].id): debt != events' debt" }
        }
        return nil
    }

    func invariantViolation(account index: RecordIndex) -> String? {
        let account = accounts[Int(index)]
        var free: Credits = 0
        var allocated: Credits = 0
        var consumed: Credits = 0
        var granted: Credits = 0
        for (position, grantIndex) in account.grantsInBurnOrder.enumerated() {
            let grant = grants[Int(grantIndex)]
            if position < account.burnScanStart && grant.free != 0 { return "free credits before the burn scan start" }
            if grant.account != index { return "grant \(grant.id) listed on another account" }
            if grant.free < 0 || grant.allocated < 0 || grant.consumed < 0 || grant.expired < 0 {
                return "grant \(grant.id) has a negative part"
            }
            if grant.amount != grant.free + grant.allocated + grant.consumed + grant.expired {
                return "grant \(grant.id): amount != free + allocated + consumed + expired"
            }
            if grant.isExpired && grant.free != 0 { return "expired grant \(grant.id) has free credits" }
            free += grant.free
            allocated += grant.allocated
            consumed += grant.consumed
            granted += grant.amount
        }
        if account.free != free { return "free total \(account.free) != sum over grants \(free)" }
        if account.allocated != allocated { return "allocated total != sum over grants" }
        if account.granted != granted { return "granted != free + allocated + consumed + expired" }
        if account.netCharged != consumed + account.debt { return "charged - refunded != consumed + debt" }
        if account.debt < 0 || account.unbacked < 0 { return "negative debt or unbacked" }
        if account.debt > 0 && account.free > 0 { return "free credits sit beside debt" }
        if account.debt > SpecLimits.accountTotalMax { return "debt above 10^15" }
        return nil
    }
}
