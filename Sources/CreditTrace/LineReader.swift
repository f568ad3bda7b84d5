// Reading a trace as lines from a file descriptor (stdin is 0) with read(2) into one fixed
// buffer: memory stays the same whatever the trace's length. A line longer than
// `traceLineBytesMax` is not buffered: the reader skips to its LF and reports it as
// overlong, which the parser answers as malformed.

#if canImport(Darwin)
    import Darwin
#else
    import Glibc
#endif

/// The longest trace line, without its LF, that the reader hands over: 1 MiB. A request
/// of the format is far shorter (its names are at most 64 characters); the bound only
/// keeps a runaway line from taking memory. A longer line is malformed.
public let traceLineBytesMax = 1 << 20

/// Reads LF-separated lines from a file descriptor through a fixed buffer.
public struct LineReader: Sendable {
    /// One line as read.
    public enum Line {
        /// The line's bytes without its LF, valid only during the call that gets them.
        case bytes(UnsafeRawBufferPointer)
        /// A line longer than the reader's limit, skipped unread.
        case overlong
    }

    /// A failed read(2), with its `errno`.
    public struct ReadError: Error, Hashable {
        /// The `errno` read(2) set.
        public var errno: Int32
        /// A read error with `errno`.
        public init(errno: Int32) { self.errno = errno }
    }

    /// The bytes asked of one read(2): 64 KiB.
    public static let readBytesDefault = 1 << 16

    private let fileDescriptor: Int32
    private let lineBytesMax: Int
    private let readBytes: Int

    /// A reader of `fileDescriptor`, which it neither owns nor closes. `lineBytesMax` and
    /// `readBytes` (both at least 1) set its buffer, of `lineBytesMax + readBytes` bytes.
    public init(
        fileDescriptor: Int32, lineBytesMax: Int = traceLineBytesMax, readBytes: Int = LineReader.readBytesDefault
    ) {
        self.fileDescriptor = fileDescriptor
        self.lineBytesMax = max(1, lineBytesMax)
        self.readBytes = max(1, readBytes)
    }

    /// Calls `body` with every line to the end of the file, in order, and its 1-based
    /// physical line number. The last line may lack its LF; an empty file has no line.
    /// Throws `ReadError` when read(2) fails, and what `body` throws.
    public func forEachLine(_ body: (Line, Int) throws -> Void) throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: lineBytesMax + readBytes, alignment: 1)
        defer { buffer.deallocate() }
        var state = ScanState()
        while true {
            try state.deliverLines(in: UnsafeRawBufferPointer(buffer), lineBytesMax: lineBytesMax, body)
            state.compact(buffer)
            let received = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[state.end...]))
            if received == 0 { break }
            state.end += received
        }
        try state.deliverLast(in: UnsafeRawBufferPointer(buffer), lineBytesMax: lineBytesMax, body)
    }

    /// One read(2) into `space`, retried on EINTR; 0 at the end of the file.
    private func read(into space: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            #if canImport(Darwin)
                let received = Darwin.read(fileDescriptor, space.baseAddress, space.count)
            #else
                let received = Glibc.read(fileDescriptor, space.baseAddress, space.count)
            #endif
            if received >= 0 { return received }
            if errno != EINTR { throw ReadError(errno: errno) }
        }
    }
}

/// Where the reader is in its buffer: bytes `start..<end` are read but not yet handed over.
private struct ScanState {
    var start = 0
    var end = 0
    /// Bytes `start..<scanned` are known to hold no LF.
    var scanned = 0
    /// The line number of the next line.
    var lineNumber = 1
    /// Inside an overlong line: its bytes up to its LF are dropped as they come.
    var skipping = false

    /// Hands over every complete line in the buffer, and starts skipping a partial line
    /// that is already too long.
    mutating func deliverLines(
        in buffer: UnsafeRawBufferPointer, lineBytesMax: Int, _ body: (LineReader.Line, Int) throws -> Void
    ) throws {
        while let lineFeed = nextLineFeed(in: buffer) {
            try deliver(in: buffer, upTo: lineFeed, lineBytesMax: lineBytesMax, body)
            start = lineFeed + 1
            scanned = start
        }
        if skipping || end - start > lineBytesMax {
            skipping = true
            start = end
            scanned = end
        }
    }

    /// Hands over the last line when the file does not end with a LF.
    mutating func deliverLast(
        in buffer: UnsafeRawBufferPointer, lineBytesMax: Int, _ body: (LineReader.Line, Int) throws -> Void
    ) throws {
        guard skipping || start < end else { return }
        try deliver(in: buffer, upTo: end, lineBytesMax: lineBytesMax, body)
    }

    /// Moves the unread bytes to the front of the buffer, making room for a read.
    mutating func compact(_ buffer: UnsafeMutableRawBufferPointer) {
        guard start > 0 else { return }
        let pending = end - start
        if pending > 0 {
            buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: pending)
        }
        scanned -= start
        start = 0
        end = pending
    }

    private mutating func deliver(
        in buffer: UnsafeRawBufferPointer, upTo lineEnd: Int, lineBytesMax: Int,
        _ body: (LineReader.Line, Int) throws -> Void
    ) throws {
        let number = lineNumber
        lineNumber += 1
        if skipping || lineEnd - start > lineBytesMax {
            skipping = false
            try body(.overlong, number)
        } else {
            try body(.bytes(UnsafeRawBufferPointer(rebasing: buffer[start..<lineEnd])), number)
        }
    }

    /// The offset of the next LF in `scanned..<end`, advancing `scanned`.
    private mutating func nextLineFeed(in buffer: UnsafeRawBufferPointer) -> Int? {
        guard scanned < end, let base = buffer.baseAddress else { return nil }
        if let found = memchr(base + scanned, Int32(ASCII.lineFeed), end - scanned) {
            let offset = base.distance(to: UnsafeRawPointer(found))
            scanned = offset
            return offset
        }
        scanned = end
        return nil
    }
}
