// The result and alert lines of a replay (trace.md, "Requests and their results",
// "Refusals", "Alert lines"), written as compact JSON straight into a byte buffer: keys in
// the order of the spec's examples, optional keys left out rather than false, integers
// by a small formatter, no Foundation.

import CreditCore

/// Writes responses and alerts as trace result lines, each one JSON object and a LF.
public struct TraceEncoder: Sendable {
    /// An encoder; it holds no state.
    public init() {}

    /// Appends the result line of one request.
    public func append(_ response: Response, to out: inout [UInt8]) {
        switch response.result {
        case .success(let reply):
            out.appendLiteral(#"{"ok":true"#)
            appendFields(of: reply, to: &out)
        case .failure(let refusal):
            out.appendLiteral(#"{"ok":false,"error":"#)
            out.appendString(refusal.code.name)
            if refusal.code == .insufficientCredits {
                out.appendMember(#","available":"#, refusal.available)
                out.appendMember(#","needed":"#, refusal.needed)
            }
        }
        if response.duplicate { out.appendLiteral(#","duplicate":true"#) }
        out.appendLiteral("}\n")
    }

    /// Appends one alert line.
    public func append(_ alert: Alert, to out: inout [UInt8]) {
        switch alert {
        case .lowBalance(let account, let threshold, let available, let t):
            out.appendLiteral(#"{"alert":"low_balance","account":"#)
            out.appendString(account)
            out.appendMember(#","threshold":"#, threshold)
            out.appendMember(#","available":"#, available)
            out.appendMember(#","t":"#, t)
        case .periodUsage(let account, let percent, let spent, let cap, let t):
            out.appendLiteral(#"{"alert":"period_usage","account":"#)
            out.appendString(account)
            out.appendMember(#","percent":"#, percent)
            out.appendMember(#","spent":"#, spent)
            out.appendMember(#","cap":"#, cap)
            out.appendMember(#","t":"#, t)
        case .debt(let account, let debt, let t):
            out.appendLiteral(#"{"alert":"debt","account":"#)
            out.appendString(account)
            out.appendMember(#","debt":"#, debt)
            out.appendMember(#","t":"#, t)
        }
        out.appendLiteral("}\n")
    }

    /// The members of a success after `"ok":true`.
    private func appendFields(of reply: Reply, to out: inout [UInt8]) {
        switch reply {
        case .done:
            break
        case .granted(let available):
            out.appendMember(#","available":"#, available)
        case .quoted(let credits, let version, let affordable):
            out.appendMember(#","credits":"#, credits)
            out.appendLiteral(#","version":"#)
            out.appendString(version)
            out.appendLiteral(affordable ? #","affordable":true"# : #","affordable":false"#)
        case .reserved(let held, let available, let item, let downgraded, let overCap):
            out.appendMember(#","held":"#, held)
            out.appendMember(#","available":"#, available)
            appendPricing(item: item, downgraded: downgraded, overCap: overCap, to: &out)
        case .charged(let charged, let available, let item, let downgraded, let overCap, let late):
            out.appendMember(#","charged":"#, charged)
            out.appendMember(#","available":"#, available)
            appendPricing(item: item, downgraded: downgraded, overCap: overCap, to: &out)
            if late { out.appendLiteral(#","late":true"#) }
        case .released(let released, let available):
            out.appendMember(#","released":"#, released)
            out.appendMember(#","available":"#, available)
        case .refunded(let refunded, let available):
            out.appendMember(#","refunded":"#, refunded)
            out.appendMember(#","available":"#, available)
        case .event(let event):
            appendEvent(event, to: &out)
        case .balance(let balance):
            appendBalance(balance, to: &out)
        case .report(let report):
            appendReport(report, to: &out)
        }
    }

    /// `"item":I,"version":V` when priced by item, then `downgraded` and `over_cap` when true.
    private func appendPricing(item: PricedItem?, downgraded: Bool, overCap: Bool, to out: inout [UInt8]) {
        if let item { appendItem(item, to: &out) }
        if downgraded { out.appendLiteral(#","downgraded":true"#) }
        if overCap { out.appendLiteral(#","over_cap":true"#) }
    }

    private func appendItem(_ item: PricedItem, to out: inout [UInt8]) {
        out.appendLiteral(#","item":"#)
        out.appendString(item.item)
        out.appendLiteral(#","version":"#)
        out.appendString(item.version)
    }

    private func appendEvent(_ event: EventView, to out: inout [UInt8]) {
        out.appendLiteral(#","account":"#)
        out.appendString(event.account)
        out.appendLiteral(event.kind == .reservation ? #","kind":"reservation""# : #","kind":"charge""#)
        out.appendLiteral(#","status":"#)
        out.appendString(event.status.name)
        out.appendMember(#","charged":"#, event.charged)
        out.appendMember(#","refunded":"#, event.refunded)
        out.appendLiteral(#","burns":["#)
        for (index, burn) in event.burns.enumerated() {
            out.appendLiteral(index == 0 ? #"{"grant":"# : #",{"grant":"#)
            out.appendString(burn.grant)
            out.appendMember(#","credits":"#, burn.credits)
            out.append(ASCII.closeBrace)
        }
        out.append(ASCII.closeBracket)
        out.appendMember(#","debt":"#, event.debt)
        if let held = event.held { out.appendMember(#","held":"#, held) }
        if let item = event.item { appendItem(item, to: &out) }
        if event.late { out.appendLiteral(#","late":true"#) }
    }

    private func appendBalance(_ balance: BalanceView, to out: inout [UInt8]) {
        out.appendMember(#","available":"#, balance.available)
        out.appendMember(#","balance":"#, balance.balance)
        out.appendMember(#","held":"#, balance.held)
        out.appendMember(#","debt":"#, balance.debt)
        out.appendMember(#","period_spent":"#, balance.periodSpent)
        out.appendLiteral(#","grants":["#)
        for (index, grant) in balance.grants.enumerated() {
            out.appendLiteral(index == 0 ? #"{"id":"# : #",{"id":"#)
            out.appendString(grant.id)
            out.appendMember(#","remaining":"#, grant.remaining)
            out.append(ASCII.closeBrace)
        }
        out.append(ASCII.closeBracket)
    }

    private func appendReport(_ report: ReportView, to out: inout [UInt8]) {
        out.appendMember(#","granted":"#, report.granted)
        out.appendMember(#","consumed":"#, report.consumed)
        out.appendMember(#","expired":"#, report.expired)
        out.appendMember(#","remaining":"#, report.remaining)
        out.appendMember(#","debt":"#, report.debt)
        out.appendMember(#","recognized":"#, report.recognized)
        out.appendMember(#","breakage":"#, report.breakage)
        out.appendMember(#","deferred":"#, report.deferred)
    }
}

extension EventStatus {
    /// The status as the trace format spells it.
    var name: StaticString {
        switch self {
        case .open: "open"
        case .committed: "committed"
        case .released: "released"
        case .expired: "expired"
        case .charged: "charged"
        }
    }
}

// MARK: - Bytes

extension [UInt8] {
    /// Appends ASCII text as it is.
    @inline(__always)
    mutating func appendLiteral(_ literal: StaticString) {
        append(contentsOf: UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    /// Appends a member of an integer value: `prefix` is its `,"key":`.
    @inline(__always)
    mutating func appendMember(_ prefix: StaticString, _ value: some FixedWidthInteger) {
        appendLiteral(prefix)
        appendDecimal(value)
    }

    /// Appends a JSON string of ASCII text without escapes (the code and status names).
    mutating func appendString(_ text: StaticString) {
        append(ASCII.quote)
        appendLiteral(text)
        append(ASCII.quote)
    }

    /// Appends `text` as a JSON string, escaping `"`, `\` and control characters.
    mutating func appendString(_ text: String) {
        append(ASCII.quote)
        let copied = text.utf8.withContiguousStorageIfAvailable { bytes in
            guard !bytes.contains(where: Self.needsEscape) else { return false }
            append(contentsOf: bytes)
            return true
        }
        if copied != true {
            for byte in text.utf8 { appendEscaped(byte) }
        }
        append(ASCII.quote)
    }

    @inline(__always)
    private static func needsEscape(_ byte: UInt8) -> Bool {
        byte < ASCII.space || byte == ASCII.quote || byte == ASCII.backslash
    }

    /// Appends one byte of a string's text, escaped when JSON needs it.
    private mutating func appendEscaped(_ byte: UInt8) {
        switch byte {
        case ASCII.quote, ASCII.backslash:
            append(ASCII.backslash)
            append(byte)
        case 0..<ASCII.space:
            appendLiteral("\\u00")
            append(Self.hexDigits[Int(byte >> 4)])
            append(Self.hexDigits[Int(byte & 0xF)])
        default:
            append(byte)
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends the exact decimal form of `value`: digits written from the last into a
    /// 40-byte stack buffer (an `Int128` has at most 39 digits and a sign), then appended
    /// in one copy.
    mutating func appendDecimal(_ value: some FixedWidthInteger) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Self.decimalBytesMax) { buffer in
            var magnitude = value.magnitude
            var position = Self.decimalBytesMax
            repeat {
                position -= 1
                let (quotient, digit) = magnitude.quotientAndRemainder(dividingBy: 10)
                buffer[position] = ASCII.zero &+ UInt8(truncatingIfNeeded: digit)
                magnitude = quotient
            } while magnitude != 0
            if value < 0 {
                position -= 1
                buffer[position] = ASCII.minus
            }
            append(contentsOf: UnsafeBufferPointer(rebasing: buffer[position...]))
        }
    }

    /// The longest decimal form `appendDecimal` writes: 39 digits and a sign.
    static var decimalBytesMax: Int { 40 }
}
