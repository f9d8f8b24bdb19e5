// Tools: what a tool is (name, description, input schema, deadline) and the built-in tools that
// mcp-worker runs. The supervisor only reads definitions; implementations run in workers.
import JSON

public struct ToolDefinition: Sendable {
    public let name: String
    public let description: String
    /// JSON Schema of the `input` object; the supervisor validates every call against it.
    public let inputSchema: JSONValue
    /// `inputSchema` compiled once, for the validation of every call.
    public let compiledInputSchema: CompiledSchema
    /// The tool's own deadline, when it differs from the server default.
    public let deadlineSeconds: Double?
    /// A human-friendly name for MCP clients (2025-06-18 on).
    public let title: String?
    /// MCP behaviour hints: readOnlyHint, destructiveHint, idempotentHint, openWorldHint.
    public let annotations: JSONObject?
    /// Where calls go: which pool, under which name, with which spec.
    public var route: ToolRoute

    public init(name: String, description: String, inputSchema: JSONValue, deadlineSeconds: Double? = nil,
                title: String? = nil, annotations: JSONObject? = nil, route: ToolRoute? = nil) {
        self.name = name
        self.description = description
        self.inputSchema = inputSchema
        self.compiledInputSchema = CompiledSchema(inputSchema)
        self.deadlineSeconds = deadlineSeconds
        self.title = title
        self.annotations = annotations
        self.route = route ?? ToolRoute(upstreamName: name)
    }

    /// The same tool under another name or description (namespacing, description overrides).
    public func renamed(_ name: String, description: String? = nil) -> ToolDefinition {
        ToolDefinition(name: name, description: description ?? self.description, inputSchema: inputSchema,
                       deadlineSeconds: deadlineSeconds, title: title, annotations: annotations, route: route)
    }
}

/// How a call to a tool reaches the code that runs it.
public struct ToolRoute: Sendable {
    /// The pool of a stdio MCP server, or nil for the mcp-worker pool.
    public var serverPool: String?
    /// The tool's name where it runs (a server's own name for it, without our namespace prefix).
    public var upstreamName: String
    /// How mcp-worker runs it (see WorkerProtocol's CallRequest); empty for built-in tools.
    public var spec: [UInt8]

    /// The pool of generated tools (curl, OpenAPI): mcp-workers in a `strict` sandbox with network.
    public static let generatedToolsPool = "@generated"

    public init(serverPool: String? = nil, upstreamName: String, spec: [UInt8] = []) {
        self.serverPool = serverPool
        self.upstreamName = upstreamName
        self.spec = spec
    }
}

/// How a tool run ended, from inside the worker.
public enum ToolOutcome: Equatable, Sendable {
    case result(JSONObject)
    case failure(kind: String, message: String)
    case cancelled

    /// For log lines: "result", the failure's kind, or "cancelled".
    public var name: String {
        switch self {
        case .result: return "result"
        case .failure(let kind, _): return kind
        case .cancelled: return "cancelled"
        }
    }
}

/// What a running tool may do besides computing: report partial output and wait interruptibly.
public protocol ToolContext: AnyObject {
    /// Sends a partial event, e.g. {"text": "3"}.
    func emitPartial(_ fields: JSONObject)
    /// Waits up to `milliseconds`; returns true when the call was cancelled meanwhile.
    func waitForCancellation(milliseconds: Int) -> Bool
    var isCancelled: Bool { get }
    /// Checks, without waiting, whether the call was cancelled (and keeps the heartbeat going):
    /// for tools that wait on something else, e.g. an upstream HTTP response.
    func pollCancellation() -> Bool
    /// Reports progress: {"progress": n, "total": m?, "message": s?}.
    func emitProgress(_ fields: JSONObject)
    /// Sends a log message to the client (MCP notifications/message).
    func emitLog(level: String, data: JSONValue, logger: String?)
    /// Asks the client (sampling/createMessage, elicitation/create, roots/list) and waits.
    func askClient(method: String, params: JSONObject) -> ClientAnswer
}

/// The client's answer to a tool's question.
public enum ClientAnswer: Sendable {
    case result(JSONValue)
    case error(String)
    case cancelled
}
