import Access
import Calls
import HTTP
import JSON
import RateLimit
import SystemCalls

/// Seed 002's registry under /v1: MCPs are the member servers (stdio ones too, with no endpoint
/// URL). Answers `{"success", "data"}` (+ `pagination`) or `{"success": false, "error": {code, message}}`.
public final class RegistryAPI {
    let registry: Registry
    let authenticator: Authenticator

    public init(registry: Registry, authenticator: Authenticator) {
        self.registry = registry
        self.authenticator = authenticator
    }

    public static func serves(_ path: Substring) -> Bool { path == "/v1" || path.hasUTF8Prefix("/v1/") }

    private enum Route {
        case list, create, detail(String), update(String), delete(String), test(String), invoke, resources
    }

    public func handle(_ request: HTTPRequest, on connection: HTTPConnection) {
        let parts = request.path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        // "", "v1", ...
        let route: Route?
        var allowed: [String] = []
        switch (parts.count, request.method) {
        case (3, _) where parts[2] == "mcps":
            allowed = ["GET", "POST"]
            route = request.method == "GET" ? .list : request.method == "POST" ? .create : nil
        case (4, _) where parts[2] == "mcps" && !parts[3].isEmpty:
            allowed = ["GET", "PATCH", "DELETE"]
            route = request.method == "GET" ? .detail(parts[3]) : request.method == "PATCH" ? .update(parts[3])
                : request.method == "DELETE" ? .delete(parts[3]) : nil
        case (5, _) where parts[2] == "mcps" && parts[4] == "test":
            allowed = ["POST"]
            route = request.method == "POST" ? .test(parts[3]) : nil
        case (4, _) where parts[2] == "mcp" && (parts[3] == "invoke" || parts[3] == "resources"):
            allowed = ["POST"]
            route = request.method == "POST" ? (parts[3] == "invoke" ? .invoke : .resources) : nil
        default:
            return fail(connection, 404, "not_found", "no route for \(request.path)")
        }
        guard let route else {
            return fail(connection, 405, "method_not_allowed", "\(request.method) is not allowed here; use \(allowed.joined(separator: ", "))",
                        headers: [("Allow", allowed.joined(separator: ", "))])
        }
        guard let (owner, role) = caller(request, connection) else { return }
        let mutates: Bool
        switch route {
        case .create, .update, .delete: mutates = true
        default: mutates = false
        }
        if mutates && !role.mayManage {
            return fail(connection, 403, "forbidden", "this operation needs an owner or admin role; yours is \(role.rawValue)")
        }
        if case .invoke = route, !role.mayCall {
            return fail(connection, 403, "forbidden", "invoking tools needs a member role or higher; yours is \(role.rawValue)")
        }
        var body = JSONObject()
        if request.method == "POST" || request.method == "PATCH" {
            guard let parsed = ManagementHTTP.bodyObject(request) else {
                return fail(connection, 400, "validation_error", "the request body must be a JSON object")
            }
            body = parsed
        }
        // Every route sees the caller's tenant's MCPs (and the shared ones) only.
        let tenant = Tenant.of(owner: owner)
        switch route {
        case .list: list(ManagementHTTP.query(request.target), tenant, connection)
        case .create: create(body, tenant, connection)
        case .detail(let id): detail(id, tenant, connection)
        case .update(let id): update(id, body, tenant, connection)
        case .delete(let id): delete(id, tenant, connection)
        case .test(let id): test(id, tenant, connection)
        case .invoke: invoke(body, owner, connection)
        case .resources: resources(body, tenant, connection)
        }
    }

    // MARK: operations

    private func summary(_ server: MemberServer) -> JSONObject {
        JSONObject([
            ("id", .string(server.id)), ("name", .string(server.name)),
            ("endpoint_url", server.endpoint.map { .string($0) } ?? .null),
            ("description", .string(server.description)), ("type", .string(server.kind.rawValue)),
            ("status", .string(server.status.rawValue)), ("health", .string(server.health.rawValue)),
            ("created_at", .string(Clock.iso8601(millis: server.createdAtMs))),
            ("last_active", server.stats.lastActiveMs.map { .string(Clock.iso8601(millis: $0)) } ?? .null),
            ("request_count", .int(Int64(server.stats.total))),
        ])
    }

    private func list(_ query: [String: String], _ tenant: String, _ connection: HTTPConnection) {
        let page = query["page"].map { Int($0) ?? 0 } ?? 1
        let perPage = query["per_page"].map { Int($0) ?? 0 } ?? 20
        guard page >= 1 else { return fail(connection, 400, "validation_error", "page must be an integer of at least 1") }
        guard (1...100).contains(perPage) else { return fail(connection, 400, "validation_error", "per_page must be an integer from 1 to 100") }
        let status = query["status"] ?? "all"
        guard ["active", "inactive", "all"].contains(status) else {
            return fail(connection, 400, "validation_error", "status must be active, inactive or all")
        }
        let health = query["health"]
        if let health, !["healthy", "unhealthy", "unknown"].contains(health) {
            return fail(connection, 400, "validation_error", "health must be healthy or unhealthy")
        }
        let matching = registry.servers(for: tenant).filter { server in
            (status == "all" || server.status.rawValue == status) && (health == nil || server.health.rawValue == health)
        }
        let total = matching.count
        let start = min(total, (page - 1) * perPage)
        let items = matching[start..<min(total, start + perPage)].map { JSONValue.object(summary($0)) }
        ManagementHTTP.respond(connection, 200, .object(JSONObject([
            ("success", true), ("data", .array(items)), ("error", .null),
            ("pagination", .object(JSONObject([("page", .int(Int64(page))), ("per_page", .int(Int64(perPage))),
                                               ("total", .int(Int64(total))), ("total_pages", .int(Int64((total + perPage - 1) / perPage)))]))),
        ])))
    }

    private func create(_ body: JSONObject, _ tenant: String, _ connection: HTTPConnection) {
        guard let name = body["name"]?.stringValue, !name.isEmpty else {
            return fail(connection, 400, "validation_error", "name is required")
        }
        guard body["endpoint_url"]?.stringValue != nil else { return fail(connection, 400, "validation_error", "endpoint_url is required") }
        if let transport = body["transport"], !["streamable_http", "http", "sse"].contains(transport.stringValue ?? "") {
            return fail(connection, 400, "validation_error", "transport must be streamable_http or sse")
        }
        var arguments = body
        arguments["type"] = .string(body["transport"]?.stringValue == "sse" ? "sse" : "http")
        arguments["transport"] = nil
        arguments["auth"] = nil
        switch registry.registerServer(arguments, tenant: tenant, generatedId: true) {
        case .failure(let error):
            fail(connection, 400, "validation_error", error.message)
        case .success(let server):
            var data = summary(server)
            data["last_active"] = nil
            data["request_count"] = nil
            succeed(connection, .object(data), status: 201)
        }
    }

    private func detail(_ id: String, _ tenant: String, _ connection: HTTPConnection) {
        guard let server = registry.server(id, tenant: tenant) else { return notFound(connection) }
        var data = summary(server)
        data["request_count"] = nil
        data["health_checked_at"] = server.lastCheckMs.map { .string(Clock.iso8601(millis: $0)) } ?? .null
        data["updated_at"] = .string(Clock.iso8601(millis: server.updatedAtMs))
        data["stats"] = server.stats.json
        data["tools"] = .array(server.tools.compactMap { tool in
            guard let name = tool["name"]?.stringValue else { return nil }
            return .object(JSONObject([("name", .string(name)), ("description", tool["description"] ?? ""),
                                       ("input_schema", tool["inputSchema"] ?? ["type": "object"])]))
        })
        succeed(connection, .object(data))
    }

    private func update(_ id: String, _ body: JSONObject, _ tenant: String, _ connection: HTTPConnection) {
        var status: MemberServer.Status?
        if let value = body["status"] {
            guard let parsed = value.stringValue.flatMap(MemberServer.Status.init(rawValue:)) else {
                return fail(connection, 400, "validation_error", "status must be active or inactive")
            }
            status = parsed
        }
        if let name = body["name"], name.stringValue?.isEmpty != false {
            return fail(connection, 400, "validation_error", "name must be a non-empty string")
        }
        if let description = body["description"], description.stringValue == nil {
            return fail(connection, 400, "validation_error", "description must be a string")
        }
        switch registry.update(id, name: body["name"]?.stringValue, description: body["description"]?.stringValue, status: status, tenant: tenant) {
        case .failure(let error) where error.reason == .permissionDenied: fail(connection, 403, "forbidden", error.message)
        case .failure: notFound(connection)
        case .success(let server):
            succeed(connection, .object(JSONObject([
                ("id", .string(server.id)), ("name", .string(server.name)), ("description", .string(server.description)),
                ("status", .string(server.status.rawValue)), ("updated_at", .string(Clock.iso8601(millis: server.updatedAtMs))),
            ])))
        }
    }

    private func delete(_ id: String, _ tenant: String, _ connection: HTTPConnection) {
        switch registry.deleteServer(id, tenant: tenant) {
        case .failure(let error) where error.reason == .permissionDenied: fail(connection, 403, "forbidden", error.message)
        case .failure: notFound(connection)
        case .success: succeed(connection, ["deleted": true, "mcp_id": .string(id)])
        }
    }

    private func test(_ id: String, _ tenant: String, _ connection: HTTPConnection) {
        guard let server = registry.server(id, tenant: tenant) else { return notFound(connection) }
        let started = Clock.monotonicMillis()
        registry.probe(server.key) { [weak self] outcome in
            guard let self else { return }
            switch outcome {
            case .success(let result):
                self.succeed(connection, .object(JSONObject([
                    ("reachable", true), ("latency_ms", result["latency_ms"] ?? .int(Clock.monotonicMillis() - started)),
                    ("protocol_version", result["protocol_version"] ?? .null),
                    ("tools_count", result["tools_count"] ?? .int(Int64(result["tools"]?.arrayValue?.count ?? 0))),
                    ("resources_count", result["resources_count"] ?? 0),
                ])))
            case .failure(let error) where error.reason == .overloaded:
                self.fail(connection, 503, "unavailable", error.message, headers: [("Retry-After", "1")])
            case .failure(let error):
                self.succeed(connection, .object(JSONObject([
                    ("reachable", false), ("latency_ms", .int(Clock.monotonicMillis() - started)), ("protocol_version", .null),
                    ("tools_count", 0), ("resources_count", 0), ("error", .string(error.message)),
                ])))
            }
        }
    }

    private func invoke(_ body: JSONObject, _ owner: String, _ connection: HTTPConnection) {
        guard let id = body["mcp_id"]?.stringValue else { return fail(connection, 400, "validation_error", "mcp_id is required") }
        guard let toolName = body["tool"]?.stringValue else { return fail(connection, 400, "validation_error", "tool is required") }
        let arguments = body["arguments"] ?? .object(JSONObject())
        guard arguments.objectValue != nil else { return fail(connection, 400, "validation_error", "arguments must be an object") }
        let tenant = Tenant.of(owner: owner)
        guard let server = registry.server(id, tenant: tenant) else { return notFound(connection) }
        guard server.status == .active else { return fail(connection, 409, "mcp_inactive", "the MCP is inactive") }
        guard let tool = registry.calls.tool(named: id + MemberServer.separator + toolName, tenant: tenant) else {
            return fail(connection, 404, "not_found", "Tool not found")
        }
        let started = Clock.monotonicMillis()
        registry.invoke(tool, arguments: arguments, owner: owner, surface: .registry, httpRequestId: connection.requestId) { [weak self] outcome in
            guard let self else { return }
            switch outcome {
            case .success(let result):
                self.succeed(connection, .object(JSONObject([
                    ("result", RegistryAPI.plainResult(result)),
                    ("metadata", .object(JSONObject([("mcp_id", .string(id)), ("tool", .string(toolName)),
                                                     ("latency_ms", .int(Clock.monotonicMillis() - started)),
                                                     ("timestamp", ManagementHTTP.timestamp)]))),
                ])))
            case .failure(let error):
                self.failUpstream(connection, error)
            }
        }
    }

    /// structuredContent when there is one; else the JSON a single text block holds; else the
    /// MCP result itself.
    static func plainResult(_ result: JSONObject) -> JSONValue {
        if let structured = result["structuredContent"] { return structured }
        if let content = result["content"]?.arrayValue, content.count == 1, content[0]["type"]?.stringValue == "text",
           let text = content[0]["text"]?.stringValue, let parsed = try? JSONValue.parse(Array(text.utf8)),
           parsed.objectValue != nil || parsed.arrayValue != nil {
            return parsed
        }
        return .object(result)
    }

    private func resources(_ body: JSONObject, _ tenant: String, _ connection: HTTPConnection) {
        guard let id = body["mcp_id"]?.stringValue else { return fail(connection, 400, "validation_error", "mcp_id is required") }
        guard let uri = body["uri"]?.stringValue else { return fail(connection, 400, "validation_error", "uri is required") }
        guard let server = registry.server(id, tenant: tenant) else { return notFound(connection) }
        guard server.status == .active else { return fail(connection, 409, "mcp_inactive", "the MCP is inactive") }
        let submitted = registry.runInWorker(server: server, method: "resources/read", input: JSONObject([("uri", .string(uri))])) { [weak self] outcome in
            switch outcome {
            case .success(let result): self?.succeed(connection, .object(JSONObject([("contents", result["contents"] ?? .array([]))])))
            case .failure(let error): self?.failUpstream(connection, error)
            }
        }
        if !submitted { fail(connection, 503, "unavailable", "every worker is busy; retry shortly", headers: [("Retry-After", "1")]) }
    }

    // MARK: answers

    /// The supervisor's refusal of a request to /v1, in seed 002's error shape.
    public func respondRateLimited(_ outcome: RateLimitOutcome, on connection: HTTPConnection) {
        failUpstream(connection, .rateLimited(outcome))
    }

    private func failUpstream(_ connection: HTTPConnection, _ error: ManagementError) {
        switch error.reason {
        case .connectionFailed: fail(connection, 502, "mcp_unreachable", "Could not connect to MCP server: \(error.message)")
        case .timeout: fail(connection, 504, "mcp_timeout", "MCP server did not respond in time")
        case .toolNotFound, .serverNotFound: fail(connection, 404, "not_found", error.message)
        case .invalidConfiguration: fail(connection, 400, "validation_error", error.message)
        case .inactive: fail(connection, 409, "mcp_inactive", error.message)
        case .overloaded: fail(connection, 503, "unavailable", error.message, headers: [("Retry-After", "1")])
        case .rateLimited: fail(connection, 429, "rate_limited", error.message, headers: error.headers)
        default: fail(connection, 502, "mcp_error", error.message)
        }
    }

    private func caller(_ request: HTTPRequest, _ connection: HTTPConnection) -> (String, Role)? {
        let outcome = ManagementHTTP.identify(request, authenticator)
        if case .identity(let identity) = outcome { return (identity.owner, identity.role) }
        fail(connection, 401, "unauthorized", outcome == .missing ? "missing Authorization: Bearer <token>" : "the credentials are not recognised",
             headers: [("WWW-Authenticate", "Bearer")])
        return nil
    }

    private func notFound(_ connection: HTTPConnection) { fail(connection, 404, "not_found", "MCP not found") }

    private func succeed(_ connection: HTTPConnection, _ data: JSONValue, status: Int = 200) {
        ManagementHTTP.succeedV1(connection, data, status: status)
    }

    private func fail(_ connection: HTTPConnection, _ status: Int, _ code: String, _ message: String, headers: [(String, String)] = []) {
        ManagementHTTP.failV1(connection, status, code, message, headers: headers)
    }
}
