// A value behind a pthread mutex, for the engine's slow path (shard state, registries).
//
// Written by hand instead of using `Synchronization.Mutex` because, on Linux, that mutex
// locks with raw futex calls that Thread Sanitizer does not intercept: every critical
// section then reads as a data race (checked: two threads appending to a `Mutex<[Int]>`
// give TSan reports; the same with a pthread mutex give none). The slow path's lock costs
// the same either way, and the sanitizer can then check everything else.

#if canImport(Darwin)
    import Darwin
#else
    import Glibc
#endif

/// A pthread mutex. Public so that layers over the engine (`CreditDurable`) lock the same way.
public final class PthreadMutex: @unchecked Sendable {
    // Safe to share: the mutex is what threads share.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    public init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        let result = pthread_mutex_init(mutex, nil)
        precondition(result == 0, "pthread_mutex_init failed: \(result)")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    /// Blocks while another thread holds the mutex.
    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }
}

/// A value that one thread at a time may use, behind a pthread mutex.
public final class Locked<State>: @unchecked Sendable {
    // Safe to share: `state` is only touched between `lock` and `unlock`.
    private let mutex = PthreadMutex()
    private var state: State

    public init(_ state: State) { self.state = state }

    /// Runs `body` with the value, holding the lock. Blocks while another thread holds it.
    public func withLock<Result>(_ body: (inout State) throws -> Result) rethrows -> Result {
        mutex.lock()
        defer { mutex.unlock() }
        return try body(&state)
    }
}
