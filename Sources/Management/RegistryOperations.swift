import Access
import Calls
import JSON
import Sandbox
import SystemCalls
import ToolSources
import Tools

/// The registry's operations, as the composer, the /v1 API and the configuration file ask for them.
/// Each validates everything before it changes anything, then persists.
extension Registry {
    // MARK: servers

    /// Seed 001 register_mcp_server's arguments (also the configuration file's `servers` items and
    /// seed 004's `mcpServers` entries, which have no `type`: a `command` makes a stdio server).
    /// A run-time registration belongs to `tenant`; the configuration file's are shared (nil).
    public func registerServer(_ arguments: JSONObject, origin: MemberServer.Origin = .runtime, tenant: String? = Tenant.defaultId,
                               generatedId: Bool = false) -> Result<MemberServer, ManagementError> {
        let owner = origin == .config ? nil : tenant
        switch parseServer(arguments, origin: origin, tenant: owner, generatedId: generatedId) {
        case .failure(let error): return .failure(error)
        case .success(let server):
            install(server)
            if origin == .runtime { persist() }
            return .success(serverIndex(key: server.key).map { servers[$0] } ?? server)
        }
    }

    /// Whether an id is taken in a tenant's view (nil: the shared scope, which every tenant sees).
    private func idTaken(_ id: String, tenant: String?) -> Bool {
        servers.contains { $0.id == id && ($0.tenant == nil || tenant == nil || $0.tenant == tenant) }
    }

    func parseServer(_ arguments: JSONObject, origin: MemberServer.Origin, tenant: String?, generatedId: Bool) -> Result<MemberServer, ManagementError> {
        var id = ""
        if generatedId {
            repeat { id = "mcp_" + Random.hexToken(byteCount: 6) } while idTaken(id, tenant: tenant)
        } else {
            guard let given = arguments["id"]?.stringValue ?? arguments["server_id"]?.stringValue else {
                return .failure(.invalid("id is required", field: "id"))
            }
            id = given
        }
        guard MemberServer.isValidId(id) else {
            return .failure(.invalid("id '\(id)' must be 1-63 letters, digits, '_' or '-', start with a letter or digit, and not contain '__'", field: "id"))
        }
        guard !idTaken(id, tenant: tenant) else { return .failure(.invalid("a server with id '\(id)' already exists", field: "id")) }
        let command = arguments["command"]?.stringValue
        let typeName = arguments["type"]?.stringValue ?? arguments["transport"]?.stringValue ?? (command != nil ? "stdio" : "http")
        let kind: MemberServer.Kind
        switch typeName {
        case "stdio": kind = .stdio
        case "http", "streamable_http", "streamable-http": kind = .http
        case "sse": kind = .sse
        default: return .failure(.invalid("type must be http, sse or stdio, not '\(typeName)'", field: "type"))
        }
        var server = MemberServer(id: id, name: arguments["name"]?.stringValue ?? id, kind: kind, origin: origin)
        server.tenant = tenant
        server.description = arguments["description"]?.stringValue ?? ""
        if let status = arguments["status"]?.stringValue {
            guard let parsed = MemberServer.Status(rawValue: status) else {
                return .failure(.invalid("status must be active or inactive", field: "status"))
            }
            server.status = parsed
        }
        if let deadline = arguments["deadline_seconds"] {
            guard let seconds = deadline.doubleValue, seconds > 0 else {
                return .failure(.invalid("deadline_seconds must be a positive number", field: "deadline_seconds"))
            }
            server.deadlineSeconds = seconds
        }
        if let created = arguments["created_at_ms"]?.intValue { server.createdAtMs = created }
        if let updated = arguments["updated_at_ms"]?.intValue { server.updatedAtMs = updated }
        if kind == .stdio {
            guard let command, !command.isEmpty else { return .failure(.invalid("a stdio server needs a command", field: "command")) }
            server.command = command
            if let args = arguments["args"] {
                guard let list = args.arrayValue, list.allSatisfy({ $0.stringValue != nil }) else {
                    return .failure(.invalid("args must be an array of strings", field: "args"))
                }
                server.arguments = list.compactMap(\.stringValue)
            }
            if let env = arguments["env"] {
                guard let object = env.objectValue, object.allSatisfy({ $0.value.stringValue != nil }) else {
                    return .failure(.invalid("env must be an object of strings", field: "env"))
                }
                server.environment = object.map { ($0.key, $0.value.stringValue ?? "") }
            }
            if let cwd = arguments["cwd"] {
                guard let path = cwd.stringValue, path.hasPrefix("/") else {
                    return .failure(.invalid("cwd must be an absolute path", field: "cwd"))
                }
                server.workingDirectory = path
            }
            let minimum = arguments["min_instances"]?.intValue ?? 1
            let maximum = arguments["max_instances"]?.intValue ?? max(2, minimum)
            guard minimum >= 0, maximum >= 1, minimum <= maximum, maximum <= 64 else {
                return .failure(.invalid("min_instances and max_instances must satisfy 0 <= min <= max <= 64", field: "max_instances"))
            }
            server.minInstances = Int(minimum)
            server.maxInstances = Int(maximum)
            server.concurrent = arguments["concurrent"]?.boolValue ?? false
            if let sandbox = arguments["sandbox"] {
                switch SandboxPolicy.parse(sandbox) {
                case .success(let policy): server.sandbox = policy
                case .failure(let error): return .failure(.invalid(error.description, field: "sandbox"))
                }
            }
        } else {
            guard let endpoint = arguments["endpoint"]?.stringValue ?? arguments["endpoint_url"]?.stringValue else {
                return .failure(.invalid("a remote server needs an endpoint URL", field: "endpoint"))
            }
            guard endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://"), endpoint.utf8.count > 8,
                  !endpoint.contains(" ") else {
                return .failure(.invalid("endpoint must be an http:// or https:// URL", field: "endpoint"))
            }
            server.endpoint = endpoint
            switch parseAuth(arguments) {
            case .failure(let error): return .failure(error)
            case .success(let auth): server.auth = auth
            }
        }
        return .success(server)
    }

    /// Seed 001's `auth_strategy` + `auth`, seed 002's `auth_type` + `auth_token`, or a stored auth
    /// object, as the worker's auth object.
    func parseAuth(_ arguments: JSONObject) -> Result<JSONObject?, ManagementError> {
        if let stored = arguments["auth"]?.objectValue, stored["strategy"] != nil { return .success(stored) }
        let strategy = arguments["auth_strategy"]?.stringValue ?? arguments["auth_type"]?.stringValue ?? "none"
        let auth = arguments["auth"]?.objectValue ?? JSONObject()
        func field(_ names: String...) -> String? {
            for name in names { if let value = auth[name]?.stringValue ?? arguments[name]?.stringValue, !value.isEmpty { return value } }
            return nil
        }
        switch strategy {
        case "none", "":
            return .success(nil)
        case "bearer":
            guard let token = field("token", "auth_token") else { return .failure(.invalid("bearer auth needs auth.token", field: "auth.token")) }
            return .success(JSONObject([("strategy", "bearer"), ("token", .string(token))]))
        case "api_key", "apikey", "api-key":
            guard let key = field("key", "api_key", "token", "auth_token") else {
                return .failure(.invalid("api_key auth needs auth.key", field: "auth.key"))
            }
            let header = field("header", "header_name", "auth_header") ?? "X-API-Key"
            guard !header.contains(":"), !header.contains(" ") else { return .failure(.invalid("auth.header is not a header name", field: "auth.header")) }
            return .success(JSONObject([("strategy", "api_key"), ("header", .string(header)), ("key", .string(key))]))
        case "basic":
            guard let username = field("username"), let password = field("password") else {
                return .failure(.invalid("basic auth needs auth.username and auth.password", field: "auth"))
            }
            return .success(JSONObject([("strategy", "basic"), ("username", .string(username)), ("password", .string(password))]))
        default:
            return .failure(.invalid("auth_strategy must be none, bearer, api_key or basic", field: "auth_strategy"))
        }
    }

    /// A shared server is the operator's: only tenant `default` may change it.
    private func mayChange(_ index: Int, _ tenant: String) -> ManagementError? {
        guard servers[index].tenant == nil, tenant != Tenant.defaultId else { return nil }
        return ManagementError(.permissionDenied, "the server '\(servers[index].id)' is shared; only the default tenant manages it")
    }

    public func deleteServer(_ id: String, tenant: String) -> Result<MemberServer, ManagementError> {
        guard let index = serverIndex(id, tenant: tenant) else { return .failure(.noServer(id)) }
        if let refused = mayChange(index, tenant) { return .failure(refused) }
        let server = servers[index]
        if server.origin == .config { deletedConfigServers.insert(id) }
        remove(at: index)
        persist()
        return .success(server)
    }

    public func setStatus(_ id: String, _ status: MemberServer.Status, tenant: String) -> Result<MemberServer, ManagementError> {
        update(id, name: nil, description: nil, status: status, tenant: tenant)
    }

    /// Seed 002 PATCH: name, description, status.
    public func update(_ id: String, name: String?, description: String?, status: MemberServer.Status?,
                       tenant: String) -> Result<MemberServer, ManagementError> {
        guard let index = serverIndex(id, tenant: tenant) else { return .failure(.noServer(id)) }
        if let refused = mayChange(index, tenant) { return .failure(refused) }
        if let name { servers[index].name = name }
        if let description { servers[index].description = description }
        if let status, status != servers[index].status {
            servers[index].status = status
            if servers[index].origin == .config { configServerStatus[id] = status }
            if status == .active { activate(at: index) } else { deactivate(at: index) }
        }
        servers[index].updatedAtMs = Clock.wallMillis()
        rebuild()
        persist()
        return .success(servers[index])
    }

    // MARK: tools

    public func toolConfigs(server id: String, tenant: String) -> Result<[ToolEntry], ManagementError> {
        guard let server = server(id, tenant: tenant) else { return .failure(.noServer(id)) }
        return .success(entries.filter { $0.serverId == id && $0.tenant == server.tenant })
    }

    /// The key of a tool a tenant may change: its own, or (tenant `default` only) a shared one.
    private func changeableKey(_ name: String, _ tenant: String) -> Result<String, ManagementError> {
        guard let entry = entry(named: name, tenant: tenant) else { return .failure(.noTool(name)) }
        if entry.tenant == nil && tenant != Tenant.defaultId {
            return .failure(ManagementError(.permissionDenied, "the tool '\(name)' is shared; only the default tenant changes it"))
        }
        return .success(MemberServer.key(name, tenant: entry.tenant))
    }

    /// Enables or disables tools; any unknown name fails the whole request, changing nothing.
    public func setEnabled(_ names: [String], _ enabled: Bool, tenant: String) -> Result<[String], ManagementError> {
        var keys: [String] = []
        for name in names {
            switch changeableKey(name, tenant) {
            case .failure(let error): return .failure(error)
            case .success(let key): keys.append(key)
            }
        }
        for key in keys {
            if enabled { disabledTools.remove(key) } else { disabledTools.insert(key) }
        }
        rebuild()
        persist()
        return .success(names)
    }

    public func updateDescription(_ name: String, _ description: String, tenant: String) -> Result<ToolEntry, ManagementError> {
        switch changeableKey(name, tenant) {
        case .failure(let error): return .failure(error)
        case .success(let key): descriptionOverrides[key] = description
        }
        rebuild()
        persist()
        return .success(entry(named: name, tenant: tenant)!)
    }

    /// Tool names a registration by `tenant` may not take (nil: the shared scope, which must not
    /// take any tenant's name either).
    private func takenToolNames(_ tenant: String?) -> Set<String> {
        Set(entries.filter { tenant == nil || $0.tenant == nil || $0.tenant == tenant }.map(\.definition.name))
    }

    /// Seed 001 add_tools: curl tools only (the one `tool_type` the seed defines).
    public func addTools(_ items: [JSONValue], tenant: String?, persisting: Bool = true) -> Result<[String], ManagementError> {
        var added: [CurlToolRecord] = []
        var names = takenToolNames(tenant)
        for (index, item) in items.enumerated() {
            guard let object = item.objectValue else { return .failure(.invalid("tools[\(index)] must be an object", field: "tools[\(index)]")) }
            guard let name = object["name"]?.stringValue, isValidToolName(name) else {
                return .failure(.invalid("tools[\(index)].name must be 1-64 letters, digits, '_', '-' or '.' (and not contain '__')", field: "tools[\(index)].name"))
            }
            guard !names.contains(name) else { return .failure(.invalid("a tool named '\(name)' already exists", field: "tools[\(index)].name")) }
            let type = object["tool_type"]?.stringValue ?? "curl"
            guard type == "curl" else { return .failure(.invalid("tool_type '\(type)' is not supported (curl)", field: "tools[\(index)].tool_type")) }
            guard let command = object["curl_config"]?["value"]?.stringValue ?? object["curl_config"]?.stringValue else {
                return .failure(.invalid("tools[\(index)].curl_config.value must be a curl command line", field: "tools[\(index)].curl_config"))
            }
            let description = object["description"]?.stringValue ?? ""
            do {
                let (definition, spec) = try CurlTool.make(name: name, description: description, commandLine: command)
                var tool = definition
                tool.route.spec = Array(JSONValue.object(spec).serialized().utf8)
                tool.route.serverPool = ToolRoute.generatedToolsPool
                added.append(CurlToolRecord(tenant: tenant, name: name, description: description, commandLine: command, definition: tool))
                names.insert(name)
            } catch {
                return .failure(.invalid("tools[\(index)]: \(error.description)", field: "tools[\(index)].curl_config"))
            }
        }
        curlTools += added
        rebuild()
        if persisting { persist() }
        return .success(added.map(\.name))
    }

    /// Seed 001 add_tools_from_openapi.
    public func addOpenAPI(_ arguments: JSONObject, tenant: String?, persisting: Bool = true) -> Result<[String], ManagementError> {
        guard let document = arguments["openapi_spec"], document.objectValue != nil else {
            return .failure(.invalid("openapi_spec must be an OpenAPI 3.x document (a JSON object)", field: "openapi_spec"))
        }
        let authConfig = arguments["auth_config"]?.objectValue
        let baseURL = arguments["base_url"]?.stringValue
        var definitions: [ToolDefinition]
        do {
            definitions = try OpenAPIImport.tools(document: document, authConfig: authConfig, baseURL: baseURL).map { definition, spec in
                var tool = definition
                tool.route.spec = Array(JSONValue.object(spec).serialized().utf8)
                tool.route.serverPool = ToolRoute.generatedToolsPool
                return tool
            }
        } catch {
            return .failure(.invalid("openapi_spec: \(error.description)", field: "openapi_spec"))
        }
        guard !definitions.isEmpty else { return .failure(.invalid("the document has no operations", field: "openapi_spec")) }
        var names = takenToolNames(tenant)
        for tool in definitions {
            guard !names.contains(tool.name) else {
                return .failure(.invalid("a tool named '\(tool.name)' already exists", field: "openapi_spec"))
            }
            names.insert(tool.name)
        }
        definitions.sort { $0.name < $1.name }
        openAPIImports.append(OpenAPIRecord(tenant: tenant, document: document, authConfig: authConfig, baseURL: baseURL, definitions: definitions))
        rebuild()
        if persisting { persist() }
        return .success(definitions.map(\.name))
    }

    private func isValidToolName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...64).contains(bytes.count), !name.contains(MemberServer.separator) else { return false }
        return bytes.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 95 || $0 == 45 || $0 == 46 }
    }

    // MARK: prompts

    /// Seed 001 add_prompts; a prompt with an existing name replaces it.
    public func addPrompts(_ items: [JSONValue], tenant: String?, persisting: Bool = true) -> Result<[String], ManagementError> {
        var parsed: [RegisteredPrompt] = []
        for (index, item) in items.enumerated() {
            guard let object = item.objectValue, let name = object["name"]?.stringValue, !name.isEmpty,
                  let template = object["template"]?.stringValue else {
                return .failure(.invalid("prompt_config[\(index)] needs a name and a template", field: "prompt_config[\(index)]"))
            }
            var arguments: [RegisteredPrompt.Argument] = []
            for (position, argument) in (object["arguments"]?.arrayValue ?? []).enumerated() {
                guard let argumentName = argument["name"]?.stringValue, !argumentName.isEmpty else {
                    return .failure(.invalid("prompt_config[\(index)].arguments[\(position)] needs a name", field: "prompt_config[\(index)].arguments"))
                }
                arguments.append(.init(name: argumentName, description: argument["description"]?.stringValue ?? "",
                                       required: argument["required"]?.boolValue ?? false))
            }
            parsed.append(RegisteredPrompt(name: name, description: object["description"]?.stringValue ?? "",
                                           template: template, arguments: arguments, tenant: tenant))
        }
        for prompt in parsed {
            if let existing = prompts.firstIndex(where: { $0.name == prompt.name && $0.tenant == prompt.tenant }) { prompts[existing] = prompt } else { prompts.append(prompt) }
        }
        publishPrompts()
        if persisting { persist() }
        return .success(parsed.map(\.name))
    }

    // MARK: loading

    /// The configuration file's declarations, then the state directory's run-time registrations.
    /// Returns the problems found (each logged by the caller); a bad item never stops the rest.
    public func load(configuration: JSONObject?) throws(StateError) -> [String] {
        var problems: [String] = []
        var state: JSONObject?
        if let store {
            try store.prepare()
            state = try store.load()?.objectValue
        }
        if let state {
            deletedConfigServers = Set((state["deleted_config_servers"]?.arrayValue ?? []).compactMap(\.stringValue))
            for (id, value) in state["config_server_status"]?.objectValue ?? JSONObject() {
                if let status = value.stringValue.flatMap(MemberServer.Status.init(rawValue:)) { configServerStatus[id] = status }
            }
        }
        if let configuration {
            let (declared, declarationProblems) = declaredServers(configuration)
            problems += declarationProblems
            for object in declared {
                let id = object["id"]?.stringValue ?? ""
                if case .failure(let error) = registerServer(object, origin: .config) { problems.append("server '\(id)': \(error.message)") }
            }
            if let tools = configuration["tools"]?.arrayValue, case .failure(let error) = addTools(tools, tenant: nil, persisting: false) {
                problems.append("tools: \(error.message)")
            }
            for item in configuration["openapi"]?.arrayValue ?? [] {
                if case .failure(let error) = addOpenAPI(item.objectValue ?? JSONObject(), tenant: nil, persisting: false) { problems.append("openapi: \(error.message)") }
            }
            if let items = configuration["prompts"]?.arrayValue, case .failure(let error) = addPrompts(items, tenant: nil, persisting: false) {
                problems.append("prompts: \(error.message)")
            }
        }
        if let state {
            // Items saved before tenants existed were tenant `default`'s (the only one there was).
            func tenantOf(_ item: JSONValue) -> String {
                item["tenant"]?.stringValue.flatMap { Tenant.isValid($0) ? $0 : nil } ?? Tenant.defaultId
            }
            for value in state["servers"]?.arrayValue ?? [] {
                guard let object = value.objectValue else { continue }
                switch parseServer(object, origin: .runtime, tenant: tenantOf(value), generatedId: false) {
                case .success(let server): install(server)
                case .failure(let error): problems.append("state: server '\(object["id"]?.stringValue ?? "")': \(error.message)")
                }
            }
            for tool in state["tools"]?.arrayValue ?? [] {
                if case .failure(let error) = addTools([tool], tenant: tenantOf(tool), persisting: false) {
                    problems.append("state: tools: \(error.message)")
                }
            }
            for item in state["openapi"]?.arrayValue ?? [] {
                if case .failure(let error) = addOpenAPI(item.objectValue ?? JSONObject(), tenant: tenantOf(item), persisting: false) { problems.append("state: openapi: \(error.message)") }
            }
            for item in state["prompts"]?.arrayValue ?? [] {
                if case .failure(let error) = addPrompts([item], tenant: tenantOf(item), persisting: false) {
                    problems.append("state: prompts: \(error.message)")
                }
            }
            for (name, value) in state["description_overrides"]?.objectValue ?? JSONObject() {
                if let text = value.stringValue { descriptionOverrides[name] = text }
            }
            disabledTools = Set((state["disabled_tools"]?.arrayValue ?? []).compactMap(\.stringValue))
        }
        rebuild()
        publishPrompts()
        return problems
    }
}
