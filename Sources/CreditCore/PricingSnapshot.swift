// An immutable view of the rate card for the concurrent engine's hot path: the version in
// force over an interval of time, priced by the ledger's own code (`RatedItem.cost`), so that
// a reserve or charge by item answered without the ledger costs exactly what the ledger
// would charge. Separate from `RateCard.swift` so that the engine's needs stay in one place.
//
// A snapshot is built from a ledger at its `lastTime` and is exact for every `t` in
// `effectiveFrom ..< effectiveUntil` as long as no version is added (`versionCount`): a
// version taking force later ends the interval, so the caller rebuilds the snapshot, or
// answers through the ledger, from then on.

/// The rate-card version in force over an interval of time, ready to price. Immutable:
/// safe from any thread.
public final class PricingSnapshot: Sendable {
    /// The version in force, or nil when none is (`no_rates` before `effectiveUntil`).
    public let version: String?
    /// The snapshot holds for every `t` with `effectiveFrom <= t < effectiveUntil`.
    public let effectiveFrom: Milliseconds
    public let effectiveUntil: Milliseconds
    /// The number of versions of the rate card it was built from: a new version makes it stale.
    public let versionCount: Int
    private let items: [String: RatedItem]

    init(version: String?, effectiveFrom: Milliseconds, effectiveUntil: Milliseconds, versionCount: Int,
         items: [String: RatedItem]) {
        precondition(effectiveFrom <= effectiveUntil, "a snapshot's interval is ordered")
        precondition(version != nil || items.isEmpty, "no items without a version")
        self.version = version
        self.effectiveFrom = effectiveFrom
        self.effectiveUntil = effectiveUntil
        self.versionCount = versionCount
        self.items = items
    }

    /// Whether the snapshot prices requests at `t` exactly as the ledger would.
    @inline(__always)
    public func holds(at t: Milliseconds) -> Bool { t >= effectiveFrom && t < effectiveUntil }

    /// The cost of one use of `item` with `usage`, exactly as the ledger prices it; nil when
    /// the ledger must answer (no version in force, unknown item or meter, a cost above
    /// 10^12). Allocates nothing. Safe from any thread.
    public func cost(of item: String, usage: Usage?) -> Credits? {
        guard version != nil, let rated = items[item] else { return nil }
        guard case .success(let credits) = rated.cost(usage) else { return nil }
        precondition(credits >= 0 && credits <= SpecLimits.amountMax, "a priced cost is in range")
        return credits
    }
}

extension Ledger {
    /// The number of rate-card versions.
    public var rateVersionCount: Int { rateCard.versions.count }

    /// A snapshot of the version in force at `lastTime`, holding until the next version
    /// takes force (or forever). O(versions): call it when the rate card or the interval
    /// changes, not per request.
    public func pricingSnapshot() -> PricingSnapshot {
        let t = lastTime
        // The earliest instant after `t` at which another version takes force.
        var until = Milliseconds.max
        for version in rateCard.versions where version.effectiveAt > t { until = min(until, version.effectiveAt) }
        guard let index = rateCard.versionInForce(at: t) else {
            return PricingSnapshot(
                version: nil, effectiveFrom: 0, effectiveUntil: until, versionCount: rateVersionCount, items: [:])
        }
        let version = rateCard[index]
        precondition(version.effectiveAt <= t, "the version in force took force at or before t")
        return PricingSnapshot(
            version: version.request.version, effectiveFrom: version.effectiveAt, effectiveUntil: until,
            versionCount: rateVersionCount, items: version.items)
    }

}
