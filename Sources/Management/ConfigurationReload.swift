import JSON

/// Applying the configuration file again while serving (SIGHUP, `systemctl reload`): what the file
/// declares replaces what it declared before, and nothing registered at run time is touched.
extension Registry {
    /// The file's server declarations (`servers` items and seed 004's `mcpServers` entries) as
    /// registration arguments, with what the operator changed at run time applied: servers deleted
    /// through an API stay deleted, deactivations stay.
    func declaredServers(_ configuration: JSONObject) -> (servers: [JSONObject], problems: [String]) {
        var problems: [String] = []
        var declared: [JSONObject] = (configuration["servers"]?.arrayValue ?? []).compactMap(\.objectValue)
        for (id, value) in configuration["mcpServers"]?.objectValue ?? JSONObject() {
            guard var object = value.objectValue else { problems.append("mcpServers.\(id) is not an object"); continue }
            object["id"] = .string(id)
            declared.append(object)
        }
        var servers: [JSONObject] = []
        for var object in declared {
            let id = object["id"]?.stringValue ?? ""
            if deletedConfigServers.contains(id) { continue }
            if object["disabled"]?.boolValue == true { object["status"] = "inactive" }
            if let status = configServerStatus[id] { object["status"] = .string(status.rawValue) }
            servers.append(object)
        }
        return (servers, problems)
    }

    /// What a reload did, for the log.
    public struct ReloadSummary: Sendable {
        public var added: [String] = []
        public var removed: [String] = []
        public var replaced: [String] = []
        public var unchanged: [String] = []
    }

    /// Applies `configuration` as the new configuration file, all or nothing: every item is
    /// checked first, and if one is wrong nothing changes and the problems are returned.
    ///
    /// Servers are matched by id. A new one starts; one no longer declared stops (its calls
    /// cancelled); one whose declaration changed is replaced — calls already running on the old
    /// pool finish there (the supervisor drains it) while new calls go to the new one. An
    /// unchanged server keeps its processes, health and statistics. The file's curl tools,
    /// OpenAPI imports and prompts are replaced as a whole.
    public func reload(configuration: JSONObject) -> Result<ReloadSummary, ReloadProblems> {
        let (declared, declarationProblems) = declaredServers(configuration)
        var problems = declarationProblems

        // Check the servers against everything but the file's current ones, which they replace.
        let current = servers
        servers.removeAll { $0.origin == .config }
        var wanted: [MemberServer] = []
        for object in declared {
            let id = object["id"]?.stringValue ?? ""
            switch parseServer(object, origin: .config, tenant: nil, generatedId: false) {
            case .success(let server):
                if wanted.contains(where: { $0.id == server.id }) { problems.append("server '\(id)': declared twice") }
                wanted.append(server)
            case .failure(let error): problems.append("server '\(id)': \(error.message)")
            }
        }
        servers = current

        // The shared tools and prompts: the new ones are built in place of the old, and put back
        // if any is wrong.
        let saved = (curlTools, openAPIImports, prompts)
        curlTools.removeAll { $0.tenant == nil }
        openAPIImports.removeAll { $0.tenant == nil }
        prompts.removeAll { $0.tenant == nil }
        if let tools = configuration["tools"]?.arrayValue, case .failure(let error) = addTools(tools, tenant: nil, persisting: false) {
            problems.append("tools: \(error.message)")
        }
        for item in configuration["openapi"]?.arrayValue ?? [] {
            if case .failure(let error) = addOpenAPI(item.objectValue ?? JSONObject(), tenant: nil, persisting: false) {
                problems.append("openapi: \(error.message)")
            }
        }
        if let items = configuration["prompts"]?.arrayValue, case .failure(let error) = addPrompts(items, tenant: nil, persisting: false) {
            problems.append("prompts: \(error.message)")
        }
        guard problems.isEmpty else {
            (curlTools, openAPIImports, prompts) = saved
            rebuild()
            publishPrompts()
            return .failure(ReloadProblems(problems: problems))
        }

        var summary = ReloadSummary()
        for old in current where old.origin == .config && !wanted.contains(where: { $0.id == old.id }) {
            if let index = servers.firstIndex(where: { $0.origin == .config && $0.id == old.id }) {
                remove(at: index)
                summary.removed.append(old.id)
            }
        }
        for server in wanted {
            guard let index = servers.firstIndex(where: { $0.origin == .config && $0.id == server.id }) else {
                install(server)
                summary.added.append(server.id)
                continue
            }
            if Registry.sameDeclaration(servers[index], server) {
                summary.unchanged.append(server.id)
                continue
            }
            deactivate(at: index, draining: true)
            servers[index] = server
            if server.status == .active { activate(at: index) }
            summary.replaced.append(server.id)
        }
        rebuild()
        publishPrompts()
        return .success(summary)
    }

    /// Whether two declarations of a server would run the same thing (times aside).
    static func sameDeclaration(_ a: MemberServer, _ b: MemberServer) -> Bool {
        func comparable(_ server: MemberServer) -> JSONValue {
            var object = server.persisted.objectValue ?? JSONObject()
            object["created_at_ms"] = nil
            object["updated_at_ms"] = nil
            return .object(object)
        }
        return comparable(a).serialized() == comparable(b).serialized()
    }
}

/// Why a reload was refused: one line per wrong item.
public struct ReloadProblems: Error, Sendable {
    public let problems: [String]
}
