import JSON

/// The tools every mcpd serves without configuration: enough to exercise results, partial events,
/// deadlines and cancellation end to end.
public enum BuiltinTools {
    public static let echo = ToolDefinition(
        name: "echo",
        description: "Returns the given message unchanged.",
        inputSchema: [
            "type": "object",
            "properties": ["message": ["type": "string", "description": "The text to return."]],
            "required": ["message"],
            "additionalProperties": false,
        ],
        title: "Echo",
        annotations: ["readOnlyHint": true, "destructiveHint": false, "idempotentHint": true, "openWorldHint": false])

    public static let countdown = ToolDefinition(
        name: "countdown",
        description: "Counts down from `seconds` to 1, one partial event per second, then finishes with \"done\". Honours cancellation.",
        inputSchema: [
            "type": "object",
            "properties": ["seconds": ["type": "integer", "minimum": 0, "maximum": 3600,
                                       "description": "How many seconds to count down."]],
            "required": ["seconds"],
            "additionalProperties": false,
        ],
        title: "Countdown",
        annotations: ["readOnlyHint": true, "destructiveHint": false, "idempotentHint": true, "openWorldHint": false])

    public static let all: [ToolDefinition] = [echo, countdown]

    /// Runs a built-in tool inside the worker. `input` has passed the tool's schema in the supervisor;
    /// it is checked again here because a worker trusts nothing it did not parse itself.
    public static func run(tool: String, input: JSONValue, context: any ToolContext) -> ToolOutcome {
        switch tool {
        case echo.name:
            guard let message = input["message"]?.stringValue else {
                return .failure(kind: "invalid_input", message: "input.message must be a string")
            }
            return .result(JSONObject([("text", .string(message))]))
        case countdown.name:
            guard let seconds = input["seconds"]?.intValue, (0...3600).contains(seconds) else {
                return .failure(kind: "invalid_input", message: "input.seconds must be an integer from 0 to 3600")
            }
            var remaining = seconds
            while remaining > 0 {
                if context.isCancelled { return .cancelled }
                context.emitPartial(JSONObject([("text", .string(String(remaining)))]))
                if context.waitForCancellation(milliseconds: 1000) { return .cancelled }
                remaining -= 1
            }
            return .result(JSONObject([("text", "done")]))
        default:
            return .failure(kind: "unknown_tool", message: "this worker has no tool named '\(tool)'")
        }
    }
}
