// The engine's configuration, its errors and its clocks.

import CreditCore
import Synchronization

#if canImport(Darwin)
    import Darwin
#else
    import Glibc
#endif

/// The engine's explicit limits. Every table is sized at start-up from these.
public struct EngineConfiguration: Sendable, Hashable {
    /// Shards: a power of two, 1 ... `shardCountMax`.
    public var shardCount = 16
    /// Accounts the engine can hold, 1 ... `accountsMaxLimit`.
    public var accountsMax = 1 << 20
    /// Events (reservations and charges) whose ids are kept for retries, 1 ... `eventsMaxLimit`.
    public var eventsMax = 1 << 22
    /// Admitted operations a shard queues before they must be settled into its ledger:
    /// a power of two, 2 ... 4096 (half the admission word's sequence range).
    public var settleQueueCapacity = 1024
    /// Reservations one account may have open at once, 1 ... `openReservationsPerAccountMaxLimit`.
    /// A reserve past it throws `openReservationsPerAccountFull` and changes nothing.
    public var openReservationsPerAccountMax = 1 << 16
    /// Reservations open at once in the whole engine, 1 ... `openReservationsMaxLimit`.
    /// A reserve past it throws `openReservationsFull` and changes nothing.
    public var openReservationsMax = 1 << 22
    /// When true, every request first runs time passing in every shard with something due,
    /// so that alerts raised by expiries carry the time of the first request at or after
    /// them, exactly as in the sequential spec (replay uses this). When false, a shard runs
    /// its time passing when a request reaches it, which keeps the hot path to its own shard.
    public var eagerTimePassing = false
    /// When true, each admitted hot-path operation is settled into the ledger before the call
    /// returns (replay uses this, to return every request's alerts with it).
    public var settleEagerly = false

    public static let shardCountMax = 1024
    public static let accountsMaxLimit = 1 << 26
    public static let eventsMaxLimit = 1 << 30
    public static let settleQueueCapacityMax = 4096
    /// Largest `openReservationsPerAccountMax`: the per-account counts are 32-bit.
    public static let openReservationsPerAccountMaxLimit = 1 << 30
    /// Largest `openReservationsMax`: the engine keeps at most `eventsMaxLimit` events.
    public static let openReservationsMaxLimit = eventsMaxLimit

    public init() {}

    /// The configuration for exact sequential replay: eager time passing and settlement.
    public static var replay: EngineConfiguration {
        var configuration = EngineConfiguration()
        configuration.shardCount = 4
        configuration.accountsMax = 1 << 16
        configuration.eventsMax = 1 << 22
        configuration.eagerTimePassing = true
        configuration.settleEagerly = true
        return configuration
    }

    func validate() throws(EngineError) {
        guard shardCount >= 1, shardCount <= Self.shardCountMax, shardCount & (shardCount - 1) == 0 else {
            throw EngineError(.configuration, "shardCount must be a power of two, 1 ... \(Self.shardCountMax)")
        }
        guard accountsMax >= 1, accountsMax <= Self.accountsMaxLimit else {
            throw EngineError(.configuration, "accountsMax must be 1 ... \(Self.accountsMaxLimit)")
        }
        guard eventsMax >= 1, eventsMax <= Self.eventsMaxLimit else {
            throw EngineError(.configuration, "eventsMax must be 1 ... \(Self.eventsMaxLimit)")
        }
        guard settleQueueCapacity >= 2, settleQueueCapacity <= Self.settleQueueCapacityMax,
            settleQueueCapacity & (settleQueueCapacity - 1) == 0
        else {
            throw EngineError(.configuration, "settleQueueCapacity must be a power of two, 2 ... \(Self.settleQueueCapacityMax)")
        }
        guard openReservationsPerAccountMax >= 1, openReservationsPerAccountMax <= Self.openReservationsPerAccountMaxLimit
        else {
            throw EngineError(
                .configuration, "openReservationsPerAccountMax must be 1 ... \(Self.openReservationsPerAccountMaxLimit)")
        }
        guard openReservationsMax >= 1, openReservationsMax <= Self.openReservationsMaxLimit else {
            throw EngineError(.configuration, "openReservationsMax must be 1 ... \(Self.openReservationsMaxLimit)")
        }
    }
}

/// An engine limit was reached or its configuration is wrong. The request changed nothing.
public struct EngineError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: Sendable, Hashable {
        case configuration
        /// `accountsMax` accounts exist.
        case accountsFull
        /// `eventsMax` event ids are kept.
        case eventsFull
        /// The account has `openReservationsPerAccountMax` open reservations.
        case openReservationsPerAccountFull
        /// The engine has `openReservationsMax` open reservations.
        case openReservationsFull
    }

    public var code: Code
    public var message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// Where the engine's time comes from, in milliseconds since the Unix epoch.
public protocol EngineClock: Sendable {
    func now() -> Milliseconds
}

/// The wall clock.
public struct SystemClock: EngineClock {
    public init() {}
    public func now() -> Milliseconds {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Milliseconds(spec.tv_sec) * 1000 + Milliseconds(spec.tv_nsec) / 1_000_000
    }
}

/// A clock that tests and replay set by hand.
public final class ManualClock: EngineClock {
    private let time: Atomic<Int64>
    public init(_ t: Milliseconds = 0) { time = Atomic(t) }
    public func now() -> Milliseconds { time.load(ordering: .relaxed) }
    public func set(_ t: Milliseconds) { time.store(t, ordering: .relaxed) }
    public func advance(by milliseconds: Milliseconds) { time.wrappingAdd(milliseconds, ordering: .relaxed) }
}
