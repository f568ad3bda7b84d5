// The moves of credits between a grant's parts, shared by every operation: taking free
// credits in burn order, giving credits back (to free, or to expired on an expired grant),
// and paying debt with credits that become free. Each move keeps both ledger identities:
// `amount = free + allocated + consumed + expired` per grant, and
// `charged - refunded = consumed + debt` per account.

extension Ledger {
    /// Takes up to `credits` free credits of `account` in burn order and moves them to
    /// `allocated` (for a reservation) or `consumed` (for usage), recording each grant's share
    /// in `shares`. Returns the credits it could not take.
    mutating func takeFree(
        _ credits: Credits, from account: RecordIndex, allocate: Bool, into shares: inout [GrantShare]
    ) -> Credits {
        precondition(credits >= 0)
        var owed = min(credits, accounts[Int(account)].free)
        let untaken = credits - owed
        if owed == 0 { return untaken }
        let order = accounts[Int(account)].grantsInBurnOrder
        var position = accounts[Int(account)].burnScanStart
        var scanStart = position
        while owed > 0 {
            precondition(position < order.count, "the account's free total matches its grants")
            let grantIndex = order[position]
            let grant = Int(grantIndex)
            let take = min(owed, grants[grant].free)
            if take > 0 {
                grants[grant].free -= take
                if allocate { grants[grant].allocated += take } else { grants[grant].consumed += take }
                shares.append(GrantShare(grant: grantIndex, credits: take))
                owed -= take
            }
            if grants[grant].free == 0 && position == scanStart { scanStart += 1 }
            position += 1
        }
        accounts[Int(account)].burnScanStart = scanStart
        precondition(owed == 0, "the account's free total matches its grants")
        accounts[Int(account)].free -= credits - untaken
        if allocate { accounts[Int(account)].allocated += credits - untaken }
        return untaken
    }

    /// Gives `credits` back to a grant's free credits, or to its `expired` when the grant has
    /// expired; free credits that appear while the account has debt pay it off at once.
    mutating func giveBack(_ credits: Credits, to grantIndex: RecordIndex) {
        precondition(credits >= 0)
        if credits == 0 { return }
        let grant = Int(grantIndex)
        if grants[grant].isExpired {
            grants[grant].expired += credits
            return
        }
        let account = Int(grants[grant].account)
        grants[grant].free += credits
        accounts[account].free += credits
        if accounts[account].burnScanStart > 0 {
            accounts[account].burnScanStart = min(accounts[account].burnScanStart, burnPosition(of: grantIndex))
        }
        payDebt(from: grantIndex)
    }

    /// Pays the account's debt, oldest records first, with the free credits of a grant that
    /// has just received them (the whole debt or all of them, whichever is less).
    mutating func payDebt(from grantIndex: RecordIndex) {
        let grant = Int(grantIndex)
        let account = Int(grants[grant].account)
        var payment = min(accounts[account].debt, grants[grant].free)
        if payment == 0 { return }
        grants[grant].free -= payment
        grants[grant].consumed += payment
        accounts[account].free -= payment
        accounts[account].debt -= payment
        while payment > 0 {
            let head = accounts[account].eventsInDebtHead
            precondition(head < accounts[account].eventsInDebt.count, "debt is owed by some event")
            let event = Int(accounts[account].eventsInDebt[head])
            let paid = min(payment, events[event].debt)
            if paid > 0 {
                events[event].debt -= paid
                appendRecord(GrantShare(grant: grantIndex, credits: paid), to: event)
                payment -= paid
            }
            if events[event].debt == 0 { popEventInDebt(account) }
        }
    }

    /// A grant's position in its account's burn order.
    func burnPosition(of grantIndex: RecordIndex) -> Int {
        let position = burnLowerBound(of: grantIndex)
        precondition(accounts[Int(grants[Int(grantIndex)].account)].grantsInBurnOrder[position] == grantIndex)
        return position
    }

    /// The first position in the grant's account's burn order that does not come before the
    /// grant: ascending priority, then expiry (never last), then creation.
    func burnLowerBound(of grantIndex: RecordIndex) -> Int {
        let grant = grants[Int(grantIndex)]
        let order = accounts[Int(grant.account)].grantsInBurnOrder
        let key = (grant.priority, grant.expiryKey, grantIndex)
        var low = 0
        var high = order.count
        while low < high {
            let middle = (low + high) / 2
            let other = grants[Int(order[middle])]
            if (other.priority, other.expiryKey, order[middle]) < key { low = middle + 1 } else { high = middle }
        }
        return low
    }

    private mutating func popEventInDebt(_ account: Int) {
        accounts[account].eventsInDebtHead += 1
        // Compact the queue once its consumed prefix dominates, so memory tracks open debt.
        let head = accounts[account].eventsInDebtHead
        if head >= 32 && head * 2 >= accounts[account].eventsInDebt.count {
            accounts[account].eventsInDebt.removeFirst(head)
            accounts[account].eventsInDebtHead = 0
        }
    }

    /// Appends a usage record, merging it with the last one when both are on one grant.
    mutating func appendRecord(_ share: GrantShare, to event: Int) {
        if let last = events[event].records.last, last.grant == share.grant {
            events[event].records[events[event].records.count - 1].credits += share.credits
        } else {
            events[event].records.append(share)
        }
    }

    /// Records usage of `credits` on an event: free credits in burn order, the rest in debt.
    mutating func consume(_ credits: Credits, for eventIndex: RecordIndex) {
        let event = Int(eventIndex)
        let account = events[event].account
        var shares: [GrantShare] = []
        let untaken = takeFree(credits, from: account, allocate: false, into: &shares)
        for share in shares { appendRecord(share, to: event) }
        if untaken > 0 {
            precondition(events[event].debt == 0, "an event goes into debt once")
            events[event].debt = untaken
            accounts[Int(account)].debt += untaken
            accounts[Int(account)].eventsInDebt.append(eventIndex)
        }
    }

    /// Closes an open reservation's hold: consumes up to `credits` of its allocation in its
    /// order (recorded as usage), gives the rest back, and drops the unbacked part.
    /// Returns the credits consumed.
    mutating func settleAllocation(of eventIndex: RecordIndex, consuming credits: Credits) -> Credits {
        let event = Int(eventIndex)
        let account = Int(events[event].account)
        precondition(events[event].status == .open)
        var wanted = credits
        let allocation = events[event].allocation
        events[event].allocation = []
        for share in allocation {
            let take = min(wanted, share.credits)
            let grant = Int(share.grant)
            grants[grant].allocated -= share.credits
            accounts[account].allocated -= share.credits
            if take > 0 {
                grants[grant].consumed += take
                appendRecord(GrantShare(grant: share.grant, credits: take), to: event)
                wanted -= take
            }
            giveBack(share.credits - take, to: share.grant)
        }
        accounts[account].unbacked -= events[event].unbacked
        events[event].unbacked = 0
        return credits - wanted
    }

    /// Gives an open reservation's whole allocation back and drops its unbacked part.
    mutating func giveBackAllocation(of eventIndex: RecordIndex) {
        _ = settleAllocation(of: eventIndex, consuming: 0)
    }
}
