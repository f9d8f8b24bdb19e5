// Management: the one registry of member servers, configured tools, overrides and prompts behind
// every surface (execute API, MCP, composer, /v1), its persistence, and the composer (seed 001)
// and registry (seed 002) HTTP APIs over it.
import Access
import Calls
import JSON
import Logging
import Pool
import SystemCalls
import ToolSources
import Tools

/// Where a tool comes from, as get_tool_config_* report it.
public enum ToolSource: String, Sendable { case builtin, stdio, remote, curl, openapi }

/// A tool as the registry knows it, listed or not.
public struct ToolEntry: Sendable {
    public var definition: ToolDefinition
    public var originalDescription: String
    public var source: ToolSource
    public var serverId: String?
    public var enabled: Bool
    /// False while its member server is down or deactivated.
    public var available: Bool
    /// nil for shared tools; the tenant whose registration it comes from otherwise.
    public var tenant: String?

    public var configJSON: JSONValue {
        .object(JSONObject([
            ("name", .string(definition.name)), ("server_id", serverId.map { .string($0) } ?? .null),
            ("source", .string(source.rawValue)), ("description", .string(definition.description)),
            ("original_description", .string(originalDescription)), ("enabled", .bool(enabled)),
            ("available", .bool(available)), ("inputSchema", definition.inputSchema),
        ]))
    }
}

/// A tool added from a curl command line (seed 001 add_tools).
struct CurlToolRecord {
    var tenant: String?
    var name: String
    var description: String
    var commandLine: String
    var definition: ToolDefinition
}

/// One add_tools_from_openapi: the document is kept and its tools derived again at start.
struct OpenAPIRecord {
    var tenant: String?
    var document: JSONValue
    var authConfig: JSONObject?
    var baseURL: String?
    var definitions: [ToolDefinition]
}

public struct RegistrySettings: Sendable {
    public var builtinTools: [ToolDefinition] = []
    public var stateDirectory: String?
    public var healthIntervalMs: Int64 = 10_000
    public var probeDeadlineSeconds = 10.0
    public init() {}
}

public final class Registry {
    public let settings: RegistrySettings
    let calls: CallService
    let store: StateStore?
    public internal(set) var servers: [MemberServer] = []
    var curlTools: [CurlToolRecord] = []
    var openAPIImports: [OpenAPIRecord] = []
    var prompts: [RegisteredPrompt] = []
    /// Description overrides and enable/disable, by tool key (`MemberServer.key(name, tenant:)`:
    /// the name for shared and tenant `default`'s tools, "tenant/name" for another tenant's); they
    /// outlive the tool (a server's tools come and go with it).
    var descriptionOverrides: [String: String] = [:]
    var disabledTools: Set<String> = []
    /// Ids of configuration-file servers deleted at run time, and their status changes.
    var deletedConfigServers: Set<String> = []
    var configServerStatus: [String: MemberServer.Status] = [:]
    /// Starts the pool of a stdio server (the supervisor knows how); nil when it cannot.
    public var startStdioPool: ((MemberServer) -> WorkerPool?)?
    /// Stops a stdio server's pool, cancelling its calls.
    public var stopStdioPool: ((WorkerPool) -> Void)?
    /// Lets a stdio server's pool finish its calls, then stops it (a server changed by a reload).
    public var drainStdioPool: ((WorkerPool) -> Void)?
    var probesInFlight: Set<String> = []
    public private(set) var entries: [ToolEntry] = []

    public init(settings: RegistrySettings, calls: CallService) {
        self.settings = settings
        self.calls = calls
        self.store = settings.stateDirectory.map { StateStore(directory: $0) }
    }

    // MARK: lookups

    /// The server with this id that a tenant sees (its own or a shared one); another tenant's is
    /// as absent as one that never existed.
    public func server(_ id: String, tenant: String) -> MemberServer? { serverIndex(id, tenant: tenant).map { servers[$0] } }

    func serverIndex(_ id: String, tenant: String) -> Int? {
        servers.firstIndex { $0.id == id && $0.tenant == tenant } ?? servers.firstIndex { $0.id == id && $0.tenant == nil }
    }

    func serverIndex(key: String) -> Int? { servers.firstIndex { $0.key == key } }

    /// The servers a tenant sees.
    public func servers(for tenant: String) -> [MemberServer] { servers.filter { $0.isVisible(to: tenant) } }

    /// The tool entry with this name that a tenant sees, its own first.
    public func entry(named name: String, tenant: String) -> ToolEntry? {
        entries.first { $0.definition.name == name && $0.tenant == tenant } ?? entries.first { $0.definition.name == name && $0.tenant == nil }
    }

    public func promptList(for tenant: String) -> [RegisteredPrompt] { calls.directory.prompts(for: tenant) }

    // MARK: the tool list

    /// Recomputes every tool entry and publishes the listed ones to the directory.
    func rebuild() {
        var all: [ToolEntry] = []
        func add(_ definition: ToolDefinition, _ source: ToolSource, server: MemberServer?, tenant: String?) {
            let name = definition.name
            let key = MemberServer.key(name, tenant: tenant)
            var listed = definition
            if let description = descriptionOverrides[key] { listed = listed.renamed(name, description: description) }
            let available = server.map { $0.status == .active && ($0.kind != .stdio || calls.serverPools[$0.key] != nil) } ?? true
            all.append(ToolEntry(definition: listed, originalDescription: definition.description, source: source,
                                 serverId: server?.id, enabled: !disabledTools.contains(key), available: available, tenant: tenant))
        }
        for tool in settings.builtinTools { add(tool, .builtin, server: nil, tenant: nil) }
        for tool in curlTools { add(tool.definition, .curl, server: nil, tenant: tool.tenant) }
        for record in openAPIImports { for tool in record.definitions { add(tool, .openapi, server: nil, tenant: record.tenant) } }
        for server in servers {
            for object in server.tools {
                guard let definition = memberTool(object, of: server) else { continue }
                add(definition, server.kind == .stdio ? .stdio : .remote, server: server, tenant: server.tenant)
            }
        }
        entries = all
        // Names are unique within each tenant's view; the first of a name in a scope is listed.
        var seen = Set<String>()
        var listed: [Directory.Scoped] = []
        for entry in all where entry.enabled && entry.available {
            let key = (entry.tenant ?? "") + "\u{0}" + entry.definition.name
            guard !seen.contains(key) else { continue }
            seen.insert(key)
            listed.append(Directory.Scoped(tenant: entry.tenant, tool: entry.definition))
        }
        calls.directory.replaceTools(listed)
    }

    /// A member's MCP Tool object as one of our tools, namespaced by the server's id.
    private func memberTool(_ object: JSONValue, of server: MemberServer) -> ToolDefinition? {
        guard let name = object["name"]?.stringValue, !name.isEmpty else { return nil }
        let schema = object["inputSchema"].flatMap { $0.objectValue != nil ? $0 : nil } ?? ["type": "object"]
        let route: ToolRoute
        if server.kind == .stdio {
            route = ToolRoute(serverPool: server.key, upstreamName: name)
        } else {
            route = ToolRoute(upstreamName: name, spec: remoteSpec(server, method: "tools/call"))
        }
        return ToolDefinition(name: server.id + MemberServer.separator + name,
                              description: object["description"]?.stringValue ?? "", inputSchema: schema,
                              deadlineSeconds: server.deadlineSeconds, title: object["title"]?.stringValue,
                              annotations: object["annotations"]?.objectValue, route: route)
    }

    func remoteSpec(_ server: MemberServer, method: String) -> [UInt8] {
        var spec = JSONObject([("kind", "mcp_remote"), ("endpoint", .string(server.endpoint ?? "")),
                               ("transport", .string(server.transport)), ("method", .string(method))])
        spec["auth"] = server.auth.map { .object($0) } ?? .null
        spec["timeout_ms"] = .int(Int64((server.deadlineSeconds ?? 30) * 1000))
        return Array(JSONValue.object(spec).serialized().utf8)
    }

    func publishPrompts() {
        calls.directory.replacePrompts(prompts)
    }

    // MARK: servers

    /// Adds a server (already validated), starting its pool or its first health check.
    func install(_ server: MemberServer) {
        servers.append(server)
        if server.status == .active { activate(at: servers.count - 1) }
        rebuild()
    }

    func activate(at index: Int) {
        let server = servers[index]
        if server.kind == .stdio {
            if calls.serverPools[server.key] == nil, let pool = startStdioPool?(server) {
                calls.serverPools[server.key] = pool
                pool.onToolsDiscovered = { [weak self] tools in self?.discovered(tools, server: server.key) }
            }
        } else {
            probe(server.key)
        }
    }

    /// Takes a server out of service: its pool gets no new call and is stopped at once, or, when
    /// `draining`, once its calls have finished.
    func deactivate(at index: Int, draining: Bool = false) {
        let key = servers[index].key
        if let pool = calls.serverPools.removeValue(forKey: key) {
            if draining, let drainStdioPool { drainStdioPool(pool) } else { stopStdioPool?(pool) }
        }
        servers[index].health = .unknown
    }

    func remove(at index: Int) {
        deactivate(at: index)
        servers.remove(at: index)
        rebuild()
    }

    private func discovered(_ tools: [JSONValue], server key: String) {
        guard let index = serverIndex(key: key) else { return }
        servers[index].tools = tools
        servers[index].health = .healthy
        servers[index].lastCheckMs = Clock.wallMillis()
        rebuild()
    }

    // MARK: health

    /// Every interval: remote members are probed (initialize + tools/list) in a worker; stdio
    /// members are healthy while their pool has a live process.
    public func checkHealth() {
        for index in servers.indices where servers[index].status == .active {
            if servers[index].kind == .stdio {
                let live = calls.serverPools[servers[index].key].map { $0.counts.live > 0 } ?? false
                let health: MemberServer.Health = live ? .healthy : .unhealthy
                if servers[index].health != health || live {
                    servers[index].health = health
                    servers[index].lastCheckMs = Clock.wallMillis()
                }
            } else {
                probe(servers[index].key)
            }
        }
    }

    /// One probe per member (by key) at a time; the result refreshes its tools and health.
    func probe(_ id: String, completion: ((Result<JSONObject, ManagementError>) -> Void)? = nil) {
        guard let index = serverIndex(key: id) else { return }
        let server = servers[index]
        if completion == nil {
            guard !probesInFlight.contains(id) else { return }
            probesInFlight.insert(id)
        }
        let started = Clock.monotonicMillis()
        let submitted = runInWorker(server: server, method: "probe", input: [:]) { [weak self] outcome in
            guard let self else { return }
            if completion == nil { self.probesInFlight.remove(id) }
            guard let index = self.serverIndex(key: id) else { completion?(outcome); return }
            let elapsed = Clock.monotonicMillis() - started
            self.servers[index].lastCheckMs = Clock.wallMillis()
            switch outcome {
            case .success(let result):
                let wasHealthy = self.servers[index].health == .healthy
                self.servers[index].health = .healthy
                self.servers[index].healthMessage = nil
                self.servers[index].responseTimeMs = result["latency_ms"]?.intValue ?? elapsed
                self.servers[index].protocolVersion = result["protocol_version"]?.stringValue
                let tools = result["tools"]?.arrayValue ?? []
                let changed = !wasHealthy || tools.count != self.servers[index].tools.count
                    || zip(tools, self.servers[index].tools).contains { $0.serialized() != $1.serialized() }
                self.servers[index].tools = tools
                if changed { self.rebuild() }
            case .failure(let error):
                if self.servers[index].health != .unhealthy {
                    Log.warn("member server is unreachable", ["server": id, "error": error.message])
                }
                self.servers[index].health = .unhealthy
                self.servers[index].healthMessage = error.message
                self.servers[index].responseTimeMs = nil
            }
            completion?(outcome)
        }
        if !submitted {
            if completion == nil { probesInFlight.remove(id) }
            completion?(.failure(ManagementError(.overloaded, "no worker is free to reach the server; retry shortly")))
        }
    }

    /// Runs a request to a member (probe, resources/read) in a worker, outside the call store:
    /// the registry's own traffic, not a client's call. Returns false when it could not start.
    @discardableResult
    func runInWorker(server: MemberServer, method: String, input: JSONObject,
                     completion: @escaping (Result<JSONObject, ManagementError>) -> Void) -> Bool {
        let pool: WorkerPool
        let spec: [UInt8]
        if server.kind == .stdio {
            guard let serverPool = calls.serverPools[server.key] else {
                completion(.failure(ManagementError(.inactive, "the server '\(server.id)' is not running")))
                return true
            }
            pool = serverPool
            spec = Array(JSONValue.object(JSONObject([("method", .string(method))])).serialized().utf8)
        } else {
            pool = calls.pool
            spec = remoteSpec(server, method: method)
        }
        var bytes: [UInt8] = []
        JSONValue.object(input).write(into: &bytes)
        let submitted = pool.submit(tool: method, spec: spec, input: bytes, callId: Random.uuid(), owner: "mcpd",
                                    deadlineSeconds: settings.probeDeadlineSeconds) { event in
            switch event {
            case .finished(let result):
                completion(.success((try? JSONValue.parse(result))?.objectValue ?? JSONObject()))
            case .failed(let kind, let message):
                completion(.failure(.fromWorker(kind: kind, message: message)))
            case .cancelled(let reason):
                completion(.failure(ManagementError(.executionFailed, "cancelled: \(reason)")))
            default:
                break
            }
        }
        if case .failure = submitted { return false }
        return true
    }

    /// Counts a finished call against its member server's statistics (the server the caller's
    /// tenant sees under the tool's prefix).
    public func record(tool: ToolDefinition, event: CallEvent, latencyMs: Int64, owner: String) {
        // Every call ends here: built-in and configured tools (no separator in their names) cost
        // nothing more than this check.
        guard tool.name.utf8.count > 2, MemberServer.containsSeparator(tool.name) else { return }
        let tenant = Tenant.of(owner: owner)
        guard let index = servers.firstIndex(where: { $0.isVisible(to: tenant) && tool.name.hasPrefix($0.id + MemberServer.separator) }) else { return }
        var failed = false
        switch event {
        case .failed: failed = true
        case .finished(let bytes):
            failed = bytes.count < 4096 && bytes.firstRange(of: Array("\"isError\":true".utf8)) != nil
        default: break
        }
        servers[index].stats.record(failed: failed, latencyMs: latencyMs)
    }

    // MARK: persistence

    /// Writes the run-time state; a failure is logged, and the caller's operation still answers
    /// (it took effect) but says the state could not be kept.
    @discardableResult
    func persist() -> String? {
        guard let store else { return nil }
        do {
            try store.save(snapshot())
            return nil
        } catch {
            Log.error("cannot write the state file", ["error": error.description])
            return error.description
        }
    }

    func snapshot() -> JSONValue {
        var object = JSONObject([("format", 1)])
        object["servers"] = .array(servers.filter { $0.origin == .runtime }.map(\.persisted))
        // Run-time tools only (a tenant's): the configuration file's, shared, come back from the file.
        object["tools"] = .array(curlTools.filter { $0.tenant != nil }.map {
            var item = JSONObject([("name", .string($0.name)), ("tool_type", "curl"), ("description", .string($0.description)),
                                   ("curl_config", .object(JSONObject([("value", .string($0.commandLine))])))])
            if let tenant = $0.tenant { item["tenant"] = .string(tenant) }
            return .object(item)
        })
        object["openapi"] = .array(openAPIImports.filter { $0.tenant != nil }.map { record in
            var item = JSONObject([("openapi_spec", record.document)])
            if let tenant = record.tenant { item["tenant"] = .string(tenant) }
            if let auth = record.authConfig { item["auth_config"] = .object(auth) }
            if let base = record.baseURL { item["base_url"] = .string(base) }
            return .object(item)
        })
        // Only run-time prompts: the configuration file's come back from the file.
        object["prompts"] = .array(prompts.compactMap { prompt in
            guard let tenant = prompt.tenant, var item = prompt.json.objectValue else { return nil }
            item["tenant"] = .string(tenant)
            return .object(item)
        })
        object["description_overrides"] = .object(JSONObject(descriptionOverrides.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))
        object["disabled_tools"] = .array(disabledTools.sorted().map { .string($0) })
        object["deleted_config_servers"] = .array(deletedConfigServers.sorted().map { .string($0) })
        object["config_server_status"] = .object(JSONObject(configServerStatus.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value.rawValue)) }))
        return .object(object)
    }
}

extension Array where Element == UInt8 {
    fileprivate func firstRange(of needle: [UInt8]) -> Range<Int>? {
        guard needle.count <= count else { return nil }
        for start in 0...(count - needle.count) where self[start..<(start + needle.count)].elementsEqual(needle) {
            return start..<(start + needle.count)
        }
        return nil
    }
}
