// The synthetic AI workloads: what a gateway sends for chat completions, embeddings and agent
// sessions, as a state machine per virtual user ("session"). Pure: no clock, no I/O, no
// threads; the driver asks for the next operation of a session and reports its outcome.
// Every amount is integer credits, priced from integer token counts.

import CreditCore

/// A workload profile.
public enum WorkloadProfile: String, CaseIterable, Sendable {
    /// Reserve an estimate from max tokens, hold it, commit the actual cost (long-tailed;
    /// some above the estimate), some released on errors or cancels.
    case chat
    /// Small fixed-price charges in bursts on one account.
    case embed
    /// Sessions chaining reserves and commits across models, with retries reusing ids.
    case agent
    /// All three, plus top-up grants and refunds.
    case mixed
}

/// Prices and proportions of the workloads. Integers: credits per token, percentages.
public enum WorkloadShape {
    /// Credits per token of the standard model.
    public static let standardCreditsPerToken: Int64 = 2
    /// Credits per token of the premium model.
    public static let premiumCreditsPerToken: Int64 = 15
    /// Percentage of chat requests on the premium model.
    public static let premiumPercent: UInt64 = 20
    /// The `max_tokens` a request asks for.
    public static let maxTokensChoices: [Int64] = [256, 512, 1024, 2048, 4096]
    /// Input tokens of a request: 50 ... this.
    public static let inputTokensMax: Int64 = 2000
    /// Percentage of chat calls released (errors, cancels) instead of committed.
    public static let releasePercent: UInt64 = 5
    /// Price of one embedding call.
    public static let embedCredits: Int64 = 8
    /// Longest burst of embeddings on one account.
    public static let embedBurstMax: UInt64 = 32
    /// Steps of an agent session: 2 ... this.
    public static let agentStepsMax: UInt64 = 6
    /// Percentage of agent reserves, and of agent commits, retried with the same id.
    public static let agentRetryPercent: UInt64 = 5
    /// A top-up grant's amount.
    public static let topUpCredits: Int64 = 500_000
    /// Mixed: percentages of new sessions by kind, out of 1,000 (chat, embed, agent, top-up, refund).
    public static let mixedPerMille: [UInt64] = [600, 150, 200, 30, 20]
    /// Charges remembered per thread as candidates for refunds.
    public static let refundCandidatesMax = 256
}

/// One virtual user's state between operations.
struct SessionState {
    enum Task { case chat, embed, agent }

    var task: Task = .chat
    var accountIndex = 0
    /// The open reservation: its id and hold, and whether its model is premium.
    var openReservationID: Int64 = 0
    var openHeldCredits: Int64 = 0
    var premium = false
    var phase: Phase = .idle
    /// Embeddings still to send in the burst, or agent steps still to run.
    var remaining: UInt64 = 0
    /// An operation to send again with the same id (an agent's retry), sent before anything else.
    var retry: LoadOperation?
    /// A first attempt already decided (an agent's next step), sent at the session's next turn.
    var queued: LoadOperation?

    enum Phase { case idle, awaitingReserve, holding, awaitingSettle, charging }
}

/// Generates one worker thread's operations for `sessionCount` interleaved sessions.
/// Deterministic for a seed and thread index. Not thread-safe: one per worker thread.
public struct WorkloadGenerator {
    public let profile: WorkloadProfile
    public let plan: AccountPlan
    var random: SeededRandom
    let zipf: ZipfSampler
    var sessions: [SessionState]
    /// Ids are `(threadIndex + 1) << 40 | serial`: unique across threads and targets of a run.
    var nextSerial: Int64
    /// Recent admitted charges (account, id, amount), refunded at most once each.
    var refundCandidates: [(accountIndex: Int, id: Int64, credits: Int64)] = []

    public init(
        profile: WorkloadProfile, plan: AccountPlan, skew: Double, seed: UInt64, threadIndex: Int, sessionCount: Int
    ) {
        precondition(sessionCount >= 1)
        precondition(threadIndex >= 0)
        precondition(threadIndex < 1 << 20)
        self.profile = profile
        self.plan = plan
        random = SeededRandom(seed: seed &+ UInt64(threadIndex) &* 0xA24B_AED4_963E_E407)
        zipf = ZipfSampler(count: plan.accountCount, exponent: skew)
        sessions = Array(repeating: SessionState(), count: sessionCount)
        nextSerial = Int64(threadIndex + 1) << 40
        refundCandidates.reserveCapacity(WorkloadShape.refundCandidatesMax)
    }

    public var sessionCount: Int { sessions.count }

    /// Whether the session has an open reservation or a retry pending (drained at the end).
    public func needsDrain(session index: Int) -> Bool {
        sessions[index].retry != nil || sessions[index].phase == .holding
    }

    mutating func newID() -> Int64 {
        nextSerial += 1
        return nextSerial
    }

    mutating func percent(_ p: UInt64) -> Bool { random.next() % 100 < p }

    /// The next operation of session `index`. With `draining`, a session only settles what is
    /// open (returns nil when nothing is).
    public mutating func next(session index: Int, draining: Bool = false) -> LoadOperation? {
        if let retry = sessions[index].retry { return retry }
        if let queued = sessions[index].queued {
            sessions[index].queued = nil
            if !draining { return queued }
            sessions[index].phase = .idle
            return nil
        }
        switch sessions[index].phase {
        case .holding:
            return settle(session: index)
        case .charging where !draining:
            sessions[index].remaining -= 1
            return LoadOperation(
                kind: .charge, accountIndex: sessions[index].accountIndex, id: newID(),
                credits: WorkloadShape.embedCredits)
        default:
            return draining ? nil : start(session: index)
        }
    }

    /// Starts a new task on session `index`.
    mutating func start(session index: Int) -> LoadOperation {
        let task: Int
        switch profile {
        case .chat: task = 0
        case .embed: task = 1
        case .agent: task = 2
        case .mixed:
            var draw = random.next() % 1000
            var chosen = 0
            for (kind, share) in WorkloadShape.mixedPerMille.enumerated() {
                if draw < share { chosen = kind; break }
                draw -= share
            }
            task = chosen
        }
        let accountIndex = zipf.nextIndex(&random)
        sessions[index].accountIndex = accountIndex
        switch task {
        case 0, 2:
            sessions[index].task = task == 0 ? .chat : .agent
            sessions[index].remaining = task == 0 ? 1 : 2 + random.next() % (WorkloadShape.agentStepsMax - 1)
            return reserve(session: index)
        case 3:
            sessions[index].phase = .idle
            return LoadOperation(kind: .grant, accountIndex: accountIndex, id: newID(), credits: WorkloadShape.topUpCredits)
        case 4 where !refundCandidates.isEmpty:
            let candidate = refundCandidates.removeLast()
            sessions[index].phase = .idle
            return LoadOperation(
                kind: .refund, accountIndex: candidate.accountIndex, id: newID(), eventID: candidate.id,
                credits: max(candidate.credits / 2, 1))
        default:
            sessions[index].task = .embed
            sessions[index].phase = .charging
            sessions[index].remaining = random.next() % WorkloadShape.embedBurstMax  // after this one
            return LoadOperation(kind: .charge, accountIndex: accountIndex, id: newID(), credits: WorkloadShape.embedCredits)
        }
    }

    /// A reserve of an estimate from max tokens, on a standard or premium model.
    mutating func reserve(session index: Int) -> LoadOperation {
        let premium = percent(WorkloadShape.premiumPercent)
        let maxTokens = WorkloadShape.maxTokensChoices[Int(random.next() % UInt64(WorkloadShape.maxTokensChoices.count))]
        let inputTokens = 50 + Int64(random.next() % UInt64(WorkloadShape.inputTokensMax - 49))
        let price = premium ? WorkloadShape.premiumCreditsPerToken : WorkloadShape.standardCreditsPerToken
        let estimate = (inputTokens + maxTokens) * price
        sessions[index].premium = premium
        sessions[index].openReservationID = newID()
        sessions[index].openHeldCredits = estimate
        sessions[index].phase = .awaitingReserve
        return LoadOperation(
            kind: .reserve, accountIndex: sessions[index].accountIndex, id: sessions[index].openReservationID,
            credits: estimate)
    }

    /// Commit (long-tailed actual cost) or release (errors, cancels) of the open reservation.
    mutating func settle(session index: Int) -> LoadOperation {
        let session = sessions[index]
        sessions[index].phase = .awaitingSettle
        if percent(WorkloadShape.releasePercent) {
            return LoadOperation(
                kind: .release, accountIndex: session.accountIndex, id: session.openReservationID, credits: 0,
                heldCredits: session.openHeldCredits)
        }
        // Actual cost as a per-mille of the hold: 70% use 10-60% of it, 20% 60-100%, and 10%
        // go over (tool calls, long answers, estimate error) up to twice the hold.
        let draw = random.next() % 100
        let perMille: Int64
        if draw < 70 {
            perMille = 100 + Int64(random.next() % 500)
        } else if draw < 90 {
            perMille = 600 + Int64(random.next() % 400)
        } else {
            perMille = 1000 + Int64(random.next() % 1001)
        }
        let price = session.premium ? WorkloadShape.premiumCreditsPerToken : WorkloadShape.standardCreditsPerToken
        // Whole tokens: the actual cost is a multiple of the model's price per token.
        let actual = (session.openHeldCredits * perMille / 1000) / price * price
        return LoadOperation(
            kind: .commit, accountIndex: session.accountIndex, id: session.openReservationID, credits: actual,
            heldCredits: session.openHeldCredits)
    }

    /// Advances session `index` after `operation` got `outcome`.
    public mutating func complete(session index: Int, _ operation: LoadOperation, _ outcome: LoadOutcome) {
        if operation.isRetry {
            sessions[index].retry = nil
            return
        }
        switch operation.kind {
        case .reserve:
            if outcome.succeeded {
                sessions[index].phase = .holding
                if sessions[index].task == .agent && percent(WorkloadShape.agentRetryPercent) {
                    var retry = operation
                    retry.isRetry = true
                    sessions[index].retry = retry
                }
            } else {
                sessions[index].phase = .idle
            }
        case .commit, .release:
            sessions[index].remaining -= 1
            if sessions[index].task == .agent && operation.kind == .commit && percent(WorkloadShape.agentRetryPercent) {
                var retry = operation
                retry.isRetry = true
                sessions[index].retry = retry
            }
            sessions[index].phase = .idle
            if sessions[index].task == .agent && sessions[index].remaining > 0 && operation.kind == .commit {
                // The next step of the agent, on the same account, maybe another model. Its
                // reserve is sent at this session's next turn.
                sessions[index].queued = reserve(session: index)
            }
        case .charge:
            if outcome.succeeded && !outcome.duplicate {
                if refundCandidates.count == WorkloadShape.refundCandidatesMax { refundCandidates.removeFirst() }
                refundCandidates.append((operation.accountIndex, operation.id, operation.credits))
            }
            if !outcome.succeeded || sessions[index].remaining == 0 { sessions[index].phase = .idle }
        case .grant, .refund:
            sessions[index].phase = .idle
        }
    }
}
