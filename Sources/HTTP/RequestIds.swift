import SystemCalls

/// Request ids: the client's X-Request-Id when it is a usable one, else `<process prefix>-<n>`,
/// unique within this process's life and cheap (no system call per request).
enum RequestIds {
    /// Six random bytes per process, so that two instances' ids (behind one proxy, or before and
    /// after a restart) do not collide.
    private static let prefix = Array(Random.hexToken(byteCount: 6).utf8)
    nonisolated(unsafe) private static var counter: UInt64 = 0

    static func of(_ request: HTTPRequest) -> String {
        if let given = request.header("x-request-id"), isUsable(given) { return given }
        counter &+= 1
        return id(number: counter)
    }

    /// `<prefix>-<number in hex>`, written into the string's storage in one pass (concatenating
    /// three strings cost ~700 instructions a request, callgrind).
    static func id(number: UInt64) -> String {
        var digitCount = 1
        while number >> (4 * digitCount) != 0 && digitCount < 16 { digitCount += 1 }
        return String(unsafeUninitializedCapacity: prefix.count + 1 + digitCount) { buffer in
            for index in prefix.indices { buffer[index] = prefix[index] }
            buffer[prefix.count] = UInt8(ascii: "-")
            var rest = number
            for position in stride(from: prefix.count + digitCount, to: prefix.count, by: -1) {
                let digit = UInt8(truncatingIfNeeded: rest & 0xF)
                buffer[position] = digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10
                rest >>= 4
            }
            return prefix.count + 1 + digitCount
        }
    }

    /// 1 to 64 visible ASCII characters: safe in a header, a log line and the worker protocol.
    static func isUsable(_ id: String) -> Bool {
        let bytes = id.utf8
        return (1...64).contains(bytes.count) && bytes.allSatisfy { $0 >= 0x21 && $0 <= 0x7E }
    }
}
