import JSON
import Tools

/// What this server offers right now: the tools every surface lists and calls, and the prompts
/// registered at run time. One directory behind the execute API, MCP, the composer and the
/// registry, so they all show the same tools at the same moment. The registry (Management)
/// rebuilds it whenever something changes; surfaces only read it.
public final class Directory {
    /// A listed tool and whose it is: nil for shared ones (built-in, configuration file), which
    /// every tenant sees; a tenant id for what that tenant registered, which only it sees.
    public struct Scoped: Sendable {
        public var tenant: String?
        public var tool: ToolDefinition
        public init(tenant: String?, tool: ToolDefinition) {
            self.tenant = tenant
            self.tool = tool
        }
    }

    /// Listed tools, in order: enabled ones whose server is active.
    public private(set) var scopedTools: [Scoped] = []
    private var sharedByName: [String: ToolDefinition] = [:]
    /// Each tenant's own tools, by tenant, then name.
    private var ownByName: [String: [String: ToolDefinition]] = [:]
    public private(set) var prompts: [RegisteredPrompt] = []
    /// Bumped on every change of the tool list; MCP sends list_changed when it moves.
    public private(set) var toolsVersion = 0
    public private(set) var promptsVersion = 0
    private var toolObservers: [() -> Void] = []
    private var promptObservers: [() -> Void] = []

    public init(tools: [ToolDefinition] = []) {
        replaceTools(tools.map { Scoped(tenant: nil, tool: $0) })
    }

    /// What a tenant sees: the shared tools and its own, its own winning a name they share.
    public func tools(for tenant: String) -> [ToolDefinition] {
        scopedTools.compactMap { item in
            if let owner = item.tenant { return owner == tenant ? item.tool : nil }
            return ownByName[tenant]?[item.tool.name] == nil ? item.tool : nil
        }
    }

    public func tool(named name: String, tenant: String) -> ToolDefinition? {
        ownByName[tenant]?[name] ?? sharedByName[name]
    }

    /// Publishes a new tool list; observers hear of it only when something a client sees changed.
    public func replaceTools(_ tools: [Scoped]) {
        let unchanged = tools.count == scopedTools.count && zip(tools, scopedTools).allSatisfy { pair in
            let (new, old) = (pair.0.tool, pair.1.tool)
            return pair.0.tenant == pair.1.tenant && new.name == old.name && new.description == old.description
                && new.title == old.title && new.inputSchema.serialized() == old.inputSchema.serialized()
        }
        scopedTools = tools
        sharedByName = [:]
        ownByName = [:]
        for item in tools {
            if let tenant = item.tenant {
                if ownByName[tenant]?[item.tool.name] == nil { ownByName[tenant, default: [:]][item.tool.name] = item.tool }
            } else if sharedByName[item.tool.name] == nil {
                sharedByName[item.tool.name] = item.tool
            }
        }
        guard !unchanged else { return }
        toolsVersion += 1
        for observer in toolObservers { observer() }
    }

    /// A tenant's prompts: the shared ones and its own, its own winning a name they share.
    public func prompts(for tenant: String) -> [RegisteredPrompt] {
        let own = Set(prompts.filter { $0.tenant == tenant }.map(\.name))
        return prompts.filter { $0.tenant == tenant || ($0.tenant == nil && !own.contains($0.name)) }
    }

    public func replacePrompts(_ prompts: [RegisteredPrompt]) {
        self.prompts = prompts
        promptsVersion += 1
        for observer in promptObservers { observer() }
    }

    public func onToolsChanged(_ observer: @escaping () -> Void) { toolObservers.append(observer) }
    public func onPromptsChanged(_ observer: @escaping () -> Void) { promptObservers.append(observer) }
}

/// A prompt registered through the composer or the configuration: a template with `{{name}}`
/// placeholders.
public struct RegisteredPrompt: Sendable {
    public struct Argument: Sendable {
        public var name: String
        public var description: String
        public var required: Bool
        public init(name: String, description: String, required: Bool) {
            self.name = name
            self.description = description
            self.required = required
        }
    }

    public var name: String
    public var description: String
    public var template: String
    public var arguments: [Argument]
    /// nil for shared prompts (configuration file); the registering tenant's id otherwise.
    public var tenant: String?

    public init(name: String, description: String, template: String, arguments: [Argument], tenant: String? = nil) {
        self.tenant = tenant
        self.name = name
        self.description = description
        self.template = template
        self.arguments = arguments
    }

    /// The template with each `{{name}}` replaced by its argument; unknown placeholders stay as
    /// they are, so a typo shows instead of vanishing.
    public func render(_ values: [String: String]) -> String {
        var output = ""
        var rest = Substring(template)
        while let open = rest.range(of: "{{") {
            output += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].range(of: "}}") else {
                output += rest[open.lowerBound...]
                return output
            }
            let key = rest[open.upperBound..<close.lowerBound].trimmingSpaces
            if let value = values[key] { output += value } else { output += rest[open.lowerBound..<close.upperBound] }
            rest = rest[close.upperBound...]
        }
        return output + rest
    }

    public var json: JSONValue {
        .object(JSONObject([
            ("name", .string(name)), ("description", .string(description)), ("template", .string(template)),
            ("arguments", .array(arguments.map {
                .object(JSONObject([("name", .string($0.name)), ("type", "string"), ("required", .bool($0.required)),
                                    ("description", .string($0.description))]))
            })),
        ]))
    }
}

extension Substring {
    fileprivate func range(of needle: String) -> Range<Substring.Index>? {
        let target = Array(needle.utf8)
        var index = startIndex
        while index < endIndex {
            if self[index...].utf8.starts(with: target) {
                return index..<self.utf8.index(index, offsetBy: target.count)
            }
            index = self.index(after: index)
        }
        return nil
    }

    fileprivate var trimmingSpaces: String {
        String(self.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
