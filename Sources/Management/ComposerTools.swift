import JSON
import Tools

/// The composer's operations described as tools, so MCP clients of an owner or admin can manage
/// the server through tools/call as seed 001 intends.
extension ComposerAPI {
    public static var toolDefinitions: [ToolDefinition] {
        func object(_ properties: [(String, JSONValue)], required: [String] = []) -> JSONValue {
            .object(JSONObject([("type", "object"), ("properties", .object(JSONObject(properties))),
                                ("required", .array(required.map { .string($0) }))]))
        }
        let string: JSONValue = ["type": "string"]
        let names: JSONValue = ["type": "array", "items": ["type": "string"]]
        let serverId = object([("server_id", string)], required: ["server_id"])
        let items: [(String, String, JSONValue)] = [
            ("list_tools", "List every tool across all registered servers.", object([])),
            ("call_tool", "Call a tool by name with arguments.", object([("name", string), ("arguments", ["type": "object"])], required: ["name"])),
            ("register_mcp_server", "Register a member MCP server (http, sse or stdio).",
             object([("id", string), ("type", ["type": "string", "enum": ["http", "sse", "stdio"]]), ("endpoint", string),
                     ("auth_strategy", ["type": "string", "enum": ["none", "bearer", "api_key", "basic"]]), ("auth", ["type": "object"]),
                     ("command", string), ("args", names), ("env", ["type": "object"]), ("description", string),
                     ("sandbox", ["description": "stdio: a sandbox level (none, process, strict, per-call) or a policy object"])],
                    required: ["id"])),
            ("delete_mcp_server", "Delete a member server.", serverId),
            ("activate_mcp_server", "Activate a deactivated member server.", serverId),
            ("deactivate_mcp_server", "Deactivate a member server; its tools disappear until it is activated.", serverId),
            ("list_member_servers", "List the member servers and their status.", object([])),
            ("member_health", "Health of every member server.", object([])),
            ("get_tool_config_by_name", "Configuration of one tool.", object([("tool_name", string)], required: ["tool_name"])),
            ("get_tool_config_by_server", "Configuration of a server's tools.", serverId),
            ("disable_tools", "Disable tools by name.", object([("tool_names", names)], required: ["tool_names"])),
            ("enable_tools", "Enable tools by name.", object([("tool_names", names)], required: ["tool_names"])),
            ("update_tool_description", "Override a tool's description.",
             object([("tool_name", string), ("description", string)], required: ["tool_name", "description"])),
            ("add_tools", "Add tools described by curl command lines.", object([("tools", ["type": "array", "items": ["type": "object"]])], required: ["tools"])),
            ("add_tools_from_openapi", "Add a tool per operation of an OpenAPI 3 document.",
             object([("openapi_spec", ["type": "object"]), ("auth_config", ["type": "object"]), ("base_url", string)], required: ["openapi_spec"])),
            ("add_prompts", "Add prompts with {{variable}} templates.", object([("prompt_config", ["type": "array", "items": ["type": "object"]])], required: ["prompt_config"])),
            ("get_all_prompts", "List the registered prompts.", object([])),
        ]
        return items.map { name, description, schema in
            ToolDefinition(name: name, description: description, inputSchema: schema, title: nil,
                           annotations: ["readOnlyHint": .bool(readOnly.contains(name))])
        }
    }

    /// Runs an operation for MCP: the data as JSON text (call_tool: the tool's own result), or an
    /// error result naming the seed's error code.
    public func runAsTool(_ name: String, arguments: JSONObject, owner: String, completion: @escaping (JSONObject) -> Void) {
        let body = name == "call_tool"
            ? JSONObject([("name", arguments["name"] ?? .null), ("arguments", arguments["arguments"] ?? .object(JSONObject()))])
            : JSONObject([("arguments", .object(arguments))])
        perform(name, body: body, owner: owner) { outcome in
            switch outcome {
            case .success(let (data, _)):
                if name == "call_tool", let result = data.objectValue { return completion(result) }
                completion(JSONObject([("content", [["type": "text", "text": .string(data.serialized())]]), ("isError", false)]))
            case .failure(let error):
                let code = ComposerAPI.code(error.reason).1
                completion(JSONObject([("content", [["type": "text", "text": .string("\(code): \(error.message)")]]), ("isError", true)]))
            }
        }
    }
}
