// The `postgres` target: what a team would build on PostgreSQL. Each operation is one
// statement of conditional UPDATEs chained by data-modifying CTEs, which PostgreSQL runs as
// one transaction: the admission (`available - n >= -overdraft` in the UPDATE's WHERE,
// re-checked on the newest row version under concurrency) and the hold bookkeeping commit
// together or not at all, in one round trip (the fastest form a careful team would write;
// BEGIN ... COMMIT around separate statements would cost three more round trips). Tables are
// ordinary (logged) tables with the server's default durability. Every worker thread has
// several connections, each with one transaction in flight.

import CreditCore
import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization

/// PostgreSQL over postgres-nio. Safe from any thread.
public final class PostgresTarget: LoadTarget {
    public let name = "postgres"
    public let batchCountMax: Int
    let configuration: PostgresConnection.Configuration
    let settings: PeerSettings
    let group: MultiThreadedEventLoopGroup
    let accountCount = Atomic<Int>(0)
    let logger: Logger

    /// Parses `postgres://USER:PASSWORD@HOST:PORT/DATABASE` and checks that the server
    /// answers; throws `TargetUnavailable` if not.
    public init(settings: PeerSettings) throws {
        guard let parsed = Self.parse(settings.postgresURL) else {
            throw TargetUnavailable("postgres: cannot read \(settings.postgresURL) as postgres://USER:PASSWORD@HOST:PORT/DATABASE")
        }
        configuration = PostgresConnection.Configuration(
            host: parsed.host, port: parsed.port, username: parsed.user, password: parsed.password,
            database: parsed.database, tls: .disable)
        self.settings = settings
        batchCountMax = settings.postgresConnectionsPerThread
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var logger = Logger(label: "creditmeter.load.postgres")
        logger.logLevel = .critical
        self.logger = logger
        do {
            let probe = try connect()
            _ = try probe.query("SELECT 1", logger: logger).wait()
            try probe.close().wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw TargetUnavailable("postgres: cannot reach \(parsed.host):\(parsed.port) as \(parsed.user): \(String(reflecting: error))")
        }
    }

    deinit { try? group.syncShutdownGracefully() }

    static func parse(_ url: String) -> (user: String, password: String, host: String, port: Int, database: String)? {
        guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") else { return nil }
        let rest = url.split(separator: "://", maxSplits: 1)[1]
        let atSplit = rest.split(separator: "@", maxSplits: 1)
        guard atSplit.count == 2 else { return nil }
        let credentials = atSplit[0].split(separator: ":", maxSplits: 1)
        let location = atSplit[1].split(separator: "/", maxSplits: 1)
        guard location.count == 2 else { return nil }
        let hostPort = location[0].split(separator: ":")
        let port = hostPort.count == 2 ? Int(hostPort[1]) : 5432
        guard let port, !hostPort.isEmpty else { return nil }
        return (
            String(credentials[0]), credentials.count == 2 ? String(credentials[1]) : "", String(hostPort[0]), port,
            String(location[1])
        )
    }

    func connect() throws -> PostgresConnection {
        try PostgresConnection.connect(on: group.next(), configuration: configuration, id: 1, logger: logger).wait()
    }

    func execute(_ connection: PostgresConnection, _ sql: String) throws {
        _ = try connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).wait()
    }

    public func setUp(_ plan: AccountPlan) throws {
        let connection = try connect()
        defer { try? connection.close().wait() }
        for statement in [
            "DROP TABLE IF EXISTS cm_accounts, cm_holds, cm_charges",
            "CREATE TABLE cm_accounts (id bigint PRIMARY KEY, available bigint NOT NULL, held bigint NOT NULL, overdraft bigint NOT NULL)",
            "CREATE TABLE cm_holds (id bigint PRIMARY KEY, account bigint NOT NULL, held bigint NOT NULL, state bigint NOT NULL, actual bigint NOT NULL)",
            "CREATE TABLE cm_charges (id bigint PRIMARY KEY, account bigint NOT NULL, amount bigint NOT NULL, refundable bigint NOT NULL)",
            """
            INSERT INTO cm_accounts SELECT g, \(plan.startingCredits), 0,
              CASE WHEN g % \(AccountPlan.overdraftEvery) = 0 THEN \(plan.overdraftCredits) ELSE 0 END
            FROM generate_series(0, \(plan.accountCount - 1)) AS g
            """,
            "ANALYZE cm_accounts",
        ] {
            try execute(connection, statement)
        }
        accountCount.store(plan.accountCount, ordering: .relaxed)
    }

    public func makeClient(threadIndex: Int) throws -> any LoadClient {
        var connections: [PostgresConnection] = []
        for _ in 0..<settings.postgresConnectionsPerThread { connections.append(try connect()) }
        return PostgresClient(connections: connections, logger: logger)
    }

    public func readAccounts(_ body: (Int, AccountFigures) -> Void) throws {
        let connection = try connect()
        defer { try? connection.close().wait() }
        let result = try connection.query(
            PostgresQuery(unsafeSQL: "SELECT id, available, held FROM cm_accounts ORDER BY id"), logger: logger
        ).wait()
        for row in result.rows {
            let (id, available, held) = try row.decode((Int64, Int64, Int64).self)
            body(Int(id), AccountFigures(availableCredits: available, heldCredits: held))
        }
    }

    public func tearDown() {}

    // State of a hold: 0 open, 1 committed, 2 released.
    static let reserveSQL = """
        WITH prior AS (SELECT held FROM cm_holds WHERE id = $1),
        upd AS (UPDATE cm_accounts SET available = available - $3, held = held + $3
                WHERE id = $2 AND available - $3 >= -overdraft AND NOT EXISTS (SELECT 1 FROM prior)
                RETURNING available),
        ins AS (INSERT INTO cm_holds (id, account, held, state, actual) SELECT $1, $2, $3, 0, 0 FROM upd)
        SELECT (SELECT available FROM upd), (SELECT held FROM prior)
        """
    static let settleSQL = """
        WITH h AS (UPDATE cm_holds SET state = $3, actual = $2 WHERE id = $1 AND state = 0 RETURNING account, held AS hheld),
        a AS (UPDATE cm_accounts SET available = cm_accounts.available + h.hheld - $2, held = cm_accounts.held - h.hheld
              FROM h WHERE cm_accounts.id = h.account RETURNING cm_accounts.available)
        SELECT (SELECT available FROM a), (SELECT state FROM cm_holds WHERE id = $1),
               (SELECT actual FROM cm_holds WHERE id = $1)
        """
    static let chargeSQL = """
        WITH prior AS (SELECT amount FROM cm_charges WHERE id = $1),
        upd AS (UPDATE cm_accounts SET available = available - $3
                WHERE id = $2 AND available - $3 >= -overdraft AND NOT EXISTS (SELECT 1 FROM prior)
                RETURNING available),
        ins AS (INSERT INTO cm_charges (id, account, amount, refundable) SELECT $1, $2, $3, $3 FROM upd)
        SELECT (SELECT available FROM upd), (SELECT amount FROM prior)
        """
    static let refundSQL = """
        WITH c AS (UPDATE cm_charges SET refundable = refundable - $3 WHERE id = $1 AND refundable >= $3 RETURNING account),
        a AS (UPDATE cm_accounts SET available = cm_accounts.available + $3 FROM c
              WHERE cm_accounts.id = c.account AND cm_accounts.id = $2 RETURNING cm_accounts.available)
        SELECT (SELECT available FROM a), (SELECT refundable FROM cm_charges WHERE id = $1)
        """
}

/// One thread's connections, one transaction in flight on each.
final class PostgresClient: LoadClient {
    let connections: [PostgresConnection]
    let logger: Logger
    var futures: [EventLoopFuture<PostgresQueryResult>] = []

    init(connections: [PostgresConnection], logger: Logger) {
        self.connections = connections
        self.logger = logger
    }

    func close() {
        for connection in connections { try? connection.close().wait() }
    }

    static func query(_ operation: LoadOperation) throws -> PostgresQuery {
        var binds = PostgresBindings(capacity: 3)
        let sql: String
        switch operation.kind {
        case .reserve:
            sql = PostgresTarget.reserveSQL
            try binds.append(operation.id)
            try binds.append(Int64(operation.accountIndex))
            try binds.append(operation.credits)
        case .commit, .release:
            sql = PostgresTarget.settleSQL
            try binds.append(operation.id)
            try binds.append(operation.credits)
            try binds.append(Int64(operation.kind == .commit ? 1 : 2))
        case .charge:
            sql = PostgresTarget.chargeSQL
            try binds.append(operation.id)
            try binds.append(Int64(operation.accountIndex))
            try binds.append(operation.credits)
        case .grant:
            sql = "UPDATE cm_accounts SET available = available + $2 WHERE id = $1 RETURNING available"
            try binds.append(Int64(operation.accountIndex))
            try binds.append(operation.credits)
        case .refund:
            sql = PostgresTarget.refundSQL
            try binds.append(operation.eventID)
            try binds.append(Int64(operation.accountIndex))
            try binds.append(operation.credits)
        }
        return PostgresQuery(unsafeSQL: sql, binds: binds)
    }

    static func outcome(_ operation: LoadOperation, _ result: PostgresQueryResult) throws -> LoadOutcome {
        guard let row = result.rows.first else { throw LoadTargetError("postgres: no row for \(operation.kind.name)") }
        switch operation.kind {
        case .reserve, .charge:
            let (available, prior) = try row.decode((Int64?, Int64?).self)
            if let available { return .done(available: available) }
            if let prior { return prior == operation.credits ? .duplicate : .refused(.idConflict) }
            return .refused(.insufficientCredits)
        case .commit, .release:
            let (available, state, actual) = try row.decode((Int64?, Int64?, Int64?).self)
            if let available { return .done(available: available) }
            guard let state else { return .refused(.unknownEvent) }
            let wanted: Int64 = operation.kind == .commit ? 1 : 2
            return state == wanted && actual == operation.credits ? .duplicate : .refused(.reservationClosed)
        case .grant:
            let available = try row.decode(Int64.self)
            return .done(available: available)
        case .refund:
            let (available, refundable) = try row.decode((Int64?, Int64?).self)
            if let available { return .done(available: available) }
            return refundable == nil ? .refused(.unknownEvent) : .refused(.exceedsRefundable)
        }
    }

    func perform(_ operation: LoadOperation) throws -> LoadOutcome {
        try Self.outcome(operation, try connections[0].query(Self.query(operation), logger: logger).wait())
    }

    func perform(batch operations: ArraySlice<LoadOperation>, into outcomes: inout [LoadOutcome]) throws {
        precondition(operations.count <= connections.count)
        futures.removeAll(keepingCapacity: true)
        for (offset, operation) in operations.enumerated() {
            futures.append(connections[offset].query(try Self.query(operation), logger: logger))
        }
        outcomes.removeAll(keepingCapacity: true)
        for (offset, operation) in operations.enumerated() {
            outcomes.append(try Self.outcome(operation, try futures[offset].wait()))
        }
    }
}
