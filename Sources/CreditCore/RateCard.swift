// Versioned rate cards: which version is in force at a time, and the exact price of one use
// of an item. Prices are computed in 128 bits so that `quantity * price` (up to 10^24)
// never overflows; a cost above 10^12 is reported, not rounded.

/// One meter of a compiled item.
struct MeterRate: Sendable {
    var meter: String
    var price: Int64
    var per: Int64
}

/// An item of a version, ready to price. Immutable; a class so that a look-up shares it.
final class RatedItem: Sendable {
    let base: Int64
    /// Sorted by meter name.
    let meters: [MeterRate]
    let fallback: String?

    init(_ spec: ItemSpec) {
        base = spec.base ?? 0
        meters = (spec.meters ?? [:]).map { MeterRate(meter: $0.key, price: $0.value.price, per: $0.value.per ?? 1) }
            .sorted { $0.meter.utf8.lexicographicallyPrecedes($1.meter.utf8) }
        fallback = spec.fallback
    }

    /// The cost of one use: `base + sum ceil(q * price / per)`. Meters left out of `usage`
    /// count 0. Fails with `unknownMeter` for a meter the item lacks (even at 0), and with
    /// `invalid` for a cost above 10^12.
    func cost(_ usage: Usage?) -> Result<Credits, RefusalCode> {
        var total = Int128(base)
        for entry in usage?.entries ?? [] {
            guard let rate = meters.first(where: { $0.meter == entry.meter }) else { return .failure(.unknownMeter) }
            let product = Int128(entry.quantity) * Int128(rate.price)
            let per = Int128(rate.per)
            total += (product + per - 1) / per
        }
        guard total <= Int128(SpecLimits.amountMax) else { return .failure(.invalid) }
        return .success(Credits(total))
    }

    /// Whether the item has every meter that `usage` names.
    func hasMeters(of usage: Usage?) -> Bool {
        (usage?.entries ?? []).allSatisfy { entry in meters.contains { $0.meter == entry.meter } }
    }
}

/// One rate-card version. Immutable; a class so that a look-up shares it.
final class RateVersion: Sendable {
    let request: RatesRequest
    let effectiveAt: Milliseconds
    let items: [String: RatedItem]

    init(request: RatesRequest, effectiveAt: Milliseconds) {
        self.request = request
        self.effectiveAt = effectiveAt
        items = request.items.mapValues(RatedItem.init)
    }
}

/// All rate-card versions, with the order in which they take force.
struct RateCard: Sendable {
    private(set) var versions: [RateVersion] = []
    private(set) var indexByID: [String: Int32] = [:]
    /// Version indices sorted by `effectiveAt`, then by creation (the later request wins a tie).
    private var forceOrder: [Int32] = []

    func index(of version: String) -> Int32? { indexByID[version] }

    subscript(index: Int32) -> RateVersion { versions[Int(index)] }

    mutating func add(_ request: RatesRequest, at t: Milliseconds) {
        precondition(indexByID[request.version] == nil, "a version id is used once")
        let index = Int32(versions.count)
        let effectiveAt = request.effectiveAt ?? t
        versions.append(RateVersion(request: request, effectiveAt: effectiveAt))
        indexByID[request.version] = index
        // Insert after every version effective at or before this one: a tie goes to the later request.
        let position = upperBound(effectiveAt)
        forceOrder.insert(index, at: position)
    }

    /// The version in force at `t`: the greatest `effectiveAt <= t`, the later request on a tie.
    func versionInForce(at t: Milliseconds) -> Int32? {
        let position = upperBound(t)
        return position == 0 ? nil : forceOrder[position - 1]
    }

    /// The first position in `forceOrder` whose version takes force after `t`.
    private func upperBound(_ t: Milliseconds) -> Int {
        var low = 0
        var high = forceOrder.count
        while low < high {
            let middle = (low + high) / 2
            if versions[Int(forceOrder[middle])].effectiveAt <= t { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
