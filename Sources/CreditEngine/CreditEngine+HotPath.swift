// The hot path: reserve, charge (unforced), commit and release by amount, reserve and charge
// by item, and commit by usage, on an account whose shard has nothing due. One
// compare-and-swap on the account's admission word decides and takes effect; a record of the
// operation goes to the shard's queue. No lock, no allocation. Anything the hot path cannot
// answer exactly returns nil: the slow path answers it through the shard's ledger.
//
// By item: the shard's pricing snapshot (`Shard.price`) gives the cost with the ledger's own
// pricing code, for the version in force over an interval that contains `t` (a version taking
// force later ends it); no version, an unknown item or meter, a cost above 10^12, and a
// refusal that a downgrade could turn into an admission all go to the ledger.
//
// By usage: a reservation priced by the snapshot keeps its version and item number
// (`eventPricing`); its commit by usage is priced by that item of that version
// (`Shard.priceCommit`) while the published snapshot is of that version. A newer version in
// force, a reservation by amount or created by the ledger without a known version, an
// unknown meter and a cost above 10^12 go to the ledger.

import CreditCore
import Synchronization

extension CreditEngine {
    func hotPath(_ request: Request, at t: Milliseconds, alerts: inout [Alert]) throws(EngineError) -> Response? {
        let response: Response?
        var accountSlot = -1
        switch request {
        case .reserve(let reserve):
            guard let slot = accountIDs.find(reserve.account) else { return nil }
            accountSlot = slot
            response = try admit(
                .reserve, accountSlot: slot, eventID: reserve.id, cost: reserve.cost, at: t,
                ttl: reserve.ttlMilliseconds, forceGiven: false)
        case .charge(let charge):
            guard charge.force != true, let slot = accountIDs.find(charge.account) else { return nil }
            accountSlot = slot
            response = try admit(
                .charge, accountSlot: slot, eventID: charge.id, cost: charge.cost, at: t, ttl: nil,
                forceGiven: charge.force != nil)
        case .commit(let id, .amount(let amount)):
            guard let event = eventIDs.find(id) else { return nil }
            response = settle(.commit, event: event, amount: amount, at: t)
            // Read only after the claim succeeded: then the event's fields are published.
            if response != nil { accountSlot = Int(eventAccount[event]) }
        case .commit(let id, .usage(let usage)):
            guard let event = eventIDs.find(id) else { return nil }
            response = settle(.commit, event: event, amount: 0, usage: usage, at: t)
            if response != nil { accountSlot = Int(eventAccount[event]) }
        case .release(let id):
            guard let event = eventIDs.find(id) else { return nil }
            response = settle(.release, event: event, amount: 0, at: t)
            if response != nil { accountSlot = Int(eventAccount[event]) }
        default:
            return nil
        }
        if response != nil && configuration.settleEagerly {
            let shard = shard(ofAccount: accountSlot)
            withShard(shard, at: t, alerts: &alerts) { _, _ in }
        }
        return response
    }

    /// Reserve or charge `cost` (an amount, or an item priced by the shard's snapshot) on an
    /// account: claims the event id, then admits with one compare-and-swap. Returns nil for the
    /// slow path (a retry, a busy or closed shard, something due, figures out of the word's
    /// range, pricing the snapshot cannot do, a refusal by item that a downgrade might turn).
    private func admit(
        _ kind: SettleOp.Kind, accountSlot: Int, eventID: String, cost: CostSpec, at t: Milliseconds,
        ttl: Int64?, forceGiven: Bool
    ) throws(EngineError) -> Response? {
        let event: Int
        switch eventIDs.findOrInsert(eventID) {
        case .full: throw EngineError(.eventsFull, "event ids full: eventsMax = \(configuration.eventsMax)")
        case .inserted(let index), .existing(let index): event = index
        }
        // Claim the id; a used id is a retry or a conflict, for the slow path.
        guard eventStatus[event].compareExchange(
            expected: EventSlotStatus.free.rawValue, desired: EventSlotStatus.creating.rawValue,
            ordering: .acquiring
        ).exchanged else { return nil }
        let shard = shard(ofAccount: accountSlot)
        guard shard.enter() else {
            abandon(event, restoring: .free)
            return nil
        }
        defer { shard.leave() }
        var expiresAt = Int64.max
        if kind == .reserve {
            let (deadline, overflow) = t.addingReportingOverflow(ttl ?? SpecLimits.ttlMillisecondsDefault)
            if !overflow { expiresAt = deadline }
            // Publish the deadline before admission, then check that no later request has
            // started meanwhile (it may not have seen this deadline): the pairing of
            // sequentially consistent operations makes one of the two see the other.
            shard.nextDeadline.min(expiresAt, ordering: .sequentiallyConsistent)
        }
        let profile = profiles[accountSlot]
        guard profile.active, !profile.alwaysSlow, t < shard.nextDeadline.load(ordering: .sequentiallyConsistent),
            lastTime.load(ordering: .sequentiallyConsistent) <= t, let cell = shard.queue.claim()
        else {
            abandon(event, restoring: .free)
            return nil
        }
        let amount: Credits
        var pricedItem: PricedItem?
        var usage: Usage?
        var pricing = EventPricing.none
        switch cost {
        case .amount(let credits):
            amount = credits
        case .item(let name, let given):
            guard let price = shard.price(name, usage: given, at: t) else {
                abandon(event, restoring: .free, cell: cell, in: shard)
                return nil
            }
            amount = price.credits
            pricedItem = PricedItem(item: name, version: price.version)
            usage = given
            pricing = price.pricing
        }
        precondition(amount >= 0, "costs are never negative")
        // A reservation takes its open-reservation counts before admission; at a limit, the
        // slow path passes time (expiries give counts back) and decides.
        let counted = kind == .reserve
        if counted && takeReservationCount(account: accountSlot) != nil {
            abandon(event, restoring: .free, cell: cell, in: shard)
            return nil
        }
        var current = words[accountSlot].load(ordering: .relaxed)
        while true {
            let state = AdmissionState(current)
            var next = state
            var overCap = false
            var refusal: Refusal?
            if state.paused {
                refusal = Refusal(.paused)
            } else if state.available - amount < -profile.overdraft {
                refusal = Refusal(.insufficientCredits, available: state.available, needed: amount)
            } else if profile.periodCap >= 0 {
                overCap = state.capUsage + amount > profile.periodCap
                if overCap && profile.capIsHard { refusal = Refusal(.periodCap) }
                next.capUsage += amount
            }
            if let refusal {
                if counted { returnReservationCount(account: accountSlot) }
                abandon(event, restoring: .free, cell: cell, in: shard)
                // By item, the fallback chain may admit a cheaper item: the ledger walks it.
                if pricedItem != nil && profile.downgrade && refusal.code != .paused { return nil }
                return Response(.failure(refusal))
            }
            next.available -= amount
            next.sequence = state.nextSequence
            // Out of the word's range, or a charge that could put debt past 10^15 (debt is at
            // most -available): the ledger decides.
            guard next.isRepresentable, next.available >= -SpecLimits.accountTotalMax else {
                if counted { returnReservationCount(account: accountSlot) }
                abandon(event, restoring: .free, cell: cell, in: shard)
                return nil
            }
            // Releasing: the queue record and event fields written after are ordered by their
            // own publications; acquiring: a failed exchange reloads the current word.
            let (exchanged, observed) = words[accountSlot].weakCompareExchange(
                expected: current, desired: next.word, ordering: .acquiringAndReleasing)
            if !exchanged {
                current = observed
                continue
            }
            eventAccount[event] = Int32(accountSlot)
            eventHold[event] = kind == .reserve ? amount : 0
            eventExpiresAt[event] = expiresAt
            eventPricing[event] = pricing
            if counted { markCounted(event) }
            let status: EventSlotStatus = kind == .reserve ? .open : .other
            eventStatus[event].store(status.rawValue, ordering: .releasing)
            shard.queue.publish(
                SettleOp(
                    kind: kind, sequence: next.sequence, accountSlot: Int32(accountSlot), eventSlot: Int32(event),
                    amount: amount, t: t, availableAfter: next.available, ttlMilliseconds: ttl ?? 0,
                    ttlGiven: ttl != nil, forceGiven: forceGiven, item: pricedItem?.item, usage: usage),
                at: cell)
            if kind == .reserve {
                return .ok(
                    .reserved(held: amount, available: next.available, item: pricedItem, downgraded: false, overCap: overCap))
            }
            return .ok(
                .charged(
                    charged: amount, available: next.available, item: pricedItem, downgraded: false, overCap: overCap,
                    late: false))
        }
    }

    /// Commit (`amount` charged, or by `usage`: the reservation's item priced on it) or release
    /// an open, unexpired reservation. Returns nil for the slow path (closed, expired, being
    /// closed, a busy shard, expired grants behind it, a commit by usage the snapshot cannot
    /// price as the ledger would).
    private func settle(
        _ kind: SettleOp.Kind, event: Int, amount: Int64, usage: Usage? = nil, at t: Milliseconds
    ) -> Response? {
        guard eventStatus[event].compareExchange(
            expected: EventSlotStatus.open.rawValue, desired: EventSlotStatus.closing.rawValue,
            ordering: .acquiring
        ).exchanged else { return nil }
        let accountSlot = Int(eventAccount[event])
        let hold = eventHold[event]
        let shard = shard(ofAccount: accountSlot)
        guard shard.enter() else {
            abandon(event, restoring: .open)
            return nil
        }
        defer { shard.leave() }
        let profile = profiles[accountSlot]
        var charged = kind == .commit ? amount : 0
        if let usage {
            // Priced inside the gate: the published snapshot does not change meanwhile.
            guard let credits = shard.priceCommit(eventPricing[event], usage: usage) else {
                abandon(event, restoring: .open)
                return nil
            }
            charged = credits
        }
        // As in `admit`: a later request may already have moved the engine's time past `t`;
        // the slow path then decides at `t` exactly, or refuses it as time_went_backwards.
        guard !profile.alwaysSlow, t < eventExpiresAt[event], t < shard.nextDeadline.load(ordering: .sequentiallyConsistent),
            lastTime.load(ordering: .sequentiallyConsistent) <= t, let cell = shard.queue.claim()
        else {
            abandon(event, restoring: .open)
            return nil
        }
        var current = words[accountSlot].load(ordering: .relaxed)
        while true {
            let state = AdmissionState(current)
            var next = state
            // Returning the hold is exact only when no grant behind it has expired.
            next.available = state.available + hold - charged
            if profile.periodCap >= 0 { next.capUsage = state.capUsage - hold + charged }
            next.sequence = state.nextSequence
            guard !state.expiredBacking, next.isRepresentable, next.available >= -SpecLimits.accountTotalMax else {
                abandon(event, restoring: .open, cell: cell, in: shard)
                return nil
            }
            let (exchanged, observed) = words[accountSlot].weakCompareExchange(
                expected: current, desired: next.word, ordering: .acquiringAndReleasing)
            if !exchanged {
                current = observed
                continue
            }
            eventStatus[event].store(EventSlotStatus.other.rawValue, ordering: .releasing)
            releaseReservationCount(ofEvent: event)
            shard.queue.publish(
                SettleOp(
                    kind: kind, sequence: next.sequence, accountSlot: Int32(accountSlot), eventSlot: Int32(event),
                    amount: charged, t: t, availableAfter: next.available, usage: usage),
                at: cell)
            if kind == .commit {
                return .ok(
                    .charged(charged: charged, available: next.available, item: nil, downgraded: false, overCap: false, late: false))
            }
            return .ok(.released(released: hold, available: next.available))
        }
    }

    /// Gives up a hot-path attempt: the event goes back to `status` (free: the id stays
    /// unused; open: the reservation stays open), and a claimed queue cell is filled with
    /// nothing, so that the shard's consumer does not stop there.
    @inline(__always)
    private func abandon(_ event: Int, restoring status: EventSlotStatus, cell: Int? = nil, in shard: Shard? = nil) {
        if let cell, let shard { shard.queue.publish(.nothing, at: cell) }
        eventStatus[event].store(status.rawValue, ordering: .releasing)
    }
}
