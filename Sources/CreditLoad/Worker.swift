// One worker thread's loop: the next operations of its sessions, sent one at a time or as a
// batch (a pipelining target), timed from their intended start, then tallied: latency,
// refusals, the harness's own accounting of each account, and the admission bound check.

#if canImport(Darwin)
    import Darwin
#else
    import Glibc
#endif
import CreditCore
import Histogram
import Synchronization

/// Expected change of each account's available credits, as the harness counts it.
/// Allocated zeroed with `calloc`, so untouched pages of a 10M-account table cost nothing.
public final class DeltaTable: @unchecked Sendable {
    // Owned by one worker thread during the run, then handed to the main thread after
    // pthread_join (which orders every write before the main thread's reads).
    public let count: Int
    public let deltas: UnsafeMutablePointer<Int64>

    public init(count: Int) {
        precondition(count >= 1)
        self.count = count
        deltas = calloc(count, MemoryLayout<Int64>.stride)!.bindMemory(to: Int64.self, capacity: count)
    }

    deinit { free(deltas) }

    public subscript(index: Int) -> Int64 {
        get { deltas[index] }
        set { deltas[index] = newValue }
    }
}

/// What one worker counted.
struct WorkerTally {
    /// The most problem descriptions kept.
    static let problemsMax = 10

    var histograms: [Histogram<UInt64>] = OperationKind.allCases.map { _ in makeLatencyHistogram() }
    var refusals = [Int](repeating: 0, count: RefusalCode.allCases.count)
    var operations = 0
    var duplicates = 0
    var overAdmissions = 0
    var problems: [String] = []
    let deltas: DeltaTable

    init(accountCount: Int) { deltas = DeltaTable(count: accountCount) }

    /// Counts one finished operation.
    @inline(__always)
    mutating func record(_ operation: LoadOperation, _ outcome: LoadOutcome, latencyNanoseconds: UInt64, plan: AccountPlan) {
        _ = histograms[Int(operation.kind.rawValue)].record(min(latencyNanoseconds, LoadConfiguration.latencyNanosecondsMax))
        operations += 1
        if let code = outcome.refusal {
            refusals[Int(code.rawValue)] += 1
            return
        }
        // A retry changes nothing when the target keeps ids; if a target applied it again,
        // the reconciliation finds the difference.
        if outcome.duplicate || operation.isRetry {
            duplicates += outcome.duplicate ? 1 : 0
            return
        }
        let account = operation.accountIndex
        switch operation.kind {
        case .reserve, .charge:
            deltas[account] -= operation.credits
            let bound = -plan.overdraft(ofAccount: account)
            if outcome.availableCredits < bound {
                overAdmissions += 1
                if problems.count < Self.problemsMax {
                    problems.append(
                        "\(operation.kind.name) \(operation.id) of \(operation.credits) on account \(account) admitted, "
                            + "leaving \(outcome.availableCredits) available, below \(bound)")
                }
            }
        case .commit:
            deltas[account] += operation.heldCredits - operation.credits
        case .release:
            deltas[account] += operation.heldCredits
        case .grant, .refund:
            deltas[account] += operation.credits
        }
    }

    /// Adds another worker's tally into this one.
    mutating func add(_ other: WorkerTally, accountCount: Int) {
        for index in histograms.indices { histograms[index].add(other.histograms[index]) }
        for index in refusals.indices { refusals[index] += other.refusals[index] }
        operations += other.operations
        duplicates += other.duplicates
        overAdmissions += other.overAdmissions
        problems += other.problems
        for account in 0..<accountCount { deltas.deltas[account] &+= other.deltas.deltas[account] }
    }
}

/// Compares every account's final figures with the harness's accounting.
public func reconcile(target: any LoadTarget, plan: AccountPlan, deltas: DeltaTable) throws
    -> (mismatches: Int, problems: [String])
{
    precondition(deltas.count == plan.accountCount)
    var mismatches = 0
    var seen = 0
    var problems: [String] = []
    try target.readAccounts { account, figures in
        precondition(account >= 0 && account < plan.accountCount, "account index out of range")
        seen += 1
        let expected = plan.startingCredits + deltas[account]
        guard figures.availableCredits != expected || figures.heldCredits != 0 else { return }
        mismatches += 1
        if problems.count < WorkerTally.problemsMax {
            problems.append(
                "account \(account): \(target.name) says available \(figures.availableCredits), held "
                    + "\(figures.heldCredits); the harness counted available \(expected), held 0")
        }
    }
    if seen != plan.accountCount {
        mismatches += abs(plan.accountCount - seen)
        problems.append("\(target.name) reported \(seen) accounts of \(plan.accountCount)")
    }
    return (mismatches, problems)
}

/// One worker thread's state.
struct Worker {
    let configuration: LoadConfiguration
    let threadIndex: Int
    let batchCountMax: Int
    var generator: WorkloadGenerator
    var tally: WorkerTally
    var batch: [LoadOperation] = []
    var batchSessions: [Int] = []
    var batchIntended: [UInt64] = []
    var outcomes: [LoadOutcome] = []
    var nextSession = 0

    init(configuration: LoadConfiguration, threadIndex: Int, batchCountMax: Int) {
        precondition(batchCountMax >= 1)
        self.configuration = configuration
        self.threadIndex = threadIndex
        // A batch takes at most one operation per session, so that its operations are independent.
        let sessions = max(configuration.sessionsPerThread, batchCountMax)
        self.batchCountMax = batchCountMax
        generator = WorkloadGenerator(
            profile: configuration.profile, plan: configuration.plan, skew: configuration.skew,
            seed: configuration.seed, threadIndex: threadIndex, sessionCount: sessions)
        tally = WorkerTally(accountCount: configuration.plan.accountCount)
        batch.reserveCapacity(batchCountMax)
        outcomes.reserveCapacity(batchCountMax)
    }

    /// This thread's share of `.operations(n)`; nil for a duration.
    var quota: Int? {
        guard case .operations(let total) = configuration.stop else { return nil }
        let share = total / configuration.threadCount
        return share + (threadIndex < total % configuration.threadCount ? 1 : 0)
    }

    mutating func run(client: any LoadClient, control: RunControl) throws {
        let start = control.startNanoseconds.load(ordering: .relaxed)
        // Open loop: this thread's share of the rate, its schedule offset so threads interleave.
        let interval: UInt64? = configuration.ratePerSecond.map {
            max(1, UInt64(configuration.threadCount) * 1_000_000_000 / UInt64(max($0, 1)))
        }
        var intended = start + (interval ?? 0) * UInt64(threadIndex) / UInt64(configuration.threadCount)
        let quota = self.quota
        var previousEnd = monotonicNanoseconds()
        var reported = 0
        while !control.stopping.load(ordering: .relaxed) {
            if let quota, tally.operations >= quota { break }
            let limit = quota.map { min(batchCountMax, $0 - tally.operations) } ?? batchCountMax
            if let interval {
                previousEnd = try openLoopBatch(client: client, limit: limit, intended: &intended, interval: interval)
            } else {
                previousEnd = try closedLoopBatch(client: client, limit: limit, begin: previousEnd, draining: false)
            }
            if tally.operations - reported >= RunControl.progressStep {
                control.progressOperations.add(tally.operations - reported, ordering: .relaxed)
                reported = tally.operations
            }
        }
        // Settle what is still open (and retries owed), so every account ends with nothing held.
        while generator.sessions.indices.contains(where: { generator.needsDrain(session: $0) }) {
            previousEnd = try closedLoopBatch(
                client: client, limit: batchCountMax, begin: monotonicNanoseconds(), draining: true)
        }
        control.progressOperations.add(tally.operations - reported, ordering: .relaxed)
    }

    /// Collects up to `limit` operations of distinct sessions, in round-robin order.
    mutating func collect(limit: Int, draining: Bool) {
        batch.removeAll(keepingCapacity: true)
        batchSessions.removeAll(keepingCapacity: true)
        let sessionCount = generator.sessionCount
        var visited = 0
        while batch.count < limit && visited < sessionCount {
            let session = nextSession
            nextSession = nextSession + 1 == sessionCount ? 0 : nextSession + 1
            visited += 1
            guard let operation = generator.next(session: session, draining: draining) else { continue }
            batch.append(operation)
            batchSessions.append(session)
        }
    }

    /// Closed loop: every operation of the batch is timed from `begin` (the previous end).
    mutating func closedLoopBatch(client: any LoadClient, limit: Int, begin: UInt64, draining: Bool) throws -> UInt64 {
        collect(limit: limit, draining: draining)
        if batch.isEmpty { return begin }
        if batch.count == 1 {
            let outcome = try client.perform(batch[0])
            let end = monotonicNanoseconds()
            finish(index: 0, outcome, latencyNanoseconds: end &- begin)
            return end
        }
        try client.perform(batch: batch[...], into: &outcomes)
        let end = monotonicNanoseconds()
        precondition(outcomes.count == batch.count, "a target answered a batch with the wrong number of outcomes")
        for index in batch.indices { finish(index: index, outcomes[index], latencyNanoseconds: end &- begin) }
        return end
    }

    /// Open loop: waits for the next intended start, then sends every operation already due
    /// (up to `limit`); each is timed from its own intended start.
    mutating func openLoopBatch(client: any LoadClient, limit: Int, intended: inout UInt64, interval: UInt64) throws
        -> UInt64
    {
        var now = monotonicNanoseconds()
        if now < intended {
            let wait = intended - now
            // Sleep through long gaps, spin through short ones (a sleep overshoots by ~50 µs).
            if wait > 200_000 { usleep(UInt32((wait - 100_000) / 1000)) }
            while now < intended { now = monotonicNanoseconds() }
        }
        var due = 1
        while due < limit && intended + UInt64(due) * interval <= now { due += 1 }
        collect(limit: due, draining: false)
        batchIntended.removeAll(keepingCapacity: true)
        for index in batch.indices { batchIntended.append(intended + UInt64(index) * interval) }
        intended += UInt64(max(batch.count, 1)) * interval
        if batch.count == 1 {
            let outcome = try client.perform(batch[0])
            let end = monotonicNanoseconds()
            finish(index: 0, outcome, latencyNanoseconds: end &- batchIntended[0])
            return end
        }
        try client.perform(batch: batch[...], into: &outcomes)
        let end = monotonicNanoseconds()
        precondition(outcomes.count == batch.count, "a target answered a batch with the wrong number of outcomes")
        for index in batch.indices { finish(index: index, outcomes[index], latencyNanoseconds: end &- batchIntended[index]) }
        return end
    }

    @inline(__always)
    mutating func finish(index: Int, _ outcome: LoadOutcome, latencyNanoseconds: UInt64) {
        tally.record(batch[index], outcome, latencyNanoseconds: latencyNanoseconds, plan: configuration.plan)
        generator.complete(session: batchSessions[index], batch[index], outcome)
    }
}
