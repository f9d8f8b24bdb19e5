// `add_tools` items with tool_type "curl": a curl command line whose `{{name}}` placeholders
// become the tool's inputs.
import JSON
import Tools

public enum CurlTool {
    /// The tool for `commandLine` (see `CurlCommand.parse`). Each placeholder is a required string
    /// input; nothing else is accepted. An empty description becomes "METHOD scheme://host/path"
    /// (never the query, which often holds an API key).
    ///
    /// Spec: `{"kind": "http", "method", "url", "headers": [[name, value]], "body": string|null,
    /// "timeout_ms"? (-m), "insecure"? (-k: certificates not verified), "follow_redirects"? (-L)}`,
    /// placeholders still in place.
    public static func make(name: String, description: String, commandLine: String) throws(ToolSourceError) -> SourcedTool {
        try ToolNaming.validate(name)
        let command = try CurlCommand.parse(commandLine)

        var properties = JSONObject()
        for variable in command.variables {
            properties[variable] = [
                "type": "string",
                "description": .string("Value for {{\(variable)}} in the request\(places(of: variable, in: command))."),
            ]
        }
        let schema: JSONValue = [
            "type": "object",
            "properties": .object(properties),
            "required": .array(command.variables.map { .string($0) }),
            "additionalProperties": false,
        ]
        let definition = ToolDefinition(
            name: name,
            description: description.isEmpty ? "\(command.method) \(withoutQuery(command.url))" : description,
            inputSchema: schema,
            annotations: ToolNaming.annotations(forMethod: command.method))

        var spec: JSONObject = [
            "kind": "http",
            "method": .string(command.method),
            "url": .string(command.url),
            "headers": .array(command.headers.map { [.string($0.name), .string($0.value)] }),
            "body": command.body.map { .string($0) } ?? .null,
        ]
        if let timeoutMs = command.timeoutMs { spec["timeout_ms"] = .int(Int64(timeoutMs)) }
        if command.insecure { spec["insecure"] = true }
        if command.followRedirects { spec["follow_redirects"] = true }
        return (definition, spec: spec)
    }

    /// " (URL, body)": where a placeholder sits, which tells a caller how its value is encoded.
    private static func places(of variable: String, in command: CurlCommand) -> String {
        var places: [String] = []
        if Placeholders.names(in: command.url).contains(variable) { places.append("URL, percent-encoded") }
        if command.headers.contains(where: { Placeholders.names(in: $0.value).contains(variable) }) { places.append("a header") }
        if Placeholders.names(in: command.body ?? "").contains(variable) { places.append("body") }
        return places.isEmpty ? "" : " (" + places.joined(separator: "; ") + ")"
    }

    private static func withoutQuery(_ url: String) -> String {
        String(url.prefix { $0 != "?" && $0 != "#" })
    }
}
