// The compact binary form of a `CreditCore.Request` and its time `t`: what a journal record
// holds since format 2. Recovery decodes it and applies it without parsing JSON again.
// Kept apart from the segment format because it is the one place that knows every field
// of every request; the segment format only carries its bytes.
//
// Encoding (no padding, no alignment):
//   varint(zigzag(t)), u8 kind, then the kind's fields in declaration order.
//   Int64: zigzag LEB128 varint (1 byte for 0...63, at most 10 bytes).
//   count and string length: unsigned LEB128 varint.
//   String: length, then its UTF-8 bytes.  Bool: u8 0 or 1.  Optional: u8 0 (absent) or
//   1 then the value.  Array: count, then the elements.  Dictionary: count, then
//   (key, value) pairs in ascending UTF-8 order of the keys, so that equal requests encode
//   to equal bytes.  Enums (Period, CapMode): their raw u8.
// The decoder refuses anything the encoder cannot produce: an unknown kind or tag, a
// varint longer than 10 bytes or beyond 64 bits, a length past the end, invalid UTF-8, a
// usage naming a meter twice, a key repeated or out of order, bytes left over.

import CreditCore

/// A request record that does not decode: what was wrong and where.
public struct RequestDecodingError: Error, Hashable, CustomStringConvertible {
    /// What was wrong.
    public var message: String
    /// The byte offset in the record where decoding stopped.
    public var offset: Int
    public var description: String { "bad request record at byte \(offset): \(message)" }
}

/// Encoding and decoding of requests for journal records. Pure; safe from any thread.
public enum RequestCodec {
    /// The most elements of any array or dictionary in a record: a request line of at most
    /// 1 MiB cannot hold more, so a larger count is damage, refused before allocating.
    public static let elementCountMax = 1 << 20
    /// The longest encoded varint.
    static let varintBytesMax = 10

    /// The request kinds' tags, stable on disk.
    enum Kind: UInt8 {
        case account = 0, limits, pause, resume, grant, rates, quote, reserve, commit, release, charge, refund,
            event, balance, report, tick
    }

    /// Appends the encoding of `request` at time `t` to `bytes`.
    public static func encode(_ request: Request, at t: Milliseconds, to bytes: inout [UInt8]) {
        // Move the array into the writer (and back) so that it stays uniquely referenced:
        // appending then never copies it.
        var writer = Writer(bytes: bytes)
        bytes = []
        writer.int(t)
        writer.request(request)
        bytes = writer.bytes
    }

    /// The encoding of `request` at time `t`.
    public static func encoded(_ request: Request, at t: Milliseconds) -> [UInt8] {
        var bytes: [UInt8] = []
        encode(request, at: t, to: &bytes)
        return bytes
    }

    /// Decodes a record made by `encode`. Throws `RequestDecodingError` for anything else.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(RequestDecodingError) -> (Request, t: Milliseconds) {
        var reader = Reader(bytes: bytes)
        let t = try reader.int()
        let request = try reader.request()
        guard reader.offset == bytes.count else { throw reader.error("\(bytes.count - reader.offset) bytes left over") }
        return (request, t)
    }

    /// Decodes a record held in an array (see `decode(_:)`).
    public static func decode(_ bytes: [UInt8]) throws(RequestDecodingError) -> (Request, t: Milliseconds) {
        let result = bytes.withUnsafeBytes { raw in Result { () throws(RequestDecodingError) in try decode(raw) } }
        return try result.get()
    }
}

// MARK: Writing

extension RequestCodec {
    struct Writer {
        var bytes: [UInt8]

        mutating func u8(_ value: UInt8) { bytes.append(value) }
        mutating func bool(_ value: Bool) { bytes.append(value ? 1 : 0) }
        mutating func varint(_ value: UInt64) {
            var value = value
            while value >= 0x80 {
                bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
                value >>= 7
            }
            bytes.append(UInt8(value))
        }
        mutating func int(_ value: Int64) { varint(UInt64(bitPattern: (value << 1) ^ (value >> 63))) }
        mutating func count(_ value: Int) {
            precondition(value >= 0, "a count is not negative")
            varint(UInt64(value))
        }
        mutating func string(_ value: String) {
            var value = value
            value.withUTF8 { utf8 in
                count(utf8.count)
                bytes.append(contentsOf: utf8)
            }
        }
        mutating func optional<T>(_ value: T?, _ body: (inout Writer, T) -> Void) {
            guard let value else { return u8(0) }
            u8(1)
            body(&self, value)
        }
        mutating func optionalInt(_ value: Int64?) { optional(value) { $0.int($1) } }
        mutating func optionalString(_ value: String?) { optional(value) { $0.string($1) } }
        mutating func integers(_ values: [Int64]) {
            count(values.count)
            for value in values { int(value) }
        }
        static func sortedKeys<V>(_ dictionary: [String: V]) -> [String] {
            dictionary.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        }

        mutating func request(_ request: Request) {
            switch request {
            case .account(let id, let limits):
                u8(Kind.account.rawValue)
                string(id)
                optional(limits) { $0.limits($1) }
            case .limits(let account, let spec):
                u8(Kind.limits.rawValue)
                string(account)
                limits(spec)
            case .pause(let account): u8(Kind.pause.rawValue); string(account)
            case .resume(let account): u8(Kind.resume.rawValue); string(account)
            case .grant(let grant):
                u8(Kind.grant.rawValue)
                string(grant.account)
                string(grant.id)
                int(grant.amount)
                optionalInt(grant.expiresAt)
                optionalInt(grant.priority)
                optionalInt(grant.paid)
            case .rates(let rates):
                u8(Kind.rates.rawValue)
                self.rates(rates)
            case .quote(let account, let item, let usage):
                u8(Kind.quote.rawValue)
                string(account)
                string(item)
                optional(usage) { $0.usage($1) }
            case .reserve(let reserve):
                u8(Kind.reserve.rawValue)
                string(reserve.account)
                string(reserve.id)
                cost(reserve.cost)
                optionalInt(reserve.ttlMilliseconds)
            case .commit(let id, let spec):
                u8(Kind.commit.rawValue)
                string(id)
                switch spec {
                case .amount(let amount): u8(0); int(amount)
                case .usage(let usage): u8(1); self.usage(usage)
                }
            case .release(let id): u8(Kind.release.rawValue); string(id)
            case .charge(let charge):
                u8(Kind.charge.rawValue)
                string(charge.account)
                string(charge.id)
                cost(charge.cost)
                optional(charge.force) { $0.bool($1) }
            case .refund(let refund):
                u8(Kind.refund.rawValue)
                string(refund.id)
                string(refund.event)
                optionalInt(refund.amount)
            case .event(let id): u8(Kind.event.rawValue); string(id)
            case .balance(let account): u8(Kind.balance.rawValue); string(account)
            case .report(let account): u8(Kind.report.rawValue); optionalString(account)
            case .tick: u8(Kind.tick.rawValue)
            }
        }

        mutating func limits(_ spec: LimitsSpec) {
            optionalInt(spec.overdraft)
            optional(spec.period) { $0.u8($1.rawValue) }
            optionalInt(spec.periodCap)
            optional(spec.capMode) { $0.u8($1.rawValue) }
            optional(spec.alerts) { $0.integers($1) }
            optional(spec.periodAlerts) { $0.integers($1) }
            optional(spec.downgrade) { $0.bool($1) }
        }

        mutating func usage(_ usage: Usage) {
            count(usage.entries.count)
            for entry in usage.entries {
                string(entry.meter)
                int(entry.quantity)
            }
        }

        mutating func cost(_ cost: CostSpec) {
            switch cost {
            case .amount(let amount): u8(0); int(amount)
            case .item(let item, let usage):
                u8(1)
                string(item)
                optional(usage) { $0.usage($1) }
            }
        }

        mutating func rates(_ rates: RatesRequest) {
            string(rates.version)
            optionalInt(rates.effectiveAt)
            count(rates.items.count)
            for key in Self.sortedKeys(rates.items) {
                let item = rates.items[key]!
                string(key)
                optionalInt(item.base)
                optional(item.meters) { writer, meters in
                    writer.count(meters.count)
                    for meter in Self.sortedKeys(meters) {
                        writer.string(meter)
                        writer.int(meters[meter]!.price)
                        writer.optionalInt(meters[meter]!.per)
                    }
                }
                optionalString(item.fallback)
            }
        }
    }
}

// MARK: Reading

extension RequestCodec {
    struct Reader {
        let bytes: UnsafeRawBufferPointer
        var offset = 0

        func error(_ message: String) -> RequestDecodingError { RequestDecodingError(message: message, offset: offset) }

        mutating func u8() throws(RequestDecodingError) -> UInt8 {
            guard offset < bytes.count else { throw error("truncated") }
            defer { offset += 1 }
            return bytes[offset]
        }
        mutating func bool() throws(RequestDecodingError) -> Bool {
            switch try u8() {
            case 0: return false
            case 1: return true
            case let other: throw error("boolean \(other)")
            }
        }
        mutating func varint() throws(RequestDecodingError) -> UInt64 {
            var value: UInt64 = 0
            for index in 0..<RequestCodec.varintBytesMax {
                let byte = try u8()
                // The tenth byte holds bit 63 only.
                guard index < 9 || byte <= 1 else { throw error("varint beyond 64 bits") }
                value |= UInt64(byte & 0x7F) << (7 * UInt64(index))
                if byte < 0x80 { return value }
            }
            throw error("varint longer than \(RequestCodec.varintBytesMax) bytes")
        }
        mutating func int() throws(RequestDecodingError) -> Int64 {
            let raw = try varint()
            return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
        }
        mutating func count() throws(RequestDecodingError) -> Int {
            let value = try varint()
            guard value <= UInt64(RequestCodec.elementCountMax) else { throw error("count \(value)") }
            return Int(value)
        }
        mutating func string() throws(RequestDecodingError) -> String {
            let length = try varint()
            guard length <= UInt64(bytes.count - offset) else { throw error("string of \(length) bytes past the end") }
            let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + Int(length)])
            guard let string = String(validating: slice, as: UTF8.self) else { throw error("invalid UTF-8") }
            offset += Int(length)
            return string
        }
        mutating func present() throws(RequestDecodingError) -> Bool { try bool() }
        mutating func optionalInt() throws(RequestDecodingError) -> Int64? { try present() ? try int() : nil }
        mutating func optionalString() throws(RequestDecodingError) -> String? { try present() ? try string() : nil }
        mutating func integers() throws(RequestDecodingError) -> [Int64] {
            let count = try count()
            var values: [Int64] = []
            values.reserveCapacity(count)
            for _ in 0..<count { values.append(try int()) }
            return values
        }
        /// A dictionary key: strictly after `previous` in UTF-8 order.
        mutating func key(after previous: String?) throws(RequestDecodingError) -> String {
            let name = try string()
            if let previous, !previous.utf8.lexicographicallyPrecedes(name.utf8) {
                throw error("key \(name) repeated or out of order")
            }
            return name
        }

        mutating func request() throws(RequestDecodingError) -> Request {
            let tag = try u8()
            guard let kind = Kind(rawValue: tag) else {
                offset -= 1
                throw error("request kind \(tag)")
            }
            switch kind {
            case .account: return .account(id: try string(), limits: try present() ? try limits() : nil)
            case .limits: return .limits(account: try string(), try limits())
            case .pause: return .pause(account: try string())
            case .resume: return .resume(account: try string())
            case .grant:
                return .grant(
                    GrantRequest(
                        account: try string(), id: try string(), amount: try int(), expiresAt: try optionalInt(),
                        priority: try optionalInt(), paid: try optionalInt()))
            case .rates: return .rates(try rates())
            case .quote: return .quote(account: try string(), item: try string(), usage: try present() ? try usage() : nil)
            case .reserve:
                return .reserve(
                    ReserveRequest(account: try string(), id: try string(), cost: try cost(), ttlMilliseconds: try optionalInt()))
            case .commit:
                let id = try string()
                switch try u8() {
                case 0: return .commit(id: id, .amount(try int()))
                case 1: return .commit(id: id, .usage(try usage()))
                case let other: throw error("commit form \(other)")
                }
            case .release: return .release(id: try string())
            case .charge:
                return .charge(
                    ChargeRequest(
                        account: try string(), id: try string(), cost: try cost(), force: try present() ? try bool() : nil))
            case .refund: return .refund(RefundRequest(id: try string(), event: try string(), amount: try optionalInt()))
            case .event: return .event(id: try string())
            case .balance: return .balance(account: try string())
            case .report: return .report(account: try optionalString())
            case .tick: return .tick
            }
        }

        mutating func limits() throws(RequestDecodingError) -> LimitsSpec {
            var spec = LimitsSpec()
            spec.overdraft = try optionalInt()
            if try present() {
                let raw = try u8()
                guard let period = Period(rawValue: raw) else { throw error("period \(raw)") }
                spec.period = period
            }
            spec.periodCap = try optionalInt()
            if try present() {
                let raw = try u8()
                guard let mode = CapMode(rawValue: raw) else { throw error("cap mode \(raw)") }
                spec.capMode = mode
            }
            spec.alerts = try present() ? try integers() : nil
            spec.periodAlerts = try present() ? try integers() : nil
            spec.downgrade = try present() ? try bool() : nil
            return spec
        }

        mutating func usage() throws(RequestDecodingError) -> Usage {
            let count = try count()
            var entries: [Usage.Entry] = []
            entries.reserveCapacity(count)
            for _ in 0..<count { entries.append(Usage.Entry(meter: try string(), quantity: try int())) }
            guard let usage = Usage(entries) else { throw error("a meter named twice") }
            return usage
        }

        mutating func cost() throws(RequestDecodingError) -> CostSpec {
            switch try u8() {
            case 0: return .amount(try int())
            case 1: return .item(try string(), usage: try present() ? try usage() : nil)
            case let other: throw error("cost form \(other)")
            }
        }

        mutating func rates() throws(RequestDecodingError) -> RatesRequest {
            let version = try string()
            let effectiveAt = try optionalInt()
            let itemCount = try count()
            var items: [String: ItemSpec] = [:]
            items.reserveCapacity(itemCount)
            var previous: String? = nil
            for _ in 0..<itemCount {
                let name = try key(after: previous)
                previous = name
                var item = ItemSpec()
                item.base = try optionalInt()
                if try present() {
                    let meterCount = try count()
                    var meters: [String: MeterPriceSpec] = [:]
                    meters.reserveCapacity(meterCount)
                    var previousMeter: String? = nil
                    for _ in 0..<meterCount {
                        let meter = try key(after: previousMeter)
                        previousMeter = meter
                        meters[meter] = MeterPriceSpec(price: try int(), per: try optionalInt())
                    }
                    item.meters = meters
                }
                item.fallback = try optionalString()
                items[name] = item
            }
            return RatesRequest(version: version, effectiveAt: effectiveAt, items: items)
        }
    }
}
