import HTTP
import JSON
import RateLimit

extension ManagementError {
    /// Over a rate limit, for the composer (429, RATE_LIMITED: seed 001 documents the limits but no
    /// code) and the registry (429, rate_limited, in seed 002's lower-case style).
    public static func rateLimited(_ outcome: RateLimitOutcome) -> ManagementError {
        var error = ManagementError(.rateLimited, outcome.message, details: JSONObject([
            ("limit", .int(Int64(outcome.limit))), ("retry_after", .int(Int64(outcome.retryAfterSeconds))),
        ]))
        error.headers = outcome.headers
        return error
    }
}
