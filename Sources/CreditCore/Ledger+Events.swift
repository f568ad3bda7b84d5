// Events: reservations (reserve, commit, release, expiry), charges, refunds and the
// `event` look-up. Checks run in the order of `trace.md` (Refusals): the retry or
// `id_conflict` first, then names, then pricing, then the operation's own refusals.

extension Ledger {
    /// The retry check of a request that creates an event: nil when the id is free.
    private func retryOfEvent(_ lookup: IdentityTable.Lookup, _ request: EventRequest) -> Response? {
        guard let existing = lookup.index else { return nil }
        let event = events[Int(existing)]
        guard event.request == request else { return .refused(.idConflict) }
        return Response(.success(creationReply(of: event)), duplicate: true)
    }

    /// The reply of the request that created an event, as it was.
    private func creationReply(of event: EventState) -> Reply {
        switch event.kind {
        case .reservation:
            .reserved(
                held: event.hold, available: event.availableAfterCreation, item: event.pricedItem,
                downgraded: event.downgraded, overCap: event.overCap)
        case .charge:
            .charged(
                charged: event.charged, available: event.availableAfterCreation, item: event.pricedItem,
                downgraded: event.downgraded, overCap: event.overCap, late: false)
        }
    }

    /// The reply of the commit or release that closed a reservation, as it was.
    private func settlementReply(of event: EventState) -> Reply {
        switch event.settlement {
        case .commit:
            .charged(
                charged: event.charged, available: event.availableAfterSettlement, item: nil, downgraded: false,
                overCap: false, late: event.late)
        case .release, nil:
            // A release while open released the hold; after the expiry it released nothing.
            .released(released: event.status == .released ? event.hold : 0, available: event.availableAfterSettlement)
        }
    }

    private mutating func addEvent(_ id: String, at lookup: IdentityTable.Lookup, _ event: EventState) -> RecordIndex {
        let index = eventIDs.insert(id, at: lookup)
        events.append(event)
        return index
    }

    mutating func reserve(_ request: ReserveRequest, at t: Milliseconds) -> Response {
        let lookup = eventIDs.find(request.id)
        if let retry = retryOfEvent(lookup, .reserve(request)) { return retry }
        guard let account = accountIDs[request.account] else { return .refused(.unknownAccount) }
        let admitted: Admitted
        switch priceAndAdmit(request.cost, account: account, force: false, at: t) {
        case .success(let value): admitted = value
        case .failure(let refusal): return Response(.failure(refusal))
        }
        let ttl = request.ttlMilliseconds ?? SpecLimits.ttlMillisecondsDefault
        let (deadline, overflow) = t.addingReportingOverflow(ttl)
        var event = EventState(
            request: .reserve(request), account: account, status: .open, hold: admitted.credits,
            pricedItem: admitted.pricedItem, rateVersion: admitted.rateVersion, expiresAt: overflow ? nil : deadline,
            downgraded: admitted.downgraded, overCap: admitted.overCap)
        let untaken = takeFree(admitted.credits, from: account, allocate: true, into: &event.allocation)
        event.unbacked = untaken
        accounts[Int(account)].unbacked += untaken
        event.availableAfterCreation = accounts[Int(account)].available
        let response = Response.ok(creationReply(of: event))
        let index = addEvent(request.id, at: lookup, event)
        if let expiresAt = event.expiresAt {
            deadlines.insert(Deadline(time: expiresAt, kind: .reservation, index: index))
        }
        touch(account)
        return response
    }

    mutating func charge(_ request: ChargeRequest, at t: Milliseconds) -> Response {
        let lookup = eventIDs.find(request.id)
        if let retry = retryOfEvent(lookup, .charge(request)) { return retry }
        guard let account = accountIDs[request.account] else { return .refused(.unknownAccount) }
        let admitted: Admitted
        switch priceAndAdmit(request.cost, account: account, force: request.force ?? false, at: t) {
        case .success(let value): admitted = value
        case .failure(let refusal): return Response(.failure(refusal))
        }
        guard !wouldOverflowDebt(account: account, owing: admitted.credits) else { return .refused(.overflow) }
        let index = addEvent(
            request.id, at: lookup,
            EventState(
                request: .charge(request), account: account, status: .charged, pricedItem: admitted.pricedItem,
                rateVersion: admitted.rateVersion, charged: admitted.credits, downgraded: admitted.downgraded,
                overCap: admitted.overCap))
        consume(admitted.credits, for: index)
        accounts[Int(account)].addSpend(admitted.credits, at: t)
        events[Int(index)].availableAfterCreation = accounts[Int(account)].available
        touch(account)
        return .ok(creationReply(of: events[Int(index)]))
    }

    /// Whether taking `owed` credits from free credits, the rest in debt, would put the
    /// account's debt above 10^15.
    private func wouldOverflowDebt(account index: RecordIndex, owing owed: Credits) -> Bool {
        let account = accounts[Int(index)]
        let newDebt = max(0, owed - account.free)
        return account.debt + newDebt > SpecLimits.accountTotalMax
    }

    mutating func commit(id: String, _ spec: CommitSpec, at t: Milliseconds) -> Response {
        guard let index = eventIDs[id] else { return .refused(.unknownEvent) }
        let event = Int(index)
        events.decodeForGood(event)
        guard events[event].kind == .reservation else { return .refused(.reservationClosed) }
        let credits: Credits
        switch spec {
        case .amount(let amount):
            credits = amount
        case .usage(let usage):
            guard let item = events[event].pricedItem else { return .refused(.invalid) }
            let rated = rateCard[events[event].rateVersion].items[item.item]!
            switch rated.cost(usage) {
            case .success(let value): credits = value
            case .failure(let code): return .refused(code)
            }
        }
        switch events[event].settlement {
        case .commit(let first):
            guard first == spec else { return .refused(.idConflict) }
            return Response(.success(settlementReply(of: events[event])), duplicate: true)
        case .release:
            return .refused(.reservationClosed)
        case nil:
            break
        }
        let account = events[event].account
        let late = events[event].status == .expired
        // An open reservation's allocation is consumed first; only the rest is owed from free credits.
        let allocated = late ? 0 : events[event].allocation.reduce(0) { $0 + $1.credits }
        guard !wouldOverflowDebt(account: account, owing: max(0, credits - allocated)) else {
            return .refused(.overflow)
        }
        let fromAllocation = late ? 0 : settleAllocation(of: index, consuming: credits)
        consume(credits - fromAllocation, for: index)
        events[Int(index)].charged = credits
        events[Int(index)].status = .committed
        events[Int(index)].late = late
        accounts[Int(account)].addSpend(credits, at: t)
        events[Int(index)].settlement = .commit(spec)
        events[Int(index)].availableAfterSettlement = accounts[Int(account)].available
        touch(account)
        return .ok(settlementReply(of: events[Int(index)]))
    }

    mutating func release(id: String) -> Response {
        guard let index = eventIDs[id] else { return .refused(.unknownEvent) }
        let event = Int(index)
        events.decodeForGood(event)
        guard events[event].kind == .reservation else { return .refused(.reservationClosed) }
        switch events[event].settlement {
        case .release:
            return Response(.success(settlementReply(of: events[event])), duplicate: true)
        case .commit:
            return .refused(.reservationClosed)
        case nil:
            break
        }
        let account = events[event].account
        if events[event].status == .open {
            giveBackAllocation(of: index)
            events[Int(index)].status = .released
        }
        events[Int(index)].settlement = .release
        events[Int(index)].availableAfterSettlement = accounts[Int(account)].available
        touch(account)
        return .ok(settlementReply(of: events[Int(index)]))
    }

    mutating func refund(_ request: RefundRequest, at t: Milliseconds) -> Response {
        if let existing = refunds[request.id] {
            guard existing.request == request else { return .refused(.idConflict) }
            return Response(.success(existing.reply), duplicate: true)
        }
        guard let index = eventIDs[request.event] else { return .refused(.unknownEvent) }
        let event = events[Int(index)]
        guard event.status == .committed || event.status == .charged else { return .refused(.exceedsRefundable) }
        let refundable = event.charged - event.refunded
        let credits = request.amount ?? refundable
        guard credits <= refundable else { return .refused(.exceedsRefundable) }
        walkBack(credits, of: index)
        events[Int(index)].refunded += credits
        let account = event.account
        accounts[Int(account)].addSpend(-credits, at: t)
        let refund = RefundState(request: request, refunded: credits, availableAfter: accounts[Int(account)].available)
        refunds[request.id] = refund
        touch(account)
        return .ok(refund.reply)
    }

    /// Returns `credits` of an event's usage, walking its records from the last: the part in
    /// debt reduces the debt; a part on a grant goes back to it (paying other debt if any).
    private mutating func walkBack(_ credits: Credits, of index: RecordIndex) {
        let event = Int(index)
        let account = Int(events[event].account)
        let fromDebt = min(credits, events[event].debt)
        events[event].debt -= fromDebt
        accounts[account].debt -= fromDebt
        var remaining = credits - fromDebt
        var position = events[event].records.count - 1
        while remaining > 0 {
            precondition(position >= 0, "a refund never exceeds what the records hold")
            let share = events[event].records[position]
            let back = min(remaining, share.credits)
            if back > 0 {
                events[event].records[position].credits -= back
                grants[Int(share.grant)].consumed -= back
                giveBack(back, to: share.grant)
                remaining -= back
            }
            position -= 1
        }
    }

    func eventView(id: String) -> Response {
        guard let index = eventIDs[id] else { return .refused(.unknownEvent) }
        let event = events[Int(index)]
        var burns: [Burn] = []
        for share in event.records where share.credits > 0 {
            let grant = grants[Int(share.grant)].id
            if let last = burns.last, last.grant == grant {
                burns[burns.count - 1].credits += share.credits
            } else {
                burns.append(Burn(grant: grant, credits: share.credits))
            }
        }
        let isReservation = event.kind == .reservation
        return .ok(
            .event(
                EventView(
                    account: accounts[Int(event.account)].id, kind: event.kind, status: event.status,
                    charged: event.charged, refunded: event.refunded, burns: burns, debt: event.debt,
                    held: isReservation ? event.hold : nil, item: event.pricedItem, late: event.late)))
    }
}
