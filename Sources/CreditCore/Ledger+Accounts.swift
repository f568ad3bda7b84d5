// Accounts, limits, pause, grants, rate cards and the read-only views (balance, report).

extension Ledger {
    mutating func createAccount(id: String, limits: LimitsSpec?, at t: Milliseconds) -> Response {
        let lookup = accountIDs.find(id)
        if let existing = lookup.index {
            return accounts[Int(existing)].createdLimits == limits
                ? Response(.success(.done), duplicate: true) : .refused(.idConflict)
        }
        let index = accountIDs.insert(id, at: lookup)
        accounts.append(AccountState(id: id, createdLimits: limits))
        applyLimits(limits ?? LimitsSpec(), to: index, at: t)
        touch(index)
        return .ok(.done)
    }

    mutating func setLimits(account id: String, _ limits: LimitsSpec, at t: Milliseconds) -> Response {
        guard let account = accountIDs[id] else { return .refused(.unknownAccount) }
        applyLimits(limits, to: account, at: t)
        touch(account)
        return .ok(.done)
    }

    /// Sets all of an account's limits: arms exactly the `low_balance` thresholds that
    /// `available` is at or above now, and marks as fired for the current period exactly the
    /// percentages reached now under the new limits.
    private mutating func applyLimits(_ spec: LimitsSpec, to index: RecordIndex, at t: Milliseconds) {
        let account = Int(index)
        let limits = EffectiveLimits(spec)
        accounts[account].limits = limits
        let available = accounts[account].available
        accounts[account].lowBalanceArmed = limits.alertThresholds.map { available >= $0 }
        let spent = accounts[account].periodSpent(at: t)
        if let period = limits.period, let cap = limits.periodCap {
            accounts[account].periodAlertFired = limits.periodAlertPercents.map {
                Self.reachesPercent(spent: spent, cap: cap, percent: $0)
            }
            accounts[account].periodAlertsIndex = UTCCalendar.periodIndex(period, t)
        } else {
            accounts[account].periodAlertFired = limits.periodAlertPercents.map { _ in false }
            accounts[account].periodAlertsIndex = -1
        }
        if let cap = limits.periodCap, cap == 0 || limits.periodAlertPercents.first == 0 {
            accountsAlertingAtBoundary.insert(index)
        } else {
            accountsAlertingAtBoundary.remove(index)
        }
    }

    /// `100 * spent >= percent * cap`, exactly.
    static func reachesPercent(spent: Credits, cap: Credits, percent: Int64) -> Bool {
        Int128(100) * Int128(spent) >= Int128(percent) * Int128(cap)
    }

    mutating func setPaused(account id: String, _ paused: Bool) -> Response {
        guard let account = accountIDs[id] else { return .refused(.unknownAccount) }
        accounts[Int(account)].paused = paused
        return .ok(.done)
    }

    mutating func createGrant(_ request: GrantRequest, at t: Milliseconds) -> Response {
        let lookup = grantIDs.find(request.id)
        if let existing = lookup.index {
            let grant = grants[Int(existing)]
            guard grant.request == request else { return .refused(.idConflict) }
            return Response(.success(.granted(available: grant.availableAfterCreation)), duplicate: true)
        }
        guard let account = accountIDs[request.account] else { return .refused(.unknownAccount) }
        guard accounts[Int(account)].granted <= SpecLimits.accountTotalMax - request.amount else {
            return .refused(.overflow)
        }
        let index = grantIDs.insert(request.id, at: lookup)
        grants.append(
            GrantState(
                request: request, account: account, availableAfterCreation: 0, amount: request.amount,
                free: request.amount))
        insertInBurnOrder(index, account: account)
        accounts[Int(account)].granted += request.amount
        accounts[Int(account)].free += request.amount
        if let expiresAt = request.expiresAt {
            deadlines.insert(Deadline(time: expiresAt, kind: .grant, index: index))
        }
        payDebt(from: index)
        let available = accounts[Int(account)].available
        grants[Int(index)].availableAfterCreation = available
        touch(account)
        return .ok(.granted(available: available))
    }

    private mutating func insertInBurnOrder(_ index: RecordIndex, account: RecordIndex) {
        let position = burnLowerBound(of: index)
        accounts[Int(account)].grantsInBurnOrder.insert(index, at: position)
        // The new grant has free credits: no scan may start past it.
        accounts[Int(account)].burnScanStart = min(accounts[Int(account)].burnScanStart, position)
    }

    mutating func addRates(_ request: RatesRequest, at t: Milliseconds) -> Response {
        if let existing = rateCard.index(of: request.version) {
            return rateCard[existing].request == request ? Response(.success(.done), duplicate: true)
                : .refused(.idConflict)
        }
        rateCard.add(request, at: t)
        return .ok(.done)
    }

    func balance(account id: String, at t: Milliseconds) -> Response {
        guard let index = accountIDs[id] else { return .refused(.unknownAccount) }
        let account = accounts[Int(index)]
        var listed: [GrantRemaining] = []
        for grantIndex in account.grantsInBurnOrder {
            let grant = grants[Int(grantIndex)]
            let remaining = grant.free + grant.allocated
            if remaining > 0 { listed.append(GrantRemaining(id: grant.id, remaining: remaining)) }
        }
        return .ok(
            .balance(
                BalanceView(
                    available: account.available, balance: account.balance, held: account.held, debt: account.debt,
                    periodSpent: account.periodSpent(at: t), grants: listed)))
    }

    func report(account id: String?) -> Response {
        var view = ReportView()
        if let id {
            guard let index = accountIDs[id] else { return .refused(.unknownAccount) }
            addToReport(&view, account: index)
        } else {
            for index in accounts.indices { addToReport(&view, account: RecordIndex(index)) }
        }
        return .ok(.report(view))
    }

    /// Adds an account's credit totals and its grants' revenue, floored per grant:
    /// `recognized = floor(paid * consumed / amount)`,
    /// `breakage = floor(paid * (consumed + expired) / amount) - recognized`.
    private func addToReport(_ view: inout ReportView, account index: RecordIndex) {
        let account = accounts[Int(index)]
        view.consumed += Int128(account.netCharged)
        view.debt += Int128(account.debt)
        for grantIndex in account.grantsInBurnOrder {
            let grant = grants[Int(grantIndex)]
            let amount = Int128(grant.amount)
            let paid = Int128(grant.paid)
            let recognized = paid * Int128(grant.consumed) / amount
            let lost = paid * Int128(grant.consumed + grant.expired) / amount
            view.granted += amount
            view.expired += Int128(grant.expired)
            view.remaining += Int128(grant.free + grant.allocated)
            view.recognized += recognized
            view.breakage += lost - recognized
            view.deferred += paid - lost
        }
    }
}
