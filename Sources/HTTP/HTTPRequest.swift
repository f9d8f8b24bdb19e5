// HTTP: HTTP/1.1 for the supervisor. `HTTPRequestParser` is a sans-I/O state machine (bytes in,
// requests or errors out) with explicit limits; `HTTPConnection` and `HTTPServer` drive it on the
// event loop. Nothing here knows about MCP: applications implement `HTTPHandler`.

// The fuzz build compiles this file with SystemCalls' ByteSearch.swift in one module.
#if canImport(SystemCalls)
import SystemCalls
#endif

/// One parsed request. Header names are lowercased; the body is de-chunked.
public struct HTTPRequest: Sendable {
    public var method: String
    /// The request target in origin form (path plus optional query): an absolute-form target is
    /// reduced to it, its authority becoming the Host header. `*` for OPTIONS * only.
    public var target: String
    public var minorVersion: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// Whether the connection stays open after the response (HTTP/1.1 default, or 1.0 keep-alive).
    public var keepAlive: Bool

    public init(method: String, target: String, minorVersion: Int, headers: [(name: String, value: String)],
                body: [UInt8] = [], keepAlive: Bool = true) {
        self.method = method
        self.target = target
        self.minorVersion = minorVersion
        self.headers = headers
        self.body = body
        self.keepAlive = keepAlive
    }

    /// The target's path, without the query string.
    public var path: Substring {
        // memchr over the UTF-8 bytes: read several times a request (callgrind: ~40 instructions
        // each through UTF8View.firstIndex).
        if let mark = target.utf8Offset(of: UInt8(ascii: "?")) { return target.prefix(utf8Offset: mark) }
        return target[...]
    }

    /// The first value of a header; `name` must be lowercase.
    public func header(_ name: String) -> String? {
        // Lengths first: String == on two different names takes its slow, Unicode-aware path,
        // and a request's dozen lookups each pass most of its headers.
        let length = name.utf8.count
        return headers.withUnsafeBufferPointer { fields in
            for index in fields.indices where fields[index].name.utf8.count == length && fields[index].name == name {
                return fields[index].value
            }
            return nil
        }
    }
}

/// A request the server refuses at the protocol level; the connection is closed after the answer.
public struct HTTPError: Error, Equatable, Sendable {
    public let status: Int
    public let code: String
    public let message: String

    public init(status: Int, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    static func badRequest(_ message: String) -> HTTPError { HTTPError(status: 400, code: "BAD_REQUEST", message: message) }
    static let headersTooLarge = HTTPError(status: 431, code: "HEADERS_TOO_LARGE", message: "request header block exceeds the limit")
    static func bodyTooLarge(_ limit: Int) -> HTTPError {
        HTTPError(status: 413, code: "PAYLOAD_TOO_LARGE", message: "request body exceeds the limit of \(limit) bytes")
    }
    static let requestTimeout = HTTPError(status: 408, code: "REQUEST_TIMEOUT", message: "request not received in time")
}

public struct HTTPLimits: Sendable {
    public var maxHeaderBytes: Int
    public var maxBodyBytes: Int

    public init(maxHeaderBytes: Int = 16 * 1024, maxBodyBytes: Int = 4 * 1024 * 1024) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxBodyBytes = maxBodyBytes
    }
}
