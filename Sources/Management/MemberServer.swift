import JSON
import Sandbox
import SystemCalls

/// A member MCP server: a stdio command (seed 004) or a remote endpoint (seed 001/002).
/// Its upstream credentials live here and in the state file only: `publicView` never shows them.
public struct MemberServer: Sendable {
    public enum Kind: String, Sendable { case stdio, http, sse }
    public enum Status: String, Sendable { case active, inactive }
    public enum Health: String, Sendable { case healthy, unhealthy, unknown }
    /// Declared in the configuration file, or registered at run time (and then persisted).
    public enum Origin: String, Sendable { case config, runtime }

    public var id: String
    public var name: String
    public var kind: Kind
    public var origin: Origin
    /// nil for configuration-file servers, which every tenant sees; otherwise the tenant that
    /// registered it, the only one that sees it. Two tenants may use the same id.
    public var tenant: String?
    public var description: String = ""
    // Remote servers
    public var endpoint: String?
    /// Seed 001's auth strategy as the worker's auth object (see WorkerProtocol's spec).
    public var auth: JSONObject?
    // stdio servers
    public var command: String?
    public var arguments: [String] = []
    public var environment: [(String, String)] = []
    public var workingDirectory: String?
    public var minInstances = 1
    public var maxInstances = 2
    public var concurrent = false
    /// The sandbox its processes run in: `strict` unless configured otherwise.
    public var sandbox = SandboxPolicy.serverDefault
    public var deadlineSeconds: Double?

    public var status = Status.active
    public var createdAtMs = Clock.wallMillis()
    public var updatedAtMs = Clock.wallMillis()

    // Learned at run time (not persisted)
    public var health = Health.unknown
    public var healthMessage: String?
    public var lastCheckMs: Int64?
    public var responseTimeMs: Int64?
    public var protocolVersion: String?
    /// The server's tools as it lists them (MCP Tool objects), un-namespaced.
    public var tools: [JSONValue] = []
    public var stats = CallStatistics()

    public init(id: String, name: String, kind: Kind, origin: Origin) {
        self.id = id
        self.name = name
        self.kind = kind
        self.origin = origin
    }

    /// The id inside mcpd (pools, probes): the id itself for shared servers and tenant `default`'s,
    /// "tenant/id" for another tenant's, so two tenants' servers never meet ('/' is in no id).
    public var key: String { MemberServer.key(id, tenant: tenant) }

    public static func key(_ id: String, tenant: String?) -> String {
        guard let tenant, tenant != "default" else { return id }
        return tenant + "/" + id
    }

    /// Whether a tenant sees this server: shared ones, and its own.
    public func isVisible(to tenant: String) -> Bool { self.tenant == nil || self.tenant == tenant }

    /// Tool names from this server are `<id>__<name>`.
    public static let separator = "__"

    /// Whether a tool name holds the separator, on bytes: String.contains(String) cost ~4.7k
    /// instructions, on every call's end.
    static func containsSeparator(_ name: String) -> Bool {
        var name = name, separator = Self.separator
        return name.withUTF8 { bytes in
            separator.withUTF8 { separator in
                guard bytes.count >= separator.count else { return false }
                return (0...(bytes.count - separator.count)).contains {
                    UnsafeBufferPointer(rebasing: bytes[$0..<($0 + separator.count)]).elementsEqual(separator)
                }
            }
        }
    }

    /// Ids become tool-name prefixes, so they keep to the characters tool names allow.
    public static func isValidId(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        guard (1...63).contains(bytes.count), !id.contains(separator) else { return false }
        func allowed(_ byte: UInt8) -> Bool {
            (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || byte == 95 || byte == 45
        }
        guard bytes.allSatisfy(allowed), bytes[0] != 95, bytes[0] != 45 else { return false }
        return true
    }

    public var transport: String { kind == .sse ? "sse" : "streamable_http" }

    /// What any read API may show: no credentials, no environment values.
    public var publicView: JSONObject {
        var object = JSONObject([("id", .string(id)), ("name", .string(name)), ("type", .string(kind.rawValue))])
        if let endpoint { object["endpoint"] = .string(endpoint) }
        if let command {
            object["command"] = .string(command)
            object["args"] = .array(arguments.map { .string($0) })
        }
        object["description"] = .string(description)
        object["status"] = .string(status.rawValue)
        object["health"] = .string(health.rawValue)
        object["last_check"] = lastCheckMs.map { .string(Clock.iso8601(millis: $0)) } ?? .null
        object["response_time"] = responseTimeMs.map { .int($0) } ?? .null
        object["tools_count"] = .int(Int64(tools.count))
        object["auth_strategy"] = .string(auth?["strategy"]?.stringValue ?? "none")
        object["created_at"] = .string(Clock.iso8601(millis: createdAtMs))
        return object
    }

    /// Everything needed to bring the server back after a restart, secrets included (the state
    /// file is readable by mcpd's user only).
    public var persisted: JSONValue {
        var object = JSONObject([("id", .string(id)), ("name", .string(name)), ("type", .string(kind.rawValue)),
                                 ("description", .string(description)), ("status", .string(status.rawValue)),
                                 ("created_at_ms", .int(createdAtMs)), ("updated_at_ms", .int(updatedAtMs))])
        if let endpoint { object["endpoint"] = .string(endpoint) }
        if let auth { object["auth"] = .object(auth) }
        if let command {
            object["command"] = .string(command)
            object["args"] = .array(arguments.map { .string($0) })
            object["env"] = .object(JSONObject(environment.map { ($0.0, .string($0.1)) }))
            if let workingDirectory { object["cwd"] = .string(workingDirectory) }
            object["min_instances"] = .int(Int64(minInstances))
            object["max_instances"] = .int(Int64(maxInstances))
            object["concurrent"] = .bool(concurrent)
            object["sandbox"] = sandbox.json
        }
        if let deadlineSeconds { object["deadline_seconds"] = .double(deadlineSeconds) }
        if let tenant { object["tenant"] = .string(tenant) }
        return .object(object)
    }
}

/// Seed 002's per-MCP statistics, from real calls.
public struct CallStatistics: Sendable {
    public var total = 0
    public var errors = 0
    public var totalLatencyMs: Int64 = 0
    public var today = 0
    public var todayDay: Int64 = -1
    public var lastActiveMs: Int64?

    public mutating func record(failed: Bool, latencyMs: Int64) {
        let now = Clock.wallMillis()
        let day = now / 86_400_000
        if day != todayDay {
            todayDay = day
            today = 0
        }
        total += 1
        today += 1
        if failed { errors += 1 }
        totalLatencyMs += latencyMs
        lastActiveMs = now
    }

    public var json: JSONValue {
        let currentDay = Clock.wallMillis() / 86_400_000
        return .object(JSONObject([
            ("total_requests", .int(Int64(total))),
            ("requests_today", .int(Int64(todayDay == currentDay ? today : 0))),
            ("error_rate", .double(total == 0 ? 0 : (Double(errors) / Double(total) * 10_000).rounded() / 10_000)),
            ("avg_latency_ms", .int(total == 0 ? 0 : totalLatencyMs / Int64(total))),
        ]))
    }
}
