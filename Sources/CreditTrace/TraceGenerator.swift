// A seeded generator of realistic random traces: a gateway's day in miniature over many
// accounts (reservations held and committed above or below the hold, charges by amount and
// by item, top-ups, refunds, reads, limit changes, retries that reuse ids, the odd malformed
// line). Used to measure replay throughput and as a reproducible workload for other tools.

import CreditCore

/// Writes trace lines from a seed; the same seed and options give the same trace.
public struct TraceGenerator {
    /// The most accounts a generated trace spreads over.
    public static let accountCountMax = 10_000_000
    /// The most open reservations the generator remembers for commits and releases.
    static let openReservationsMax = 4096
    /// The most charged events it remembers for refunds, and recent lines for retries.
    static let rememberedMax = 1024

    private var random: SeededRandom
    private let accountCount: Int
    private var t: Milliseconds = 1_767_225_600_000  // 2026-01-01T00:00:00Z
    private var serial = 0
    private var openReservations: [(id: String, hold: Int64)] = []
    private var charged: [String] = []
    /// Recent creating requests, without their `t`, to repeat as retries.
    private var recent: [String] = []
    private var pending: [String] = []

    /// A generator over `accountCount` accounts (1 ... `accountCountMax`).
    public init(seed: UInt64, accountCount: Int) {
        precondition((1...Self.accountCountMax).contains(accountCount), "account count out of range")
        random = SeededRandom(seed: seed)
        self.accountCount = accountCount
        pending.append(
            #""op":"rates","version":"v1","items":{"chat:premium":{"base":20,"meters":{"in":{"price":3,"per":1000},"out":{"price":15,"per":1000}},"fallback":"chat:std"},"chat:std":{"base":2,"meters":{"in":{"price":1,"per":1000},"out":{"price":2,"per":1000}}},"embed:small":{"meters":{"tok":{"price":1,"per":10000}}},"vector:query":{"base":1},"file:parse":{"base":5,"meters":{"page":{"price":2}}}}"#
        )
        for index in (0..<accountCount).reversed() {
            pending.append(#""op":"account","id":"acct\#(index)""#)
            pending.append(#""op":"grant","account":"acct\#(index)","id":"seed\#(index)","amount":\#(50_000 + index % 7 * 10_000)"#)
        }
        pending.reverse()
    }

    /// Appends the next line, with its LF, to `out`.
    public mutating func appendLine(to out: inout [UInt8]) {
        if Int.random(in: 0..<200, using: &random) == 0 {
            out.append(contentsOf: #"{"op":"charge","t":1.5,"account":"acct0","id":"bad"}"#.utf8)
        } else {
            let body = pending.popLast() ?? nextBody()
            out.append(contentsOf: #"{"t":\#(t),"#.utf8)
            out.append(contentsOf: body.utf8)
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "\n"))
        t += Int64.random(in: 0...3, using: &random)
    }

    private mutating func account() -> String {
        // A skewed popularity: a fifth of the accounts get four fifths of the traffic.
        let hot = max(1, accountCount / 5)
        let index = Int.random(in: 0..<5, using: &random) < 4
            ? Int.random(in: 0..<hot, using: &random) : Int.random(in: 0..<accountCount, using: &random)
        return "acct\(index)"
    }

    private mutating func freshID(_ prefix: String) -> String {
        serial += 1
        return "\(prefix)\(serial)"
    }

    private mutating func remember(_ body: String) -> String {
        if recent.count == Self.rememberedMax { recent[Int.random(in: 0..<recent.count, using: &random)] = body } else {
            recent.append(body)
        }
        return body
    }

    private mutating func nextBody() -> String {
        let roll = Int.random(in: 0..<1000, using: &random)
        switch roll {
        case 0..<300: return reserve()
        case 300..<520: return settle()
        case 520..<720: return charge()
        case 720..<735:
            return remember(#""op":"grant","account":"\#(account())","id":"\#(freshID("top"))","amount":\#(Int.random(in: 1...20, using: &random) * 5000),"paid":\#(Int.random(in: 0...5000, using: &random))"#)
        case 735..<790:
            guard !charged.isEmpty else { return #""op":"tick""# }
            let event = charged[Int.random(in: 0..<charged.count, using: &random)]
            return remember(#""op":"refund","id":"\#(freshID("rf"))","event":"\#(event)","amount":\#(Int.random(in: 1...20, using: &random))"#)
        case 790..<840: return #""op":"balance","account":"\#(account())""#
        case 840..<870:
            return #""op":"quote","account":"\#(account())","item":"chat:premium","usage":{"in":\#(Int.random(in: 0...8000, using: &random)),"out":1000}"#
        case 870..<900:
            guard !charged.isEmpty else { return #""op":"tick""# }
            return #""op":"event","id":"\#(charged[Int.random(in: 0..<charged.count, using: &random)])""#
        case 900..<910:
            return #""op":"limits","account":"\#(account())","overdraft":\#(Int.random(in: 0...5, using: &random) * 100),"period":"day","period_cap":\#(Int.random(in: 1...10, using: &random) * 100_000),"alerts":[10000,1000],"period_alerts":[50,90]"#
        case 910..<960:
            guard !recent.isEmpty else { return #""op":"tick""# }
            return recent[Int.random(in: 0..<recent.count, using: &random)]
        case 960..<962: return #""op":"report","account":"\#(account())""#
        default: return #""op":"tick""#
        }
    }

    private mutating func reserve() -> String {
        let id = freshID("r")
        let ttl = Int.random(in: 1...60, using: &random) * 1000
        let body: String
        let hold: Int64
        if Bool.random(using: &random) {
            hold = Int64.random(in: 1...2000, using: &random)
            body = #""op":"reserve","account":"\#(account())","id":"\#(id)","amount":\#(hold),"ttl_ms":\#(ttl)"#
        } else {
            let input = Int.random(in: 0...8000, using: &random)
            hold = 20
            body = #""op":"reserve","account":"\#(account())","id":"\#(id)","item":"chat:premium","usage":{"in":\#(input),"out":4000},"ttl_ms":\#(ttl)"#
        }
        if openReservations.count == Self.openReservationsMax {
            openReservations[Int.random(in: 0..<openReservations.count, using: &random)] = (id, hold)
        } else {
            openReservations.append((id, hold))
        }
        return remember(body)
    }

    private mutating func settle() -> String {
        guard !openReservations.isEmpty else { return charge() }
        let (id, hold) = openReservations.swapRemoveAt(Int.random(in: 0..<openReservations.count, using: &random))
        if Int.random(in: 0..<10, using: &random) == 0 { return remember(#""op":"release","id":"\#(id)""#) }
        // Actual usage is long-tailed around the estimate: mostly below, sometimes above.
        let actual = Int64.random(in: 0...hold, using: &random) + (Int.random(in: 0..<8, using: &random) == 0 ? hold : 0)
        if Int.random(in: 0..<10, using: &random) < 7 { charged.rememberBounded(id, max: Self.rememberedMax, using: &random) }
        return remember(#""op":"commit","id":"\#(id)","amount":\#(actual)"#)
    }

    private mutating func charge() -> String {
        let id = freshID("c")
        charged.rememberBounded(id, max: Self.rememberedMax, using: &random)
        switch Int.random(in: 0..<10, using: &random) {
        case 0..<5:
            return remember(#""op":"charge","account":"\#(account())","id":"\#(id)","item":"embed:small","usage":{"tok":\#(Int.random(in: 1...50_000, using: &random))}"#)
        case 5..<7:
            return remember(#""op":"charge","account":"\#(account())","id":"\#(id)","item":"vector:query""#)
        case 7:
            return remember(#""op":"charge","account":"\#(account())","id":"\#(id)","amount":\#(Int.random(in: 1...300, using: &random)),"force":true"#)
        default:
            return remember(#""op":"charge","account":"\#(account())","id":"\#(id)","amount":\#(Int.random(in: 1...300, using: &random))"#)
        }
    }
}

extension Array {
    fileprivate mutating func swapRemoveAt(_ index: Int) -> Element {
        swapAt(index, count - 1)
        return removeLast()
    }

    fileprivate mutating func rememberBounded(_ element: Element, max: Int, using random: inout SeededRandom) {
        if count == max { self[Int.random(in: 0..<count, using: &random)] = element } else { append(element) }
    }
}
