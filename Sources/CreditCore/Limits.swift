// The spec's numeric limits, named once. Every range check in the core and in the trace
// parser refers to these, so that a reader can match them to `semantics.md` and `trace.md`.

/// Credit units. Amounts, holds, debt and balances are whole numbers of credit units.
public typealias Credits = Int64

/// Milliseconds since the Unix epoch, supplied by the caller.
public typealias Milliseconds = Int64

/// The named bounds of the spec.
public enum SpecLimits {
    /// Largest amount, price, quantity or cost in a request: 10^12.
    public static let amountMax: Int64 = 1_000_000_000_000
    /// Largest lifetime granted total, and largest debt, of one account: 10^15.
    public static let accountTotalMax: Int64 = 1_000_000_000_000_000
    /// Longest name (accounts, grants, events, refunds, items, versions), in characters.
    public static let nameLengthMax = 64
    /// Longest meter name, in characters.
    public static let meterNameLengthMax = 32
    /// Shortest and longest reservation time-to-live.
    public static let ttlMillisecondsMin: Int64 = 1
    public static let ttlMillisecondsMax: Int64 = 86_400_000
    /// The time-to-live of a reservation that names none: 10 minutes.
    public static let ttlMillisecondsDefault: Int64 = 600_000
    /// Milliseconds in a UTC day.
    public static let dayMilliseconds: Int64 = 86_400_000

    /// Whether `name` is 1...64 characters of `A-Z a-z 0-9 . _ : -`.
    @inlinable
    public static func isValidName(_ name: some Collection<UInt8>) -> Bool {
        let count = name.count
        guard count >= 1, count <= nameLengthMax else { return false }
        for byte in name where !isNameByte(byte) { return false }
        return true
    }

    /// Whether `byte` may appear in a name: `A-Z a-z 0-9 . _ : -`, as bits of two masks
    /// (bytes 0-63 and 64-127) rather than a chain of range comparisons.
    @inlinable @inline(__always)
    static func isNameByte(_ byte: UInt8) -> Bool {
        // 0-63: '-' (45), '.' (46), '0'-'9' (48-57), ':' (58).
        let lowMask: UInt64 = 0x07FF_6000_0000_0000
        // 64-127: 'A'-'Z' (65-90), '_' (95), 'a'-'z' (97-122).
        let highMask: UInt64 = 0x07FF_FFFE_87FF_FFFE
        if byte < 64 { return lowMask &>> UInt64(byte) & 1 != 0 }
        if byte < 128 { return highMask &>> UInt64(byte &- 64) & 1 != 0 }
        return false
    }

    /// Whether `name` is 1...32 characters of `a-z 0-9 _`.
    @inlinable
    public static func isValidMeterName(_ name: some Collection<UInt8>) -> Bool {
        let count = name.count
        guard count >= 1, count <= meterNameLengthMax else { return false }
        for byte in name {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"):
                continue
            default:
                return false
            }
        }
        return true
    }

    public static func isValidName(_ name: String) -> Bool {
        // Native strings expose contiguous UTF-8: check it as a buffer, the fast path.
        name.utf8.withContiguousStorageIfAvailable { isValidName($0) } ?? isValidName(name.utf8)
    }

    public static func isValidMeterName(_ name: String) -> Bool {
        name.utf8.withContiguousStorageIfAvailable { isValidMeterName($0) } ?? isValidMeterName(name.utf8)
    }
}
