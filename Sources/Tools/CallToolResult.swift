import JSON

/// A worker's result object as an MCP CallToolResult — the one rendering behind MCP tools/call,
/// the composer's call_tool and /v1/mcp/invoke, so a tool reads the same on every surface.
///
/// Workers answer in one of three shapes:
/// - MCP-shaped (`content`, maybe `structuredContent`, `isError`), from member servers: passed on;
/// - `{"text": …, other fields}`, from the built-in and configured tools (an HTTP status and body,
///   a chat's model and finish reason, a directory's entries): `text` is the one text block and
///   the other fields, if any, are the structuredContent;
/// - any other object: its JSON is the text and the object the structuredContent.
public enum CallToolResult {
    public static func from(_ bytes: [UInt8]) -> JSONObject {
        guard let object = (try? JSONValue.parse(bytes))?.objectValue else {
            return error("the tool returned a result that is not a JSON object")
        }
        if let content = object["content"]?.arrayValue {
            var result = JSONObject([("content", .array(content))])
            if let structured = object["structuredContent"] { result["structuredContent"] = structured }
            result["isError"] = .bool(object["isError"]?.boolValue ?? false)
            return result
        }
        if let text = object["text"]?.stringValue {
            var result = JSONObject([("content", .array([textBlock(text)]))])
            var rest = object
            rest["text"] = nil
            if !rest.isEmpty { result["structuredContent"] = .object(rest) }
            result["isError"] = false
            return result
        }
        return JSONObject([("content", .array([textBlock(JSONValue.object(object).serialized())])),
                           ("structuredContent", .object(object)), ("isError", false)])
    }

    public static func error(_ text: String) -> JSONObject {
        JSONObject([("content", .array([textBlock(text)])), ("isError", true)])
    }

    private static func textBlock(_ text: String) -> JSONValue {
        ["type": "text", "text": .string(text)]
    }
}
