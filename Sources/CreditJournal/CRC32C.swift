// CRC-32C (Castagnoli), the checksum of every journal record, batch and snapshot.
//
// Written by hand: no package served on these machines offers CRC-32C (swift-nio's
// NIOExtras has only CRC-32 for gzip, and Foundation has none), and the table-driven
// slicing-by-8 form below is 40 lines. CRC-32C rather than CRC-32 because it detects all
// burst errors up to 32 bits and every odd number of flipped bits, like CRC-32, but has
// better Hamming distance at journal record sizes, and it is the checksum of ext4, iSCSI
// and most databases' logs, so its values can be checked with common tools.

import CCRC32C

/// CRC-32C of byte sequences. Pure; safe from any thread.
public enum CRC32C {
    /// Whether `update` uses the CPU's instruction (x86-64 with SSE 4.2; Sources/CCRC32C),
    /// several times faster than the tables: snapshots of hundreds of megabytes and the trace
    /// prefix are checked at every recovery. Other CPUs use the tables.
    static let hardwareAvailable = ccrc32c_hardware_available() != 0

    /// The reflected Castagnoli polynomial.
    static let polynomial: UInt32 = 0x82F6_3B78

    /// Eight 256-entry tables for slicing-by-8: table k maps a byte k positions back.
    static let tables: [UInt32] = {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for byte in 0..<256 {
            var crc = UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ polynomial : crc >> 1 }
            tables[byte] = crc
        }
        for k in 1..<8 {
            for byte in 0..<256 {
                let previous = tables[(k - 1) * 256 + byte]
                tables[k * 256 + byte] = (previous >> 8) ^ tables[Int(previous & 0xFF)]
            }
        }
        return tables
    }()

    /// Extends `crc` (0 to start) over `bytes`.
    public static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard hardwareAvailable, let base = bytes.baseAddress else { return updateWithTables(crc, bytes) }
        return ccrc32c_update_hardware(crc, base, bytes.count)
    }

    /// `update` by the slicing-by-8 tables: on CPUs without the instruction, and in the tests
    /// as the reference the instruction's results must equal.
    static func updateWithTables(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc = ~crc
        var index = 0
        let count = bytes.count
        tables.withUnsafeBufferPointer { table in
            while count - index >= 8 {
                let low = crc ^ bytes.loadUnaligned(fromByteOffset: index, as: UInt32.self).littleEndian
                let high = bytes.loadUnaligned(fromByteOffset: index + 4, as: UInt32.self).littleEndian
                crc = table[7 * 256 + Int(low & 0xFF)] ^ table[6 * 256 + Int((low >> 8) & 0xFF)]
                    ^ table[5 * 256 + Int((low >> 16) & 0xFF)] ^ table[4 * 256 + Int(low >> 24)]
                    ^ table[3 * 256 + Int(high & 0xFF)] ^ table[2 * 256 + Int((high >> 8) & 0xFF)]
                    ^ table[1 * 256 + Int((high >> 16) & 0xFF)] ^ table[Int(high >> 24)]
                index += 8
            }
            while index < count {
                crc = (crc >> 8) ^ table[Int((crc ^ UInt32(bytes[index])) & 0xFF)]
                index += 1
            }
        }
        return ~crc
    }

    /// CRC-32C of `bytes`.
    public static func checksum(_ bytes: some ContiguousBytes) -> UInt32 {
        bytes.withUnsafeBytes { update(0, $0) }
    }
}

/// Byte containers whose bytes can be read in place.
public protocol ContiguousBytes {
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
}
extension Array: ContiguousBytes where Element == UInt8 {}
extension ArraySlice: ContiguousBytes where Element == UInt8 {}
