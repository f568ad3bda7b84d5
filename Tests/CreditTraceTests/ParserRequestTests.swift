// The requests the parser builds from well-formed lines, field by field: every operation,
// optional fields left out staying nil, escapes decoded, `-0`, whitespace, key order,
// blank lines, and the edges of every range.

import CreditCore
import CreditTrace
import Testing

/// Parses `line` with a fresh parser.
func parse(_ line: String) -> TraceLine {
    var parser = TraceParser()
    return parser.parse(line)
}

/// The request of `line`, or nil when it is not one.
func request(_ line: String) -> Request? {
    guard case .request(let request, _) = parse(line) else { return nil }
    return request
}

@Suite struct ParserRequestTests {
    @Test(arguments: ["", " ", "\t", "\r", " \t\r  \r"])
    func blankLines(_ line: String) {
        #expect(parse(line) == .blank)
    }

    @Test func timeIsKeptBesideTheRequest() {
        #expect(parse(#"{"op":"tick","t":42}"#) == .request(.tick, t: 42))
        #expect(parse(#"{"op":"tick","t":9223372036854775807}"#) == .request(.tick, t: .max))
        #expect(parse(#"{"op":"tick","t":0}"#) == .request(.tick, t: 0))
        #expect(parse(#"{"op":"tick","t":-0}"#) == .request(.tick, t: 0))
    }

    @Test func account() {
        #expect(request(#"{"op":"account","t":1,"id":"acme"}"#) == .account(id: "acme", limits: nil))
        #expect(
            request(#"{"op":"account","t":1,"id":"acme","limits":{}}"#) == .account(id: "acme", limits: LimitsSpec()))
        let line = #"""
            {"op":"account","t":1,"id":"al","limits":{"alerts":[100,50,100],"period":"day","period_cap":200,\#
            "cap_mode":"soft","period_alerts":[50,100],"overdraft":7,"downgrade":true}}
            """#
        let limits = LimitsSpec(
            overdraft: 7, period: .day, periodCap: 200, capMode: .soft, alerts: [100, 50, 100],
            periodAlerts: [50, 100],
            downgrade: true)
        #expect(request(line) == .account(id: "al", limits: limits))
    }

    @Test func limits() {
        #expect(request(#"{"op":"limits","t":1,"account":"a"}"#) == .limits(account: "a", LimitsSpec()))
        #expect(
            request(#"{"op":"limits","t":1,"account":"a","period":"month","cap_mode":"hard","downgrade":false}"#)
                == .limits(account: "a", LimitsSpec(period: .month, capMode: .hard, downgrade: false)))
        #expect(
            request(#"{"op":"limits","t":1,"account":"a","alerts":[],"period_alerts":[0,1000000000000]}"#)
                == .limits(account: "a", LimitsSpec(alerts: [], periodAlerts: [0, 1_000_000_000_000])))
        #expect(
            request(#"{"op":"limits","t":1,"account":"a","overdraft":0,"period":"day","period_cap":0}"#)
                == .limits(account: "a", LimitsSpec(overdraft: 0, period: .day, periodCap: 0)))
    }

    @Test func pauseResumeReleaseEventBalance() {
        #expect(request(#"{"op":"pause","t":1,"account":"a"}"#) == .pause(account: "a"))
        #expect(request(#"{"op":"resume","t":1,"account":"a"}"#) == .resume(account: "a"))
        #expect(request(#"{"op":"release","t":1,"id":"r"}"#) == .release(id: "r"))
        #expect(request(#"{"op":"event","t":1,"id":"e"}"#) == .event(id: "e"))
        #expect(request(#"{"op":"balance","t":1,"account":"a"}"#) == .balance(account: "a"))
    }

    @Test func grant() {
        #expect(
            request(#"{"op":"grant","t":1,"account":"a","id":"g","amount":1}"#)
                == .grant(GrantRequest(account: "a", id: "g", amount: 1)))
        #expect(
            request(
                #"{"op":"grant","t":1,"account":"a","id":"g","amount":1000000000000,"expires_at":2,"priority":0,"paid":9}"#
            )
                == .grant(
                    GrantRequest(account: "a", id: "g", amount: 1_000_000_000_000, expiresAt: 2, priority: 0, paid: 9)))
        #expect(
            request(#"{"op":"grant","t":1,"account":"a","id":"g","amount":1,"expires_at":9223372036854775807}"#)
                == .grant(GrantRequest(account: "a", id: "g", amount: 1, expiresAt: .max)))
    }

    @Test func rates() {
        let line = #"""
            {"op":"rates","t":1000,"version":"v1","effective_at":0,"items":{"chat:premium":{"base":2,\#
            "meters":{"tok":{"price":3,"per":10},"img":{"price":0}},"fallback":"embed"},"embed":{"fallback":"embed"},\#
            "bare":{}}}
            """#
        let items: [String: ItemSpec] = [
            "chat:premium": ItemSpec(
                base: 2, meters: ["tok": MeterPriceSpec(price: 3, per: 10), "img": MeterPriceSpec(price: 0)],
                fallback: "embed"),
            "embed": ItemSpec(fallback: "embed"),
            "bare": ItemSpec(),
        ]
        #expect(request(line) == .rates(RatesRequest(version: "v1", effectiveAt: 0, items: items)))
        #expect(
            request(#"{"op":"rates","t":1,"version":"v","items":{}}"#)
                == .rates(RatesRequest(version: "v", items: [:])))
        #expect(
            request(#"{"op":"rates","t":1,"version":"v","items":{"i":{"meters":{}}}}"#)
                == .rates(RatesRequest(version: "v", items: ["i": ItemSpec(meters: [:])])))
    }

    @Test func quote() {
        #expect(
            request(#"{"op":"quote","t":1,"account":"a","item":"i"}"#) == .quote(account: "a", item: "i", usage: nil))
        #expect(
            request(#"{"op":"quote","t":1,"account":"a","item":"i","usage":{}}"#)
                == .quote(account: "a", item: "i", usage: .empty))
        #expect(
            request(#"{"op":"quote","t":1,"account":"a","item":"i","usage":{"tok":10,"img":0}}"#)
                == .quote(account: "a", item: "i", usage: Usage(["img": 0, "tok": 10])))
    }

    @Test func reserve() {
        #expect(
            request(#"{"op":"reserve","t":1,"account":"a","id":"r","amount":0}"#)
                == .reserve(ReserveRequest(account: "a", id: "r", cost: .amount(0))))
        #expect(
            request(#"{"op":"reserve","t":1,"account":"a","id":"r","amount":5,"ttl_ms":1}"#)
                == .reserve(ReserveRequest(account: "a", id: "r", cost: .amount(5), ttlMilliseconds: 1)))
        #expect(
            request(#"{"op":"reserve","t":1,"account":"a","id":"r","item":"i","ttl_ms":86400000}"#)
                == .reserve(
                    ReserveRequest(account: "a", id: "r", cost: .item("i", usage: nil), ttlMilliseconds: 86_400_000)))
        #expect(
            request(#"{"op":"reserve","t":1,"account":"a","id":"r","item":"i","usage":{"tok":100}}"#)
                == .reserve(ReserveRequest(account: "a", id: "r", cost: .item("i", usage: Usage(["tok": 100])))))
    }

    @Test func commit() {
        #expect(request(#"{"op":"commit","t":1,"id":"r","amount":30}"#) == .commit(id: "r", .amount(30)))
        #expect(request(#"{"op":"commit","t":1,"id":"r","usage":{}}"#) == .commit(id: "r", .usage(.empty)))
        #expect(
            request(#"{"op":"commit","t":1,"id":"r","usage":{"tok":600}}"#)
                == .commit(id: "r", .usage(Usage(["tok": 600]))))
    }

    @Test func charge() {
        #expect(
            request(#"{"op":"charge","t":1,"account":"a","id":"c","amount":120}"#)
                == .charge(ChargeRequest(account: "a", id: "c", cost: .amount(120))))
        #expect(
            request(#"{"op":"charge","t":1,"account":"a","id":"c","amount":120,"force":false}"#)
                == .charge(ChargeRequest(account: "a", id: "c", cost: .amount(120), force: false)))
        #expect(
            request(#"{"op":"charge","t":1,"account":"a","id":"c","item":"i","usage":{"n":1},"force":true}"#)
                == .charge(ChargeRequest(account: "a", id: "c", cost: .item("i", usage: Usage(["n": 1])), force: true)))
    }

    @Test func refund() {
        #expect(request(#"{"op":"refund","t":1,"id":"f","event":"c"}"#) == .refund(RefundRequest(id: "f", event: "c")))
        #expect(
            request(#"{"op":"refund","t":1,"id":"f","event":"c","amount":10}"#)
                == .refund(RefundRequest(id: "f", event: "c", amount: 10)))
    }

    @Test func report() {
        #expect(request(#"{"op":"report","t":1}"#) == .report(account: nil))
        #expect(request(#"{"op":"report","t":1,"account":"m1"}"#) == .report(account: "m1"))
    }

    @Test func escapesAreDecoded() {
        #expect(request(#"{"op":"event","t":1,"id":"\u0061\u0042c"}"#) == .event(id: "aBc"))
        #expect(request(#"{"op":"event","t":1,"id":"a\/b"}"#) == nil)  // '/' is no name character
        #expect(request(#"{"\u006fp":"ev\u0065nt","\u0074":1,"i\u0064":"x\u002Dy"}"#) == .event(id: "x-y"))
        #expect(
            request(#"{"op":"quote","t":1,"account":"a","item":"i","usage":{"t\u006fk":1}}"#)
                == .quote(account: "a", item: "i", usage: Usage(["tok": 1])))
        #expect(
            request(#"{"op":"rates","t":1,"version":"v","items":{"\u0069":{"b\u0061se":1}}}"#)
                == .rates(RatesRequest(version: "v", items: ["i": ItemSpec(base: 1)])))
    }

    @Test func whitespaceAndKeyOrderDoNotMatter() {
        let expected = Request.charge(ChargeRequest(account: "a", id: "c", cost: .amount(5)))
        #expect(
            request(" \t{ \"op\" : \"charge\" ,\t\"t\":1 , \"account\":\"a\",\"id\":\"c\",\"amount\":5 } \r")
                == expected)
        #expect(request(#"{"amount":5,"id":"c","account":"a","t":1,"op":"charge"}"#) == expected)
        #expect(request("{\"amount\":5,\"id\":\"c\",\"account\":\"a\",\"t\":1,\"op\":\"charge\"}\r") == expected)
        #expect(
            request(#"{"op":"limits","t":1,"account":"a","alerts":[ 1 , 2 ],"period_alerts":[ ]}"#)
                == .limits(account: "a", LimitsSpec(alerts: [1, 2], periodAlerts: [])))
    }

    @Test func namesAtTheirLongest() {
        let name = String(repeating: "a", count: 64)
        #expect(request(#"{"op":"event","t":1,"id":"\#(name)"}"#) == .event(id: name))
        let characters = "AZaz09._:-"
        #expect(request(#"{"op":"event","t":1,"id":"\#(characters)"}"#) == .event(id: characters))
        let meter = "a_z09" + String(repeating: "m", count: 27)
        #expect(
            request(#"{"op":"quote","t":1,"account":"a","item":"i","usage":{"\#(meter)":1000000000000}}"#)
                == .quote(account: "a", item: "i", usage: Usage([meter: 1_000_000_000_000])))
    }

    @Test func everyEntryPointAgrees() {
        let line = #"{"op":"release","t":7,"id":"r"}"#
        var parser = TraceParser()
        let fromString = parser.parse(line)
        let fromBytes = parser.parse(Array(line.utf8))
        let fromBuffer = Array(line.utf8).withUnsafeBytes { parser.parse($0) }
        let fromReader = Array(line.utf8).withUnsafeBytes { parser.parse(LineReader.Line.bytes($0)) }
        #expect(fromString == .request(.release(id: "r"), t: 7))
        #expect(fromBytes == fromString && fromBuffer == fromString && fromReader == fromString)
        #expect(parser.parse(LineReader.Line.overlong) == .malformed)
    }

    @Test func aParserIsReusableAfterMalformedLines() {
        var parser = TraceParser()
        #expect(parser.parse(#"{"op":"event","t":1,"id":"\u00"#) == .malformed)
        #expect(parser.parse(#"{"op":"event","t":1,"id":"\u0061"}"#) == .request(.event(id: "a"), t: 1))
        #expect(parser.parse(#"{"op":"event","t":1,"id":"b\u0061"}"#) == .request(.event(id: "ba"), t: 1))
    }
}
