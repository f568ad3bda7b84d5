// The `engine-durable` target: the concurrent engine with every change journalled
// (`DurableEngine`, issues 4 and 5) in durable mode: an operation counts as done only once
// its record is on disk (`fdatasync`). A worker applies its batch of independent operations
// (up to `batchCountMax`, like a gateway thread serving several requests) and then waits
// once for the last of their records, so one group commit covers every operation that
// arrived while the previous sync ran. The journal lives in a new temporary directory,
// removed at tear-down. With `snapshotEveryRecords`, the engine snapshots itself into that
// directory every so many records, on its snapshot thread, while the load runs; the stalls
// it measured are then in `snapshotStatistics` (and on standard error at tear-down).

import CreditCore
import CreditDurable
import CreditEngine
import CreditJournal
import Synchronization

#if canImport(Darwin)
    import Darwin
#else
    import Glibc
#endif

/// `DurableEngine` over a file journal in a temporary directory. Safe from any thread.
public final class DurableEngineTarget: LoadTarget {
    public let name = "engine-durable"
    public let batchCountMax: Int
    /// The most operations a worker applies before it waits for their durability.
    public static let batchCountLimit = 1_024
    let state = Mutex<(engine: DurableEngine, directory: String)?>(nil)
    let accountCount = Atomic<Int>(0)
    let mode: DurabilityMode
    let snapshots: SnapshotPolicy
    /// What the last run's snapshots measured (at its tear-down).
    public let snapshotStatistics = Mutex<SnapshotStatistics?>(nil)

    /// `snapshotEveryRecords`: 0 for no snapshots, else
    /// `SnapshotPolicy.recordsBetweenSnapshotsMin ... recordsBetweenSnapshotsMax`.
    public init(batchCount: Int = 16, mode: DurabilityMode = .durable, snapshotEveryRecords: Int = 0) throws {
        guard (1...Self.batchCountLimit).contains(batchCount) else {
            throw LoadTargetError("engine-durable: batch count must be 1 ... \(Self.batchCountLimit)")
        }
        batchCountMax = batchCount
        self.mode = mode
        if snapshotEveryRecords == 0 {
            snapshots = .manual
        } else {
            do {
                snapshots = try SnapshotPolicy(everyRecords: snapshotEveryRecords)
            } catch {
                throw LoadTargetError(
                    "engine-durable: records between snapshots must be 0 or \(SnapshotPolicy.recordsBetweenSnapshotsMin) ... \(SnapshotPolicy.recordsBetweenSnapshotsMax)"
                )
            }
        }
    }

    func current() throws -> DurableEngine {
        guard let engine = state.withLock({ $0?.engine }) else { throw LoadTargetError("engine-durable: not set up") }
        return engine
    }

    public func setUp(_ plan: AccountPlan) throws {
        tearDown()
        var template = Array("/tmp/creditmeter-engine-durable.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw LoadTargetError("engine-durable: cannot make a journal directory: \(String(cString: strerror(errno)))")
        }
        let directory = String(cString: made)
        let journal: FileEngineJournal
        do {
            journal = try FileEngineJournal(directory: directory, mode: mode)
        } catch {
            FileEngineJournal.removeDirectory(directory)
            throw error
        }
        do {
            let engine = DurableEngine(
                engine: try CreditEngine(configuration: EngineTarget.configuration(for: plan)), journal: journal,
                snapshots: snapshots)
            try createAccounts(plan, in: engine)
            state.withLock { $0 = (engine, directory) }
            accountCount.store(plan.accountCount, ordering: .relaxed)
        } catch {
            // Nothing of a failed set-up is left behind: the writer thread and the directory.
            try? journal.close()
            FileEngineJournal.removeDirectory(directory)
            throw error
        }
    }

    /// Creates the plan's accounts and grants, journalled, with one wait at the end.
    private func createAccounts(_ plan: AccountPlan, in engine: DurableEngine) throws {
        var alerts: [Alert] = []
        var last: UInt64 = 0
        for account in 0..<plan.accountCount {
            let limits = LimitsSpec(overdraft: plan.overdraft(ofAccount: account))
            let created = try engine.applyDeferringDurability(
                .account(id: MutexTarget.accountName(account), limits: limits), at: MutexTarget.instant, alerts: &alerts)
            guard case .success = created.response.result else {
                throw LoadTargetError("engine-durable: account \(account): \(created.response)")
            }
            last = created.ticket
            if plan.startingCredits > 0 {
                let grant = GrantRequest(
                    account: MutexTarget.accountName(account), id: "g\(account)", amount: plan.startingCredits)
                let granted = try engine.applyDeferringDurability(.grant(grant), at: MutexTarget.instant, alerts: &alerts)
                guard case .success = granted.response.result else {
                    throw LoadTargetError("engine-durable: grant \(account): \(granted.response)")
                }
                last = granted.ticket
            }
            alerts.removeAll(keepingCapacity: true)
        }
        try engine.waitDurable(through: last)
    }

    public func makeClient(threadIndex: Int) throws -> any LoadClient { DurableEngineClient(engine: try current()) }

    public func readAccounts(_ body: (Int, AccountFigures) -> Void) throws {
        try EngineTarget.readAccounts(
            of: try current().engine, count: accountCount.load(ordering: .relaxed), target: name, body)
    }

    /// Closes the journal and removes its directory.
    public func tearDown() {
        guard let (engine, directory) = state.withLock({ old in defer { old = nil }; return old }) else { return }
        try? engine.close()  // a failed journal has nothing more to make durable
        if snapshots != .manual {
            let statistics = engine.snapshotStatistics
            snapshotStatistics.withLock { $0 = statistics }
            let line =
                "engine-durable: \(statistics.snapshotCount) snapshots, \(statistics.failureCount) failed; appliers stalled max \(statistics.stallNanosecondsMax / 1_000) us, median \(statistics.stallNanosecondsMedian / 1_000) us\n"
            _ = line.withCString { write(2, $0, strlen($0)) }  // standard error
        }
        FileEngineJournal.removeDirectory(directory)
    }
}

/// One thread's handle on the durable engine.
final class DurableEngineClient: LoadClient {
    let engine: DurableEngine
    var alerts: [Alert] = []

    init(engine: DurableEngine) {
        self.engine = engine
        alerts.reserveCapacity(16)
    }

    func perform(_ operation: LoadOperation) throws -> LoadOutcome {
        alerts.removeAll(keepingCapacity: true)
        let response = try engine.apply(MutexTarget.request(for: operation), at: MutexTarget.instant, alerts: &alerts)
        return MutexTarget.outcome(of: response)
    }

    /// Applies every operation, then waits once for the last record: their outcomes count
    /// only after that wait.
    func perform(batch operations: ArraySlice<LoadOperation>, into outcomes: inout [LoadOutcome]) throws {
        outcomes.removeAll(keepingCapacity: true)
        var last: UInt64 = 0
        for operation in operations {
            alerts.removeAll(keepingCapacity: true)
            let (response, ticket) = try engine.applyDeferringDurability(
                MutexTarget.request(for: operation), at: MutexTarget.instant, alerts: &alerts)
            last = max(last, ticket)
            outcomes.append(MutexTarget.outcome(of: response))
        }
        try engine.waitDurable(through: last)
    }

    func close() {}
}
