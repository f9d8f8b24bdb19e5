import HTTP
import RateLimit

extension APIError {
    /// Over a rate limit: 429 in seed 000's shape, code RATE_LIMITED (the seed lists no code for it),
    /// with Retry-After and the X-RateLimit-* fields of the bucket that refused.
    static func rateLimited(_ outcome: RateLimitOutcome) -> APIError {
        APIError(status: 429, code: "RATE_LIMITED", message: outcome.message, headers: outcome.headers)
    }
}

extension ExecuteAPI {
    /// The supervisor's refusal of a request to this API (and of any path no other surface serves).
    public static func respondRateLimited(_ outcome: RateLimitOutcome, on connection: HTTPConnection) {
        connection.respondError(.rateLimited(outcome))
    }
}
