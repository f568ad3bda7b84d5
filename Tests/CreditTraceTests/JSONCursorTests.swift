// The byte-level readers directly: the exact bytes a JSON string decodes to (every escape,
// surrogate pairs, UTF-8 kept as it is), and the integers accepted at the edges of Int64.
// No name rule hides a decoding error here.

import Testing

@testable import CreditTrace

/// Runs `read` on a cursor over `text`; nil unless it reads all of `text`.
private func read<Value>(_ text: some Collection<UInt8>, _ read: (inout JSONCursor) -> Value?) -> Value? {
    Array(text).withUnsafeBufferPointer { bytes in
        var cursor = JSONCursor(bytes, scratch: [])
        guard let value = read(&cursor), cursor.isAtEnd else { return nil }
        return value
    }
}

private func decode(_ json: String) -> [UInt8]? {
    read(json.utf8) { $0.readString { Array($0) } }
}

@Suite struct JSONCursorTests {
    @Test func stringsDecodeEveryEscape() {
        #expect(decode(#""""#) == [])
        #expect(decode(#""abc""#) == Array("abc".utf8))
        #expect(decode(#""\"\\\/\b\f\n\r\t""#) == [0x22, 0x5C, 0x2F, 0x08, 0x0C, 0x0A, 0x0D, 0x09])
        #expect(decode(#""a\u0061\u00e9\u20AC""#) == Array("aaé€".utf8))
        #expect(decode(#""\u0000""#) == [0])
        #expect(decode(#""\ud83d\ude00""#) == Array("😀".utf8))
        #expect(decode(#""\uD83D\uDE00x""#) == Array("😀x".utf8))
        #expect(decode(#""\udbff\udfff""#) == Array("\u{10FFFF}".utf8))
        #expect(decode(#""é😀€""#) == Array("é😀€".utf8))
        #expect(decode(#""x\u0041é""#) == Array("xAé".utf8))
        #expect(decode("\"\u{7F}\"") == [0x7F])
    }

    @Test func stringsRefuseWhatIsNotJSONOrUTF8() {
        for bad in [#""\ud83d""#, #""\ude00""#, #""\ud83d\u0041""#, #""\z""#, #""\u00G0""#, #""abc"#, "\"a\u{1}\""] {
            #expect(decode(bad) == nil, "\(bad)")
        }
        #expect(read([0x22, 0xED, 0xA0, 0x80, 0x22]) { $0.readString { Array($0) } } == nil)
        #expect(read([0x22, 0xE0, 0x9F, 0xBF, 0x22]) { $0.readString { Array($0) } } == nil)
        #expect(
            read([0x22, 0xF4, 0x8F, 0xBF, 0xBF, 0x22]) { $0.readString { Array($0) } } == [0xF4, 0x8F, 0xBF, 0xBF])
    }

    @Test func integersAtTheEdges() {
        #expect(read("9223372036854775807".utf8) { $0.readInteger() } == .max)
        #expect(read("9223372036854775808".utf8) { $0.readInteger() } == nil)
        #expect(read("18446744073709551616".utf8) { $0.readInteger() } == nil)
        #expect(read("0".utf8) { $0.readInteger() } == 0)
        #expect(read("-0".utf8) { $0.readInteger() } == 0)
        #expect(read("-0.0".utf8) { $0.readInteger() } == nil)
        #expect(read("10".utf8) { $0.readInteger() } == 10)
        #expect(read("-1".utf8) { $0.readInteger() } == nil)
    }

    @Test func booleansAndArrays() {
        #expect(read("true".utf8) { $0.readBool() } == true)
        #expect(read("false".utf8) { $0.readBool() } == false)
        #expect(read("fals".utf8) { $0.readBool() } == nil)
        #expect(read("[ 3 ,1,3 ]".utf8) { $0.readIntegerArray() } == [3, 1, 3])
        #expect(read("[]".utf8) { $0.readIntegerArray() } == [])
        #expect(read("[".utf8) { $0.readIntegerArray() } == nil)
    }
}
