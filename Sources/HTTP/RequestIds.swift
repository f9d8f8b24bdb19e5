import SystemCalls

/// Request ids: the client's X-Request-Id when it is a usable one, else `<process prefix>-<n>`,
/// unique within this process's life and cheap (no system call per request).
enum RequestIds {
    /// Six random bytes per process, so that two instances' ids (behind one proxy, or before and
    /// after a restart) do not collide.
    nonisolated(unsafe) private static let prefix = Random.hexToken(byteCount: 6)
    nonisolated(unsafe) private static var counter: UInt64 = 0

    static func of(_ request: HTTPRequest) -> String {
        if let given = request.header("x-request-id"), isUsable(given) { return given }
        counter &+= 1
        return prefix + "-" + String(counter, radix: 16)
    }

    /// 1 to 64 visible ASCII characters: safe in a header, a log line and the worker protocol.
    static func isUsable(_ id: String) -> Bool {
        let bytes = id.utf8
        return (1...64).contains(bytes.count) && bytes.allSatisfy { $0 >= 0x21 && $0 <= 0x7E }
    }
}
