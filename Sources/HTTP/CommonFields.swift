import Glibc

/// Header names and values that nearly every request carries, kept as String constants that a
/// parsed request shares instead of making its own. Making a String from bytes costs ~250
/// instructions, and one longer than 15 bytes a heap allocation as well: an MCP request's header
/// block made 16 of them (callgrind). A static table in the spirit of HPACK's (RFC 7541 appendix
/// A), for HTTP/1.1 text. Looked up by length, then compared with that length's candidates as
/// StaticStrings (a String's bytes cost ~190 instructions to reach); each match returns the
/// same text as a literal String, which is shared, not copied.
enum CommonFields {
    /// The lowercase constant for a header name, compared ignoring ASCII case; nil if it has none.
    static func name(_ name: UnsafeBufferPointer<UInt8>) -> String? {
        func named(_ known: StaticString) -> Bool { equalIgnoringCase(name, known) }
        switch name.count {
        case 4:
            if named("host") { return "host" }
        case 6:
            if named("accept") { return "accept" }
            if named("origin") { return "origin" }
            if named("expect") { return "expect" }
        case 8:
            if named("mcp-name") { return "mcp-name" }
        case 10:
            if named("connection") { return "connection" }
            if named("user-agent") { return "user-agent" }
            if named("mcp-method") { return "mcp-method" }
        case 12:
            if named("content-type") { return "content-type" }
            if named("x-request-id") { return "x-request-id" }
        case 13:
            if named("authorization") { return "authorization" }
            if named("last-event-id") { return "last-event-id" }
        case 14:
            if named("content-length") { return "content-length" }
            if named("mcp-session-id") { return "mcp-session-id" }
        case 15:
            if named("accept-encoding") { return "accept-encoding" }
        case 17:
            if named("transfer-encoding") { return "transfer-encoding" }
        case 20:
            if named("mcp-protocol-version") { return "mcp-protocol-version" }
        default:
            break
        }
        return nil
    }

    /// The constant for a request method this server routes, byte for byte; nil for any other.
    static func method(_ method: UnsafeBufferPointer<UInt8>) -> String? {
        func equals(_ known: StaticString) -> Bool { sameBytes(method, known) }
        switch method.count {
        case 3:
            if equals("GET") { return "GET" }
        case 4:
            if equals("POST") { return "POST" }
        case 6:
            if equals("DELETE") { return "DELETE" }
        default:
            break
        }
        return nil
    }

    /// The constant equal to `value`, byte for byte; nil if it has none.
    static func value(_ value: UnsafeBufferPointer<UInt8>) -> String? {
        func equals(_ known: StaticString) -> Bool { sameBytes(value, known) }
        switch value.count {
        case 3:
            if equals("*/*") { return "*/*" }
        case 5:
            if equals("close") { return "close" }
        case 10:
            if equals("keep-alive") { return "keep-alive" }
            if equals("2025-11-25") { return "2025-11-25" }
            if equals("2026-07-28") { return "2026-07-28" }
            if equals("2025-06-18") { return "2025-06-18" }
            if equals("2025-03-26") { return "2025-03-26" }
            if equals("tools/call") { return "tools/call" }
        case 16:
            if equals("application/json") { return "application/json" }
        case 17:
            if equals("text/event-stream") { return "text/event-stream" }
        case 35:
            if equals("application/json, text/event-stream") { return "application/json, text/event-stream" }
        default:
            break
        }
        return nil
    }

    /// `bytes` has `known`'s length, as the callers' switch on it has made sure.
    @inline(__always)
    private static func sameBytes(_ bytes: UnsafeBufferPointer<UInt8>, _ known: StaticString) -> Bool {
        memcmp(bytes.baseAddress!, known.utf8Start, bytes.count) == 0
    }

    /// `known` is lowercase letters, digits and '-'. `name` is a token (RFC 9110 §5.6.2), as the
    /// parser has checked, and among token bytes `byte | 0x20` equals such a character only for
    /// that character or its uppercase.
    @inline(__always)
    private static func equalIgnoringCase(_ name: UnsafeBufferPointer<UInt8>, _ known: StaticString) -> Bool {
        let expected = known.utf8Start
        for index in 0..<name.count where name[index] | 0x20 != expected[index] { return false }
        return true
    }
}
