// An immutable view of the rate card for the concurrent engine's hot path: the version in
// force over an interval of time, priced by the ledger's own code (`RatedItem.cost`), so that
// a reserve or charge by item answered without the ledger costs exactly what the ledger
// would charge. Separate from `RateCard.swift` so that the engine's needs stay in one place.
//
// A snapshot is built from a ledger at its `lastTime` and is exact for every `t` in
// `effectiveFrom ..< effectiveUntil` as long as no version is added (`versionCount`): a
// version taking force later ends the interval, so the caller rebuilds the snapshot, or
// answers through the ledger, from then on.
//
// A commit by usage is priced by the reservation's own version, whatever is in force at the
// commit: the snapshot numbers its items (by name, in byte order, so that every snapshot of a
// version numbers them alike), and `cost(ofItemAt:usage:)` prices an item by that number, for
// a reservation priced by a snapshot of the same `versionIndex`.

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
    /// The version's index in the ledger's rate card (its identity there), or -1 when none is
    /// in force. Snapshots of one version number its items alike.
    public let versionIndex: Int32
    /// Item numbers by name; the items by number, in the names' byte order.
    private let itemIndices: [String: Int32]
    private let items: [RatedItem]

    init(version: String?, versionIndex: Int32, effectiveFrom: Milliseconds, effectiveUntil: Milliseconds,
         versionCount: Int, items byName: [String: RatedItem]) {
        precondition(effectiveFrom <= effectiveUntil, "a snapshot's interval is ordered")
        precondition(version != nil || byName.isEmpty, "no items without a version")
        precondition((version == nil) == (versionIndex < 0), "a version in force has an index")
        precondition(byName.count <= Int(Int32.max), "items are numbered in 32 bits")
        self.version = version
        self.versionIndex = versionIndex
        self.effectiveFrom = effectiveFrom
        self.effectiveUntil = effectiveUntil
        self.versionCount = versionCount
        let names = byName.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        items = names.map { byName[$0]! }
        var indices: [String: Int32] = [:]
        indices.reserveCapacity(names.count)
        for (number, name) in names.enumerated() { indices[name] = Int32(number) }
        itemIndices = indices
    }

    /// Whether the snapshot prices requests at `t` exactly as the ledger would.
    @inline(__always)
    public func holds(at t: Milliseconds) -> Bool { t >= effectiveFrom && t < effectiveUntil }

    /// The cost of one use of `item` with `usage`, exactly as the ledger prices it; nil when
    /// the ledger must answer (no version in force, unknown item or meter, a cost above
    /// 10^12). Allocates nothing. Safe from any thread.
    public func cost(of item: String, usage: Usage?) -> Credits? {
        price(item, usage: usage)?.credits
    }

    /// The cost of one use of `item` with `usage` and the item's number in this version (for
    /// `cost(ofItemAt:usage:)`), or nil as `cost(of:usage:)`. Allocates nothing.
    public func price(_ item: String, usage: Usage?) -> (credits: Credits, itemIndex: Int32)? {
        guard version != nil, let index = itemIndices[item] else { return nil }
        guard let credits = cost(ofItemAt: index, usage: usage) else { return nil }
        return (credits, index)
    }

    /// The cost of one use, with `usage`, of the item numbered `index` in this snapshot's
    /// version, exactly as the ledger prices a commit by usage of a reservation priced with
    /// that version; nil when the ledger must answer (a meter the item lacks, a cost above
    /// 10^12). `index` comes from `price(_:usage:)` on a snapshot of the same `versionIndex`.
    /// Allocates nothing. Safe from any thread.
    public func cost(ofItemAt index: Int32, usage: Usage?) -> Credits? {
        precondition(index >= 0 && Int(index) < items.count, "an item number of this version")
        guard case .success(let credits) = items[Int(index)].cost(usage) else { return nil }
        precondition(credits >= 0 && credits <= SpecLimits.amountMax, "a priced cost is in range")
        return credits
    }

    /// The number of `item` in this version, or nil when the version lacks it (or none is in
    /// force). For reservations the ledger priced: their commit by usage may then be priced here.
    public func itemIndex(of item: String) -> Int32? { itemIndices[item] }
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
                version: nil, versionIndex: -1, effectiveFrom: 0, effectiveUntil: until, versionCount: rateVersionCount,
                items: [:])
        }
        let version = rateCard[index]
        precondition(version.effectiveAt <= t, "the version in force took force at or before t")
        return PricingSnapshot(
            version: version.request.version, versionIndex: index, effectiveFrom: version.effectiveAt,
            effectiveUntil: until, versionCount: rateVersionCount, items: version.items)
    }

}
