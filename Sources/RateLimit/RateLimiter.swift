import CallTable
import Logging
import SystemCalls

/// What a limit says about one request: the call table's decision, answered by the surfaces with
/// these header fields and this sentence.
public typealias RateLimitOutcome = RateDecision

extension RateDecision {
    public static let limitHeader = "X-RateLimit-Limit"
    public static let remainingHeader = "X-RateLimit-Remaining"
    public static let resetHeader = "X-RateLimit-Reset"

    /// X-RateLimit-Limit, -Remaining, -Reset; and Retry-After when refused.
    public var headers: [(String, String)] {
        var fields = [(Self.limitHeader, String(limit)), (Self.remainingHeader, String(remaining)), (Self.resetHeader, String(resetSeconds))]
        if !allowed { fields.append(("Retry-After", String(retryAfterSeconds))) }
        return fields
    }

    /// The sentence every surface puts in its error message.
    public var message: String {
        "rate limit exceeded: \(limit) requests per minute; retry after \(retryAfterSeconds) s"
    }
}

/// Applies the policy with the shared buckets. One per supervisor, used on its event loop thread.
public final class RateLimiter {
    /// Replaced as a whole when the configuration is reloaded; the buckets stay.
    public var policy: RateLimitPolicy
    private let table: CallTable
    /// When the last "table full" line was logged: one a minute says it without flooding the log.
    private var lastFullWarningMs: Int64 = 0

    public init(table: CallTable, policy: RateLimitPolicy) {
        self.table = table
        self.policy = policy
    }

    /// Takes one request from the client's bucket. Nil when the client has no limit, or when the
    /// table had no room (the request goes through).
    public func admitRequest(_ client: RateClient) -> RateLimitOutcome? {
        take(key: client.key, limit: policy.requestLimit(for: client))
    }

    /// The client's standing without taking a request (for probes, which are never limited).
    public func peekRequest(_ client: RateClient) -> RateLimitOutcome? {
        let limit = policy.requestLimit(for: client)
        guard limit > 0 else { return nil }
        return table.peekRateBucket(key: RateKey.hash(client.key), limit: limit)
    }

    /// Takes one call of `tool` from the client's bucket for that tool, when the tool has a limit.
    public func admitToolCall(_ tool: String, clientKey: String) -> RateLimitOutcome? {
        // The limit first: most tools have none, and the key costs three string appends.
        let limit = policy.toolLimit(tool)
        guard limit > 0 else { return nil }
        return take(key: "tool:" + tool + "|" + clientKey, limit: limit)
    }

    private func take(key: String, limit: Int) -> RateLimitOutcome? {
        guard limit > 0 else { return nil }
        if let decision = table.takeRateToken(key: RateKey.hash(key), limit: limit) {
            return decision
        }
        let now = Clock.monotonicMillis()
        if lastFullWarningMs == 0 || now - lastFullWarningMs >= 60_000 {
            lastFullWarningMs = now
            Log.warn("rate limit table full: requests pass unlimited until buckets refill",
                     ["buckets": String(table.rateBucketCount)])
        }
        return nil
    }
}
