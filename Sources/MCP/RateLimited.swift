import HTTP
import JSON
import RateLimit

extension RPCError {
    /// Over a rate limit (code `rateLimited`, in JSONRPC.swift). `data` says when to retry:
    /// {"limit", "retry_after"} (seconds).
    static func rateLimited(_ outcome: RateLimitOutcome) -> RPCError {
        RPCError(code: rateLimited, message: "Rate limit exceeded: \(outcome.limit) requests per minute; retry after \(outcome.retryAfterSeconds) s",
                 data: ["limit": .int(Int64(outcome.limit)), "retry_after": .int(Int64(outcome.retryAfterSeconds))])
    }
}

extension MCPService {
    /// The supervisor's refusal of a request to an MCP endpoint: HTTP 429 with a JSON-RPC error body
    /// (id null: the request's body is not read once it is refused).
    public static func respondRateLimited(_ outcome: RateLimitOutcome, on connection: HTTPConnection) {
        connection.respondRPCError(429, .rateLimited(outcome), headers: outcome.headers)
    }
}

extension Reply {
    func finishRefused(_ response: JSONValue, status: Int, headers: [(String, String)]) { finish(response) }
}
