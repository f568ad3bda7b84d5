// Which trace a data directory belongs to. The state in a directory is a function of the
// trace lines it covers (1 ... its last line) and of nothing else, so the sound identity is
// a checksum of exactly those lines: every batch header and snapshot header holds the
// CRC-32C and the byte count of the trace's lines 1 ... its last line (each line's bytes
// followed by LF). A resumed run reads those lines again anyway (it skips them), computes
// the same figures and compares before it changes anything: a different trace is refused,
// a longer copy of the same trace (a trace that grew) resumes. It works the same for a
// file and for standard input, where no size or path is stable.
//
// Strength: any difference in length is found; two different prefixes of the same length
// pass with probability 2^-32 (CRC-32C: every burst of up to 32 bits, every odd number of
// flipped bits is found). Overlong lines (over 1 MiB, read unbuffered, all of them answered
// `invalid`) count as one marker byte each, whatever their content.

/// The checksum and length of a trace prefix. A value; pure.
public struct TraceHash: Sendable, Hashable, CustomStringConvertible {
    /// CRC-32C of the prefix's bytes.
    public var crc: UInt32 = 0
    /// The prefix's length in bytes (LFs included).
    public var byteCount: UInt64 = 0

    public init() {}
    public init(crc: UInt32, byteCount: UInt64) {
        self.crc = crc
        self.byteCount = byteCount
    }

    /// Extends the prefix by one line, given without its LF.
    public mutating func append(line: UnsafeRawBufferPointer) {
        crc = CRC32C.update(crc, line)
        withUnsafeBytes(of: UInt8(ascii: "\n")) { crc = CRC32C.update(crc, $0) }
        byteCount += UInt64(line.count) + 1
    }

    /// Extends the prefix by an overlong line, which is never read: one marker byte.
    public mutating func appendOverlong() {
        withUnsafeBytes(of: UInt8(0xFF)) { crc = CRC32C.update(crc, $0) }
        byteCount += 1
    }

    public var description: String { "\(byteCount) bytes, CRC-32C \(String(crc, radix: 16))" }
}
