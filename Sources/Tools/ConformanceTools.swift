import JSON

/// The tools the official MCP conformance suite's server scenarios call, so that anyone can point
/// that suite at mcpd (`mcpd --conformance-fixtures`). Off by default: they exist for testing.
public enum ConformanceTools {
    /// A 1×1 transparent PNG and a tiny silent WAV, base64.
    public static let pngBase64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
    public static let wavBase64 = "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQAAAAA="

    private static let empty: JSONValue = ["type": "object", "properties": .object(JSONObject())]

    private static func tool(_ name: String, _ description: String, _ schema: JSONValue = empty) -> ToolDefinition {
        ToolDefinition(name: name, description: description, inputSchema: schema)
    }

    public static let all: [ToolDefinition] = [
        tool("test_simple_text", "Returns a simple text response"),
        tool("test_image_content", "Returns an image"),
        tool("test_audio_content", "Returns audio"),
        tool("test_embedded_resource", "Returns an embedded resource"),
        tool("test_multiple_content_types", "Returns text, an image and a resource"),
        tool("test_tool_with_logging", "Sends log messages while it runs"),
        tool("test_tool_with_progress", "Reports progress while it runs"),
        tool("test_error_handling", "Always fails with a tool error"),
        tool("test_sampling", "Asks the client's LLM to answer a prompt",
             ["type": "object", "properties": ["prompt": ["type": "string"]], "required": ["prompt"]]),
        tool("test_elicitation", "Asks the user for input",
             ["type": "object", "properties": ["message": ["type": "string"]], "required": ["message"]]),
        tool("test_elicitation_sep1034_defaults", "Asks the user with default values (SEP-1034)"),
        tool("test_elicitation_sep1330_enums", "Asks the user with every enum style (SEP-1330)"),
        // Not one of the suite's: mcpd's own, so that roots/list is exercised too.
        tool("test_list_roots", "Asks the client for its roots and lists them"),
    ]

    public static func handles(_ name: String) -> Bool { name.hasPrefix("test_") && all.contains { $0.name == name } }

    static func text(_ text: String) -> JSONValue { ["type": "text", "text": .string(text)] }
    static let image: JSONValue = ["type": "image", "data": .string(pngBase64), "mimeType": "image/png"]
    static let embedded: JSONValue = ["type": "resource", "resource": [
        "uri": "test://embedded-resource", "mimeType": "text/plain", "text": "This is an embedded resource content.",
    ]]

    static func content(_ blocks: [JSONValue], isError: Bool = false) -> ToolOutcome {
        var result = JSONObject([("content", .array(blocks))])
        if isError { result["isError"] = true }
        return .result(result)
    }

    public static func run(tool: String, input: JSONValue, context: any ToolContext) -> ToolOutcome {
        switch tool {
        case "test_simple_text":
            return content([text("This is a simple text response for testing.")])
        case "test_image_content":
            return content([image])
        case "test_audio_content":
            return content([["type": "audio", "data": .string(wavBase64), "mimeType": "audio/wav"]])
        case "test_embedded_resource":
            return content([embedded])
        case "test_multiple_content_types":
            return content([text("Multiple content types test:"), image, embedded])
        case "test_tool_with_logging":
            for message in ["Tool execution started", "Tool processing data", "Tool execution completed"] {
                context.emitLog(level: "info", data: .string(message), logger: "conformance")
                if context.waitForCancellation(milliseconds: 50) { return .cancelled }
            }
            return content([text("Tool with logging executed successfully")])
        case "test_tool_with_progress":
            for step in [0, 50, 100] {
                context.emitProgress(JSONObject([("progress", .int(Int64(step))), ("total", 100),
                                                 ("message", .string("Completed step \(step / 50 + 1) of 3"))]))
                if context.waitForCancellation(milliseconds: 50) { return .cancelled }
            }
            return content([text("Tool with progress executed successfully")])
        case "test_error_handling":
            return content([text("This tool intentionally returns an error for testing")], isError: true)
        case "test_sampling":
            let prompt = input["prompt"]?.stringValue ?? ""
            let params = JSONObject([("messages", [["role": "user", "content": text(prompt)]]), ("maxTokens", 100)])
            switch context.askClient(method: "sampling/createMessage", params: params) {
            case .result(let result):
                let answer = result["content"]?["text"]?.stringValue ?? result["content"]?.serialized() ?? ""
                return content([text("LLM response: \(answer)")])
            case .error(let message): return content([text("Sampling failed: \(message)")], isError: true)
            case .cancelled: return .cancelled
            }
        case "test_elicitation":
            let schema: JSONValue = ["type": "object", "properties": [
                "username": ["type": "string", "description": "User's response"],
                "email": ["type": "string", "description": "User's email address"],
            ], "required": ["username", "email"]]
            return elicit(input["message"]?.stringValue ?? "Please provide your information", schema, context)
        case "test_elicitation_sep1034_defaults":
            let schema: JSONValue = ["type": "object", "properties": [
                "name": ["type": "string", "description": "User name", "default": "John Doe"],
                "age": ["type": "integer", "description": "User age", "default": 30],
                "score": ["type": "number", "description": "User score", "default": 95.5],
                "status": ["type": "string", "description": "User status", "enum": ["active", "inactive", "pending"], "default": "active"],
                "verified": ["type": "boolean", "description": "Verification status", "default": true],
            ]]
            return elicit("Please review and update the form fields with defaults", schema, context)
        case "test_elicitation_sep1330_enums":
            let schema: JSONValue = ["type": "object", "properties": [
                "untitledSingle": ["type": "string", "description": "Choose an option", "enum": ["option1", "option2", "option3"]],
                "titledSingle": ["type": "string", "description": "Choose a titled option", "oneOf": [
                    ["const": "value1", "title": "First Option"], ["const": "value2", "title": "Second Option"],
                    ["const": "value3", "title": "Third Option"]]],
                "legacyEnum": ["type": "string", "description": "Choose a legacy option", "enum": ["opt1", "opt2", "opt3"],
                               "enumNames": ["Option One", "Option Two", "Option Three"]],
                "untitledMulti": ["type": "array", "description": "Choose multiple options",
                                  "items": ["type": "string", "enum": ["option1", "option2", "option3"]]],
                "titledMulti": ["type": "array", "description": "Choose multiple titled options",
                                "items": ["anyOf": [["const": "value1", "title": "First Choice"],
                                                    ["const": "value2", "title": "Second Choice"],
                                                    ["const": "value3", "title": "Third Choice"]]]],
            ]]
            return elicit("Please select options from the enum fields", schema, context)
        case "test_list_roots":
            switch context.askClient(method: "roots/list", params: JSONObject()) {
            case .result(let result):
                let uris = (result["roots"]?.arrayValue ?? []).compactMap { $0["uri"]?.stringValue }
                return content([text("Roots: \(uris.joined(separator: ", "))")])
            case .error(let message): return content([text("Listing roots failed: \(message)")], isError: true)
            case .cancelled: return .cancelled
            }
        default:
            return .failure(kind: "unknown_tool", message: "no conformance tool named '\(tool)'")
        }
    }

    private static func elicit(_ message: String, _ schema: JSONValue, _ context: any ToolContext) -> ToolOutcome {
        let params = JSONObject([("message", .string(message)), ("requestedSchema", schema)])
        switch context.askClient(method: "elicitation/create", params: params) {
        case .result(let result):
            let action = result["action"]?.stringValue ?? "unknown"
            let answer = result["content"]?.serialized() ?? "{}"
            return content([text("User response: action=\(action), content=\(answer)")])
        case .error(let message): return content([text("Elicitation failed: \(message)")], isError: true)
        case .cancelled: return .cancelled
        }
    }
}
