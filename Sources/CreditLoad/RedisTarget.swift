// The `redis` target: what a team would build on Redis. One Lua script (loaded once, run by
// EVALSHA) does the admission and the hold bookkeeping atomically; every worker thread has
// several connections and pipelines a batch of independent requests over them, as a gateway
// serving many users on a few connections could. Lua numbers are doubles: exact for
// integers up to 2^53, far above any amount a run makes (the harness's amounts stay below
// 10^13); amounts go to INCRBY/DECRBY as the decimal strings the harness sent.

import CreditCore
import Synchronization

/// Redis + Lua. Safe from any thread (each client has its own connections).
public final class RedisTarget: LoadTarget {
    public let name = "redis"
    public let batchCountMax: Int
    let host: String
    let port: UInt16
    let settings: PeerSettings
    /// The accounts of the last set-up.
    let accountCount = Atomic<Int>(0)
    /// Accounts written per EVAL at set-up (keeps each script call short).
    static let setUpChunkAccounts = 50_000
    /// Accounts read per pipelined batch at the end.
    static let readChunkAccounts = 10_000

    /// Reply codes of the script: 0 done, 1 duplicate, 2 insufficient, 3 closed, 4 unknown
    /// event, 5 exceeds refundable, 6 id conflict, 7 unknown account.
    static let script = """
        local op = ARGV[1]
        if op == 'reserve' or op == 'charge' then
          local prior = redis.call('HGET', KEYS[2], 'n')
          if prior then
            if prior == ARGV[2] and redis.call('HGET', KEYS[2], 'k') == op then return {1, 0} end
            return {6, 0}
          end
          local account = redis.call('HMGET', KEYS[1], 'av', 'od')
          if not account[1] then return {7, 0} end
          local available = tonumber(account[1])
          if available - tonumber(ARGV[2]) < -tonumber(account[2]) then return {2, available} end
          available = redis.call('HINCRBY', KEYS[1], 'av', string.format('%d', -tonumber(ARGV[2])))
          if op == 'reserve' then
            redis.call('HINCRBY', KEYS[1], 'hd', ARGV[2])
            redis.call('HSET', KEYS[2], 'k', op, 'n', ARGV[2], 's', 'open')
          else
            redis.call('HSET', KEYS[2], 'k', op, 'n', ARGV[2], 'r', ARGV[2])
          end
          return {0, available}
        elseif op == 'commit' or op == 'release' then
          local hold = redis.call('HMGET', KEYS[2], 'n', 's', 'a')
          if not hold[1] then return {4, 0} end
          if hold[2] == 'open' then
            local held = tonumber(hold[1])
            redis.call('HINCRBY', KEYS[1], 'hd', string.format('%d', -held))
            local available = redis.call('HINCRBY', KEYS[1], 'av', string.format('%d', held - tonumber(ARGV[2])))
            redis.call('HSET', KEYS[2], 's', op, 'a', ARGV[2])
            return {0, available}
          end
          if hold[2] == op and hold[3] == ARGV[2] then return {1, 0} end
          return {3, 0}
        elseif op == 'grant' then
          return {0, redis.call('HINCRBY', KEYS[1], 'av', ARGV[2])}
        elseif op == 'refund' then
          local refundable = redis.call('HGET', KEYS[2], 'r')
          if not refundable then return {4, 0} end
          if tonumber(ARGV[2]) > tonumber(refundable) then return {5, 0} end
          redis.call('HINCRBY', KEYS[2], 'r', string.format('%d', -tonumber(ARGV[2])))
          return {0, redis.call('HINCRBY', KEYS[1], 'av', ARGV[2])}
        end
        return redis.error_reply('unknown op')
        """

    static let setUpScript = """
        for i = tonumber(ARGV[1]), tonumber(ARGV[2]) do
          local od = '0'
          if i % tonumber(ARGV[5]) == 0 then od = ARGV[4] end
          redis.call('HSET', 'cm:a:' .. i, 'av', ARGV[3], 'od', od, 'hd', '0')
        end
        return 1
        """

    /// Checks that redis-server answers at the configured address; throws `TargetUnavailable` if not.
    public init(settings: PeerSettings) throws {
        let parts = settings.redisAddress.split(separator: ":")
        guard parts.count == 2, let port = UInt16(parts[1]) else {
            throw TargetUnavailable("redis: address \(settings.redisAddress) is not HOST:PORT")
        }
        host = String(parts[0])
        self.port = port
        self.settings = settings
        batchCountMax = settings.redisConnectionsPerThread * settings.redisPipelineDepth
        let probe = try RESPConnection(host: host, port: port)
        guard case .simple("PONG") = try probe.command(["PING"]) else {
            throw TargetUnavailable("redis: \(settings.redisAddress) did not answer PING")
        }
    }

    func connect() throws -> RESPConnection { try RESPConnection(host: host, port: port) }

    /// Loads the script; returns its SHA1.
    static func loadScript(_ connection: RESPConnection) throws -> String {
        let reply = try connection.command(["SCRIPT", "LOAD", script])
        guard let sha = reply.text else { throw LoadTargetError("redis: SCRIPT LOAD: \(reply)") }
        return sha
    }

    public func setUp(_ plan: AccountPlan) throws {
        let connection = try connect()
        // The database is the harness's: the peers script starts a redis-server for it alone.
        guard case .simple = try connection.command(["FLUSHDB"]) else { throw LoadTargetError("redis: FLUSHDB failed") }
        _ = try Self.loadScript(connection)
        var first = 0
        while first < plan.accountCount {
            let last = min(first + Self.setUpChunkAccounts, plan.accountCount) - 1
            let reply = try connection.command([
                "EVAL", Self.setUpScript, "0", String(first), String(last), String(plan.startingCredits),
                String(plan.overdraftCredits), String(AccountPlan.overdraftEvery),
            ])
            guard case .integer(1) = reply else { throw LoadTargetError("redis: set-up: \(reply)") }
            first = last + 1
        }
        accountCount.store(plan.accountCount, ordering: .relaxed)
    }

    public func makeClient(threadIndex: Int) throws -> any LoadClient {
        var connections: [RESPConnection] = []
        for _ in 0..<settings.redisConnectionsPerThread { connections.append(try connect()) }
        return RedisClient(connections: connections, sha: try Self.loadScript(connections[0]))
    }

    public func readAccounts(_ body: (Int, AccountFigures) -> Void) throws {
        let connection = try connect()
        let accountCount = self.accountCount.load(ordering: .relaxed)
        var first = 0
        while first < accountCount {
            let last = min(first + Self.readChunkAccounts, accountCount)
            for account in first..<last { connection.append(["HMGET", "cm:a:\(account)", "av", "hd"]) }
            try connection.flush()
            for account in first..<last {
                let reply = try connection.readReply()
                guard case .array(let fields?) = reply, fields.count == 2,
                    let available = fields[0].text.flatMap({ Int64($0) }),
                    let held = fields[1].text.flatMap({ Int64($0) })
                else { throw LoadTargetError("redis: account \(account): \(reply)") }
                body(account, AccountFigures(availableCredits: available, heldCredits: held))
            }
            first = last
        }
    }

    public func tearDown() {}
}

/// One thread's connections, pipelining.
final class RedisClient: LoadClient {
    let connections: [RESPConnection]
    let sha: String

    init(connections: [RESPConnection], sha: String) {
        self.connections = connections
        self.sha = sha
    }

    func arguments(_ operation: LoadOperation) -> [String] {
        let account = "cm:a:\(operation.accountIndex)"
        switch operation.kind {
        case .reserve, .commit, .release:
            return ["EVALSHA", sha, "2", account, "cm:e:\(operation.id)", operation.kind.name, String(operation.credits)]
        case .charge:
            return ["EVALSHA", sha, "2", account, "cm:e:\(operation.id)", "charge", String(operation.credits)]
        case .grant:
            return ["EVALSHA", sha, "2", account, "cm:g:\(operation.id)", "grant", String(operation.credits)]
        case .refund:
            return ["EVALSHA", sha, "2", account, "cm:e:\(operation.eventID)", "refund", String(operation.credits)]
        }
    }

    static func outcome(_ reply: RESPValue) throws -> LoadOutcome {
        guard case .array(let fields?) = reply, fields.count == 2, case .integer(let code) = fields[0],
            case .integer(let available) = fields[1]
        else { throw LoadTargetError("redis: unexpected reply \(reply)") }
        switch code {
        case 0: return .done(available: available)
        case 1: return .duplicate
        case 2: return .refused(.insufficientCredits)
        case 3: return .refused(.reservationClosed)
        case 4: return .refused(.unknownEvent)
        case 5: return .refused(.exceedsRefundable)
        case 6: return .refused(.idConflict)
        default: return .refused(.unknownAccount)
        }
    }

    func perform(_ operation: LoadOperation) throws -> LoadOutcome {
        try Self.outcome(try connections[0].command(arguments(operation)))
    }

    func perform(batch operations: ArraySlice<LoadOperation>, into outcomes: inout [LoadOutcome]) throws {
        // Operation i goes to connection i % count: write every connection's share, then
        // read the replies back in the same order.
        let count = connections.count
        for (offset, operation) in operations.enumerated() { connections[offset % count].append(arguments(operation)) }
        for connection in connections { try connection.flush() }
        outcomes.removeAll(keepingCapacity: true)
        for offset in 0..<operations.count { outcomes.append(try Self.outcome(try connections[offset % count].readReply())) }
    }
}
