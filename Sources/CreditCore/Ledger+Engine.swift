// Read-only accessors for the concurrent engine, which keeps each shard's accounts in a
// `Ledger` and mirrors their admission figures in atomic words: what admission reads, when
// the next time-passing step is due, and which accounts the last request touched.

/// The figures of one account that admission depends on.
public struct AdmissionFigures: Sendable, Hashable {
    public var available: Credits
    public var held: Credits
    public var periodSpent: Credits
    public var paused: Bool
    public var overdraft: Credits
    /// The period cap, if any, and whether it refuses (`hard`) or only says `over_cap`.
    public var periodCap: Credits?
    public var capIsHard: Bool
    /// Whether a request by item refused for credits or the cap tries the fallback chain.
    public var downgrade: Bool
    /// Whether an open reservation is backed by a grant that has expired: giving its
    /// credits back sends them to `expired`, not to `free`.
    public var hasExpiredBacking: Bool
}

extension Ledger {
    /// The admission figures of an account at time `t` (for `period_spent`), or nil.
    public func admissionFigures(of id: String, at t: Milliseconds) -> AdmissionFigures? {
        guard let index = accountIDs[id] else { return nil }
        let account = Int(index)
        var expiredBacking = false
        for grant in accounts[account].grantsInBurnOrder
        where grants[Int(grant)].isExpired && grants[Int(grant)].allocated > 0 {
            expiredBacking = true
            break
        }
        let limits = accounts[account].limits
        return AdmissionFigures(
            available: accounts[account].available, held: accounts[account].held,
            periodSpent: accounts[account].periodSpent(at: t), paused: accounts[account].paused,
            overdraft: limits.overdraft, periodCap: limits.periodCap, capIsHard: limits.capMode == .hard,
            downgrade: limits.downgrade, hasExpiredBacking: expiredBacking)
    }

    /// The earliest scheduled reservation or grant expiry (some may be of reservations
    /// already closed), or nil.
    public var nextExpiry: Milliseconds? { deadlines.min?.time }

    /// The ids of the accounts the last accepted request touched (time passing included).
    public var lastTouchedAccountIDs: [String] { touchedAccounts.map { accounts[Int($0)].id } }

    /// What an engine snapshot keeps of event `id`: its account's id, and its hold if it is a
    /// reservation still open (nil otherwise). Nil for an unknown event. A plain read: an
    /// engine snapshot asks this of every event (millions), where `apply(.event(id:))` would
    /// build the whole view (its burns, a reply) each time.
    public func openHold(ofEvent id: String) -> (account: String, openHold: Credits?)? {
        guard let index = eventIDs[id] else { return nil }
        let event = events[Int(index)]
        let isOpen = event.kind == .reservation && event.status == .open
        return (accounts[Int(event.account)].id, isOpen ? event.hold : nil)
    }
}
