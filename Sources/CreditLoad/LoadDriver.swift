// Drives one target with a workload on worker threads and measures it: latency of every
// operation from its intended start (open loop: the schedule's time, so a stall delays the
// measured latency of everything queued behind it and no coordinated omission hides it;
// closed loop: the end of the thread's previous batch), per-kind HdrHistograms, refusals by
// code, and the harness's own accounting of every account for reconciliation.

#if canImport(Darwin)
    import Darwin
#else
    import Glibc
#endif
import CreditCore
import Histogram
import Synchronization

/// When a run stops.
public enum LoadStop: Sendable, Hashable {
    /// After this many nanoseconds of load (then open reservations are settled).
    case duration(nanoseconds: UInt64)
    /// After this many operations in all, split evenly over the threads (plus the settling).
    case operations(Int)
}

/// Everything that defines a run, the same for every target.
public struct LoadConfiguration: Sendable {
    /// The most worker threads.
    public static let threadCountMax = 256
    /// The most virtual users (sessions) per thread.
    public static let sessionsPerThreadMax = 4096
    /// The highest latency recorded, in nanoseconds; above it a value is clamped (and `max` says so).
    public static let latencyNanosecondsMax: UInt64 = 100_000_000_000

    public var profile: WorkloadProfile
    public var plan: AccountPlan
    /// Zipf exponent of account popularity (0: uniform).
    public var skew: Double
    public var seed: UInt64
    public var threadCount: Int
    /// Interleaved virtual users per thread: a reservation is held while the thread serves
    /// the others (the "service time"), and a pipelining target gets independent requests.
    public var sessionsPerThread: Int
    public var stop: LoadStop
    /// Open loop at this many operations per second in all; nil: closed loop.
    public var ratePerSecond: Int?

    public init(
        profile: WorkloadProfile, plan: AccountPlan, skew: Double = 0.99, seed: UInt64 = 1, threadCount: Int = 2,
        sessionsPerThread: Int = 64, stop: LoadStop = .duration(nanoseconds: 5_000_000_000), ratePerSecond: Int? = nil
    ) {
        precondition(threadCount >= 1)
        precondition(threadCount <= Self.threadCountMax)
        precondition(sessionsPerThread >= 1)
        precondition(sessionsPerThread <= Self.sessionsPerThreadMax)
        self.profile = profile
        self.plan = plan
        self.skew = skew
        self.seed = seed
        self.threadCount = threadCount
        self.sessionsPerThread = sessionsPerThread
        self.stop = stop
        self.ratePerSecond = ratePerSecond
    }
}

/// What one target did in one run.
public struct TargetResult: Sendable {
    public var name: String
    public var operations: Int
    public var elapsedNanoseconds: UInt64
    /// Latency over all kinds, nanoseconds.
    public var latency: Histogram<UInt64>
    /// Latency per kind (only kinds that ran).
    public var latencyByKind: [(kind: OperationKind, histogram: Histogram<UInt64>)]
    /// Refusals by code name.
    public var refusals: [(code: String, count: Int)]
    /// Successes that repeated an earlier request (retries).
    public var duplicates: Int
    /// Admissions past a bound: an admitted reserve or charge that left the account's
    /// available credits below its overdraft, plus accounts whose final figures disagree
    /// with the harness's accounting (`reconciliationMismatches`). Must be 0.
    public var overAdmissions: Int
    /// Accounts whose final available or held credits disagree with the harness's accounting.
    public var reconciliationMismatches: Int
    /// Human-readable descriptions of the first problems seen.
    public var problems: [String]

    public init(
        name: String, operations: Int, elapsedNanoseconds: UInt64, latency: Histogram<UInt64>,
        latencyByKind: [(kind: OperationKind, histogram: Histogram<UInt64>)], refusals: [(code: String, count: Int)],
        duplicates: Int, overAdmissions: Int, reconciliationMismatches: Int, problems: [String]
    ) {
        self.name = name
        self.operations = operations
        self.elapsedNanoseconds = elapsedNanoseconds
        self.latency = latency
        self.latencyByKind = latencyByKind
        self.refusals = refusals
        self.duplicates = duplicates
        self.overAdmissions = overAdmissions
        self.reconciliationMismatches = reconciliationMismatches
        self.problems = problems
    }

    public var opsPerSecond: Double {
        elapsedNanoseconds == 0 ? 0 : Double(operations) * 1e9 / Double(elapsedNanoseconds)
    }
}

/// Reads the monotonic clock in nanoseconds (about 15-30 ns a read: read once per operation).
@inline(__always)
public func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
}

/// A fresh latency histogram: 1 ns ... 100 s at 3 significant digits.
public func makeLatencyHistogram() -> Histogram<UInt64> {
    Histogram<UInt64>(highestTrackableValue: LoadConfiguration.latencyNanosecondsMax, numberOfSignificantValueDigits: .three)
}

/// Shared between the main thread and the workers; every field an atomic.
final class RunControl: Sendable {
    /// Set by the main thread when the workers may start (they spin until then).
    let started = Atomic<Bool>(false)
    /// Set when the duration is up or a worker failed.
    let stopping = Atomic<Bool>(false)
    /// Workers ready to start.
    let readyCount = Atomic<Int>(0)
    /// Operations done, updated in steps of `progressStep` (for the progress line only).
    let progressOperations = Atomic<Int>(0)
    /// Workers done.
    let finishedCount = Atomic<Int>(0)
    /// The start time, written before `started` is set (release) and read after (acquire).
    let startNanoseconds = Atomic<UInt64>(0)

    static let progressStep = 256
}

/// Runs one target with `configuration`. Throws `TargetUnavailable` when the target cannot
/// run here; other errors when it failed during the run.
///
/// - Parameter progress: called about 4 times a second on the calling thread with the
///   operations done and the nanoseconds elapsed (for a live line on a terminal).
public func runLoad(
    target: any LoadTarget, configuration: LoadConfiguration,
    progress: ((_ operations: Int, _ elapsedNanoseconds: UInt64) -> Void)? = nil
) throws -> TargetResult {
    try target.setUp(configuration.plan)
    defer { target.tearDown() }
    let control = RunControl()
    let slots = (0..<configuration.threadCount).map { _ in WorkerSlot() }
    var threads: [pthread_t] = []
    for threadIndex in 0..<configuration.threadCount {
        let slot = slots[threadIndex]
        threads.append(startThread {
            slot.run(target: target, configuration: configuration, threadIndex: threadIndex, control: control)
        })
    }
    // Wait for every worker to have made its client (connections are set up before timing).
    while control.readyCount.load(ordering: .acquiring) < configuration.threadCount {
        if control.stopping.load(ordering: .relaxed) { break }
        usleep(1000)
    }
    let start = monotonicNanoseconds()
    // Release: the workers read the start time after seeing `started`.
    control.startNanoseconds.store(start, ordering: .relaxed)
    control.started.store(true, ordering: .releasing)
    while control.finishedCount.load(ordering: .acquiring) < configuration.threadCount {
        // Wake rarely: on a 2-core machine every wake-up may preempt a worker.
        var sleepNanoseconds: UInt64 = progress == nil ? 20_000_000 : 250_000_000
        if case .duration(let nanoseconds) = configuration.stop {
            let elapsed = monotonicNanoseconds() - start
            if elapsed < nanoseconds { sleepNanoseconds = min(sleepNanoseconds, nanoseconds - elapsed + 1_000) }
        }
        usleep(UInt32(max(sleepNanoseconds / 1000, 100)))
        let now = monotonicNanoseconds()
        if case .duration(let nanoseconds) = configuration.stop, now - start >= nanoseconds {
            control.stopping.store(true, ordering: .relaxed)
        }
        progress?(control.progressOperations.load(ordering: .relaxed), now - start)
    }
    for thread in threads { pthread_join(thread, nil) }
    let elapsed = monotonicNanoseconds() - start
    let tallies = slots.compactMap(\.tally)
    if let failure = slots.compactMap(\.failure).first { throw failure }
    precondition(tallies.count == configuration.threadCount)
    return try summarize(
        target: target, tallies: tallies, elapsedNanoseconds: elapsed, plan: configuration.plan)
}

/// Merges the workers' tallies and reconciles every account.
func summarize(target: any LoadTarget, tallies: [WorkerTally], elapsedNanoseconds: UInt64, plan: AccountPlan) throws
    -> TargetResult
{
    var merged = tallies[0]
    for tally in tallies.dropFirst() { merged.add(tally, accountCount: plan.accountCount) }
    let reconciliation = try reconcile(target: target, plan: plan, deltas: merged.deltas)
    var overall = makeLatencyHistogram()
    var byKind: [(OperationKind, Histogram<UInt64>)] = []
    for kind in OperationKind.allCases where merged.histograms[Int(kind.rawValue)].totalCount > 0 {
        overall.add(merged.histograms[Int(kind.rawValue)])
        byKind.append((kind, merged.histograms[Int(kind.rawValue)]))
    }
    var refusals: [(String, Int)] = []
    for code in RefusalCode.allCases where merged.refusals[Int(code.rawValue)] > 0 {
        refusals.append((code.name, merged.refusals[Int(code.rawValue)]))
    }
    return TargetResult(
        name: target.name, operations: merged.operations, elapsedNanoseconds: elapsedNanoseconds, latency: overall,
        latencyByKind: byKind, refusals: refusals, duplicates: merged.duplicates,
        overAdmissions: merged.overAdmissions + reconciliation.mismatches,
        reconciliationMismatches: reconciliation.mismatches,
        problems: Array((merged.problems + reconciliation.problems).prefix(WorkerTally.problemsMax)))
}

/// One worker's result, handed to the main thread through `pthread_join`.
final class WorkerSlot: @unchecked Sendable {
    // Written by the worker thread only, read by the main thread only after pthread_join,
    // which orders the write before the read: no lock needed.
    var tally: WorkerTally?
    var failure: (any Error)?

    func run(target: any LoadTarget, configuration: LoadConfiguration, threadIndex: Int, control: RunControl) {
        do {
            let client = try target.makeClient(threadIndex: threadIndex)
            defer { client.close() }
            var worker = Worker(configuration: configuration, threadIndex: threadIndex, batchCountMax: target.batchCountMax)
            control.readyCount.add(1, ordering: .releasing)
            while !control.started.load(ordering: .acquiring) {
                if control.stopping.load(ordering: .relaxed) { throw LoadTargetError("another worker failed") }
                sched_yield()
            }
            try worker.run(client: client, control: control)
            tally = worker.tally
        } catch {
            failure = error
            control.stopping.store(true, ordering: .relaxed)
        }
        control.finishedCount.add(1, ordering: .releasing)
    }
}

/// Starts a joinable POSIX thread running `body`.
func startThread(_ body: @escaping @Sendable () -> Void) -> pthread_t {
    final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let argument = Unmanaged.passRetained(Box(body)).toOpaque()
    #if canImport(Darwin)
        var thread: pthread_t?
    #else
        var thread = pthread_t()
    #endif
    let result = pthread_create(
        &thread, nil,
        { argument in
            let box = Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue()
            box.body()
            return nil
        }, argument)
    precondition(result == 0, "pthread_create failed: \(result)")
    #if canImport(Darwin)
        return thread!
    #else
        return thread
    #endif
}
