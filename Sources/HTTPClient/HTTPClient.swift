// HTTPClient: a small blocking HTTP/1.1 client for workers (curl and OpenAPI tools, openai_chat,
// remote MCP servers).
//
// One request per connection (Connection: close): workers make few requests per call, and a
// fresh connection is never one the server has already half-closed. Every wait is bounded by the
// request's deadline and polls the caller's interrupt check at least every 200 ms.
import SystemCalls

public struct HTTPClientRequest: Sendable {
    public var method: String
    public var url: String
    /// Sent in order after Host and User-Agent. A Host or User-Agent given here replaces mcpd's;
    /// Content-Length (from `body`), Connection and Transfer-Encoding are always mcpd's own.
    public var headers: [(String, String)]
    public var body: [UInt8]?
    /// For the whole exchange: connecting, sending, and reading the head and the body.
    public var timeoutMs: Int
    /// Off only for servers the operator explicitly trusts without a valid certificate.
    public var verifyCertificates: Bool

    public init(method: String = "GET", url: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
                timeoutMs: Int = 30_000, verifyCertificates: Bool = true) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeoutMs = timeoutMs
        self.verifyCertificates = verifyCertificates
    }
}

public struct HTTPClientResponse: Sendable {
    public var status: Int
    public var reason: String
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, reason: String, headers: [(String, String)], body: [UInt8]) {
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
    }

    /// The first header with this name, compared case-insensitively.
    public func header(_ name: String) -> String? { headers.value(of: name) }
}

public enum HTTPClientError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidURL(String)
    case unsupportedScheme(String)
    /// DNS, refused, reset, TLS: anything that kept a response from arriving.
    case connectionFailed(String)
    case timedOut
    /// The caller's interrupt check said stop.
    case interrupted
    case malformedResponse(String)
    /// The body is longer than the caller's limit.
    case tooLarge

    public var description: String {
        switch self {
        case .invalidURL(let url): "invalid URL '\(url)'"
        case .unsupportedScheme(let scheme): scheme.contains(" ") ? scheme : "unsupported URL scheme '\(scheme)'"
        case .connectionFailed(let why): why
        case .timedOut: "timed out"
        case .interrupted: "interrupted"
        case .malformedResponse(let why): "malformed response: \(why)"
        case .tooLarge: "response body too large"
        }
    }
}

public enum HTTPClient {
    /// Whole response (Content-Length, chunked, or close-delimited), up to maxBody bytes.
    public static func fetch(_ request: HTTPClientRequest, maxBody: Int = 16 << 20,
                             interrupt: () -> Bool = { false }) throws(HTTPClientError) -> HTTPClientResponse {
        var exchange = try Exchange.start(request, interrupt: interrupt)
        defer { exchange.close() }
        let body = try exchange.readAll(maxBody: maxBody, interrupt: interrupt)
        return HTTPClientResponse(status: exchange.status, reason: exchange.reason, headers: exchange.headers, body: body)
    }

    /// Streaming: head first, then the decoded body piece by piece (for SSE / NDJSON).
    public static func open(_ request: HTTPClientRequest, interrupt: @escaping () -> Bool) throws(HTTPClientError) -> HTTPClientStream {
        HTTPClientStream(exchange: try Exchange.start(request, interrupt: interrupt), interrupt: interrupt)
    }
}

/// A response whose body is read as it arrives. Closes its connection at the end of the body,
/// on `close()`, or when released.
public final class HTTPClientStream {
    public let status: Int
    public let reason: String
    public let headers: [(String, String)]
    private var exchange: Exchange
    private let interrupt: () -> Bool

    init(exchange: Exchange, interrupt: @escaping () -> Bool) {
        self.status = exchange.status
        self.reason = exchange.reason
        self.headers = exchange.headers
        self.exchange = exchange
        self.interrupt = interrupt
    }

    deinit { exchange.close() }

    public func header(_ name: String) -> String? { headers.value(of: name) }

    /// The next decoded piece of the body (never empty); nil at the end of the body.
    public func readChunk() throws(HTTPClientError) -> [UInt8]? {
        try exchange.readChunk(interrupt: interrupt)
    }

    /// The rest of the body; `tooLarge` once it passes `maxBody` bytes.
    public func readAll(maxBody: Int) throws(HTTPClientError) -> [UInt8] {
        try exchange.readAll(maxBody: maxBody, interrupt: interrupt)
    }

    public func close() { exchange.close() }
}

extension [(String, String)] {
    func value(of name: String) -> String? {
        first { $0.0.equalsIgnoringASCIICase(name) }?.1
    }
}

extension String {
    func equalsIgnoringASCIICase(_ other: String) -> Bool {
        guard utf8.count == other.utf8.count else { return false }
        return zip(utf8, other.utf8).allSatisfy { asciiLower($0) == asciiLower($1) }
    }
}

@inline(__always)
func asciiLower(_ byte: UInt8) -> UInt8 {
    (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 : byte
}
