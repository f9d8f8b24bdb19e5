import Access
import Calls
import HTTP
import JSON
import RateLimit
import SystemCalls

/// Seed 001's composer: `POST /mcp/tools/{admin_tool}`, `GET /health`, `GET /health/detailed`.
///
/// Success answers carry the seed's common envelope (`success`, `data`, `error`, `timestamp`) and,
/// beside it, the endpoint's documented `content` (tool objects for list_tools, content blocks
/// otherwise), so clients written against either part of the seed read what they expect.
/// Failures are the envelope with `error: {code, message, details}` and the matching status.
public final class ComposerAPI {
    let registry: Registry
    let authenticator: Authenticator
    let version: String
    let startedMs = Clock.monotonicMillis()

    public init(registry: Registry, authenticator: Authenticator, version: String) {
        self.registry = registry
        self.authenticator = authenticator
        self.version = version
    }

    public static func serves(_ path: Substring) -> Bool {
        path == "/health" || path == "/health/detailed" || path.hasUTF8Prefix("/mcp/tools/")
    }

    /// The management operations, also offered as MCP tools to admin callers.
    public static let operations = [
        "list_tools", "call_tool", "register_mcp_server", "delete_mcp_server", "activate_mcp_server",
        "deactivate_mcp_server", "list_member_servers", "member_health", "get_tool_config_by_name",
        "get_tool_config_by_server", "disable_tools", "enable_tools", "update_tool_description", "add_tools",
        "add_tools_from_openapi", "add_prompts", "get_all_prompts",
    ]
    /// What a viewer may do; call_tool needs a member; everything else an owner or admin.
    static let readOnly: Set<String> = ["list_tools", "list_member_servers", "member_health", "get_tool_config_by_name",
                                        "get_tool_config_by_server", "get_all_prompts"]

    var uptimeSeconds: Int64 { (Clock.monotonicMillis() - startedMs) / 1000 }

    public func handle(_ request: HTTPRequest, on connection: HTTPConnection) {
        let path = request.path
        if path == "/health" || path == "/health/detailed" {
            guard request.method == "GET" || request.method == "HEAD" else {
                return fail(connection, ManagementError(.invalidConfiguration, "use GET"), status: 405, headers: [("Allow", "GET")])
            }
            if path == "/health" {
                return ManagementHTTP.respond(connection, 200, .object(JSONObject([
                    ("status", "healthy"), ("timestamp", ManagementHTTP.timestamp), ("version", .string(version)),
                    ("uptime", .int(uptimeSeconds)),
                ])))
            }
            guard let (owner, _) = caller(request, connection) else { return }
            return detailedHealth(connection, tenant: Tenant.of(owner: owner))
        }
        guard request.method == "POST" else {
            return fail(connection, ManagementError(.invalidConfiguration, "use POST"), status: 405, headers: [("Allow", "POST")])
        }
        let operation = String(path.dropFirst("/mcp/tools/".count))
        guard let (owner, role) = caller(request, connection) else { return }
        guard ComposerAPI.operations.contains(operation) else {
            return fail(connection, ManagementError(.toolNotFound, "no composer tool named '\(operation)'",
                                                    details: JSONObject([("tool_name", .string(operation))])))
        }
        if !ComposerAPI.readOnly.contains(operation) {
            let allowed = operation == "call_tool" ? role.mayCall : role.mayManage
            guard allowed else {
                return fail(connection, ManagementError(.permissionDenied, "the '\(role.rawValue)' role may not \(operation)",
                                                        details: JSONObject([("role", .string(role.rawValue))])))
            }
        }
        guard let body = ManagementHTTP.bodyObject(request) else {
            return fail(connection, .invalid("the request body must be a JSON object"))
        }
        perform(operation, body: body, owner: owner, httpRequestId: connection.requestId) { [weak self] outcome in
            switch outcome {
            case .success(let (data, content)): self?.succeed(connection, data: data, content: content)
            case .failure(let error): self?.fail(connection, error)
            }
        }
    }

    /// One composer operation. `body` is the request (`arguments`, plus `name` for call_tool).
    /// The completion gets the envelope's `data` and the seed's `content`.
    public func perform(_ operation: String, body: JSONObject, owner: String, httpRequestId: String = "",
                        completion: @escaping (Result<(JSONValue, [JSONValue]), ManagementError>) -> Void) {
        let arguments = body["arguments"]?.objectValue ?? JSONObject()
        // Everything below sees and changes the caller's tenant's view only.
        let tenant = Tenant.of(owner: owner)
        func text(_ message: String) -> [JSONValue] { [["type": "text", "text": .string(message)]] }
        func done(_ result: Result<JSONValue, ManagementError>, _ message: (JSONValue) -> String) {
            completion(result.map { ($0, text(message($0))) })
        }
        switch operation {
        case "list_tools":
            let tools: [JSONValue] = registry.calls.tools(for: tenant).map {
                .object(JSONObject([("name", .string($0.name)), ("description", .string($0.description)), ("inputSchema", $0.inputSchema)]))
            }
            completion(.success((.array(tools), tools)))
        case "call_tool":
            guard let name = body["name"]?.stringValue ?? arguments["name"]?.stringValue else {
                return completion(.failure(.invalid("name is required", field: "name")))
            }
            guard let tool = registry.calls.tool(named: name, tenant: tenant) else { return completion(.failure(.noTool(name))) }
            let toolArguments = body["name"] != nil ? (body["arguments"] ?? .object(JSONObject())) : (arguments["arguments"] ?? .object(JSONObject()))
            guard toolArguments.objectValue != nil else { return completion(.failure(.invalid("arguments must be an object", field: "arguments"))) }
            registry.invoke(tool, arguments: toolArguments, owner: owner, surface: .composer, httpRequestId: httpRequestId) { outcome in
                completion(outcome.map { result in (.object(result), result["content"]?.arrayValue ?? []) })
            }
        case "register_mcp_server":
            done(registry.registerServer(arguments, tenant: tenant).map { .object($0.publicView) }) { _ in "Server registered successfully" }
        case "delete_mcp_server", "activate_mcp_server", "deactivate_mcp_server":
            guard let id = arguments["server_id"]?.stringValue ?? arguments["id"]?.stringValue else {
                return completion(.failure(.invalid("server_id is required", field: "server_id")))
            }
            switch operation {
            case "delete_mcp_server":
                done(registry.deleteServer(id, tenant: tenant).map { _ in ["deleted": true, "server_id": .string(id)] }) { _ in "Server deleted successfully" }
            case "activate_mcp_server":
                done(registry.setStatus(id, .active, tenant: tenant).map { .object($0.publicView) }) { _ in "Server activated successfully" }
            default:
                done(registry.setStatus(id, .inactive, tenant: tenant).map { .object($0.publicView) }) { _ in "Server deactivated successfully" }
            }
        case "list_member_servers":
            let list = JSONValue.array(registry.servers(for: tenant).map { .object($0.publicView) })
            completion(.success((list, text(list.serialized()))))
        case "member_health":
            let list = JSONValue.array(registry.servers(for: tenant).map(ComposerAPI.healthItem))
            completion(.success((list, text(list.serialized()))))
        case "get_tool_config_by_name":
            guard let name = arguments["tool_name"]?.stringValue ?? arguments["name"]?.stringValue else {
                return completion(.failure(.invalid("tool_name is required", field: "tool_name")))
            }
            guard let entry = registry.entry(named: name, tenant: tenant) else { return completion(.failure(.noTool(name))) }
            completion(.success((entry.configJSON, text(entry.configJSON.serialized()))))
        case "get_tool_config_by_server":
            guard let id = arguments["server_id"]?.stringValue else { return completion(.failure(.invalid("server_id is required", field: "server_id"))) }
            done(registry.toolConfigs(server: id, tenant: tenant).map { .array($0.map(\.configJSON)) }) { $0.serialized() }
        case "disable_tools", "enable_tools":
            guard let names = arguments["tool_names"]?.arrayValue, names.allSatisfy({ $0.stringValue != nil }) else {
                return completion(.failure(.invalid("tool_names must be an array of tool names", field: "tool_names")))
            }
            let enable = operation == "enable_tools"
            done(registry.setEnabled(names.compactMap(\.stringValue), enable, tenant: tenant).map {
                .object(JSONObject([(enable ? "enabled" : "disabled", .array($0.map { .string($0) }))]))
            }) { _ in enable ? "Tools enabled successfully" : "Tools disabled successfully" }
        case "update_tool_description":
            guard let name = arguments["tool_name"]?.stringValue else { return completion(.failure(.invalid("tool_name is required", field: "tool_name"))) }
            guard let description = arguments["description"]?.stringValue else {
                return completion(.failure(.invalid("description must be a string", field: "description")))
            }
            done(registry.updateDescription(name, description, tenant: tenant).map(\.configJSON)) { _ in "Tool description updated successfully" }
        case "add_tools":
            guard let tools = arguments["tools"]?.arrayValue, !tools.isEmpty else {
                return completion(.failure(.invalid("tools must be a non-empty array", field: "tools")))
            }
            done(registry.addTools(tools, tenant: tenant).map { ["added": .array($0.map { .string($0) })] }) { _ in "Tools added successfully" }
        case "add_tools_from_openapi":
            done(registry.addOpenAPI(arguments, tenant: tenant).map { ["added": .array($0.map { .string($0) })] }) { _ in "Tools added successfully from the OpenAPI specification" }
        case "add_prompts":
            guard let prompts = arguments["prompt_config"]?.arrayValue, !prompts.isEmpty else {
                return completion(.failure(.invalid("prompt_config must be a non-empty array", field: "prompt_config")))
            }
            done(registry.addPrompts(prompts, tenant: tenant).map { ["added": .array($0.map { .string($0) })] }) { _ in "Prompts added successfully" }
        case "get_all_prompts":
            let list = JSONValue.array(registry.promptList(for: tenant).map(\.json))
            completion(.success((list, text(list.serialized()))))
        default:
            completion(.failure(ManagementError(.toolNotFound, "no composer tool named '\(operation)'")))
        }
    }

    static func healthItem(_ server: MemberServer) -> JSONValue {
        .object(JSONObject([
            ("id", .string(server.id)),
            ("status", .string(server.status == .inactive ? "inactive" : server.health.rawValue)),
            ("last_check", server.lastCheckMs.map { .string(Clock.iso8601(millis: $0)) } ?? .null),
            ("response_time", server.responseTimeMs.map { .int($0) } ?? .null),
        ]))
    }

    private func detailedHealth(_ connection: HTTPConnection, tenant: String) {
        let visible = registry.servers(for: tenant)
        let members = visible.map(ComposerAPI.healthItem)
        let degraded = visible.contains { $0.status == .active && $0.health == .unhealthy }
        ManagementHTTP.respond(connection, 200, .object(JSONObject([
            ("status", degraded ? "degraded" : "healthy"),
            ("composer", .object(JSONObject([("status", "running"), ("uptime", .int(uptimeSeconds)), ("version", .string(version))]))),
            ("member_servers", .array(members)),
            ("timestamp", ManagementHTTP.timestamp),
        ])))
    }

    /// Bearer token or seed 001's X-API-Key; answers 401 itself when neither identifies anyone.
    private func caller(_ request: HTTPRequest, _ connection: HTTPConnection) -> (String, Role)? {
        let outcome = ManagementHTTP.identify(request, authenticator)
        switch outcome {
        case .identity(let identity):
            return (identity.owner, identity.role)
        case .missing:
            fail(connection, ManagementError(.authenticationFailed, "missing credentials: send Authorization: Bearer <token> or X-API-Key: <key>"),
                 headers: [("WWW-Authenticate", "Bearer")])
        case .malformed, .unknown:
            fail(connection, ManagementError(.authenticationFailed, "the credentials are not recognised"), headers: [("WWW-Authenticate", "Bearer")])
        }
        return nil
    }

    static func code(_ reason: ManagementError.Reason) -> (Int, String) {
        switch reason {
        case .serverNotFound: return (404, "SERVER_NOT_FOUND")
        case .toolNotFound: return (404, "TOOL_NOT_FOUND")
        case .invalidConfiguration: return (400, "INVALID_CONFIGURATION")
        case .authenticationFailed: return (401, "AUTHENTICATION_FAILED")
        case .permissionDenied: return (403, "PERMISSION_DENIED")
        case .connectionFailed: return (502, "SERVER_CONNECTION_FAILED")
        case .timeout: return (504, "SERVER_CONNECTION_FAILED")
        case .inactive: return (409, "SERVER_CONNECTION_FAILED")
        case .executionFailed: return (500, "TOOL_EXECUTION_FAILED")
        case .overloaded: return (503, "TOOL_EXECUTION_FAILED")
        case .rateLimited: return (429, "RATE_LIMITED")
        }
    }

    /// The supervisor's refusal of a request to the composer, in its envelope.
    public func respondRateLimited(_ outcome: RateLimitOutcome, on connection: HTTPConnection) {
        fail(connection, .rateLimited(outcome))
    }

    private func succeed(_ connection: HTTPConnection, data: JSONValue, content: [JSONValue]) {
        ManagementHTTP.respond(connection, 200, .object(JSONObject([
            ("success", true), ("data", data), ("error", .null), ("timestamp", ManagementHTTP.timestamp), ("content", .array(content)),
        ])))
    }

    private func fail(_ connection: HTTPConnection, _ error: ManagementError, status: Int? = nil, headers: [(String, String)] = []) {
        let (defaultStatus, code) = ComposerAPI.code(error.reason)
        var extra = headers
        if error.reason == .overloaded { extra.append(("Retry-After", "1")) }
        extra += error.headers
        ManagementHTTP.respond(connection, status ?? defaultStatus, .object(JSONObject([
            ("success", false), ("data", .null),
            ("error", .object(JSONObject([("code", .string(code)), ("message", .string(error.message)), ("details", .object(error.details))]))),
            ("timestamp", ManagementHTTP.timestamp),
        ])), headers: extra)
    }
}
