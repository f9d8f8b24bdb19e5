// Connectors: how mcp-worker runs a configured tool from its spec (see WorkerProtocol's
// CallRequest): file tools confined to a root, HTTP requests from curl descriptions and OpenAPI
// operations, OpenAI-compatible chat, and calls to remote MCP servers. Everything here runs in a
// worker, never in the supervisor.
import JSON
import Tools

public enum Connectors {
    /// Runs one call. `tool` is the name the upstream knows; `input` has passed the tool's schema.
    public static func run(spec: JSONObject, tool: String, input: JSONValue, context: any ToolContext) -> ToolOutcome {
        switch spec["kind"]?.stringValue {
        case "file":
            return FileConnector.run(spec: spec, input: input)
        case "http":
            return HTTPConnector.run(spec: spec, input: input, context: context)
        case "openapi":
            return OpenAPIConnector.run(spec: spec, input: input, context: context)
        case "openai_chat": return OpenAIChat.run(spec: spec, input: input, context: context)
        case "mcp_remote": return RemoteMCP.run(spec: spec, tool: tool, input: input, context: context)
        default:
            return .failure(kind: "worker_protocol", message: "this worker cannot run tools of kind '\(spec["kind"]?.stringValue ?? "")'")
        }
    }
}
