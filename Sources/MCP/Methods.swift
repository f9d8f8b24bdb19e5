import Access
import Calls
import JSON
import Pool
import RateLimit
import SystemCalls
import Tools

/// Where one request's messages go, whatever the transport: notifications and server-to-client
/// requests related to it first, then exactly one response — or none, when the client cancelled.
protocol Reply: AnyObject {
    func send(_ message: JSONValue)
    func finish(_ response: JSONValue)
    /// The request ends without a response (the client cancelled it).
    func abandon()
    /// Registers what to do when the client goes away before the response (stateless requests
    /// cancel their call; sessionful ones keep running, so the client can resume).
    func onAbort(_ handler: @escaping () -> Void)
    /// The one response, a refusal: answered with `status` and `headers` where the transport still
    /// can (nothing streamed yet), else like `finish`.
    func finishRefused(_ response: JSONValue, status: Int, headers: [(String, String)])
    /// The one response to a tools/call whose worker finished with `workerResult`.
    func finishToolCall(id: JSONValue, workerResult: [UInt8], revision: ProtocolRevision)
}

extension Reply {
    func onAbort(_ handler: @escaping () -> Void) {}

    func finishToolCall(id: JSONValue, workerResult: [UInt8], revision: ProtocolRevision) {
        finish(JSONRPCMessage.result(id: id, ToolResults.success(workerResult, revision: revision)))
    }
}

/// What a request is answered in the light of.
struct RequestContext {
    let revision: ProtocolRevision
    /// The caller's credential as `Identity.owner` ("tenant/name", or the name in tenant default).
    let owner: String
    /// The caller's tenant: what it sees of tools and prompts.
    var tenant: String { Tenant.of(owner: owner) }
    /// nil for stateless (2026-07-28) requests.
    let session: Session?
    let clientCapabilities: JSONObject
    /// Notifications/message below this severity are not sent; none at all when nil.
    let logLevel: LogSeverity?
    /// Seed 003's dialect: ping answers {"status":"pong"}, completions/complete its own shape.
    var seed003 = false
    /// The HTTP request's id (X-Request-Id), carried into the calls it starts.
    var httpRequestId = ""
    /// The bytes of the request's `params.arguments` as they arrived, when the transport found them:
    /// a tool call passes them on to its worker unchanged.
    var rawArguments: ArraySlice<UInt8>?
}

public struct MCPSettings: Sendable {
    public var serverName = "mcpd"
    public var serverVersion = "0.1.0"
    public var instructions = "mcpd hosts tools that run in isolated worker processes. Call tools/list to see them."
    /// Items per page of tools/list, prompts/list, resources/list.
    public var pageSize = 100
    /// Directory served by the file://{path} resource template (none when nil).
    public var resourceRoot: String?
    public var sessionIdleTimeoutMs: Int64 = 30 * 60 * 1000
    public var maxSessions = 10_000
    /// Origins allowed besides loopback ones ("*" allows any).
    public var allowedOrigins: [String] = []
    /// Host header values allowed besides loopback names ("*" allows any).
    public var allowedHosts: [String] = []
    public var keepAliveIntervalMs: Int64 = 15_000
    /// Serve the MCP conformance suite's fixture prompts and resources (its tools are added to the
    /// tool list by the supervisor).
    public var conformanceFixtures = false
    /// Starts every session id ("<instance>."): what lets a proxy route a session to its instance.
    public var sessionIdPrefix = ""

    public init() {}
}

/// The MCP methods, independent of transport.
final class Methods {
    let calls: CallService
    let settings: MCPSettings
    let catalog: Catalog
    /// Live figures for server://status.
    var status: () -> JSONObject = { JSONObject() }
    /// The management operations, offered as tools to owner and admin callers.
    var adminTools: AdminTools?
    /// The role of a caller (an owner string): viewers may list but not call.
    var role: (String) -> Role = { _ in .owner }

    init(calls: CallService, settings: MCPSettings) {
        self.calls = calls
        self.settings = settings
        self.catalog = Catalog(resourceRoot: settings.resourceRoot, conformance: settings.conformanceFixtures, directory: calls.directory)
    }

    /// Methods that exist in each revision (initialize is handled by the transports).
    static func exists(_ method: String, in revision: ProtocolRevision) -> Bool {
        switch method {
        case "tools/list", "tools/call", "prompts/list", "prompts/get", "resources/list", "resources/read",
             "resources/templates/list", "completion/complete":
            return true
        case "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe", "initialize":
            return !revision.isStateless
        case "server/discover", "subscriptions/listen":
            return revision.isStateless
        default:
            return false
        }
    }

    // MARK: results every transport shares

    /// A small SVG mark, inline so that clients need no further request.
    static let icon = "data:image/svg+xml;base64," + Base64.encode(Array(
        "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'><rect width='16' height='16' rx='3' fill='#1f6feb'/><path d='M4 11V5l4 4 4-4v6' stroke='#fff' fill='none' stroke-width='1.5'/></svg>".utf8))

    func capabilities(for revision: ProtocolRevision) -> JSONObject {
        var capabilities = JSONObject([
            ("prompts", ["listChanged": true]),
            ("resources", revision.isStateless ? ["listChanged": true] : ["subscribe": true, "listChanged": true]),
            ("tools", ["listChanged": true]),
        ])
        if !revision.isStateless { capabilities["logging"] = .object(JSONObject()) }
        if revision.hasAnnotations { capabilities["completions"] = .object(JSONObject()) }
        return capabilities
    }

    /// What a 2026-07-28 response other than server/discover says of its server: the required
    /// name and version and the title, without the description and icon (which server/discover
    /// carries). The spec asks for serverInfo on every response; a tools/call answer is a few
    /// hundred bytes, and the icon alone would triple it.
    lazy var briefServerInfo: JSONValue = {
        var info = JSONObject([("name", .string(settings.serverName)), ("version", .string(settings.serverVersion))])
        info["title"] = "mcpd tool host"
        return .object(info)
    }()

    /// The members `StatelessHandler.stamp` adds to a result that has neither `resultType` nor
    /// `_meta` and gets no cache hint (a tools/call answer, say), serialized once: building and
    /// writing them for every call cost ~9k instructions (callgrind).
    lazy var completeResultStamp: [UInt8] = {
        let stamp = JSONObject([("resultType", "complete"),
                                ("_meta", .object(JSONObject([(StatelessHandler.serverInfoKey, briefServerInfo)])))])
        var bytes: [UInt8] = []
        JSONValue.object(stamp).write(into: &bytes)
        return Array(bytes.dropFirst().dropLast()) // the members, without the braces
    }()

    func serverInfo(for revision: ProtocolRevision) -> JSONValue {
        var info = JSONObject([("name", .string(settings.serverName)), ("version", .string(settings.serverVersion))])
        if revision.hasStructuredContent { info["title"] = "mcpd tool host" }
        if revision.hasIcons {
            info["description"] = "Hosts MCP tools in isolated worker processes"
            info["icons"] = [["src": .string(Methods.icon), "mimeType": "image/svg+xml", "sizes": ["any"]]]
        }
        return .object(info)
    }

    func initializeResult(_ revision: ProtocolRevision) -> JSONObject {
        JSONObject([("protocolVersion", .string(revision.rawValue)),
                    ("capabilities", .object(capabilities(for: revision))),
                    ("serverInfo", serverInfo(for: revision)),
                    ("instructions", .string(settings.instructions))])
    }

    /// The revision a client's initialize asks for: its own if we speak it, else our latest.
    static func negotiate(_ params: JSONObject) -> Result<ProtocolRevision, RPCError> {
        guard let requested = params["protocolVersion"]?.stringValue else {
            return .failure(.invalidParams("protocolVersion must be a string"))
        }
        if let revision = ProtocolRevision(rawValue: requested), ProtocolRevision.sessionful.contains(revision) {
            return .success(revision)
        }
        // A well-formed date we do not know: offer our latest, as the specification says. Anything
        // else is not a version at all.
        if requested.utf8.count == 10, requested.split(separator: "-").count == 3 { return .success(.latestSessionful) }
        return .failure(RPCError(code: -32602, message: "Unsupported protocol version",
                                 data: .object(JSONObject([("supported", .array(ProtocolRevision.sessionful.map { .string($0.rawValue) })),
                                                           ("requested", .string(requested))]))))
    }

    // MARK: dispatch

    func handle(id: JSONValue, method: String, params: JSONObject, context: RequestContext, reply: Reply) {
        guard Methods.exists(method, in: context.revision) || (method == "completions/complete" && context.seed003) else {
            return reply.finish(JSONRPCMessage.error(id: id, .methodNotFound(method)))
        }
        let outcome: Result<JSONObject, RPCError>
        switch method {
        case "ping":
            outcome = .success(context.seed003 ? JSONObject([("status", "pong"), ("timestamp", .string(Catalog.timestamp()))]) : JSONObject())
        case "tools/list":
            var tools = calls.tools(for: context.tenant)
            if let admin = adminTools, admin.mayUse(context.owner) {
                tools += admin.definitions.filter { calls.tool(named: $0.name, tenant: context.tenant) == nil }
            }
            outcome = page(tools.map { Catalog.render($0, for: context.revision) }, key: "tools", params)
        case "tools/call":
            return callTool(id: id, params: params, context: context, reply: reply)
        case "prompts/list":
            outcome = page(catalog.prompts(for: context.tenant).map { Catalog.render($0, for: context.revision) }, key: "prompts", params)
        case "prompts/get":
            outcome = catalog.getPrompt(params, tenant: context.tenant)
        case "resources/list":
            outcome = page(catalog.listResources(), key: "resources", params)
        case "resources/templates/list":
            outcome = page(catalog.listTemplates(), key: "resourceTemplates", params)
        case "resources/read":
            if let uri = params["uri"]?.stringValue {
                outcome = catalog.read(uri, status: status).map { JSONObject([("contents", .array($0))]) }
            } else {
                outcome = .failure(.invalidParams("uri must be a string"))
            }
        case "resources/subscribe", "resources/unsubscribe":
            if let uri = params["uri"]?.stringValue, let session = context.session {
                if method == "resources/subscribe" { session.subscriptions.insert(uri) } else { session.subscriptions.remove(uri) }
                outcome = .success(JSONObject())
            } else {
                outcome = .failure(.invalidParams("uri must be a string"))
            }
        case "completion/complete", "completions/complete":
            outcome = complete(params, context)
        case "logging/setLevel":
            if let name = params["level"]?.stringValue, let level = LogSeverity(name: name) {
                context.session?.logLevel = level
                outcome = .success(JSONObject())
            } else {
                outcome = .failure(.invalidParams("level must be one of debug, info, notice, warning, error, critical, alert, emergency"))
            }
        default:
            outcome = .failure(.methodNotFound(method))
        }
        switch outcome {
        case .success(let result): reply.finish(JSONRPCMessage.result(id: id, result))
        case .failure(let error): reply.finish(JSONRPCMessage.error(id: id, error))
        }
    }

    /// A 2025-03-26 batch: requests run concurrently; `completion` gets their responses (and
    /// those to malformed elements) once all have answered.
    func handleBatch(_ batch: [JSONValue], context: RequestContext, completion: @escaping ([JSONValue]) -> Void) {
        let collector = BatchCollector(completion: completion)
        for element in batch {
            switch JSONRPCMessage.parse(element) {
            case .failure(let invalid):
                collector.add(JSONRPCMessage.error(id: invalid.id, invalid.error))
            case .success(.notification(let method, let params)):
                handleNotification(method: method, params: params, context: context)
            case .success(.response(let id, let result, let error)):
                handleResponse(id: id, result: result, error: error, session: context.session)
            case .success(.request(let id, "initialize", _)):
                collector.add(JSONRPCMessage.error(id: id, .invalidRequest("initialize must not be part of a batch")))
            case .success(.request(let id, let method, let params)):
                handle(id: id, method: method, params: params, context: context, reply: collector.element())
            }
        }
        collector.seal()
    }

    func handleNotification(method: String, params: JSONObject, context: RequestContext) {
        switch method {
        case "notifications/cancelled":
            guard let session = context.session, let requestId = params["requestId"],
                  let record = session.callsInFlight[Methods.key(requestId)] else { return }
            session.callsInFlight[Methods.key(requestId)] = nil
            calls.cancel(record, reason: ToolRun.clientCancelled)
        default:
            // notifications/initialized, roots/list_changed, progress: nothing to do.
            break
        }
    }

    /// A client's answer to a server-to-client request.
    func handleResponse(id: JSONValue, result: JSONValue?, error: JSONValue?, session: Session?) {
        guard let session, let answer = session.awaitingClient.removeValue(forKey: Methods.key(id)) else { return }
        answer(result, error)
    }

    static func key(_ id: JSONValue) -> String {
        switch id {
        case .string(let text): return "s:" + text
        case .int(let number): return "n:" + String(number) // what serialized() writes, without the buffer
        default: return "n:" + id.serialized()
        }
    }

    // MARK: pagination

    /// Cursors are opaque to clients; ours is the offset of the next page.
    private func page(_ items: [JSONValue], key: String, _ params: JSONObject) -> Result<JSONObject, RPCError> {
        var start = 0
        if let cursor = params["cursor"], !cursor.isNull {
            guard let text = cursor.stringValue, text.hasPrefix("o"), let offset = Int(text.dropFirst()),
                  offset >= 0, offset <= items.count else {
                return .failure(.invalidParams("the cursor is not one this server issued"))
            }
            start = offset
        }
        let end = min(items.count, start + settings.pageSize)
        var result = JSONObject([(key, .array(Array(items[start..<end])))])
        if end < items.count { result["nextCursor"] = .string("o\(end)") }
        return .success(result)
    }

    // MARK: completion

    private func complete(_ params: JSONObject, _ context: RequestContext) -> Result<JSONObject, RPCError> {
        var values: [String]
        if let ref = params["ref"]?.objectValue, ref["type"]?.stringValue == "ref/tool" {
            // Seed 003: complete a tool's parameter names.
            guard let name = ref["name"]?.stringValue, let tool = calls.tool(named: name, tenant: context.tenant) else {
                return .failure(.invalidParams("no such tool"))
            }
            let prefix = params["argument"]?.stringValue ?? params["argument"]?["value"]?.stringValue ?? ""
            values = (tool.inputSchema["properties"]?.objectValue?.keys ?? []).filter { $0.hasPrefix(prefix) }
        } else {
            switch catalog.complete(params, tenant: context.tenant) {
            case .success(let found): values = found
            case .failure(let error): return .failure(error)
            }
        }
        values = Array(values.prefix(100))
        var result = JSONObject([("completion", .object(JSONObject([
            ("values", .array(values.map { .string($0) })), ("total", .int(Int64(values.count))), ("hasMore", false),
        ])))])
        if context.seed003 {
            result["completions"] = .array(values.map { ["value": .string($0)] })
        }
        return .success(result)
    }

    // MARK: tools/call

    private func callTool(id: JSONValue, params: JSONObject, context: RequestContext, reply: Reply) {
        guard let name = params["name"]?.stringValue else {
            return reply.finish(JSONRPCMessage.error(id: id, .invalidParams("name must be a string")))
        }
        guard let tool = calls.tool(named: name, tenant: context.tenant) else {
            if let admin = adminTools, admin.mayUse(context.owner), admin.definitions.contains(where: { $0.name == name }) {
                let arguments = params["arguments"]?.objectValue ?? JSONObject()
                return admin.run(name, arguments, context.owner) { result in reply.finish(JSONRPCMessage.result(id: id, result)) }
            }
            return reply.finish(JSONRPCMessage.error(id: id, RPCError(code: -32602, message: "Unknown tool: \(name)")))
        }
        let role = self.role(context.owner)
        guard role.mayCall else {
            return reply.finish(JSONRPCMessage.error(id: id, .forbidden("calling tools needs a member role or higher; yours is \(role.rawValue)")))
        }
        let arguments = params["arguments"] ?? .object(JSONObject())
        guard arguments.objectValue != nil else {
            return reply.finish(JSONRPCMessage.error(id: id, .invalidParams("arguments must be an object")))
        }
        // Input that fails the schema is the model's mistake: a tool error it can read and correct.
        if let violation = JSONSchema.validate(arguments, against: tool.compiledInputSchema, path: "arguments") {
            return reply.finish(JSONRPCMessage.result(id: id, ToolResults.error("Invalid arguments: \(violation.description)")))
        }
        let run = ToolRun(id: id, params: params, context: context, reply: reply, calls: calls)
        let session = context.session
        let key = Methods.key(id)
        let started = calls.start(tool: tool, input: arguments, inputBytes: context.rawArguments, owner: context.owner, surface: .mcp,
                                  httpRequestId: context.httpRequestId, sessionId: session?.id,
                                  keepsEvents: false, canAskClient: true) { [weak session] event in
            if event.isTerminal { session?.callsInFlight[key] = nil }
            run.apply(event)
        }
        switch started {
        case .success(let record):
            if !record.status.hasEnded {
                session?.callsInFlight[key] = record
                run.record = record
                reply.onAbort { [unowned self] in self.calls.cancel(record, reason: "the client closed the request's stream") }
            }
        case .failure(.overloaded):
            reply.finish(JSONRPCMessage.result(id: id, ToolResults.error("The server is overloaded: every worker is busy and the queue is full. Retry shortly.")))
        case .failure(.draining):
            reply.finish(JSONRPCMessage.result(id: id, ToolResults.error("The server is shutting down.")))
        case .failure(.unavailable):
            reply.finish(JSONRPCMessage.result(id: id, ToolResults.error("The tool's server is not running.")))
        case .failure(.rateLimited(let outcome)):
            reply.finishRefused(JSONRPCMessage.error(id: id, .rateLimited(outcome)), status: 429, headers: outcome.headers)
        }
    }
}

/// CallToolResult shapes, as the session's protocol revision can carry them.
enum ToolResults {
    static func error(_ text: String) -> JSONObject { CallToolResult.error(text) }

    /// A worker's result (rendered the one way every surface renders it) without what `revision`
    /// does not know: structuredContent before 2025-06-18, newer content blocks as text.
    static func success(_ bytes: [UInt8], revision: ProtocolRevision) -> JSONObject {
        var result = CallToolResult.from(bytes)
        if let content = result["content"]?.arrayValue {
            result["content"] = .array(content.compactMap { block(for: $0, revision) })
        }
        if !revision.hasStructuredContent { result["structuredContent"] = nil }
        return result
    }

    /// The string token of a worker result that is `{"text": "…"}` alone: what most tools return.
    static func soleText(_ bytes: [UInt8]) -> Range<Int>? {
        JSONSplice.soleStringMember("text", in: bytes)
    }

    /// `success` for a result whose `soleText` is `token`, written from the worker's bytes: the
    /// string token is copied as it came, not decoded and encoded again. Any revision takes it as
    /// it is.
    static func writeText(_ token: Range<Int>, of bytes: [UInt8], into body: inout [UInt8]) {
        JSONWriter.appendLiteral(#"{"content":[{"type":"text","text":"#, to: &body)
        body.append(contentsOf: bytes[token])
        JSONWriter.appendLiteral(#"}],"isError":false}"#, to: &body)
    }

    /// A tools/call response for a worker result whose `soleText` is `token`, with the reply's
    /// `extraMembers` in its result.
    static func textResponse(id: JSONValue, _ token: Range<Int>, of bytes: [UInt8], extraMembers: [UInt8] = []) -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(bytes.count + extraMembers.count + 96)
        JSONRPCMessage.writeResult(id: id, extraMembers: extraMembers, into: &body) { body in
            writeText(token, of: bytes, into: &body)
            return true
        }
        return body
    }

    /// Content blocks a revision does not know become text describing them.
    private static func block(for value: JSONValue, _ revision: ProtocolRevision) -> JSONValue? {
        guard let type = value["type"]?.stringValue else { return nil }
        switch type {
        case "audio" where !revision.hasAnnotations:
            return ["type": "text", "text": .string("[audio content, \(value["mimeType"]?.stringValue ?? "unknown type"), not supported by protocol \(revision.rawValue)]")]
        case "resource_link" where !revision.hasStructuredContent:
            return ["type": "text", "text": .string("Resource: \(value["uri"]?.stringValue ?? "")")]
        default:
            return value
        }
    }
}

/// The composer's operations as MCP tools (seed 001), for callers allowed to manage the server.
public struct AdminTools {
    public var definitions: [ToolDefinition]
    /// Whether an owner (an authenticated caller) may see and use them.
    public var mayUse: (String) -> Bool
    /// Runs one: (tool name, arguments, owner, completion with a CallToolResult).
    public var run: (String, JSONObject, String, @escaping (JSONObject) -> Void) -> Void

    public init(definitions: [ToolDefinition], mayUse: @escaping (String) -> Bool,
                run: @escaping (String, JSONObject, String, @escaping (JSONObject) -> Void) -> Void) {
        self.definitions = definitions
        self.mayUse = mayUse
        self.run = run
    }
}
