// Pricing by item and admission: the three checks of the spec (pause, credits against the
// overdraft, the hard period cap), and the downgrade chain that tries cheaper items when
// credits or the cap refuse the requested one.

/// A cost that passed admission.
struct Admitted {
    var credits: Credits
    var pricedItem: PricedItem?
    var rateVersion: RecordIndex = -1
    var downgraded = false
    var overCap = false
}

extension Ledger {
    /// Admission of `credits` on an account at `t`: `paused`, then `insufficient_credits`
    /// (`available - n >= -overdraft`), then a hard cap (`period_spent + held + n <= cap`).
    /// On success, says whether a soft cap is passed.
    func admit(_ credits: Credits, account index: RecordIndex, at t: Milliseconds) -> Result<Bool, Refusal> {
        // Fields are read in place: copying the account would copy (and retain) its arrays.
        let account = Int(index)
        if accounts[account].paused { return .failure(Refusal(.paused)) }
        let available = accounts[account].available
        guard available - credits >= -accounts[account].limits.overdraft else {
            return .failure(Refusal(.insufficientCredits, available: available, needed: credits))
        }
        guard let cap = accounts[account].limits.periodCap else { return .success(false) }
        let overCap = accounts[account].periodSpent(at: t) + accounts[account].held + credits > cap
        if overCap && accounts[account].limits.capMode == .hard { return .failure(Refusal(.periodCap)) }
        return .success(overCap)
    }

    /// Prices `cost` at the version in force at `t` and runs admission (unless `force`), with
    /// the downgrade chain on an account that allows it. Errors in the spec's order:
    /// `no_rates`, `unknown_item`, `unknown_meter`, `invalid` (cost above 10^12), then admission.
    func priceAndAdmit(
        _ cost: CostSpec, account: RecordIndex, force: Bool, at t: Milliseconds
    ) -> Result<Admitted, Refusal> {
        switch cost {
        case .amount(let credits):
            if force { return .success(Admitted(credits: credits)) }
            return admit(credits, account: account, at: t).map { Admitted(credits: credits, overCap: $0) }
        case .item(let name, let usage):
            guard let versionIndex = rateCard.versionInForce(at: t) else { return .failure(Refusal(.noRates)) }
            let version = rateCard[versionIndex]
            guard let item = version.items[name] else { return .failure(Refusal(.unknownItem)) }
            let credits: Credits
            switch item.cost(usage) {
            case .success(let value): credits = value
            case .failure(let code): return .failure(Refusal(code))
            }
            let requested = Admitted(
                credits: credits, pricedItem: PricedItem(item: name, version: version.request.version),
                rateVersion: versionIndex)
            if force { return .success(requested) }
            switch admit(credits, account: account, at: t) {
            case .success(let overCap):
                var admitted = requested
                admitted.overCap = overCap
                return .success(admitted)
            case .failure(let refusal):
                guard refusal.code != .paused, accounts[Int(account)].limits.downgrade else { return .failure(refusal) }
                return downgrade(from: name, usage: usage, version: versionIndex, account: account, at: t)
                    .map { .success($0) } ?? .failure(refusal)
            }
        }
    }

    /// Walks the fallback chain of `name`, stopping before an item already in the chain, and
    /// returns the first item admitted. Items lacking a meter of the usage, or costing above
    /// 10^12, are passed over.
    private func downgrade(
        from name: String, usage: Usage?, version versionIndex: RecordIndex, account: RecordIndex, at t: Milliseconds
    ) -> Admitted? {
        let version = rateCard[versionIndex]
        var chain: Set<String> = [name]
        var next = version.items[name]?.fallback
        // The chain is bounded by the version's item count: each item joins it at most once.
        while let candidateName = next, chain.insert(candidateName).inserted {
            guard let candidate = version.items[candidateName] else { return nil }
            next = candidate.fallback
            guard case .success(let credits) = candidate.cost(usage) else { continue }
            if case .success(let overCap) = admit(credits, account: account, at: t) {
                return Admitted(
                    credits: credits, pricedItem: PricedItem(item: candidateName, version: version.request.version),
                    rateVersion: versionIndex, downgraded: true, overCap: overCap)
            }
        }
        return nil
    }

    mutating func quote(account: String, item name: String, usage: Usage?, at t: Milliseconds) -> Response {
        guard let index = accountIDs[account] else { return .refused(.unknownAccount) }
        guard let versionIndex = rateCard.versionInForce(at: t) else { return .refused(.noRates) }
        let version = rateCard[versionIndex]
        guard let item = version.items[name] else { return .refused(.unknownItem) }
        switch item.cost(usage) {
        case .failure(let code):
            return .refused(code)
        case .success(let credits):
            let affordable = (try? admit(credits, account: index, at: t).get()) != nil
            return .ok(.quoted(credits: credits, version: version.request.version, affordable: affordable))
        }
    }
}
