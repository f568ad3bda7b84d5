// The slow path: every request the hot path does not answer goes through the ledger of the
// shard that holds its account or event, with the shard's gate closed and its queue settled
// first, so the ledger sees every admitted operation in each account's order before it.
// Requests that span shards (rates, tick, a report over all accounts) hold every shard.

import CreditCore
import Synchronization

extension CreditEngine {
    /// Runs `body` on a shard's state with its lock held, its gate closed and its queue
    /// settled; then refreshes what the hot path reads. Alerts raised go to `alerts` and to
    /// the subscribers.
    func withShard<R>(
        _ shard: Shard, at t: Milliseconds, alerts: inout [Alert], delivering: Bool = true,
        _ body: (inout ShardState, inout [Alert]) -> R
    ) -> R {
        shard.state.withLock { state in
            shard.close()
            defer { shard.open() }
            let first = alerts.count
            state.slowPathCount += 1
            settleQueue(shard, &state, alerts: &alerts)
            let result = body(&state, &alerts)
            refreshAfterRequest(shard, &state)
            // Shards held one inside another (every-shard requests) deliver their own alerts
            // themselves: an outer shard's range here would hold the inner ones' again.
            if delivering { deliver(alerts[first...]) }
            return result
        }
    }

    /// Holds every shard, in index order, and runs `body` on each.
    func withAllShards<R>(
        at t: Milliseconds, alerts: inout [Alert], _ body: (Shard, inout ShardState, inout [Alert]) -> R
    ) -> [R] {
        var results: [R] = []
        results.reserveCapacity(shards.count)
        let first = alerts.count
        lockShards(from: 0, at: t, alerts: &alerts, results: &results, body)
        sortByAccount(&alerts, from: first)
        return results
    }

    private func lockShards<R>(
        from index: Int, at t: Milliseconds, alerts: inout [Alert], results: inout [R],
        _ body: (Shard, inout ShardState, inout [Alert]) -> R
    ) {
        guard index < shards.count else { return }
        let shard = shards[index]
        let levelFirst = alerts.count
        withShard(shard, at: t, alerts: &alerts, delivering: false) { state, alerts in
            results.append(body(shard, &state, &alerts))
            // This shard's own alerts (settled, then the body's), under its lock: so each
            // account's alerts reach subscribers in order, and once.
            deliver(alerts[levelFirst...])
            lockShards(from: index + 1, at: t, alerts: &alerts, results: &results, body)
        }
    }

    /// Orders the alerts of one request by account id (byte order), keeping each account's
    /// own order (`low_balance`, `period_usage`, `debt`).
    func sortByAccount(_ alerts: inout [Alert], from first: Int) {
        guard alerts.count - first > 1 else { return }
        let sorted = alerts[first...].enumerated().sorted { lhs, rhs in
            let left = lhs.element.account.utf8
            let right = rhs.element.account.utf8
            if left.elementsEqual(right) { return lhs.offset < rhs.offset }
            return left.lexicographicallyPrecedes(right)
        }.map(\.element)
        alerts.replaceSubrange(first..., with: sorted)
    }

    // MARK: - Settlement

    /// Applies every queued operation to the ledger, in each account's sequence order and,
    /// across accounts, in time order. The gate is closed: nothing is in flight. First the
    /// operations a snapshot's capture left in `pending` (drained and ordered, not applied:
    /// `drainQueue`), then those queued since, as one batch.
    func settleQueue(_ shard: Shard, _ state: inout ShardState, alerts: inout [Alert]) {
        drainQueue(shard, &state)
        state.lastSettledCount = state.pending.count
        if state.pending.isEmpty { return }
        for op in state.pending {
            let response = settle(op, into: &state.ledger, alerts: &alerts)
            // The hot path answered from the admission word (and the pricing snapshot); the
            // ledger must agree exactly.
            if Self.available(of: response) != op.availableAfter || Self.credits(of: response) != op.amount {
                settlementMismatches.wrappingAdd(1, ordering: .relaxed)
            }
            state.settledOperationCount += 1
            // A reservation still holding its counts expires in this shard's heap.
            if op.kind == .reserve && eventCounted[Int(op.eventSlot)].load(ordering: .relaxed) == 1 {
                scheduleExpiry(ofEvent: Int(op.eventSlot), &state)
            }
        }
        state.pending.removeAll(keepingCapacity: true)
    }

    /// Applies one drained operation to a ledger: the shard's, or a snapshot's copy of it
    /// (`EngineSnapshot`), which must become exactly what the shard's becomes.
    func settle(_ op: SettleOp, into ledger: inout Ledger, alerts: inout [Alert]) -> Response {
        // Validated when it arrived (`apply(_:at:alerts:)`); its checks do not depend on time.
        ledger.applyAccepted(ledgerRequest(for: op), at: max(op.t, ledger.lastTime), alerts: &alerts)
    }

    /// Drains the queue into `pending`, after what `pending` already holds, and puts what it
    /// drained in settlement order, its sequences recorded in `settledSequence`. Between calls
    /// every operation in `pending` is in that order and recorded: `pending` is empty, except
    /// after a snapshot's capture, which drains and orders but leaves the applying to the next
    /// settle (the snapshot applies a copy to its copy of the ledger). Operations drained now
    /// were all admitted after those (the gate was closed in between), so they follow them in
    /// each account's order and in time. The gate is closed: nothing is in flight.
    /// O(drained), and a sort in the rare case of a batch out of order.
    func drainQueue(_ shard: Shard, _ state: inout ShardState) {
        let first = state.pending.count
        while let op = shard.queue.pop() {
            if op.kind != .none { state.pending.append(op) }
        }
        if state.pending.count == first || isInSettlementOrder(&state, from: first) { return }
        sortForSettlement(&state, from: first)
        for op in state.pending[first...] { state.settledSequence[Int(op.accountSlot) >> shardShift] = op.sequence }
    }

    /// Whether the drained batch (`pending` from `first` on) is in settlement order as it is:
    /// each account's operations follow its last recorded sequence one by one, and times never
    /// go back. When it is, records its sequences; when not, leaves them as they were.
    private func isInSettlementOrder(_ state: inout ShardState, from first: Int) -> Bool {
        let modulus = AdmissionState.sequenceModulus
        var previousT = Milliseconds.min
        state.overwrittenSequences.removeAll(keepingCapacity: true)
        for op in state.pending[first...] {
            let local = Int(op.accountSlot) >> shardShift
            let last = state.settledSequence[local]
            guard op.t >= previousT, Int(op.sequence) == (Int(last) + 1) % modulus else { break }
            state.overwrittenSequences.append(last)
            state.settledSequence[local] = op.sequence
            previousT = op.t
        }
        let checked = state.overwrittenSequences.count
        if first + checked == state.pending.count { return true }
        // Out of order: put back what the check wrote, latest first.
        for index in stride(from: checked - 1, through: 0, by: -1) {
            state.settledSequence[Int(state.pending[first + index].accountSlot) >> shardShift] =
                state.overwrittenSequences[index]
        }
        return false
    }

    /// Sorts the drained batch (`pending` from `first` on) into settlement order: by account
    /// and sequence (counted from the last recorded one, so that a wrap sorts right), times
    /// made non-decreasing within each account, then by time. The rare case: operations of
    /// one account admitted in one order and queued in another.
    private func sortForSettlement(_ state: inout ShardState, from first: Int) {
        let modulus = AdmissionState.sequenceModulus
        let settled = state.settledSequence
        let shift = shardShift
        func distance(_ op: SettleOp) -> Int {
            (Int(op.sequence) - Int(settled[Int(op.accountSlot) >> shift]) - 1 + modulus) % modulus
        }
        state.pending[first...].sort { left, right in
            if left.accountSlot != right.accountSlot { return left.accountSlot < right.accountSlot }
            return distance(left) < distance(right)
        }
        // Within an account, time never goes back in sequence order.
        for index in state.pending.indices.dropFirst(first + 1)
        where state.pending[index].accountSlot == state.pending[index - 1].accountSlot {
            state.pending[index].t = max(state.pending[index].t, state.pending[index - 1].t)
        }
        state.pending[first...].sort { left, right in
            if left.t != right.t { return left.t < right.t }
            if left.accountSlot != right.accountSlot { return left.accountSlot < right.accountSlot }
            return distance(left) < distance(right)
        }
    }

    /// The request a queued operation settles as: the caller's own request, rebuilt. Reads
    /// only the id maps' keys, which never change once written: safe from any thread for an
    /// operation drained from a queue.
    private func ledgerRequest(for op: SettleOp) -> Request {
        let eventID = eventIDs.key(at: Int(op.eventSlot))
        switch op.kind {
        case .reserve:
            return .reserve(
                ReserveRequest(
                    account: accountIDs.key(at: Int(op.accountSlot)), id: eventID, cost: cost(of: op),
                    ttlMilliseconds: op.ttlGiven ? op.ttlMilliseconds : nil))
        case .charge:
            return .charge(
                ChargeRequest(
                    account: accountIDs.key(at: Int(op.accountSlot)), id: eventID, cost: cost(of: op),
                    force: op.forceGiven ? false : nil))
        case .commit:
            // By usage as the caller asked: the ledger prices it and keeps the usage.
            if let usage = op.usage { return .commit(id: eventID, .usage(usage)) }
            return .commit(id: eventID, .amount(op.amount))
        case .release:
            return .release(id: eventID)
        case .none:
            preconditionFailure("nothing to settle")
        }
    }

    /// The cost of a queued reserve or charge as its caller gave it: by item, or the amount.
    private func cost(of op: SettleOp) -> CostSpec {
        guard let item = op.item else { return .amount(op.amount) }
        return .item(item, usage: op.usage)
    }

    /// How many operations took the hot path and were settled, and how many times a shard was
    /// entered by the slow path (settling and reads included). Settles first.
    public func statistics() -> (hotOperations: Int, slowPathEntries: Int) {
        settle()
        return shards.reduce((0, 0)) { total, shard in
            shard.state.withLock { (total.0 + $0.settledOperationCount, total.1 + $0.slowPathCount) }
        }
    }

    /// The first broken ledger identity in any shard, or nil; settles first. For tests.
    public func invariantViolation() -> String? {
        settle()
        for shard in shards {
            if let violation = shard.state.withLock({ $0.ledger.invariantViolation() }) {
                return "shard \(shard.index): \(violation)"
            }
        }
        return nil
    }

    static func available(of response: Response) -> Int64? {
        switch response.result {
        case .success(.reserved(_, let available, _, _, _)), .success(.charged(_, let available, _, _, _, _)),
            .success(.released(_, let available)):
            available
        default: nil
        }
    }

    /// The credits of a reply the hot path can give: held, charged (0 for a release: the hot
    /// path's record carries 0 then).
    static func credits(of response: Response) -> Int64? {
        switch response.result {
        case .success(.reserved(let held, _, _, _, _)): held
        case .success(.charged(let charged, _, _, _, _, _)): charged
        case .success(.released): 0
        default: nil
        }
    }

    // MARK: - What the hot path reads

    /// After a slow-path request: refreshes the accounts it touched, every capped account at
    /// a new UTC day, and the shard's next deadline.
    private func refreshAfterRequest(_ shard: Shard, _ state: inout ShardState) {
        let ledgerTime = state.ledger.lastTime
        let day = ledgerTime / SpecLimits.dayMilliseconds
        if day != state.dayIndex {
            state.dayIndex = day
            for slot in state.accountSlots { refreshAccount(Int(slot), &state) }
        } else {
            for id in state.ledger.lastTouchedAccountIDs {
                if let slot = accountIDs.find(id) { refreshAccount(slot, &state) }
            }
        }
        for slot in state.refreshAlso { refreshAccount(Int(slot), &state) }
        state.refreshAlso.removeAll(keepingCapacity: true)
        refreshPricing(shard, &state)
        processExpiries(&state)
        let nextDay = (day + 1) * SpecLimits.dayMilliseconds
        shard.nextDeadline.store(min(state.ledger.nextExpiry ?? Int64.max, nextDay), ordering: .sequentiallyConsistent)
    }

    /// Rebuilds the shard's pricing snapshot when a version was added or the ledger's time
    /// left its interval, so that the snapshot always holds at the ledger's time when the gate
    /// opens (then every queued operation, admitted before its interval's end, settles at a time
    /// inside it). The gate is closed.
    private func refreshPricing(_ shard: Shard, _ state: inout ShardState) {
        let versionCount = state.ledger.rateVersionCount
        if versionCount == 0 { return }
        if let current = state.pricing, current.versionCount == versionCount, current.holds(at: state.ledger.lastTime) {
            return
        }
        let snapshot = state.ledger.pricingSnapshot()
        precondition(snapshot.holds(at: state.ledger.lastTime), "a new snapshot holds at the ledger's time")
        state.pricing = snapshot
        shard.publishPricing(snapshot)
    }

    /// Copies an account's figures from the ledger into its admission word and profile.
    /// The gate is closed: no hot-path operation reads or writes them now.
    func refreshAccount(_ slot: Int, _ state: inout ShardState) {
        let id = accountIDs.key(at: slot)
        guard let figures = state.ledger.admissionFigures(of: id, at: state.ledger.lastTime) else { return }
        let current = AdmissionState(words[slot].load(ordering: .relaxed))
        let capUsage = figures.periodCap == nil ? 0 : figures.periodSpent + figures.held
        let next = AdmissionState(
            available: figures.available, capUsage: capUsage, sequence: current.sequence, paused: figures.paused,
            expiredBacking: figures.hasExpiredBacking)
        if !profiles[slot].active { state.accountSlots.append(Int32(slot)) }
        profiles[slot] = AccountProfile(
            active: true, alwaysSlow: !next.isRepresentable, overdraft: figures.overdraft,
            periodCap: figures.periodCap ?? -1, capIsHard: figures.capIsHard,
            downgrade: figures.downgrade)
        if next.isRepresentable { words[slot].store(next.word, ordering: .relaxed) }
    }
}

extension Alert {
    /// The account the alert is about.
    var account: String {
        switch self {
        case .lowBalance(let account, _, _, _), .periodUsage(let account, _, _, _, _), .debt(let account, _, _): account
        }
    }
}
