// The durable engine's snapshot files, beside the journal's segments in its directory:
// `engine-snapshot-TTTT.snap` holds the engine's state (`EngineSnapshot.encoded()`) covering
// every journal record through ticket TTTT (20 digits). Written to a temporary file, synced,
// renamed into place once the journal is durable through TTTT, the directory synced; then
// older snapshots are removed. A crash at any point leaves either the previous snapshot or
// the new one, each with the journal it needs.
//
// Header (40 bytes, integers little-endian, checksums CRC-32C):
//   0  magic "CMENGSNP"         16  ticket covered          32  body CRC
//   8  format version (1)       24  body length             36  header CRC (bytes 0..<36)
//  12  reserved (0)
// Only the newest snapshot is kept: the journal before it is removed, so there is nothing to
// fall back to, and a damaged newest snapshot is an error naming the file and byte offset.

import CreditCore
import CreditEngine
import CreditJournal

/// Reading and writing engine snapshot files.
public enum EngineSnapshotFile {
    static let magic: [UInt8] = Array("CMENGSNP".utf8)
    /// The file format version; reading refuses any other.
    public static let formatVersion: UInt32 = 1
    public static let headerBytes = 40
    /// The name of a snapshot being written.
    public static let temporaryName = "engine-snapshot.tmp"
    /// The largest body read back: 64 GiB (a longer length in a header is damage).
    public static let bodyBytesMax: UInt64 = 64 << 30

    /// The file name of the snapshot covering tickets through `ticket`.
    public static func name(ticket: UInt64) -> String {
        let digits = String(ticket)
        return "engine-snapshot-" + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".snap"
    }

    /// The ticket of a snapshot file name, nil for any other name.
    public static func ticket(ofName name: String) -> UInt64? {
        let prefix = "engine-snapshot-"
        let suffix = ".snap"
        guard name.hasPrefix(prefix), name.hasSuffix(suffix), name.utf8.count == prefix.utf8.count + 20 + suffix.utf8.count
        else { return nil }
        return UInt64(name.dropFirst(prefix.count).dropLast(suffix.count))
    }

    /// The newest snapshot in `directory` by name (its name and ticket), or nil.
    public static func newest<FileSystem: JournalFileSystem>(in directory: String, fileSystem: FileSystem) throws
        -> (name: String, ticket: UInt64)?
    {
        try fileSystem.list(directory).compactMap { name in ticket(ofName: name).map { (name, $0) } }
            .max { $0.1 < $1.1 }
    }

    static func header(ticket: UInt64, body: [UInt8]) -> [UInt8] {
        var bytes = magic
        append(formatVersion, to: &bytes)
        append(UInt32(0), to: &bytes)
        append(ticket, to: &bytes)
        append(UInt64(body.count), to: &bytes)
        append(CRC32C.checksum(body), to: &bytes)
        append(CRC32C.checksum(bytes), to: &bytes)
        precondition(bytes.count == headerBytes, "the header's layout")
        return bytes
    }

    /// Writes `body` as the snapshot of `ticket` in `directory`: temporary file, sync,
    /// `beforePublishing` (the journal's wait for durability through `ticket`), rename,
    /// directory sync, then older snapshots removed. Returns the file's size. One writer at a
    /// time per directory. On a failure before the rename the temporary file is removed and
    /// the previous snapshot stays the newest.
    static func write<FileSystem: JournalFileSystem>(
        _ body: [UInt8], ticket: UInt64, directory: String, fileSystem: FileSystem, beforePublishing: () throws -> Void
    ) throws -> Int {
        let header = header(ticket: ticket, body: body)
        let temporary = directory + "/" + temporaryName
        do {
            let file = try fileSystem.create(temporary)
            defer { file.close() }
            try file.write(header)
            try file.write(body)
            try file.sync()
            try beforePublishing()
        } catch {
            try? fileSystem.remove(temporary)
            throw error
        }
        try fileSystem.rename(temporary, to: directory + "/" + name(ticket: ticket))
        try fileSystem.syncDirectory(directory)
        var removed = false
        for name in try fileSystem.list(directory) {
            if let older = self.ticket(ofName: name), older < ticket {
                try fileSystem.remove(directory + "/" + name)
                removed = true
            }
        }
        if removed { try fileSystem.syncDirectory(directory) }
        return header.count + body.count
    }

    /// Reads and checks a snapshot file: its ticket and body. Throws `DurableEngineError`
    /// naming the file and byte offset for a bad magic, version, length or checksum.
    static func read<FileSystem: JournalFileSystem>(_ path: String, fileSystem: FileSystem) throws
        -> (ticket: UInt64, body: [UInt8])
    {
        let bytes = try fileSystem.read(path)
        func bad(_ offset: Int, _ message: String) -> DurableEngineError {
            DurableEngineError(path: path, offset: offset, message)
        }
        guard bytes.count >= headerBytes else { throw bad(bytes.count, "file of \(bytes.count) bytes, shorter than its header") }
        guard Array(bytes[0..<8]) == magic else { throw bad(0, "not an engine snapshot (magic)") }
        guard CRC32C.checksum(Array(bytes[0..<36])) == u32(bytes, 36) else { throw bad(36, "header checksum") }
        guard u32(bytes, 8) == formatVersion else {
            throw bad(8, "format version \(u32(bytes, 8)), this build reads \(formatVersion)")
        }
        let ticket = u64(bytes, 16)
        let length = u64(bytes, 24)
        guard length <= bodyBytesMax, Int(length) == bytes.count - headerBytes else {
            throw bad(24, "body of \(bytes.count - headerBytes) bytes, header says \(length)")
        }
        let body = Array(bytes[headerBytes...])
        guard CRC32C.checksum(body) == u32(bytes, 32) else { throw bad(headerBytes, "body checksum") }
        return (ticket, body)
    }

    static func append(_ value: UInt32, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }
    static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }
    static func u32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
    }
    static func u64(_ bytes: [UInt8], _ offset: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * $1) }
    }
}
