// Which shard answers a slow-path request, and the engine-wide bookkeeping around it: ids
// that must be unique across shards (grants, refunds, events) and requests that span every
// shard. Checks keep the spec's order: the retry or `id_conflict` first, then names.

import CreditCore
import Synchronization

#if canImport(Darwin)
    import Darwin
#else
    import Glibc
#endif

extension CreditEngine {
    func slowPath(_ request: Request, at t: Milliseconds, alerts: inout [Alert]) throws(EngineError) -> Response {
        switch request {
        case .account(let id, _):
            switch accountIDs.findOrInsert(id) {
            case .full: throw EngineError(.accountsFull, "accounts full: accountsMax = \(configuration.accountsMax)")
            case .inserted(let slot), .existing(let slot): return onAccount(slot, request, at: t, alerts: &alerts)
            }
        case .limits(let account, _), .pause(let account), .resume(let account), .balance(let account),
            .quote(let account, _, _), .report(.some(let account)):
            guard let slot = accountIDs.find(account) else { return .refused(.unknownAccount) }
            return onAccount(slot, request, at: t, alerts: &alerts)
        case .grant(let grant):
            return createUnique(grant.id, kind: \.grantShard, owner: accountIDs.find(grant.account), ownerRefusal: .unknownAccount, request, at: t, alerts: &alerts)
        case .refund(let refund):
            return createUnique(refund.id, kind: \.refundShard, owner: createdEventAccount(refund.event), ownerRefusal: .unknownEvent, request, at: t, alerts: &alerts)
        case .reserve(let reserve):
            return try createEvent(reserve.id, account: reserve.account, request, at: t, alerts: &alerts)
        case .charge(let charge):
            return try createEvent(charge.id, account: charge.account, request, at: t, alerts: &alerts)
        case .commit(let id, _), .release(let id), .event(let id):
            guard let event = eventIDs.find(id), let slot = createdEventAccount(event: event) else {
                return .refused(.unknownEvent)
            }
            return onAccount(slot, request, at: t, alerts: &alerts) { state in
                // No hot path runs in this shard now, but one may still be giving back a
                // claim it could not use: wait for it, then mirror the ledger's closing.
                self.waitWhile(event, is: .closing)
                if case .release = request { self.markClosed(event) }
                if case .commit = request { self.markClosed(event) }
            } after: { _, response in
                // A commit or release that closed the reservation (or repeats the closing)
                // gives its counts back, if its expiry or its first closing has not.
                if case .event = request { return }
                if case .success = response.result { self.releaseReservationCount(ofEvent: event) }
            }
        case .rates, .tick, .report(nil):
            return onEveryShard(request, at: t, alerts: &alerts)
        }
    }

    /// Applies a request to the ledger of an account's shard. `before` runs with the shard
    /// held, before the request, and `after` with its response; the account is refreshed after.
    func onAccount(
        _ slot: Int, _ request: Request, at t: Milliseconds, alerts: inout [Alert],
        before: (inout ShardState) -> Void = { _ in }, after: (inout ShardState, Response) -> Void = { _, _ in }
    ) -> Response {
        withShard(shard(ofAccount: slot), at: t, alerts: &alerts) { state, alerts in
            before(&state)
            state.refreshAlso.append(Int32(slot))
            // At `t` exactly: a ledger already past `t` (another account's later request, or a
            // settled hot-path operation, got there first) refuses it as time_went_backwards,
            // changing nothing. Applying it at the ledger's later time instead would answer for
            // a time the request did not give, and a journal of requests and their times could
            // not replay it (CreditDurable).
            let response = state.ledger.apply(request, at: t, alerts: &alerts)
            after(&state, response)
            return response
        }
    }

    /// A grant or refund: ids unique across shards. A used id goes to the shard that holds
    /// it (its ledger answers the retry or the conflict); a new one to its owner's shard.
    private func createUnique(
        _ id: String, kind: WritableKeyPath<Registry, [String: Int]>, owner: Int?, ownerRefusal: RefusalCode,
        _ request: Request, at t: Milliseconds, alerts: inout [Alert]
    ) -> Response {
        registry.withLock { registry in
            if let shardIndex = registry[keyPath: kind][id] {
                return withShard(shards[shardIndex], at: t, alerts: &alerts) { state, alerts in
                    state.ledger.apply(request, at: t, alerts: &alerts)  // at `t` exactly: see `onAccount`
                }
            }
            guard let slot = owner else { return .refused(ownerRefusal) }
            let response = onAccount(slot, request, at: t, alerts: &alerts)
            if case .success = response.result { registry[keyPath: kind][id] = slot & shardMask }
            return response
        }
    }

    /// A reserve or charge on the slow path: a used id goes to its event's shard (its
    /// ledger answers the retry or the conflict); a free one is claimed, then created.
    private func createEvent(
        _ id: String, account: String, _ request: Request, at t: Milliseconds, alerts: inout [Alert]
    ) throws(EngineError) -> Response {
        let event: Int
        switch eventIDs.findOrInsert(id) {
        case .full: throw EngineError(.eventsFull, "event ids full: eventsMax = \(configuration.eventsMax)")
        case .inserted(let index), .existing(let index): event = index
        }
        while true {
            waitWhile(event, is: .creating)
            if let slot = createdEventAccount(event: event) { return onAccount(slot, request, at: t, alerts: &alerts) }
            if eventStatus[event].compareExchange(
                expected: EventSlotStatus.free.rawValue, desired: EventSlotStatus.creating.rawValue, ordering: .acquiring
            ).exchanged { break }
        }
        guard let slot = accountIDs.find(account) else {
            eventStatus[event].store(EventSlotStatus.free.rawValue, ordering: .releasing)
            return .refused(.unknownAccount)
        }
        var ttl: Int64?
        if case .reserve(let reserve) = request {
            ttl = reserve.ttlMilliseconds ?? SpecLimits.ttlMillisecondsDefault
            try takeReservationCountOrThrow(account: slot, event: event, at: t, alerts: &alerts)
        }
        let response = onAccount(slot, request, at: t, alerts: &alerts, after: { state, response in
            // Publish the event inside the shard, so that its expiry is scheduled before any
            // later request of the shard passes time.
            switch response.result {
            case .success(.reserved(let held, _, let item, _, _)):
                self.eventAccount[event] = Int32(slot)
                self.eventHold[event] = held
                self.eventPricing[event] = Self.pricing(of: item, in: state.pricing)
                let (deadline, overflow) = t.addingReportingOverflow(ttl ?? 0)
                self.eventExpiresAt[event] = overflow ? Int64.max : deadline
                self.markCounted(event)
                self.scheduleExpiry(ofEvent: event, &state)
                self.eventStatus[event].store(EventSlotStatus.open.rawValue, ordering: .releasing)
            case .success:
                self.eventAccount[event] = Int32(slot)
                self.eventHold[event] = 0
                self.eventExpiresAt[event] = Int64.max
                self.eventStatus[event].store(EventSlotStatus.other.rawValue, ordering: .releasing)
            case .failure:
                if ttl != nil { self.returnReservationCount(account: slot) }
                self.eventStatus[event].store(EventSlotStatus.free.rawValue, ordering: .releasing)
            }
        })
        return response
    }

    /// How the hot path prices the commit by usage of a reservation the ledger priced with
    /// `item`: by the shard's snapshot when it is of the reservation's version (version ids
    /// are unique), else never (`EventPricing.none`: the ledger prices it).
    static func pricing(of item: PricedItem?, in snapshot: PricingSnapshot?) -> EventPricing {
        guard let item, let snapshot, snapshot.version == item.version,
            let itemIndex = snapshot.itemIndex(of: item.item)
        else { return .none }
        return EventPricing(versionIndex: snapshot.versionIndex, itemIndex: itemIndex)
    }

    /// Takes a new reservation's open-reservation counts; at a limit, passes time to `t` in
    /// every shard (expired reservations give theirs back) and tries once more, then throws
    /// the limit's error with the event id left free. Nothing else changes.
    private func takeReservationCountOrThrow(
        account slot: Int, event: Int, at t: Milliseconds, alerts: inout [Alert]
    ) throws(EngineError) {
        guard takeReservationCount(account: slot) != nil else { return }
        passTime(to: t, except: nil, alerts: &alerts)
        guard let code = takeReservationCount(account: slot) else { return }
        eventStatus[event].store(EventSlotStatus.free.rawValue, ordering: .releasing)
        throw reservationLimitError(code)
    }

    /// The account slot of a created event, or nil when the id was never created.
    func createdEventAccount(event: Int) -> Int? {
        // The account is read only under a status that was published after it was written:
        // a free id may be claimed again (`creating`) between a wait and a load, so the
        // status that decides is the one loaded last (TSan found the race with a wait first).
        while true {
            let status = eventStatus[event].load(ordering: .acquiring)
            if status == EventSlotStatus.creating.rawValue {
                sched_yield()
                continue
            }
            return status == EventSlotStatus.free.rawValue ? nil : Int(eventAccount[event])
        }
    }

    private func createdEventAccount(_ id: String) -> Int? {
        eventIDs.find(id).flatMap { createdEventAccount(event: $0) }
    }

    /// Waits while another thread holds an event in a passing state (a few instructions).
    func waitWhile(_ event: Int, is status: EventSlotStatus) {
        while eventStatus[event].load(ordering: .acquiring) == status.rawValue { sched_yield() }
    }

    /// Mirrors a reservation's closing by the ledger: the hot path no longer touches it.
    /// (A refused commit or release leaves it as it was: the ledger decides, later, again.)
    func markClosed(_ event: Int) {
        eventStatus[event].store(EventSlotStatus.other.rawValue, ordering: .releasing)
    }

    /// Rates, tick and the report over all accounts: every shard's ledger gets the request,
    /// at `t` exactly (see `onAccount`), or none does: with every shard held and settled, a
    /// ledger already past `t` refuses it for all as time_went_backwards.
    private func onEveryShard(_ request: Request, at t: Milliseconds, alerts: inout [Alert]) -> Response {
        var answers = [Response?](repeating: nil, count: shards.count)
        var latest = Milliseconds.min
        let first = alerts.count
        // Holds shard `index` and those after it (in index order, as `withAllShards`); applies
        // the request to each once all are held, on the way back.
        func holdAndApply(from index: Int, _ alerts: inout [Alert]) {
            guard index < shards.count else { return }
            let levelFirst = alerts.count
            withShard(shards[index], at: t, alerts: &alerts, delivering: false) { state, alerts in
                // This shard's own alerts, under its lock (as `lockShards`): settled ones now,
                // the request's once applied.
                deliver(alerts[levelFirst...])
                latest = max(latest, state.ledger.lastTime)
                holdAndApply(from: index + 1, &alerts)
                let applied = alerts.count
                answers[index] = latest > t ? .refused(.timeWentBackwards) : state.ledger.apply(request, at: t, alerts: &alerts)
                deliver(alerts[applied...])
            }
        }
        holdAndApply(from: 0, &alerts)
        sortByAccount(&alerts, from: first)
        let responses = answers.map { $0! }
        guard case .report = request else { return responses[0] }
        var total = ReportView()
        for response in responses {
            guard case .success(.report(let view)) = response.result else { return response }
            total.granted += view.granted
            total.consumed += view.consumed
            total.expired += view.expired
            total.remaining += view.remaining
            total.debt += view.debt
            total.recognized += view.recognized
            total.breakage += view.breakage
            total.deferred += view.deferred
        }
        return .ok(.report(total))
    }

    /// Runs time passing to `t` in every shard with something due. Safe from any thread.
    public func passTime(to t: Milliseconds, alerts: inout [Alert]) {
        passTime(to: t, except: nil, alerts: &alerts)
    }

    func passTime(to t: Milliseconds, except excluded: Int?, alerts: inout [Alert]) {
        let first = alerts.count
        for shard in shards where shard.index != excluded && shard.nextDeadline.load(ordering: .sequentiallyConsistent) <= t {
            withShard(shard, at: t, alerts: &alerts) { state, alerts in
                if state.ledger.lastTime < t { _ = state.ledger.apply(.tick, at: t, alerts: &alerts) }
            }
        }
        sortByAccount(&alerts, from: first)
    }

    /// The shard whose ledger will answer a request, when known in advance: it must follow
    /// the routing of `slowPath` exactly, or time passing would skip that shard.
    func ownShard(of request: Request) -> Int? {
        let slot: Int?
        switch request {
        case .account(let id, _), .limits(let id, _), .pause(let id), .resume(let id), .balance(let id),
            .quote(let id, _, _), .report(.some(let id)):
            slot = accountIDs.find(id)
        case .grant(let grant):
            // A used id goes to the shard that holds it (see `createUnique`).
            if let shard = registry.withLock({ $0.grantShard[grant.id] }) { return shard }
            slot = accountIDs.find(grant.account)
        case .reserve(let reserve): slot = createdEventAccount(reserve.id) ?? accountIDs.find(reserve.account)
        case .charge(let charge): slot = createdEventAccount(charge.id) ?? accountIDs.find(charge.account)
        case .commit(let id, _), .release(let id), .event(let id): slot = createdEventAccount(id)
        case .refund(let refund):
            if let shard = registry.withLock({ $0.refundShard[refund.id] }) { return shard }
            slot = createdEventAccount(refund.event)
        case .rates, .tick, .report(nil): slot = nil
        }
        return slot.map { $0 & shardMask }
    }

    /// Settles every queued operation into the ledgers; returns how many it settled (those a
    /// snapshot's capture left unapplied included). Safe from any thread.
    @discardableResult
    public func settle() -> Int {
        var alerts: [Alert] = []
        var settled = 0
        for shard in shards {
            withShard(shard, at: lastTime.load(ordering: .relaxed), alerts: &alerts) { state, _ in
                settled += state.lastSettledCount
            }
        }
        return settled
    }
}
