// Lines that are not requests of the format, each a small break of a valid line: every one
// must parse as `.malformed`, never crash. Grouped by what they break; bytes that are no
// UTF-8 are in a table of their own.

import CreditCore
import CreditTrace
import Foundation
import Testing

private let maxPlusOne = "9223372036854775808"
private let amountPlusOne = "1000000000001"
private let name65 = String(repeating: "a", count: 65)
private let meter33 = String(repeating: "m", count: 33)

/// A charge with `extra` members added before the closing brace.
private func charge(_ extra: String = "") -> String {
    #"{"op":"charge","t":1,"account":"a","id":"c","amount":5\#(extra)}"#
}

/// A rates request with the given `items` object.
private func rates(_ items: String) -> String {
    #"{"op":"rates","t":1,"version":"v","items":\#(items)}"#
}

/// An event request whose id is the JSON text `id` (quotes included).
private func event(id: String) -> String {
    #"{"op":"event","t":1,"id":\#(id)}"#
}

private let notJSON = [
    "x", "{", "}", "[]", "{}", "null", "true", "1", #""tick""#, #"[{"op":"tick","t":1}]"#,
    #"{"op":"tick","t":1"#, #"{"op":"tick","t":1}}"#, #"{"op":"tick","t":1} x"#, #"{"op":"tick","t":1},"#,
    #"{"op":"tick","t":1}{"op":"tick","t":2}"#, #"{"op":"tick","t":1} {"op":"tick","t":2}"#,
    #"{"op":"tick","t":1,}"#, #"{,"op":"tick","t":1}"#, #"{"op":"tick" "t":1}"#, #"{"op":"tick","t"1}"#,
    #"{"op":"tick","t"::1}"#, #"{op:"tick","t":1}"#, #"{'op':'tick','t':1}"#, #"{"op":"tick","t":1 1}"#,
    #"{"op":"tick";"t":1}"#, #"{"op":"tick","t":1]"#, "\u{0B}{\"op\":\"tick\",\"t\":1}",
    "\u{0C}{\"op\":\"tick\",\"t\":1}", "{\"op\":\"tick\",\"t\":1}\u{A0}", "\u{FEFF}{\"op\":\"tick\",\"t\":1}",
    "{\"op\":\"tick\",\"t\":1}\0", "\0", " \0 ", "{\"op\":\"tick\0\",\"t\":1}",
]

private let badNumbers = [
    "01", "00", "1.0", "1.5", "1.", ".5", "1e3", "1E3", "1e+3", "0e0", "-1", "-5", "-", "--1", "+1", "0x10", "1_000",
    "Infinity", "NaN", maxPlusOne, "99999999999999999999999999999999", "-9223372036854775808", #""1""#, "true", "null",
    "[1]", "{}",
]

private let badTypesAndValues = [
    charge(#","force":1"#), charge(#","force":"true""#), charge(#","force":TRUE"#), charge(#","force":tru"#),
    charge(#","force":truex"#), charge(#","force":falsey"#), charge(#","force":null"#), charge(#","force":[true]"#),
    #"{"op":"charge","t":1,"account":"a","id":"c","amount":"5"}"#,
    #"{"op":"charge","t":1,"account":5,"id":"c","amount":5}"#,
    #"{"op":"charge","t":1,"account":null,"id":"c","amount":5}"#, #"{"op":"report","t":1,"account":null}"#,
    #"{"op":"grant","t":1,"account":"a","id":"g","amount":1,"expires_at":null}"#, #"{"op":null,"t":1}"#,
    #"{"op":"tick","t":null}"#, #"{"op":1,"t":1}"#, #"{"op":["tick"],"t":1}"#,
    #"{"op":"limits","t":1,"account":"a","downgrade":0}"#, #"{"op":"limits","t":1,"account":"a","alerts":5}"#,
    #"{"op":"limits","t":1,"account":"a","alerts":[1,"2"]}"#, #"{"op":"limits","t":1,"account":"a","alerts":[1,]}"#,
    #"{"op":"limits","t":1,"account":"a","alerts":[,1]}"#, #"{"op":"limits","t":1,"account":"a","alerts":[1 2]}"#,
    #"{"op":"limits","t":1,"account":"a","alerts":[1.5]}"#, #"{"op":"limits","t":1,"account":"a","alerts":[-1]}"#,
    #"{"op":"limits","t":1,"account":"a","alerts":[[1]]}"#, #"{"op":"limits","t":1,"account":"a","alerts":{}}"#,
    #"{"op":"limits","t":1,"account":"a","alerts":[null]}"#, #"{"op":"limits","t":1,"account":"a","alerts":[1}"#,
    #"{"op":"limits","t":1,"account":"a","period_alerts":[1000000000001]}"#,
    #"{"op":"limits","t":1,"account":"a","alerts":[\#(amountPlusOne)]}"#,
    #"{"op":"limits","t":1,"account":"a","period":"week"}"#, #"{"op":"limits","t":1,"account":"a","period":"Day"}"#,
    #"{"op":"limits","t":1,"account":"a","period":1}"#, #"{"op":"limits","t":1,"account":"a","cap_mode":"medium"}"#,
    #"{"op":"limits","t":1,"account":"a","cap_mode":"hard "}"#, #"{"op":"limits","t":1,"account":"a","overdraft":-1}"#,
    #"{"op":"limits","t":1,"account":"a","overdraft":\#(amountPlusOne)}"#,
    #"{"op":"account","t":1,"id":"a","limits":[]}"#, #"{"op":"account","t":1,"id":"a","limits":null}"#,
    #"{"op":"account","t":1,"id":"a","limits":{"account":"a"}}"#, #"{"op":"account","t":1,"id":"a","limits":{"t":1}}"#,
    #"{"op":"account","t":1,"id":"a","limits":{"x":1}}"#,
    #"{"op":"account","t":1,"id":"a","limits":{"period":"year"}}"#,
    #"{"op":"quote","t":1,"account":"a","item":"i","usage":[]}"#,
    #"{"op":"quote","t":1,"account":"a","item":"i","usage":{"tok":"1"}}"#,
    #"{"op":"quote","t":1,"account":"a","item":"i","usage":{"tok":-1}}"#,
    #"{"op":"quote","t":1,"account":"a","item":"i","usage":{"tok":\#(amountPlusOne)}}"#,
    #"{"op":"quote","t":1,"account":"a","item":"i","usage":{"tok":1.0}}"#, rates("[]"), rates("null"),
    rates(#"{"i":[]}"#), rates(#"{"i":{"base":"1"}}"#), rates(#"{"i":{"meters":[]}}"#), rates(#"{"i":{"fallback":1}}"#),
    rates(#"{"i":{"meters":{"m":1}}}"#), rates(#"{"i":{"base":\#(amountPlusOne)}}"#),
    rates(#"{"i":{"meters":{"m":{"price":\#(amountPlusOne)}}}}"#),
    rates(#"{"i":{"meters":{"m":{"price":1,"per":\#(amountPlusOne)}}}}"#),
    #"{"op":"rates","t":1,"version":"v","effective_at":-1,"items":{}}"#,
]

private let wrongFields = [
    #"{"t":1}"#, #"{"op":"tick"}"#, #"{"op":"TICK","t":1}"#, #"{"op":"tock","t":1}"#, #"{"op":"","t":1}"#,
    #"{"op":"tick ","t":1}"#, #"{"op":"tick","t":1,"x":1}"#, charge(#","x":0"#), #"{"op":"tick","t":1,"id":"a"}"#,
    #"{"op":"tick","t":1,"":1}"#,
    #"{"op":"tick","T":1}"#, #"{"op":"account","t":1}"#, #"{"op":"account","t":1,"id":"a","overdraft":1}"#,
    #"{"op":"limits","t":1}"#, #"{"op":"limits","t":1,"account":"a","limits":{}}"#, #"{"op":"pause","t":1}"#,
    #"{"op":"pause","t":1,"account":"a","id":"b"}"#, #"{"op":"grant","t":1,"account":"a","id":"g"}"#,
    #"{"op":"grant","t":1,"account":"a","amount":1}"#, #"{"op":"grant","t":1,"id":"g","amount":1}"#,
    #"{"op":"grant","t":1,"account":"a","id":"g","amount":1,"ttl_ms":5}"#, #"{"op":"rates","t":1,"version":"v"}"#,
    #"{"op":"rates","t":1,"items":{}}"#, #"{"op":"quote","t":1,"account":"a"}"#, #"{"op":"quote","t":1,"item":"i"}"#,
    #"{"op":"quote","t":1,"account":"a","item":"i","amount":1}"#, #"{"op":"reserve","t":1,"account":"a","id":"r"}"#,
    #"{"op":"reserve","t":1,"account":"a","id":"r","amount":1,"item":"i"}"#,
    #"{"op":"reserve","t":1,"account":"a","id":"r","amount":1,"usage":{}}"#,
    #"{"op":"reserve","t":1,"account":"a","id":"r","usage":{}}"#,
    #"{"op":"reserve","t":1,"account":"a","id":"r","amount":1,"force":true}"#,
    #"{"op":"reserve","t":1,"id":"r","amount":1}"#, #"{"op":"commit","t":1,"id":"r"}"#,
    #"{"op":"commit","t":1,"id":"r","amount":1,"usage":{}}"#, #"{"op":"commit","t":1,"id":"r","item":"i"}"#,
    #"{"op":"commit","t":1,"amount":1}"#, #"{"op":"release","t":1}"#, #"{"op":"release","t":1,"id":"r","amount":1}"#,
    #"{"op":"charge","t":1,"account":"a","id":"c"}"#, charge(#","item":"i""#), charge(#","usage":{}"#),
    #"{"op":"charge","t":1,"account":"a","id":"c","usage":{"n":1}}"#, charge(#","ttl_ms":5"#),
    #"{"op":"refund","t":1,"id":"f"}"#, #"{"op":"refund","t":1,"event":"c"}"#, #"{"op":"event","t":1}"#,
    #"{"op":"balance","t":1}"#, #"{"op":"report","t":1,"id":"a"}"#, #"{"op":"tick","t":1,"account":"a"}"#,
    rates(#"{"i":{"price":1}}"#), rates(#"{"i":{"meters":{"m":{}}}}"#), rates(#"{"i":{"meters":{"m":{"per":1}}}}"#),
    rates(#"{"i":{"meters":{"m":{"price":1,"base":1}}}}"#), rates(#"{"i":{"x":1}}"#),
]

private let repeatedKeys = [
    #"{"op":"tick","t":1,"op":"tick"}"#, #"{"op":"tick","t":1,"t":1}"#, #"{"op":"tick","t":1,"\u0074":1}"#,
    #"{"op":"tick","t":1,"o\u0070":"tick"}"#, charge(#","amount":5"#), charge(#","force":true,"force":true"#),
    #"{"op":"account","t":1,"id":"a","limits":{},"limits":{}}"#,
    #"{"op":"account","t":1,"id":"a","limits":{"overdraft":1,"overdraft":1}}"#,
    #"{"op":"account","t":1,"id":"a","limits":{"period":"day","period":"day"}}"#,
    #"{"op":"limits","t":1,"account":"a","alerts":[],"alerts":[]}"#,
    #"{"op":"quote","t":1,"account":"a","item":"i","usage":{"tok":1,"tok":2}}"#,
    #"{"op":"quote","t":1,"account":"a","item":"i","usage":{"tok":1,"t\u006fk":1}}"#,
    rates(#"{"a":{},"a":{}}"#), rates(#"{"a":{},"\u0061":{}}"#), rates(#"{"a":{"base":1,"base":1}}"#),
    rates(#"{"a":{"meters":{},"meters":{}}}"#), rates(#"{"a":{"fallback":"a","fallback":"a"}}"#),
    rates(#"{"a":{"meters":{"m":{"price":1},"m":{"price":1}}}}"#),
    rates(#"{"a":{"meters":{"m":{"price":1,"price":2}}}}"#),
    rates(#"{"a":{"meters":{"m":{"price":1,"per":1,"per":1}}}}"#),
]

private let badNames = [
    event(id: #""""#), event(id: #""\#(name65)""#), event(id: #""a b""#), event(id: #""a/b""#), event(id: #""a\/b""#),
    event(id: #""é""#), event(id: #""\u00e9""#), event(id: #""a\u0020b""#), event(id: #""\n""#),
    event(id: #""a\u0000""#),
    event(id: #""😀""#), event(id: #""\ud83d\ude00""#), event(id: #""a\tb""#), event(id: "\"a\u{7F}\""),
    #"{"op":"account","t":1,"id":"a b"}"#, #"{"op":"refund","t":1,"id":"f","event":"e!"}"#,
    #"{"op":"report","t":1,"account":""}"#, #"{"op":"quote","t":1,"account":"a","item":"i i"}"#,
    #"{"op":"quote","t":1,"account":"a","item":"i","usage":{"Tok":1}}"#,
    #"{"op":"quote","t":1,"account":"a","item":"i","usage":{"to-k":1}}"#,
    #"{"op":"quote","t":1,"account":"a","item":"i","usage":{"":1}}"#,
    #"{"op":"quote","t":1,"account":"a","item":"i","usage":{"\#(meter33)":1}}"#,
    #"{"op":"commit","t":1,"id":"r","usage":{"A":1}}"#, #"{"op":"rates","t":1,"version":"v 1","items":{}}"#,
    rates(#"{"a b":{}}"#), rates(#"{"a":{"fallback":"b c"}}"#), rates(#"{"a":{"meters":{"Tok":{"price":1}}}}"#),
]

private let badEscapesAndControls = [
    event(id: #""\x""#), event(id: #""\u12""#), event(id: #""\u12G4""#), event(id: #""\u""#), event(id: #""\ud800""#),
    event(id: #""\udc00""#), event(id: #""\ud800\u0041""#), event(id: #""\ud800\ud800""#), event(id: #""\ud800x""#),
    event(id: #""\'""#), event(id: #""\a""#), event(id: #""\U0061""#), event(id: #""a\""#), event(id: #""a"#),
    event(id: "\"a\tb\""), event(id: "\"a\u{01}b\""), event(id: "\"a\u{1F}b\""), event(id: "\"a\0\""),
    event(id: "\"a\rb\""), event(id: "\"a\nb\""),
]

private let outOfRange = [
    #"{"op":"limits","t":1,"account":"a","period_cap":5}"#,
    #"{"op":"account","t":1,"id":"a","limits":{"period_cap":5}}"#,
    #"{"op":"grant","t":5,"account":"a","id":"g","amount":1,"expires_at":5}"#,
    #"{"op":"grant","t":5,"account":"a","id":"g","amount":1,"expires_at":4}"#,
    #"{"op":"grant","t":5,"account":"a","id":"g","amount":1,"expires_at":0}"#,
    #"{"op":"grant","t":1,"account":"a","id":"g","amount":0}"#,
    #"{"op":"grant","t":1,"account":"a","id":"g","amount":\#(amountPlusOne)}"#,
    #"{"op":"grant","t":1,"account":"a","id":"g","amount":1,"priority":\#(amountPlusOne)}"#,
    #"{"op":"grant","t":1,"account":"a","id":"g","amount":1,"paid":\#(amountPlusOne)}"#,
    #"{"op":"reserve","t":1,"account":"a","id":"r","amount":1,"ttl_ms":0}"#,
    #"{"op":"reserve","t":1,"account":"a","id":"r","amount":1,"ttl_ms":86400001}"#,
    #"{"op":"reserve","t":1,"account":"a","id":"r","amount":\#(amountPlusOne)}"#,
    #"{"op":"commit","t":1,"id":"r","amount":\#(amountPlusOne)}"#,
    #"{"op":"charge","t":1,"account":"a","id":"c","amount":\#(amountPlusOne)}"#,
    #"{"op":"refund","t":1,"id":"f","event":"c","amount":0}"#,
    #"{"op":"refund","t":1,"id":"f","event":"c","amount":\#(amountPlusOne)}"#,
    rates(#"{"a":{"meters":{"m":{"price":1,"per":0}}}}"#), rates(#"{"a":{"fallback":"b"}}"#),
    rates(#"{"a":{"fallback":"A"}}"#), rates(#"{"a":{},"b":{"fallback":"c"}}"#),
]

/// Nesting far deeper than the format's: refused at the first unexpected value.
private let deepNesting = [
    #"{"op":"tick","t":1,"x":"# + String(repeating: "[", count: 100_000),
    String(repeating: "[", count: 1_000_000), String(repeating: "{\"a\":", count: 100_000),
    rates(#"{"a":{"meters":{"m":{"price":"# + String(repeating: "{\"p\":", count: 100_000)),
    #"{"op":"limits","t":1,"account":"a","alerts":"# + String(repeating: "[", count: 100_000),
    #"{"op":"account","t":1,"id":"a","limits":"# + String(repeating: "{\"limits\":", count: 100_000),
]

/// Bytes that are not UTF-8, or not JSON outside strings.
private let badBytes: [[UInt8]] = {
    let prefix = Array(#"{"op":"event","t":1,"id":""#.utf8)
    let suffix = Array(#""}"#.utf8)
    let insideStrings: [[UInt8]] = [
        [0xC0, 0xAF], [0xC1, 0xBF], [0xE0, 0x80, 0xAF], [0xE0, 0x9F, 0xBF], [0xF0, 0x80, 0x80, 0xAF],
        [0xF0, 0x8F, 0xBF, 0xBF], [0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF], [0xED, 0xA0, 0x80, 0xED, 0xB0, 0x80],
        [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xFF], [0xFE], [0x80], [0xBF], [0x61, 0x80],
        [0xC3], [0xE2, 0x82], [0xF0, 0x9F, 0x98], [0xC3, 0x41], [0xE2, 0x41, 0x82], [0xF8, 0x88, 0x80, 0x80, 0x80],
        [0xC3, 0xA9],  // valid UTF-8 (é), but no name character
        [0xF0, 0x9F, 0x98, 0x80],  // valid UTF-8 (😀), but no name character
    ]
    let truncated: [[UInt8]] = [[0xC3], [0xE2, 0x82], [0xF0, 0x9F, 0x98]].map { prefix + $0 }  // line ends inside
    let outside: [[UInt8]] = [
        Array(#"{"op":"tick","t":1}"#.utf8) + [0xFF], [0xEF, 0xBB, 0xBF] + Array(#"{"op":"tick","t":1}"#.utf8),
        Array(#"{"op":"tick","t":1,"#.utf8) + [0xC3, 0xA9] + Array(#"":1}"#.utf8),
        Array(#"{"op":"tick","t":1"#.utf8) + [0xC2, 0xA0, 0x7D], [0x80], [0xFF, 0xFE],
    ]
    return insideStrings.map { prefix + $0 + suffix } + truncated + outside
}()

@Suite struct ParserMalformedTests {
    @Test(arguments: notJSON) func notOneJSONObject(_ line: String) { #expect(parse(line) == .malformed) }

    @Test(arguments: badNumbers) func notAnIntegerOfTheFormat(_ number: String) {
        #expect(parse(#"{"op":"tick","t":\#(number)}"#) == .malformed)
        #expect(parse(charge().replacingAmount(with: number)) == .malformed)
    }

    @Test(arguments: badTypesAndValues) func wrongTypeOrValue(_ line: String) { #expect(parse(line) == .malformed) }
    @Test(arguments: wrongFields) func fieldsNotOfTheOperation(_ line: String) { #expect(parse(line) == .malformed) }
    @Test(arguments: repeatedKeys) func repeatedKey(_ line: String) { #expect(parse(line) == .malformed) }
    @Test(arguments: badNames) func badName(_ line: String) { #expect(parse(line) == .malformed) }
    @Test(arguments: badEscapesAndControls) func badEscapeOrControl(_ line: String) {
        #expect(parse(line) == .malformed)
    }
    @Test(arguments: outOfRange) func valueOutOfRange(_ line: String) { #expect(parse(line) == .malformed) }
    @Test(arguments: deepNesting) func nestedTooDeep(_ line: String) { #expect(parse(line) == .malformed) }

    @Test(arguments: badBytes) func notUTF8OrNotAName(_ bytes: [UInt8]) {
        var parser = TraceParser()
        #expect(parser.parse(bytes) == .malformed)
    }

    @Test func theValidLinesTheTablesBreakAreValid() {
        #expect(parse(charge()) != .malformed)
        #expect(parse(charge(#","force":true"#)) != .malformed)
        #expect(parse(rates(#"{"a":{"meters":{"m":{"price":1,"per":1}}},"b":{"fallback":"a"}}"#)) != .malformed)
        #expect(parse(event(id: #""a""#)) != .malformed)
        #expect(parse(#"{"op":"limits","t":1,"account":"a","period":"day","period_cap":5}"#) != .malformed)
        #expect(parse(#"{"op":"grant","t":5,"account":"a","id":"g","amount":1,"expires_at":6}"#) != .malformed)
    }

    @Test func everyTruncationOfAValidLineIsMalformed() {
        let line = Array(
            #"{"op":"rates","t":1,"version":"v","effective_at":3,"items":{"a":{"base":1,"meters":{"m":{"price":1,"per":2}},"fallback":"a"}}}"#
                .utf8)
        var parser = TraceParser()
        #expect(parser.parse(line) != .malformed)
        for length in 1..<line.count {
            #expect(parser.parse(Array(line[..<length])) == .malformed, "\(length)")
        }
    }

    @Test func everySingleByteChangeGivesAnAnswer() {
        // No byte value anywhere may crash the parser.
        let line = Array(#"{"op":"reserve","t":1,"account":"a","id":"r","item":"i","usage":{"n":1},"ttl_ms":5}"#.utf8)
        var parser = TraceParser()
        for position in line.indices {
            for byte in UInt8.min...UInt8.max {
                var changed = line
                changed[position] = byte
                _ = parser.parse(changed)
            }
        }
    }
}

extension String {
    /// This charge line with its amount `5` replaced by `number`.
    fileprivate func replacingAmount(with number: String) -> String {
        guard let range = range(of: #""amount":5"#) else { return self }
        return replacingCharacters(in: range, with: #""amount":\#(number)"#)
    }
}
