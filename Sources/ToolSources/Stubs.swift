// TEMPORARY: replaced by the real ToolSources (branch h-sources).
import JSON
import Tools

public struct ToolSourceError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

public enum CurlTool {
    public static func make(name: String, description: String, commandLine: String) throws(ToolSourceError) -> (ToolDefinition, spec: JSONObject) {
        throw ToolSourceError(description: "not yet")
    }
}

public enum OpenAPIImport {
    public static func tools(document: JSONValue, authConfig: JSONObject?, baseURL: String?) throws(ToolSourceError) -> [(ToolDefinition, spec: JSONObject)] {
        throw ToolSourceError(description: "not yet")
    }
}

public enum FileTools {
    public static func definitions(root: String) -> [(ToolDefinition, spec: JSONObject)] { [] }
}

public enum OpenAIChatTool {
    public static func definition(baseURL: String, apiKey: String, model: String) -> (ToolDefinition, spec: JSONObject) {
        (ToolDefinition(name: "openai_chat", description: "", inputSchema: ["type": "object"]), JSONObject())
    }
}
