// `creditmeter load`: runs a synthetic AI workload against each target in turn (same
// workload, same seed), then prints the summary table and writes the JSON summary, the
// `.hgrm` files and the latency spectrum plot. Exits non-zero when a target over-admitted
// or failed; a target that cannot run here (no server) is skipped and said so.

import ArgumentParser
import CreditDurable
import CreditLoad

#if canImport(Darwin)
    import Darwin
#else
    import Glibc
#endif

struct LoadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Load targets with a synthetic AI workload and compare throughput, latency and exactness.",
        discussion: """
            Targets: \(TargetRegistry.names.joined(separator: ", ")). Peers: redis at --redis \
            (default \(PeerSettings.defaultRedisAddress), or $CREDITMETER_REDIS), postgres at --postgres \
            (default \(PeerSettings.defaultPostgresURL), or $CREDITMETER_POSTGRES); scripts/peers.sh start \
            starts both on loopback.
            """
    )

    @Option(help: "Workload profile: chat, embed, agent or mixed.")
    var profile: String = "mixed"

    @Option(help: "Comma-separated targets, in report order (ratios are to the first).")
    var targets: String = "mutex,floor"

    @Option(help: "Accounts (1 ... 10,000,000).")
    var accounts: Int = 100_000

    @Option(help: "Zipf exponent of account popularity (0: uniform).")
    var skew: Double = 0.99

    @Option(help: "Starting credits of every account.")
    var credits: Int64 = 1_000_000

    @Option(help: "Overdraft of every tenth account (the others have none).")
    var overdraft: Int64 = 50_000

    @Option(help: "Worker threads.")
    var threads: Int = 2

    @Option(help: "Virtual users per thread, interleaved (a reservation is held while the others run).")
    var sessions: Int = 64

    @Option(help: "Seed: the same seed and options give the same operations.")
    var seed: UInt64 = 1

    @Option(help: "Seconds of load per target (default 5 when --operations is not given).")
    var duration: Double?

    @Option(help: "Operations per target, split over the threads.")
    var operations: Int?

    @Option(help: "Open loop at this many operations per second in all (default: closed loop, as fast as possible).")
    var rate: Int?

    @Option(help: "Write the JSON summary to this file.")
    var json: String?

    @Option(help: "Folder for the .hgrm files and the latency plot.")
    var out: String = "results"

    @Option(help: "redis-server address, HOST:PORT.")
    var redis: String?

    @Option(help: "PostgreSQL URL, postgres://USER:PASSWORD@HOST:PORT/DATABASE.")
    var postgres: String?

    @Option(help: "Connections per thread to redis-server.")
    var redisConnections: Int = 4

    @Option(help: "Requests pipelined per redis connection.")
    var redisPipeline: Int = 8

    @Option(help: "Connections per thread to PostgreSQL.")
    var postgresConnections: Int = 8

    @Option(help: "engine-durable: operations a thread applies before it waits once for their durability (group commit).")
    var durableBatch: Int = 16

    @Option(help: "engine-durable: journal records between automatic snapshots (0: none; else 100 ... 2^40).")
    var durableSnapshotEvery: Int = 0

    /// The most operations one target may be asked for.
    static let operationsMax = 1_000_000_000
    /// The longest run of one target, seconds.
    static let durationSecondsMax = 86_400.0
    /// The most connections per thread to a peer.
    static let connectionsMax = 256

    func validate() throws {
        guard WorkloadProfile(rawValue: profile) != nil else {
            throw ValidationError("--profile must be one of \(WorkloadProfile.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard (1...AccountPlan.accountCountMax).contains(accounts) else {
            throw ValidationError("--accounts must be 1 ... \(AccountPlan.accountCountMax)")
        }
        guard skew >= 0 && skew <= ZipfSampler.exponentMax else { throw ValidationError("--skew must be 0 ... 10") }
        guard credits >= 0 && credits <= 1_000_000_000_000 else { throw ValidationError("--credits must be 0 ... 10^12") }
        guard overdraft >= 0 && overdraft <= 1_000_000_000_000 else { throw ValidationError("--overdraft must be 0 ... 10^12") }
        guard (1...LoadConfiguration.threadCountMax).contains(threads) else {
            throw ValidationError("--threads must be 1 ... \(LoadConfiguration.threadCountMax)")
        }
        guard (1...LoadConfiguration.sessionsPerThreadMax).contains(sessions) else {
            throw ValidationError("--sessions must be 1 ... \(LoadConfiguration.sessionsPerThreadMax)")
        }
        guard duration == nil || operations == nil else { throw ValidationError("give --duration or --operations, not both") }
        if let duration, !(duration > 0 && duration <= Self.durationSecondsMax) {
            throw ValidationError("--duration must be above 0 and at most \(Int(Self.durationSecondsMax))")
        }
        if let operations, !(1...Self.operationsMax).contains(operations) {
            throw ValidationError("--operations must be 1 ... \(Self.operationsMax)")
        }
        if let rate, rate < 1 { throw ValidationError("--rate must be at least 1") }
        guard (1...DurableEngineTarget.batchCountLimit).contains(durableBatch) else {
            throw ValidationError("--durable-batch must be 1 ... \(DurableEngineTarget.batchCountLimit)")
        }
        let snapshotRange = SnapshotPolicy.recordsBetweenSnapshotsMin...SnapshotPolicy.recordsBetweenSnapshotsMax
        guard durableSnapshotEvery == 0 || snapshotRange.contains(durableSnapshotEvery) else {
            throw ValidationError(
                "--durable-snapshot-every must be 0 or \(snapshotRange.lowerBound) ... \(snapshotRange.upperBound)")
        }
        for count in [redisConnections, redisPipeline, postgresConnections] where !(1...Self.connectionsMax).contains(count) {
            throw ValidationError("connections and pipeline depth must be 1 ... \(Self.connectionsMax)")
        }
        let names = targetNames
        guard !names.isEmpty else { throw ValidationError("--targets names no target") }
        guard Set(names).count == names.count else { throw ValidationError("--targets names a target twice") }
        for name in names where !TargetRegistry.names.contains(name) {
            throw ValidationError("unknown target \(name); known: \(TargetRegistry.names.joined(separator: ", "))")
        }
    }

    var targetNames: [String] { targets.split(separator: ",").map { String($0).trimmingSpaces() } }

    func run() throws {
        let environment = { (name: String) in getenv(name).map { String(cString: $0) } }
        let settings = PeerSettings(
            redisAddress: redis ?? environment("CREDITMETER_REDIS") ?? PeerSettings.defaultRedisAddress,
            postgresURL: postgres ?? environment("CREDITMETER_POSTGRES") ?? PeerSettings.defaultPostgresURL,
            redisConnectionsPerThread: redisConnections, redisPipelineDepth: redisPipeline,
            postgresConnectionsPerThread: postgresConnections, durableBatchCount: durableBatch,
            durableSnapshotEveryRecords: durableSnapshotEvery)
        let stop: LoadStop =
            operations.map { .operations($0) } ?? .duration(nanoseconds: UInt64((duration ?? 5) * 1e9))
        let configuration = LoadConfiguration(
            profile: WorkloadProfile(rawValue: profile)!,
            plan: AccountPlan(accountCount: accounts, startingCredits: credits, overdraftCredits: overdraft),
            skew: skew, seed: seed, threadCount: threads, sessionsPerThread: sessions, stop: stop, ratePerSecond: rate)
        let live = isatty(1) == 1
        var results: [TargetResult] = []
        var skipped: [(name: String, reason: String)] = []
        var failures: [String] = []
        for name in targetNames {
            let target: any LoadTarget
            do {
                target = try TargetRegistry.make(name, settings: settings)
            } catch let unavailable as TargetUnavailable {
                printError("skipped \(name): \(unavailable.description)")
                skipped.append((name, unavailable.description))
                continue
            }
            do {
                let result = try runLoad(target: target, configuration: configuration, progress: live ? { operations, elapsed in
                    let seconds = Double(elapsed) / 1e9
                    let rate = seconds > 0 ? Int(Double(operations) / seconds) : 0
                    print("\r\u{1B}[K\(name): \(operations) ops, \(rate) ops/s, \(Int(seconds)) s", terminator: "")
                    fflush(nil)
                } : nil)
                if live { print("\r\u{1B}[K", terminator: "") }
                results.append(result)
                if result.overAdmissions > 0 {
                    failures.append("\(name): \(result.overAdmissions) over-admissions: " + result.problems.joined(separator: "; "))
                }
            } catch let unavailable as TargetUnavailable {
                if live { print("\r\u{1B}[K", terminator: "") }
                printError("skipped \(name): \(unavailable.description)")
                skipped.append((name, unavailable.description))
            } catch {
                if live { print("\r\u{1B}[K", terminator: "") }
                failures.append("\(name) failed: \(error)")
            }
        }
        if results.isEmpty && failures.isEmpty { failures.append("no target could run (all were skipped)") }
        if !results.isEmpty {
            print(summaryTable(results), terminator: "")
            let title = "creditmeter load --profile \(profile), \(accounts) accounts, \(threads) threads"
                + (rate.map { ", open loop at \($0) ops/s" } ?? ", closed loop")
            let svg = try writeArtifacts(results, directory: out, title: title)
            print("latency spectrum: \(svg) (.hgrm files beside it)")
        }
        if let json { try writeTextFile(json, summaryJSON(results, skipped: skipped, configuration: configuration)) }
        if !failures.isEmpty {
            for failure in failures { printError(failure) }
            throw ExitCode(1)
        }
    }
}

func printError(_ text: String) {
    let bytes = Array("creditmeter load: \(text)\n".utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

extension String {
    func trimmingSpaces() -> String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
