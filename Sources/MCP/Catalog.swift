import Glibc
import JSON
import SystemCalls
import Calls
import Tools

/// What mcpd offers MCP clients besides its tools: prompts and resources, rendered for a revision.
/// Everything here is cheap and read-only, so it is answered in the supervisor; tool calls are not.
struct Catalog {
    /// The directory `file://{path}` resources are read from; nil disables the template.
    var resourceRoot: String?
    /// Whether the conformance suite's fixtures are served too.
    var conformance = false
    let startedAtMs = Clock.monotonicMillis()
    /// Prompts registered through the composer or the configuration.
    var directory: Directory?

    /// The prompts a tenant sees: the fixed ones, the shared registered ones and its own.
    func prompts(for tenant: String) -> [Prompt] {
        let fixed = conformance ? Catalog.builtinPrompts + ConformanceFixtures.prompts : Catalog.builtinPrompts
        let registered = (directory?.prompts(for: tenant) ?? []).map { prompt in
            Prompt(name: prompt.name, title: prompt.name, description: prompt.description,
                   arguments: prompt.arguments.map { ($0.name, $0.description, $0.required) }) { values in
                [Catalog.userText(prompt.render(values))]
            }
        }
        // A registered prompt with a built-in's name replaces it.
        return fixed.filter { item in !registered.contains { $0.name == item.name } } + registered
    }

    // MARK: tools

    static func render(_ tool: ToolDefinition, for revision: ProtocolRevision) -> JSONValue {
        var object = JSONObject([("name", .string(tool.name))])
        if revision.hasStructuredContent, let title = tool.title { object["title"] = .string(title) }
        object["description"] = .string(tool.description)
        object["inputSchema"] = tool.inputSchema
        if revision.hasAnnotations, var annotations = tool.annotations {
            if revision.hasStructuredContent, let title = tool.title { annotations["title"] = .string(title) }
            object["annotations"] = .object(annotations)
        }
        return .object(object)
    }

    // MARK: prompts

    struct Prompt: Sendable {
        let name: String
        let title: String
        let description: String
        /// (name, description, required)
        let arguments: [(String, String, Bool)]
        let render: @Sendable ([String: String]) -> [JSONValue]
    }

    static let builtinPrompts: [Prompt] = [
        Prompt(name: "greeting", title: "Greeting", description: "Generate a friendly greeting prompt",
               arguments: [("name", "Name of the person to greet", false)]) { arguments in
            [userText("Please greet \(arguments["name"] ?? "the user") in a friendly way.")]
        },
        Prompt(name: "summarize", title: "Summarize", description: "Ask for a short summary of a text",
               arguments: [("text", "The text to summarize", true), ("style", "bullet or prose (default prose)", false)]) { arguments in
            let style = arguments["style"] == "bullet" ? "as three bullet points" : "in two sentences"
            return [userText("Summarize the following text \(style):\n\n\(arguments["text"] ?? "")")]
        },
    ]

    static func userText(_ text: String) -> JSONValue {
        ["role": "user", "content": ["type": "text", "text": .string(text)]]
    }

    static func render(_ prompt: Prompt, for revision: ProtocolRevision) -> JSONValue {
        var object = JSONObject([("name", .string(prompt.name))])
        if revision.hasStructuredContent { object["title"] = .string(prompt.title) }
        object["description"] = .string(prompt.description)
        object["arguments"] = .array(prompt.arguments.map { name, description, required in
            ["name": .string(name), "description": .string(description), "required": .bool(required)]
        })
        return .object(object)
    }

    func getPrompt(_ params: JSONObject, tenant: String) -> Result<JSONObject, RPCError> {
        guard let name = params["name"]?.stringValue else { return .failure(.invalidParams("name must be a string")) }
        guard let prompt = prompts(for: tenant).first(where: { $0.name == name }) else {
            return .failure(.invalidParams("no prompt named '\(name)'"))
        }
        var arguments: [String: String] = [:]
        if let given = params["arguments"], !given.isNull {
            guard let object = given.objectValue else { return .failure(.invalidParams("arguments must be an object")) }
            for (key, value) in object {
                guard let text = value.stringValue else { return .failure(.invalidParams("argument '\(key)' must be a string")) }
                arguments[key] = text
            }
        }
        for (argument, _, required) in prompt.arguments where required && arguments[argument] == nil {
            return .failure(.invalidParams("prompt '\(name)' needs the argument '\(argument)'"))
        }
        return .success(JSONObject([("description", .string(prompt.description)), ("messages", .array(prompt.render(arguments)))]))
    }

    // MARK: resources

    static let statusURI = "server://status"

    func listResources() -> [JSONValue] {
        let status: JSONValue = ["uri": .string(Catalog.statusURI), "name": "Server Status",
                                 "description": "Current server status and health information", "mimeType": "application/json"]
        let files: [JSONValue] = resourceFiles().map { name in
            ["uri": .string("file://" + name), "name": .string(name), "mimeType": "text/plain"]
        }
        return [status] + files + (conformance ? ConformanceFixtures.resources : [])
    }

    /// The files served from the resource directory (at most 1,000, by name).
    func resourceFiles() -> [String] {
        guard let root = resourceRoot else { return [] }
        return Array(ConfinedFile.names(under: root).prefix(1000))
    }

    func listTemplates() -> [JSONValue] {
        var templates: [JSONValue] = []
        if resourceRoot != nil {
            templates.append(["uriTemplate": "file://{path}", "name": "File Resource",
                              "description": "Read file contents from the server's resource directory", "mimeType": "text/plain"])
        }
        if conformance { templates += ConformanceFixtures.templates }
        return templates
    }

    /// Reads a resource. `status` supplies the live figures of server://status.
    func read(_ uri: String, status: () -> JSONObject) -> Result<[JSONValue], RPCError> {
        if conformance, let contents = ConformanceFixtures.read(uri) { return .success(contents) }
        if uri == Catalog.statusURI {
            var object = JSONObject([("status", "healthy"), ("timestamp", .string(Catalog.timestamp())),
                                     ("uptime", .int((Clock.monotonicMillis() - startedAtMs) / 1000))])
            for (key, value) in status() { object[key] = value }
            return .success([["uri": .string(uri), "mimeType": "application/json", "text": .string(JSONValue.object(object).serialized())]])
        }
        if uri.hasPrefix("file://"), let root = resourceRoot {
            let relative = String(uri.dropFirst("file://".count))
            switch ConfinedFile.read(relative, under: root, limit: 1 << 20) {
            case .success(let bytes):
                if let text = String(validating: bytes, as: UTF8.self) {
                    return .success([["uri": .string(uri), "mimeType": "text/plain", "text": .string(text)]])
                }
                return .success([["uri": .string(uri), "mimeType": "application/octet-stream", "blob": .string(Base64.encode(bytes))]])
            case .failure(let refusal):
                return .failure(RPCError(code: -32002, message: "Resource not found: \(refusal.reason)", data: ["uri": .string(uri)]))
            }
        }
        return .failure(RPCError(code: -32002, message: "Resource not found", data: ["uri": .string(uri)]))
    }

    /// Completion values for a prompt argument or the file template's path.
    func complete(_ params: JSONObject, tenant: String) -> Result<[String], RPCError> {
        guard let ref = params["ref"]?.objectValue, let type = ref["type"]?.stringValue else {
            return .failure(.invalidParams("ref must be an object with a type"))
        }
        // Seed 003 sends the argument as a bare string; the specification as {name, value}.
        let argumentName: String
        let value: String
        if let text = params["argument"]?.stringValue {
            argumentName = ""
            value = text
        } else if let argument = params["argument"]?.objectValue, let name = argument["name"]?.stringValue {
            argumentName = name
            value = argument["value"]?.stringValue ?? ""
        } else {
            return .failure(.invalidParams("argument must be an object with name and value"))
        }
        switch type {
        case "ref/prompt":
            guard let name = ref["name"]?.stringValue, let prompt = prompts(for: tenant).first(where: { $0.name == name }) else {
                return .failure(.invalidParams("no such prompt"))
            }
            let candidates: [String]
            switch (prompt.name, argumentName) {
            case ("greeting", "name"): candidates = ["Alice", "Bob", "Carol", "Dave"]
            case ("summarize", "style"): candidates = ["bullet", "prose"]
            default: candidates = []
            }
            return .success(candidates.filter { $0.lowercased().hasPrefix(value.lowercased()) })
        case "ref/resource":
            guard let root = resourceRoot, ref["uri"]?.stringValue == "file://{path}" else { return .success([]) }
            return .success(ConfinedFile.names(under: root).filter { $0.hasPrefix(value) }.prefix(100).map { $0 })
        case "ref/tool":
            return .success([])
        default:
            return .failure(.invalidParams("unknown ref type '\(type)'"))
        }
    }

    static func timestamp() -> String { Clock.iso8601(millis: Clock.wallMillis()) }
}
