// The seam between the load harness and what it measures: the operations a gateway sends, by
// integer account index and integer id, the outcomes it gets back, and the protocol each
// target (an engine, a mutex-guarded ledger, a table of atomics, a peer server) implements.
// Kept apart from the drivers so that a new target needs this file and one registry line.

import CreditCore

/// The kinds of operation a workload sends.
public enum OperationKind: UInt8, CaseIterable, Sendable {
    case reserve
    case commit
    case release
    case charge
    case grant
    case refund

    /// The kind as the reports spell it.
    public var name: String {
        switch self {
        case .reserve: "reserve"
        case .commit: "commit"
        case .release: "release"
        case .charge: "charge"
        case .grant: "grant"
        case .refund: "refund"
        }
    }
}

/// One operation, as a gateway would send it. Amounts are integer credits.
public struct LoadOperation: Sendable, Hashable {
    public var kind: OperationKind
    /// The account, `0 ..< accountCount`.
    public var accountIndex: Int
    /// The operation's id: the reservation's for reserve, commit and release (a commit
    /// names the reservation it settles); the charge's, grant's or refund's own otherwise.
    public var id: Int64
    /// For a refund: the id of the charge it refunds. 0 otherwise.
    public var eventID: Int64
    /// reserve: the hold; commit: the actual cost; charge, grant, refund: the amount;
    /// release: 0.
    public var credits: Int64
    /// For commit and release: the reservation's hold, which the gateway knows. 0 otherwise.
    public var heldCredits: Int64
    /// A retry of an operation that already succeeded, with the same id and fields: a
    /// target that keeps ids answers `duplicate` and changes nothing.
    public var isRetry: Bool

    public init(
        kind: OperationKind, accountIndex: Int, id: Int64, eventID: Int64 = 0, credits: Int64,
        heldCredits: Int64 = 0, isRetry: Bool = false
    ) {
        self.kind = kind
        self.accountIndex = accountIndex
        self.id = id
        self.eventID = eventID
        self.credits = credits
        self.heldCredits = heldCredits
        self.isRetry = isRetry
    }
}

/// What a target answered.
public struct LoadOutcome: Sendable, Hashable {
    /// nil when the operation succeeded.
    public var refusal: RefusalCode?
    /// The operation repeated an earlier equal one and changed nothing.
    public var duplicate: Bool
    /// The account's available credits right after the operation, as the target reports
    /// them; meaningful for a successful, non-duplicate operation. The harness checks every
    /// admission against the account's bound with it.
    public var availableCredits: Int64

    public init(refusal: RefusalCode?, duplicate: Bool, availableCredits: Int64) {
        self.refusal = refusal
        self.duplicate = duplicate
        self.availableCredits = availableCredits
    }

    /// Succeeded, leaving `available` credits.
    public static func done(available: Int64) -> LoadOutcome {
        LoadOutcome(refusal: nil, duplicate: false, availableCredits: available)
    }

    /// Repeated an earlier success and changed nothing.
    public static let duplicate = LoadOutcome(refusal: nil, duplicate: true, availableCredits: 0)

    /// Refused with `code`.
    public static func refused(_ code: RefusalCode) -> LoadOutcome {
        LoadOutcome(refusal: code, duplicate: false, availableCredits: 0)
    }

    public var succeeded: Bool { refusal == nil }
}

/// The accounts every target starts a run with.
public struct AccountPlan: Sendable, Hashable {
    /// The most accounts one run sets up.
    public static let accountCountMax = 10_000_000
    /// One account in this many has an overdraft (the others have none).
    public static let overdraftEvery = 10

    public var accountCount: Int
    /// Every account starts with one grant of this many credits.
    public var startingCredits: Int64
    /// The overdraft of the accounts that have one.
    public var overdraftCredits: Int64

    public init(accountCount: Int, startingCredits: Int64, overdraftCredits: Int64) {
        precondition(accountCount >= 1)
        precondition(accountCount <= Self.accountCountMax)
        precondition(startingCredits >= 0)
        precondition(overdraftCredits >= 0)
        self.accountCount = accountCount
        self.startingCredits = startingCredits
        self.overdraftCredits = overdraftCredits
    }

    /// The overdraft of one account: how far below 0 its available credits may go by admission.
    @inline(__always)
    public func overdraft(ofAccount accountIndex: Int) -> Int64 {
        accountIndex % Self.overdraftEvery == 0 ? overdraftCredits : 0
    }
}

/// An account's figures as a target reports them at the end of a run.
public struct AccountFigures: Sendable, Hashable {
    public var availableCredits: Int64
    public var heldCredits: Int64
    public init(availableCredits: Int64, heldCredits: Int64) {
        self.availableCredits = availableCredits
        self.heldCredits = heldCredits
    }
}

/// A target failed while running (a connection dropped, a server answered an error).
public struct LoadTargetError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A target that cannot run here (its server is not reachable): skipped, never faked.
public struct TargetUnavailable: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Something the harness can load: set up accounts, serve operations, report figures.
///
/// Concurrency: `setUp`, `readAccounts` and `tearDown` are called from one thread, before
/// and after the run; `makeClient` is called once on each worker thread, and each client
/// is then used by that thread only.
public protocol LoadTarget: AnyObject, Sendable {
    /// The name the reports use.
    var name: String { get }
    /// The most operations a client takes at once in `perform(batch:)` (1: one at a time).
    /// A target that pipelines over a network asks for more.
    var batchCountMax: Int { get }
    /// Creates the accounts of `plan`, replacing whatever an earlier run left.
    func setUp(_ plan: AccountPlan) throws
    /// A client for one worker thread.
    func makeClient(threadIndex: Int) throws -> any LoadClient
    /// Calls `body` once for every account index with its figures.
    func readAccounts(_ body: (Int, AccountFigures) -> Void) throws
    /// Frees what `setUp` made.
    func tearDown()
}

/// One worker thread's handle on a target. Not shared between threads.
public protocol LoadClient: AnyObject {
    /// Performs one operation.
    func perform(_ operation: LoadOperation) throws -> LoadOutcome
    /// Performs `operations` (independent of each other) and stores their outcomes in order.
    func perform(batch operations: ArraySlice<LoadOperation>, into outcomes: inout [LoadOutcome]) throws
    /// Closes connections.
    func close()
}

extension LoadClient {
    public func perform(batch operations: ArraySlice<LoadOperation>, into outcomes: inout [LoadOutcome]) throws {
        outcomes.removeAll(keepingCapacity: true)
        for operation in operations { outcomes.append(try perform(operation)) }
    }

    public func close() {}

    // Convenience spellings, by account index and id.
    public func reserve(account: Int, id: Int64, credits: Int64) throws -> LoadOutcome {
        try perform(LoadOperation(kind: .reserve, accountIndex: account, id: id, credits: credits))
    }
    public func commit(account: Int, id: Int64, held: Int64, credits: Int64) throws -> LoadOutcome {
        try perform(LoadOperation(kind: .commit, accountIndex: account, id: id, credits: credits, heldCredits: held))
    }
    public func release(account: Int, id: Int64, held: Int64) throws -> LoadOutcome {
        try perform(LoadOperation(kind: .release, accountIndex: account, id: id, credits: 0, heldCredits: held))
    }
    public func charge(account: Int, id: Int64, credits: Int64) throws -> LoadOutcome {
        try perform(LoadOperation(kind: .charge, accountIndex: account, id: id, credits: credits))
    }
    public func grant(account: Int, id: Int64, credits: Int64) throws -> LoadOutcome {
        try perform(LoadOperation(kind: .grant, accountIndex: account, id: id, credits: credits))
    }
    public func refund(account: Int, id: Int64, event: Int64, credits: Int64) throws -> LoadOutcome {
        try perform(LoadOperation(kind: .refund, accountIndex: account, id: id, eventID: event, credits: credits))
    }
}

/// Where the peer servers are, and how targets batch.
public struct PeerSettings: Sendable, Hashable {
    /// `HOST:PORT` of redis-server.
    public var redisAddress: String
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE`.
    public var postgresURL: String
    /// Connections per worker thread to redis-server; one batch is spread over them.
    public var redisConnectionsPerThread: Int
    /// Requests in flight on one redis connection (pipelining).
    public var redisPipelineDepth: Int
    /// Connections per worker thread to PostgreSQL, each with one transaction in flight.
    public var postgresConnectionsPerThread: Int
    /// Operations an `engine-durable` worker applies before it waits once for their records.
    public var durableBatchCount: Int
    /// `engine-durable`: journal records between automatic snapshots; 0 for none.
    public var durableSnapshotEveryRecords: Int

    public static let defaultRedisAddress = "127.0.0.1:6379"
    public static let defaultPostgresURL = "postgres://creditmeter:creditmeter@127.0.0.1:5432/creditmeter"

    public init(
        redisAddress: String = defaultRedisAddress, postgresURL: String = defaultPostgresURL,
        redisConnectionsPerThread: Int = 4, redisPipelineDepth: Int = 8, postgresConnectionsPerThread: Int = 8,
        durableBatchCount: Int = 16, durableSnapshotEveryRecords: Int = 0
    ) {
        self.redisAddress = redisAddress
        self.postgresURL = postgresURL
        self.redisConnectionsPerThread = redisConnectionsPerThread
        self.redisPipelineDepth = redisPipelineDepth
        self.postgresConnectionsPerThread = postgresConnectionsPerThread
        self.durableBatchCount = durableBatchCount
        self.durableSnapshotEveryRecords = durableSnapshotEveryRecords
    }
}

/// The targets `creditmeter load --targets` knows, by name. Adding a target is one line here.
public enum TargetRegistry {
    public typealias Factory = @Sendable (PeerSettings) throws -> any LoadTarget

    public static let factories: [(name: String, make: Factory)] = [
        ("engine", { _ in EngineTarget() }),
        ("engine-durable", {
            try DurableEngineTarget(batchCount: $0.durableBatchCount, snapshotEveryRecords: $0.durableSnapshotEveryRecords)
        }),
        ("mutex", { _ in MutexTarget() }),
        ("floor", { _ in FloorTarget() }),
        ("redis", { try RedisTarget(settings: $0) }),
        ("postgres", { try PostgresTarget(settings: $0) }),
    ]

    /// The known names, in registry order.
    public static var names: [String] { factories.map(\.name) }

    /// Makes the target `name`; throws `TargetUnavailable` when it cannot run here.
    public static func make(_ name: String, settings: PeerSettings) throws -> any LoadTarget {
        guard let entry = factories.first(where: { $0.name == name }) else {
            throw TargetUnavailable("unknown target \(name) (known: \(names.joined(separator: ", ")))")
        }
        return try entry.make(settings)
    }
}
