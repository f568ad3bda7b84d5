// The ledger's identities, checked after every request in debug builds (for the accounts
// the request touched; no other account changed):
//   per grant:   amount = free + allocated + consumed + expired
//   per account: granted = free + allocated + consumed + expired (summed over its grants)
//                charged - refunded = consumed from grants + debt
// plus the cached totals against their sums, and "free credits never sit beside debt".

extension Ledger {
    func checkInvariants() {
        for index in touchedAccounts { checkInvariants(account: index) }
    }

    /// Checks every account; for tests.
    public func checkAllInvariants() {
        for index in accounts.indices { checkInvariants(account: RecordIndex(index)) }
    }

    func checkInvariants(account index: RecordIndex) {
        let account = accounts[Int(index)]
        var free: Credits = 0
        var allocated: Credits = 0
        var consumed: Credits = 0
        var granted: Credits = 0
        for grantIndex in account.grantsInBurnOrder {
            let grant = grants[Int(grantIndex)]
            precondition(grant.account == index)
            precondition(grant.free >= 0 && grant.allocated >= 0 && grant.consumed >= 0 && grant.expired >= 0)
            precondition(grant.amount == grant.free + grant.allocated + grant.consumed + grant.expired,
                "amount = free + allocated + consumed + expired")
            precondition(!grant.isExpired || grant.free == 0, "expired grants have no free credits")
            free += grant.free
            allocated += grant.allocated
            consumed += grant.consumed
            granted += grant.amount
        }
        precondition(account.free == free, "the free total matches the grants")
        precondition(account.allocated == allocated, "the allocated total matches the grants")
        precondition(account.granted == granted, "granted = free + allocated + consumed + expired")
        precondition(account.netCharged == consumed + account.debt, "charged - refunded = consumed + debt")
        precondition(account.debt >= 0 && account.unbacked >= 0)
        precondition(account.debt == 0 || account.free == 0, "free credits never sit beside debt")
        precondition(account.debt <= SpecLimits.accountTotalMax)
    }
}
