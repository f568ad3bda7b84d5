// A minimal Redis client (RESP2) over a blocking POSIX socket. No Redis client package is
// available to this project, and the harness needs only a few commands: blocking sockets
// keep each worker thread's measurement simple (the thread that sends a batch is the one
// that waits for it, with no event loop hop to add latency of its own), and pipelining is
// writing a whole batch of commands before reading their replies in order.

#if canImport(Darwin)
    import Darwin
#else
    import Glibc
#endif

/// A RESP reply.
public enum RESPValue: Equatable, Sendable {
    case simple(String)
    case error(String)
    case integer(Int64)
    case bulk([UInt8]?)
    case array([RESPValue]?)

    var text: String? {
        switch self {
        case .simple(let text): text
        case .bulk(let bytes?): String(decoding: bytes, as: UTF8.self)
        default: nil
        }
    }
}

/// One connection to redis-server. Not thread-safe: one owner thread.
public final class RESPConnection {
    /// The longest reply line or bulk string accepted (a protocol error beyond it).
    static let replyBytesMax = 64 << 20
    /// Nesting of arrays accepted in a reply.
    static let replyDepthMax = 8
    static let readChunkBytes = 64 << 10

    let socket: Int32
    var output: [UInt8] = []
    var input: [UInt8] = []
    var inputIndex = 0

    /// Connects to `host:port` (numeric IPv4, or `localhost`). Throws `TargetUnavailable`
    /// when nothing listens there.
    public init(host: String, port: UInt16) throws {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        let numeric = host == "localhost" ? "127.0.0.1" : host
        guard inet_pton(AF_INET, numeric, &address.sin_addr) == 1 else {
            throw TargetUnavailable("redis: \(host) is not a numeric IPv4 address")
        }
        #if canImport(Darwin)
            let descriptor = Darwin.socket(AF_INET, SOCK_STREAM, 0)
        #else
            let descriptor = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #endif
        guard descriptor >= 0 else { throw LoadTargetError("redis: socket: \(String(cString: strerror(errno)))") }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw TargetUnavailable("redis: cannot connect to \(host):\(port): \(reason)")
        }
        // Small requests, one round trip each: Nagle's delay would only add latency.
        var one: Int32 = 1
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        socket = descriptor
        output.reserveCapacity(4096)
        input.reserveCapacity(Self.readChunkBytes)
    }

    deinit { close(socket) }

    /// Appends a command to the output buffer (sent by `flush`).
    public func append(_ arguments: [String]) {
        output.append(UInt8(ascii: "*"))
        appendDecimal(arguments.count)
        for argument in arguments {
            output.append(UInt8(ascii: "$"))
            appendDecimal(argument.utf8.count)
            output.append(contentsOf: argument.utf8)
            output.append(contentsOf: [13, 10])
        }
    }

    private func appendDecimal(_ value: Int) {
        output.append(contentsOf: String(value).utf8)
        output.append(contentsOf: [13, 10])
    }

    /// Writes the output buffer.
    public func flush() throws {
        var written = 0
        while written < output.count {
            let result = output.withUnsafeBytes { send(socket, $0.baseAddress! + written, $0.count - written, 0) }
            if result < 0 {
                if errno == EINTR { continue }
                throw LoadTargetError("redis: send: \(String(cString: strerror(errno)))")
            }
            written += result
        }
        output.removeAll(keepingCapacity: true)
    }

    /// Sends one command and reads its reply.
    public func command(_ arguments: [String]) throws -> RESPValue {
        append(arguments)
        try flush()
        return try readReply()
    }

    /// Reads the next reply.
    public func readReply() throws -> RESPValue { try readValue(depth: 0) }

    private func readValue(depth: Int) throws -> RESPValue {
        guard depth <= Self.replyDepthMax else { throw LoadTargetError("redis: reply nested too deep") }
        let line = try readLine()
        guard let marker = line.first else { throw LoadTargetError("redis: empty reply line") }
        let rest = line.dropFirst()
        switch marker {
        case UInt8(ascii: "+"): return .simple(String(decoding: rest, as: UTF8.self))
        case UInt8(ascii: "-"): return .error(String(decoding: rest, as: UTF8.self))
        case UInt8(ascii: ":"): return .integer(try Self.parseInteger(rest))
        case UInt8(ascii: "$"):
            let length = try Self.parseInteger(rest)
            if length < 0 { return .bulk(nil) }
            guard length <= Self.replyBytesMax else { throw LoadTargetError("redis: bulk reply too long") }
            let bytes = try readBytes(Int(length))
            _ = try readBytes(2)
            return .bulk(bytes)
        case UInt8(ascii: "*"):
            let count = try Self.parseInteger(rest)
            if count < 0 { return .array(nil) }
            guard count <= Self.replyBytesMax else { throw LoadTargetError("redis: array reply too long") }
            var elements: [RESPValue] = []
            elements.reserveCapacity(Int(count))
            for _ in 0..<count { elements.append(try readValue(depth: depth + 1)) }
            return .array(elements)
        default:
            throw LoadTargetError("redis: unexpected reply marker \(marker)")
        }
    }

    static func parseInteger(_ digits: ArraySlice<UInt8>) throws -> Int64 {
        var value: Int64 = 0
        var negative = false
        var index = digits.startIndex
        if index < digits.endIndex && digits[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        guard index < digits.endIndex, digits.endIndex - index <= 18 else { throw LoadTargetError("redis: bad integer") }
        while index < digits.endIndex {
            let digit = digits[index]
            guard digit >= 48 && digit <= 57 else { throw LoadTargetError("redis: bad integer") }
            value = value * 10 + Int64(digit - 48)
            index += 1
        }
        return negative ? -value : value
    }

    private func fill() throws {
        if inputIndex > 0 {
            input.removeFirst(inputIndex)
            inputIndex = 0
        }
        let old = input.count
        input.append(contentsOf: repeatElement(0, count: Self.readChunkBytes))
        while true {
            let result = input.withUnsafeMutableBytes { recv(socket, $0.baseAddress! + old, Self.readChunkBytes, 0) }
            if result < 0 && errno == EINTR { continue }
            if result <= 0 {
                input.removeLast(Self.readChunkBytes)
                throw LoadTargetError(result == 0 ? "redis: connection closed" : "redis: recv: \(String(cString: strerror(errno)))")
            }
            input.removeLast(Self.readChunkBytes - result)
            return
        }
    }

    private func readLine() throws -> ArraySlice<UInt8> {
        var searchFrom = inputIndex
        while true {
            if let end = input[searchFrom...].firstIndex(of: 10), end > inputIndex, input[end - 1] == 13 {
                let line = input[inputIndex..<(end - 1)]
                inputIndex = end + 1
                return line
            }
            guard input.count - inputIndex <= Self.replyBytesMax else { throw LoadTargetError("redis: reply line too long") }
            let consumed = inputIndex
            searchFrom = input.count
            try fill()
            searchFrom -= consumed
        }
    }

    private func readBytes(_ count: Int) throws -> [UInt8] {
        while input.count - inputIndex < count { try fill() }
        let bytes = Array(input[inputIndex..<(inputIndex + count)])
        inputIndex += count
        return bytes
    }
}
