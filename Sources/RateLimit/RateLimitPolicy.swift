// RateLimit: who may make how many requests, and the answer every surface gives about it. The
// buckets themselves live in the shared call table (CallTable/RateBuckets.swift), so every supervisor
// that maps the table enforces one limit together, and a table kept in systemd's fd store carries the
// buckets across a restart.
//
// Invariants:
//   - A limit of 0 means "no limit". Limits are requests per minute.
//   - A request is limited once, by its client (credential or IP); a tool call is limited again, by
//     tool and client, when the tool has its own limit.
//   - When the table cannot place a bucket (every bucket in the probe window is in use and none is
//     full), the request goes through: a limiter never turns a full table into an outage.
import JSON

/// The limits, in requests per minute: from the --config file's "rateLimits" object and the flags.
///
///     "rateLimits": {"perKey": 1000, "perIp": 100, "tenants": {"t1": 5000}, "tools": {"echo": 60}}
///
/// `perKey` applies to each credential, `perIp` to each client address of unauthenticated requests.
/// A tenant's entry replaces `perKey` for each credential of that tenant. A tool's entry is a second
/// limit on calls of that tool, per client, checked when the call starts.
public struct RateLimitPolicy: Sendable, Equatable {
    /// Seed 001: 1000 requests per minute per authenticated user, 100 per IP otherwise.
    public static let defaultPerKey = 1000
    public static let defaultPerIp = 100

    public var perKey = RateLimitPolicy.defaultPerKey
    public var perIp = RateLimitPolicy.defaultPerIp
    public var tenants: [String: Int] = [:]
    public var tools: [String: Int] = [:]

    public init() {}

    /// No limit of any kind.
    public static var off: RateLimitPolicy {
        var policy = RateLimitPolicy()
        policy.perKey = 0
        policy.perIp = 0
        return policy
    }

    /// The request limit of a client; 0 when it is not limited.
    public func requestLimit(for client: RateClient) -> Int {
        guard client.isAuthenticated else { return perIp }
        if let tenant = client.tenant, let limit = tenants[tenant] { return limit }
        return perKey
    }

    /// The limit on calls of `tool`, per client; 0 when the tool has none.
    public func toolLimit(_ tool: String) -> Int { tools[tool] ?? 0 }

    /// Reads a "rateLimits" object over the defaults; the message names the offending field.
    public static func parse(_ value: JSONValue, over base: RateLimitPolicy = RateLimitPolicy()) -> Result<RateLimitPolicy, RateLimitPolicyError> {
        guard let object = value.objectValue else { return .failure(RateLimitPolicyError("rateLimits must be an object")) }
        var policy = base
        for (key, field) in object {
            switch key {
            case "perKey", "perIp":
                guard let limit = field.intValue, limit >= 0, limit <= Int64(Int32.max) else {
                    return .failure(RateLimitPolicyError("rateLimits.\(key) must be a whole number of requests per minute (0 = no limit)"))
                }
                if key == "perKey" { policy.perKey = Int(limit) } else { policy.perIp = Int(limit) }
            case "tenants", "tools":
                guard let entries = field.objectValue else { return .failure(RateLimitPolicyError("rateLimits.\(key) must be an object of limits")) }
                var limits: [String: Int] = [:]
                for (name, entry) in entries {
                    guard let limit = entry.intValue, limit >= 0, limit <= Int64(Int32.max) else {
                        return .failure(RateLimitPolicyError("rateLimits.\(key).\(name) must be a whole number of requests per minute (0 = no limit)"))
                    }
                    limits[name] = Int(limit)
                }
                if key == "tenants" { policy.tenants = limits } else { policy.tools = limits }
            default:
                return .failure(RateLimitPolicyError("rateLimits.\(key) is not a known field (perKey, perIp, tenants, tools)"))
            }
        }
        return .success(policy)
    }
}

public struct RateLimitPolicyError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Who a request counts against: a credential (by its name, later its key id) or a client address.
public struct RateClient: Sendable, Equatable {
    /// The bucket key: "key:NAME" or "ip:ADDRESS". Never a secret: credentials are named, not shown.
    public let key: String
    public let tenant: String?
    public let isAuthenticated: Bool

    public static func credential(_ name: String, tenant: String?) -> RateClient {
        RateClient(key: "key:" + name, tenant: tenant, isAuthenticated: true)
    }

    public static func address(_ address: String) -> RateClient {
        RateClient(key: "ip:" + address, tenant: nil, isAuthenticated: false)
    }
}
