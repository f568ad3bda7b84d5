// The strict trace line parser (trace.md, "Lines"): one line's bytes in, a `Request` and
// its time out, or `.blank`, or `.malformed`. It reads the bytes once, matching keys by
// bytes and making Strings only for the names it keeps. The checks of types and shapes are
// here; ranges and naming rules are `Request.isWellFormed(at:)`'s, in CreditCore, which
// the parser applies last.
//
// Nesting needs no depth counter: the parser reads only the shapes the format has (at most
// five objects deep: line, `items`, item, `meters`, meter) and any other value is
// malformed at its first byte, so no input makes it recurse further.

import CreditCore

/// What one trace line holds.
public enum TraceLine: Sendable, Hashable {
    /// Only spaces, tabs and CRs (or nothing): skipped, prints nothing.
    case blank
    /// Not a request of the format: answered `{"ok":false,"error":"invalid"}`.
    case malformed
    /// A well-formed request and its time `t`.
    case request(Request, t: Milliseconds)
}

/// Parses trace lines. Keep one per thread and reuse it: it keeps a scratch buffer for
/// strings with escapes.
public struct TraceParser: Sendable {
    private var scratch: [UInt8] = []

    /// A parser with an empty scratch buffer.
    public init() {}

    /// Parses one line, given without its LF. Any bytes whatsoever give a result.
    public mutating func parse(_ line: UnsafeRawBufferPointer) -> TraceLine {
        let bytes = line.bindMemory(to: UInt8.self)
        if Self.isBlank(bytes) { return .blank }
        var cursor = JSONCursor(bytes, scratch: [])
        swap(&scratch, &cursor.scratch)
        defer { swap(&scratch, &cursor.scratch) }
        guard let (request, t) = Self.readRequest(&cursor) else { return .malformed }
        return .request(request, t: t)
    }

    /// Parses a line as a `LineReader` hands it over: an overlong line is malformed.
    public mutating func parse(_ line: LineReader.Line) -> TraceLine {
        switch line {
        case .bytes(let bytes): parse(bytes)
        case .overlong: .malformed
        }
    }

    /// Parses one line given as bytes, without its LF.
    public mutating func parse(_ line: [UInt8]) -> TraceLine {
        line.withUnsafeBytes { parse($0) }
    }

    /// Parses one line given as text, without its LF.
    public mutating func parse(_ line: String) -> TraceLine {
        var line = line
        return line.withUTF8 { parse(UnsafeRawBufferPointer($0)) }
    }

    /// Whether the line holds only spaces, tabs and CRs.
    private static func isBlank(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        bytes.allSatisfy { $0 == ASCII.space || $0 == ASCII.tab || $0 == ASCII.carriageReturn }
    }

    /// Reads one object and nothing else around it but whitespace, checks its fields
    /// against its operation, builds the request and checks its values.
    private static func readRequest(_ cursor: inout JSONCursor) -> (Request, Milliseconds)? {
        var fields = RequestFields()
        cursor.skipWhitespace()
        guard cursor.readObject(key: TraceField.init(key:), value: { fields.read($1, from: &$0) }) else { return nil }
        cursor.skipWhitespace()
        guard cursor.isAtEnd, let request = fields.request(), request.isWellFormed(at: fields.t) else { return nil }
        return (request, fields.t)
    }
}

// MARK: - The fields of one line

/// The fields of one line as read, before they are checked against its operation.
/// A field's value is meaningful only when `present` has it.
private struct RequestFields {
    var present = TraceFieldSet()
    var op = TraceOp.tick
    var t: Milliseconds = 0
    var id = ""
    var account = ""
    var item = ""
    var event = ""
    var version = ""
    var amount: Int64 = 0
    var expiresAt: Milliseconds = 0
    var priority: Int64 = 0
    var paid: Int64 = 0
    var ttlMs: Milliseconds = 0
    var effectiveAt: Milliseconds = 0
    var force = false
    var usage: Usage?
    var items: [String: ItemSpec] = [:]
    /// `account.limits`.
    var nestedLimits: LimitsSpec?
    /// The fields of a `limits` request, made at the first of them.
    var inlineLimits: LimitsSpec?

    /// Reads the value of `field`, whose key the cursor has just passed. False when the
    /// key is repeated or the value is not of the field's type. The optional members are
    /// set exactly when their field is read.
    mutating func read(_ field: TraceField, from cursor: inout JSONCursor) -> Bool {
        guard !present.has(field) else { return false }
        present.insert(TraceFieldSet(field))
        switch field {
        case .op: return cursor.readString(TraceOp.init(name:)).map { op = $0 } != nil
        case .t: return cursor.readInteger().map { t = $0 } != nil
        case .id: return cursor.readName().map { id = $0 } != nil
        case .account: return cursor.readName().map { account = $0 } != nil
        case .item: return cursor.readName().map { item = $0 } != nil
        case .event: return cursor.readName().map { event = $0 } != nil
        case .version: return cursor.readName().map { version = $0 } != nil
        case .amount: return cursor.readInteger().map { amount = $0 } != nil
        case .expiresAt: return cursor.readInteger().map { expiresAt = $0 } != nil
        case .priority: return cursor.readInteger().map { priority = $0 } != nil
        case .paid: return cursor.readInteger().map { paid = $0 } != nil
        case .ttlMs: return cursor.readInteger().map { ttlMs = $0 } != nil
        case .effectiveAt: return cursor.readInteger().map { effectiveAt = $0 } != nil
        case .force: return cursor.readBool().map { force = $0 } != nil
        case .usage: return cursor.readUsage().map { usage = $0 } != nil
        case .items: return cursor.readItems().map { items = $0 } != nil
        case .limits: return cursor.readLimits().map { nestedLimits = $0 } != nil
        case .overdraft, .period, .periodCap, .capMode, .alerts, .periodAlerts, .downgrade:
            var limits = inlineLimits.take() ?? LimitsSpec()
            defer { inlineLimits = limits }
            return cursor.readLimitField(field, into: &limits)
        }
    }

    /// The request these fields make, or nil when they are not those of their operation.
    func request() -> Request? {
        guard present.has(.op) else { return nil }
        let required = op.required
        guard present.isSuperset(of: required), present.isSubset(of: required.union(op.optional)) else { return nil }
        switch op {
        case .account: return .account(id: id, limits: nestedLimits)
        case .limits: return .limits(account: account, inlineLimits ?? LimitsSpec())
        case .pause: return .pause(account: account)
        case .resume: return .resume(account: account)
        case .grant:
            return .grant(
                GrantRequest(
                    account: account, id: id, amount: amount, expiresAt: given(.expiresAt, expiresAt),
                    priority: given(.priority, priority), paid: given(.paid, paid)))
        case .rates:
            return .rates(RatesRequest(version: version, effectiveAt: given(.effectiveAt, effectiveAt), items: items))
        case .quote: return .quote(account: account, item: item, usage: usage)
        case .reserve:
            guard let cost = costSpec() else { return nil }
            return .reserve(
                ReserveRequest(account: account, id: id, cost: cost, ttlMilliseconds: given(.ttlMs, ttlMs)))
        case .commit:
            switch (present.has(.amount), usage) {
            case (true, nil): return .commit(id: id, .amount(amount))
            case (false, let usage?): return .commit(id: id, .usage(usage))
            default: return nil
            }
        case .release: return .release(id: id)
        case .charge:
            guard let cost = costSpec() else { return nil }
            return .charge(ChargeRequest(account: account, id: id, cost: cost, force: given(.force, force)))
        case .refund: return .refund(RefundRequest(id: id, event: event, amount: given(.amount, amount)))
        case .event: return .event(id: id)
        case .balance: return .balance(account: account)
        case .report: return .report(account: given(.account, account))
        case .tick: return .tick
        }
    }

    /// A reserve's or charge's cost: exactly one of `amount` or `item`, `usage` only with `item`.
    private func costSpec() -> CostSpec? {
        switch (present.has(.amount), present.has(.item)) {
        case (true, false): present.has(.usage) ? nil : .amount(amount)
        case (false, true): .item(item, usage: usage)
        default: nil
        }
    }

    /// `value` when the line has `field`, else nil (a field left out stays left out).
    @inline(__always)
    private func given<Value>(_ field: TraceField, _ value: Value) -> Value? {
        present.has(field) ? value : nil
    }
}

// MARK: - Values

extension JSONCursor {
    /// Reads a string as a Swift String (its naming rules are checked later, on the request).
    mutating func readName() -> String? {
        readString { String(decoding: $0, as: UTF8.self) }
    }

    /// Reads one field of a `limits` request or of `account.limits` into `limits`.
    mutating func readLimitField(_ field: TraceField, into limits: inout LimitsSpec) -> Bool {
        switch field {
        case .overdraft: return readInteger().map { limits.overdraft = $0 } != nil
        case .periodCap: return readInteger().map { limits.periodCap = $0 } != nil
        case .alerts: return readIntegerArray().map { limits.alerts = $0 } != nil
        case .periodAlerts: return readIntegerArray().map { limits.periodAlerts = $0 } != nil
        case .downgrade: return readBool().map { limits.downgrade = $0 } != nil
        case .period:
            let period = readString { $0.equals("day") ? Period.day : $0.equals("month") ? Period.month : nil }
            return period.map { limits.period = $0 } != nil
        case .capMode:
            let mode = readString { $0.equals("hard") ? CapMode.hard : $0.equals("soft") ? CapMode.soft : nil }
            return mode.map { limits.capMode = $0 } != nil
        default: return false
        }
    }

    /// Reads `account.limits`: an object of the fields of a `limits` request but `account`.
    mutating func readLimits() -> LimitsSpec? {
        var limits = LimitsSpec()
        var present = TraceFieldSet()
        let read = readObject(key: TraceField.init(key:)) { cursor, field in
            guard TraceFieldSet.limitFields.has(field), !present.has(field) else { return false }
            present.insert(TraceFieldSet(field))
            return cursor.readLimitField(field, into: &limits)
        }
        return read ? limits : nil
    }

    /// Reads a usage, `{METER: QUANTITY}`, no meter twice.
    mutating func readUsage() -> Usage? {
        var entries: [Usage.Entry] = []
        let read = readObject(key: { String(decoding: $0, as: UTF8.self) }) { cursor, meter in
            guard let quantity = cursor.readInteger() else { return false }
            entries.append(Usage.Entry(meter: meter, quantity: quantity))
            return true
        }
        return read ? Usage(entries) : nil
    }

    /// Reads a rate card's `items`: `{ITEM: {"base"?, "meters"?, "fallback"?}}`.
    mutating func readItems() -> [String: ItemSpec]? {
        var items: [String: ItemSpec] = [:]
        let read = readObject(key: { String(decoding: $0, as: UTF8.self) }) { cursor, name in
            guard items[name] == nil, let item = cursor.readItem() else { return false }
            items[name] = item
            return true
        }
        return read ? items : nil
    }

    private enum ItemKey { case base, meters, fallback }

    /// Reads one item of a rate card.
    private mutating func readItem() -> ItemSpec? {
        var item = ItemSpec()
        let key = { (key: UnsafeBufferPointer<UInt8>) -> ItemKey? in
            key.equals("base") ? .base : key.equals("meters") ? .meters : key.equals("fallback") ? .fallback : nil
        }
        let read = readObject(key: key) { cursor, key in
            switch key {
            case .base:
                guard item.base == nil, let base = cursor.readInteger() else { return false }
                item.base = base
            case .meters:
                guard item.meters == nil, let meters = cursor.readMeters() else { return false }
                item.meters = meters
            case .fallback:
                guard item.fallback == nil, let fallback = cursor.readName() else { return false }
                item.fallback = fallback
            }
            return true
        }
        return read ? item : nil
    }

    /// Reads an item's `meters`: `{METER: {"price": P, "per"?: N}}`, no meter twice.
    private mutating func readMeters() -> [String: MeterPriceSpec]? {
        var meters: [String: MeterPriceSpec] = [:]
        let read = readObject(key: { String(decoding: $0, as: UTF8.self) }) { cursor, name in
            guard meters[name] == nil, let meter = cursor.readMeterPrice() else { return false }
            meters[name] = meter
            return true
        }
        return read ? meters : nil
    }

    private enum MeterKey { case price, per }

    /// Reads one meter's price: `price` required, `per` optional.
    private mutating func readMeterPrice() -> MeterPriceSpec? {
        var price: Int64?
        var per: Int64?
        let key = { (key: UnsafeBufferPointer<UInt8>) -> MeterKey? in
            key.equals("price") ? .price : key.equals("per") ? .per : nil
        }
        let read = readObject(key: key) { cursor, key in
            switch key {
            case .price:
                guard price == nil, let value = cursor.readInteger() else { return false }
                price = value
            case .per:
                guard per == nil, let value = cursor.readInteger() else { return false }
                per = value
            }
            return true
        }
        guard read, let price else { return nil }
        return MeterPriceSpec(price: price, per: per)
    }
}
