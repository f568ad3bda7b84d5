// Malformed lines of every kind, fed to a replayer holding real state: each prints exactly
// `{"ok":false,"error":"invalid"}`, changes nothing that any read shows, and does not move
// time (a later line with an earlier `t` than the garbage's is still accepted).

import CreditCore
import CreditTrace
import Testing

@Suite struct GarbageLineTests {
    static let setup = """
        {"op":"account","t":1000,"id":"a","limits":{"overdraft":10,"period":"day","period_cap":500,"alerts":[50]}}
        {"op":"grant","t":1000,"account":"a","id":"g1","amount":300,"expires_at":90000,"paid":30}
        {"op":"rates","t":1000,"version":"v1","items":{"chat":{"base":2,"meters":{"tok":{"price":3,"per":10}}}}}
        {"op":"reserve","t":1001,"account":"a","id":"r1","item":"chat","usage":{"tok":100},"ttl_ms":5000}
        {"op":"charge","t":1002,"account":"a","id":"c1","amount":40}
        """

    /// Reads at the setup's last time: everything a caller can see.
    static let probe = """
        {"op":"balance","t":1002,"account":"a"}
        {"op":"event","t":1002,"id":"r1"}
        {"op":"event","t":1002,"id":"c1"}
        {"op":"report","t":1002}
        {"op":"quote","t":1002,"account":"a","item":"chat","usage":{"tok":7}}
        """

    static let garbage: [[UInt8]] = [
        "not json", "{", "}", "[]", "null", "\"op\"", "42", "{}",
        #"{"op":"tick","t":1003}{"op":"tick","t":1003}"#,
        #"{"op":"tick","t":1003} x"#,
        #"{"op":"tick","t":1003,}"#,
        #"{"op":"tick","t":1003.0}"#,
        #"{"op":"tick","t":1e3}"#,
        #"{"op":"tick","t":-1}"#,
        #"{"op":"tick","t":9223372036854775808}"#,
        #"{"op":"tick","t":99999999999999999999999999999}"#,
        #"{"op":"tick","t":"1003"}"#,
        #"{"op":"tick","t":null}"#,
        #"{"op":"tick"}"#,
        #"{"op":"tick","t":1003,"t":1004}"#,
        #"{"op":"tick","t":1003,"extra":1}"#,
        #"{"op":"nope","t":1003}"#,
        #"{"op":"TICK","t":1003}"#,
        #"{"op":"charge","t":1003,"account":"a","id":"x","amount":1.5}"#,
        #"{"op":"charge","t":1003,"account":"a","id":"x","amount":true}"#,
        #"{"op":"charge","t":1003,"account":"a","id":"x","amount":1000000000001}"#,
        #"{"op":"charge","t":1003,"account":"a","id":"x","amount":1,"item":"chat"}"#,
        #"{"op":"charge","t":1003,"account":"a","id":"x","usage":{"tok":1}}"#,
        #"{"op":"charge","t":1003,"account":"a b","id":"x","amount":1}"#,
        #"{"op":"charge","t":1003,"account":"a","id":"x","amount":1,"force":1}"#,
        #"{"op":"charge","t":1003,"account":"a","id":"x","item":"chat","usage":{"Tok":1}}"#,
        #"{"op":"charge","t":1003,"account":"a","id":"x","item":"chat","usage":{"tok":1,"tok":2}}"#,
        #"{"op":"reserve","t":1003,"account":"a","id":"x","amount":1,"ttl_ms":0}"#,
        #"{"op":"grant","t":1003,"account":"a","id":"g2","amount":0}"#,
        #"{"op":"grant","t":1003,"account":"a","id":"g2","amount":5,"expires_at":1003}"#,
        #"{"op":"limits","t":1003,"account":"a","period_cap":5}"#,
        #"{"op":"limits","t":1003,"account":"a","alerts":[1,-2]}"#,
        #"{"op":"limits","t":1003,"account":"a","period":"week"}"#,
        #"{"op":"rates","t":1003,"version":"v2","items":{"x":{"fallback":"y"}}}"#,
        #"{"op":"rates","t":1003,"version":"v2","items":{"x":{"meters":{"m":{"per":2}}}}}"#,
        #"{"op":"refund","t":1003,"id":"f","event":"c1","amount":0}"#,
        #"{"op":"commit","t":1003,"id":"r1"}"#,
        #"{"op":"account","t":1003,"id":"\#(String(repeating: "x", count: 65))"}"#,
        #"{"op":"account","t":1003,"id":"caf\u00e9"}"#,
        #"{"op":"account","t":1003,"id":"bad\"}"#,
    ].map { Array($0.utf8) } + [
        [0xFF, 0xFE],
        Array(#"{"op":"account","t":1003,"id":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8),
        Array(#"{"op":"account","t":1003,"id":""#.utf8) + [0xED, 0xA0, 0x80] + Array(#""}"#.utf8),
        Array(#"{"op":"account","t":1003,"id":"a"#.utf8) + [0x01] + Array(#""}"#.utf8),
        Array(#"{"op":"tick","t":1003}"#.utf8) + [0],
        Array(repeating: UInt8(ascii: "["), count: 100_000),
        Array(#"{"op":"account","t":1003,"id":""#.utf8) + Array(repeating: UInt8(ascii: "a"), count: 2_000_000)
            + Array(#""}"#.utf8),
    ]

    static let invalidLine = #"{"ok":false,"error":"invalid"}"# + "\n"

    @Test(arguments: 0..<garbage.count)
    func garbageIsInvalidAndChangesNothing(_ index: Int) {
        var replayer = TraceReplayer()
        _ = replayer.replay(text: Self.setup)
        var untouched = replayer
        let expected = untouched.replay(text: Self.probe)

        var fed = replayer
        let printed = String(decoding: fed.replay(bytes: Self.garbage[index]), as: UTF8.self)
        #expect(printed == Self.invalidLine)
        #expect(fed.replay(text: Self.probe) == expected)
        // Time did not move: the setup's last time is still accepted.
        #expect(fed.ledger.lastTime == 1002)
    }
}
