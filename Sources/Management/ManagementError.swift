import JSON

/// Why a management operation failed, independent of the API that asked: the composer and the
/// registry each spell it in their own seed's shape.
public struct ManagementError: Error, Sendable {
    public enum Reason: Sendable {
        case serverNotFound, toolNotFound, invalidConfiguration, connectionFailed, timeout, executionFailed
        case permissionDenied, authenticationFailed, inactive, overloaded
        /// A rate limit refused the request; `headers` carry Retry-After and X-RateLimit-*.
        case rateLimited
    }

    public let reason: Reason
    public let message: String
    public var details = JSONObject()
    /// Header fields the answer must carry whatever the API (rate limit fields).
    public var headers: [(String, String)] = []

    public init(_ reason: Reason, _ message: String, details: JSONObject = JSONObject()) {
        self.reason = reason
        self.message = message
        self.details = details
    }

    static func invalid(_ message: String, field: String? = nil) -> ManagementError {
        ManagementError(.invalidConfiguration, message, details: field.map { JSONObject([("field", .string($0))]) } ?? JSONObject())
    }

    static func noServer(_ id: String) -> ManagementError {
        ManagementError(.serverNotFound, "no server with id '\(id)'", details: JSONObject([("server_id", .string(id))]))
    }

    static func noTool(_ name: String) -> ManagementError {
        ManagementError(.toolNotFound, "no tool named '\(name)'", details: JSONObject([("tool_name", .string(name))]))
    }

    /// A worker's failure kind (WorkerProtocol) as a management reason.
    static func fromWorker(kind: String, message: String) -> ManagementError {
        switch kind {
        case "connection_failed": return ManagementError(.connectionFailed, message)
        case "upstream_timeout", "deadline_exceeded": return ManagementError(.timeout, message)
        // A file tool refusing a path that resolves outside its root: the caller asked for what it
        // may not have, which is a permission answer, not a failure of the tool.
        case "path_outside_root": return ManagementError(.permissionDenied, message, details: JSONObject([("kind", .string(kind))]))
        default: return ManagementError(.executionFailed, "\(kind): \(message)", details: JSONObject([("kind", .string(kind))]))
        }
    }
}
