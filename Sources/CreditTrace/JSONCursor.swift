// The byte-level half of the trace parser: a cursor over one line's bytes that reads the
// RFC 8259 tokens the trace format uses (objects, arrays of integers, strings, integers,
// booleans) straight from the bytes, with no intermediate tree. Every reader returns nil
// (or false) on anything that is not exactly what it expects; the caller then reports the
// line as malformed. Reads past the end see a 0 byte, which no reader accepts, so the
// cursor never reads out of bounds whatever the input.

/// A read position in one line. Every `read…` method starts at the first byte of its
/// token (whitespace already skipped) and leaves the cursor just past it.
struct JSONCursor {
    private let base: UnsafePointer<UInt8>
    private let count: Int
    private(set) var index = 0
    /// Decoded bytes of the current string when it holds escapes or non-ASCII text.
    /// Reused from line to line by `TraceParser`.
    var scratch: [UInt8]

    init(_ bytes: UnsafeBufferPointer<UInt8>, scratch: [UInt8]) {
        // An empty buffer may have no base address; any pointer will do, it is never read.
        self.base = bytes.baseAddress ?? UnsafePointer(bitPattern: 1)!
        self.count = bytes.count
        self.scratch = scratch
    }

    /// Whether every byte has been read.
    var isAtEnd: Bool { index == count }

    /// The byte at `index + offset`, or 0 past the end (0 is valid nowhere it is looked at).
    @inline(__always)
    func peek(_ offset: Int = 0) -> UInt8 {
        let position = index &+ offset
        return position < count ? base[position] : 0
    }

    /// Skips JSON whitespace: space, tab, LF, CR.
    @inline(__always)
    mutating func skipWhitespace() {
        while index < count {
            switch base[index] {
            case ASCII.space, ASCII.tab, ASCII.lineFeed, ASCII.carriageReturn: index += 1
            default: return
            }
        }
    }

    /// Consumes `byte` if it is next.
    @inline(__always)
    mutating func take(_ byte: UInt8) -> Bool {
        guard peek() == byte else { return false }
        index += 1
        return true
    }
}

// MARK: - Objects and arrays

extension JSONCursor {
    /// Reads an object. `key` turns each member's decoded key into a `Key` (nil: the line
    /// is malformed); `value` then reads the member's value, cursor on its first byte.
    /// Returns false at the first error.
    @inline(__always)
    mutating func readObject<Key>(
        key: (UnsafeBufferPointer<UInt8>) -> Key?,
        value: (inout JSONCursor, Key) -> Bool
    ) -> Bool {
        guard take(ASCII.openBrace) else { return false }
        skipWhitespace()
        if take(ASCII.closeBrace) { return true }
        while true {
            guard let name = readString(key) else { return false }
            skipWhitespace()
            guard take(ASCII.colon) else { return false }
            skipWhitespace()
            guard value(&self, name) else { return false }
            skipWhitespace()
            if take(ASCII.comma) {
                skipWhitespace()
                continue
            }
            return take(ASCII.closeBrace)
        }
    }

    /// Reads an array of integers in the trace's range (see `readInteger`), in order.
    mutating func readIntegerArray() -> [Int64]? {
        guard take(ASCII.openBracket) else { return nil }
        var values: [Int64] = []
        skipWhitespace()
        if take(ASCII.closeBracket) { return values }
        while true {
            guard let value = readInteger() else { return nil }
            values.append(value)
            skipWhitespace()
            if take(ASCII.comma) {
                skipWhitespace()
                continue
            }
            return take(ASCII.closeBracket) ? values : nil
        }
    }
}

// MARK: - Scalars

extension JSONCursor {
    /// Reads a JSON number that is a non-negative integer fitting `Int64`: no fraction, no
    /// exponent, no leading zero; `-0` is 0. Any other number is nil, never a trap: a
    /// negative integer is out of every range of the format, and a bigger one is malformed.
    mutating func readInteger() -> Int64? {
        let negative = take(ASCII.minus)
        var value: Int64 = 0
        let first = peek()
        if first == ASCII.zero {
            index += 1
        } else if first >= ASCII.one && first <= ASCII.nine {
            while true {
                let digit = peek()
                guard digit >= ASCII.zero && digit <= ASCII.nine else { break }
                let (tens, overflowed) = value.multipliedReportingOverflow(by: 10)
                let (next, carried) = tens.addingReportingOverflow(Int64(digit &- ASCII.zero))
                guard !overflowed, !carried else { return nil }
                value = next
                index += 1
            }
        } else {
            return nil
        }
        switch peek() {
        case ASCII.zero...ASCII.nine, ASCII.dot, ASCII.lowerE, ASCII.upperE: return nil
        default: break
        }
        return negative && value != 0 ? nil : value
    }

    /// Reads `true` or `false`.
    mutating func readBool() -> Bool? {
        if peek() == ASCII.lowerT, peek(1) == ASCII.lowerR, peek(2) == ASCII.lowerU, peek(3) == ASCII.lowerE {
            index += 4
            return true
        }
        if peek() == ASCII.lowerF, peek(1) == ASCII.lowerA, peek(2) == ASCII.lowerL, peek(3) == ASCII.lowerS,
            peek(4) == ASCII.lowerE
        {
            index += 5
            return false
        }
        return nil
    }

    /// Reads a string and hands its decoded UTF-8 bytes to `body`, whose answer it returns.
    /// Nil for a raw control character, an invalid escape, a lone surrogate or bytes that
    /// are not UTF-8 (overlong forms, encoded surrogates, truncated sequences).
    /// A string of plain ASCII without escapes is handed over in place, without copying.
    @inline(__always)
    mutating func readString<Result>(_ body: (UnsafeBufferPointer<UInt8>) -> Result?) -> Result? {
        guard take(ASCII.quote) else { return nil }
        let start = index
        while index < count {
            let byte = base[index]
            if byte == ASCII.quote {
                index += 1
                return body(UnsafeBufferPointer(start: base + start, count: index - 1 - start))
            }
            if byte < ASCII.space { return nil }
            if byte == ASCII.backslash || byte >= 0x80 { return readEscapedString(from: start, body) }
            index += 1
        }
        return nil
    }
}

// MARK: - Strings with escapes or non-ASCII bytes

extension JSONCursor {
    /// The slow path of `readString`: decodes into `scratch` from the string's first byte
    /// (`start`); the cursor is at the first byte that needs work.
    private mutating func readEscapedString<Result>(
        from start: Int, _ body: (UnsafeBufferPointer<UInt8>) -> Result?
    ) -> Result? {
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeBufferPointer(start: base + start, count: index - start))
        while true {
            let byte = peek()
            switch byte {
            case ASCII.quote:
                index += 1
                return scratch.withUnsafeBufferPointer(body)
            case ASCII.backslash:
                index += 1
                guard readEscape() else { return nil }
            case 0..<ASCII.space:  // also the end of the line
                return nil
            case 0..<0x80:
                scratch.append(byte)
                index += 1
            default:
                let length = utf8SequenceLength()
                guard length > 0 else { return nil }
                scratch.append(contentsOf: UnsafeBufferPointer(start: base + index, count: length))
                index += length
            }
        }
    }

    /// Decodes one escape (the cursor just past its backslash) into `scratch`.
    private mutating func readEscape() -> Bool {
        let letter = peek()
        index += 1
        switch letter {
        case ASCII.quote, ASCII.backslash, ASCII.slash: scratch.append(letter)
        case ASCII.lowerB: scratch.append(0x08)
        case ASCII.lowerF: scratch.append(0x0C)
        case ASCII.lowerN: scratch.append(ASCII.lineFeed)
        case ASCII.lowerR: scratch.append(ASCII.carriageReturn)
        case ASCII.lowerT: scratch.append(ASCII.tab)
        case ASCII.lowerU:
            guard let scalar = readUnicodeEscape() else { return false }
            UTF8.encode(scalar) { scratch.append($0) }
        default: return false
        }
        return true
    }

    /// Reads the hex digits of a `\u` escape, and of its low surrogate when it is a high
    /// one. A lone surrogate is nil: it is no Unicode scalar and no UTF-8 holds it.
    private mutating func readUnicodeEscape() -> Unicode.Scalar? {
        guard let unit = readHex4() else { return nil }
        switch unit {
        case 0xD800...0xDBFF:
            guard take(ASCII.backslash), take(ASCII.lowerU), let low = readHex4(), (0xDC00...0xDFFF).contains(low)
            else { return nil }
            return Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))
        case 0xDC00...0xDFFF:
            return nil
        default:
            return Unicode.Scalar(unit)
        }
    }

    private mutating func readHex4() -> UInt32? {
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = peek()
            let digit: UInt8
            switch byte {
            case ASCII.zero...ASCII.nine: digit = byte &- ASCII.zero
            case ASCII.lowerA...ASCII.lowerF: digit = byte &- ASCII.lowerA &+ 10
            case ASCII.upperA...ASCII.upperF: digit = byte &- ASCII.upperA &+ 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    /// The length of the well-formed UTF-8 sequence at the cursor (a non-ASCII lead byte),
    /// or 0 (Unicode 15, table 3-7: no overlong forms, no surrogates, nothing past U+10FFFF).
    private func utf8SequenceLength() -> Int {
        let lead = peek()
        let second = peek(1)
        let secondRange: ClosedRange<UInt8>
        let length: Int
        switch lead {
        case 0xC2...0xDF: (secondRange, length) = (0x80...0xBF, 2)
        case 0xE0: (secondRange, length) = (0xA0...0xBF, 3)
        case 0xE1...0xEC, 0xEE...0xEF: (secondRange, length) = (0x80...0xBF, 3)
        case 0xED: (secondRange, length) = (0x80...0x9F, 3)
        case 0xF0: (secondRange, length) = (0x90...0xBF, 4)
        case 0xF1...0xF3: (secondRange, length) = (0x80...0xBF, 4)
        case 0xF4: (secondRange, length) = (0x80...0x8F, 4)
        default: return 0
        }
        guard secondRange.contains(second) else { return 0 }
        for offset in 2..<length where !(0x80...0xBF).contains(peek(offset)) {
            return 0
        }
        return length
    }
}

// MARK: - Byte constants

/// The ASCII bytes the trace format's grammar names.
enum ASCII {
    static let tab: UInt8 = 0x09
    static let lineFeed: UInt8 = 0x0A
    static let carriageReturn: UInt8 = 0x0D
    static let space: UInt8 = 0x20
    static let quote = UInt8(ascii: "\"")
    static let comma = UInt8(ascii: ",")
    static let minus = UInt8(ascii: "-")
    static let dot = UInt8(ascii: ".")
    static let slash = UInt8(ascii: "/")
    static let zero = UInt8(ascii: "0")
    static let one = UInt8(ascii: "1")
    static let nine = UInt8(ascii: "9")
    static let colon = UInt8(ascii: ":")
    static let upperA = UInt8(ascii: "A")
    static let upperE = UInt8(ascii: "E")
    static let upperF = UInt8(ascii: "F")
    static let openBracket = UInt8(ascii: "[")
    static let backslash = UInt8(ascii: "\\")
    static let closeBracket = UInt8(ascii: "]")
    static let lowerA = UInt8(ascii: "a")
    static let lowerB = UInt8(ascii: "b")
    static let lowerE = UInt8(ascii: "e")
    static let lowerF = UInt8(ascii: "f")
    static let lowerL = UInt8(ascii: "l")
    static let lowerN = UInt8(ascii: "n")
    static let lowerR = UInt8(ascii: "r")
    static let lowerS = UInt8(ascii: "s")
    static let lowerT = UInt8(ascii: "t")
    static let lowerU = UInt8(ascii: "u")
    static let openBrace = UInt8(ascii: "{")
    static let closeBrace = UInt8(ascii: "}")
}
