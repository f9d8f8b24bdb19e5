import HTTPClient
import JSON
import SystemCalls
import Tools

/// Spec kind `mcp_remote`: one call to a remote MCP server as its client.
///
/// Each call opens its own session (initialize, initialized, the request, then DELETE). That costs
/// a round trip or two per call but needs no state shared between workers or calls, and a server
/// restart between calls can never leave a stale session behind.
enum RemoteMCP {
    static let protocolVersion = "2025-06-18"
    static let clientInfo: JSONValue = ["name": "mcpd", "version": "0.1.0"]
    static let defaultTimeoutMs = 30_000
    /// Bounds on paging through tools/list and resources/list, against servers whose cursors never end.
    static let maxPages = 100

    static func run(spec: JSONObject, tool: String, input: JSONValue, context: any ToolContext) -> ToolOutcome {
        guard let endpoint = spec["endpoint"]?.stringValue, URLParts.parse(endpoint) != nil else {
            return .failure(kind: "invalid_input", message: "spec.endpoint must be an http(s) URL")
        }
        let method = spec["method"]?.stringValue ?? "tools/call"
        guard ["tools/call", "resources/read", "probe"].contains(method) else {
            return .failure(kind: "invalid_input", message: "spec.method must be tools/call, resources/read or probe")
        }
        let authHeaders: [(String, String)]
        switch UpstreamCredentials.headers(spec["auth"]) {
        case .success(let headers): authHeaders = headers
        case .failure(let problem): return .failure(kind: "invalid_input", message: problem.message)
        }
        let timeoutMs = spec["timeout_ms"]?.intValue.map { Int(max(1, $0)) } ?? defaultTimeoutMs
        let budget = CallBudget(timeoutMs: timeoutMs, interrupt: { context.pollCancellation() })
        let started = Clock.monotonicMillis()

        let session: RemoteMCPSession
        switch spec["transport"]?.stringValue ?? "streamable_http" {
        case "streamable_http", "http":
            session = StreamableHTTPSession(endpoint: endpoint, authHeaders: authHeaders, budget: budget, context: context)
        case "sse":
            session = LegacySSESession(endpoint: endpoint, authHeaders: authHeaders, budget: budget, context: context)
        default:
            return .failure(kind: "invalid_input", message: "spec.transport must be streamable_http or sse")
        }
        defer { session.close() }

        do throws(RemoteMCPFailure) {
            try session.open()
            let initialized = try initialize(session)
            let handshakeMs = Clock.monotonicMillis() - started
            switch method {
            case "tools/call":
                let arguments: JSONObject
                switch input {
                case .object(let object): arguments = object
                case .null: arguments = JSONObject()
                default: return .failure(kind: "invalid_input", message: "the tool arguments must be an object")
                }
                // The progress token lets the server report progress, which is passed on to our caller.
                let params = JSONObject([("name", .string(tool)), ("arguments", .object(arguments)),
                                         ("_meta", ["progressToken": .string(Random.hexToken(byteCount: 8))])])
                return .result(toolResult(try session.request("tools/call", params: params)))
            case "resources/read":
                guard case .object(let params) = input, params["uri"]?.stringValue != nil else {
                    return .failure(kind: "invalid_input", message: "input.uri must be a string")
                }
                let result = try session.request("resources/read", params: params)
                return .result(JSONObject([("contents", result["contents"] ?? .array([]))]))
            default:
                return .result(try probe(session, initialized: initialized, latencyMs: handshakeMs))
            }
        } catch {
            return outcome(error, timeoutMs: timeoutMs)
        }
    }

    /// initialize, then notifications/initialized; returns the server's InitializeResult.
    private static func initialize(_ session: RemoteMCPSession) throws(RemoteMCPFailure) -> JSONObject {
        let params = JSONObject([("protocolVersion", .string(protocolVersion)), ("capabilities", .object(JSONObject())),
                                 ("clientInfo", clientInfo)])
        let result = try session.request("initialize", params: params)
        session.negotiated(protocolVersion: result["protocolVersion"]?.stringValue ?? protocolVersion)
        try session.notify("notifications/initialized", params: nil)
        return result
    }

    /// A CallToolResult as the worker returns it, with `text` for consumers that only show text.
    static func toolResult(_ result: JSONObject) -> JSONObject {
        let content = result["content"]?.arrayValue ?? []
        var output = JSONObject([("content", .array(content))])
        if let structured = result["structuredContent"], !structured.isNull { output["structuredContent"] = structured }
        if let isError = result["isError"]?.boolValue { output["isError"] = .bool(isError) }
        let texts = content.compactMap { block -> String? in
            block["type"]?.stringValue == "text" ? block["text"]?.stringValue : nil
        }
        output["text"] = .string(texts.joined(separator: "\n"))
        return output
    }

    /// What a registry's "test connection" shows: who the server is and what it offers.
    private static func probe(_ session: RemoteMCPSession, initialized: JSONObject, latencyMs: Int64) throws(RemoteMCPFailure) -> JSONObject {
        var tools: [JSONValue] = []
        var cursor: JSONValue?
        for _ in 0..<maxPages {
            var params = JSONObject()
            if let cursor { params["cursor"] = cursor }
            let page = try session.request("tools/list", params: params)
            tools += page["tools"]?.arrayValue ?? []
            guard let next = page["nextCursor"], !next.isNull else { break }
            cursor = next
        }
        var resourcesCount = 0
        cursor = nil
        do throws(RemoteMCPFailure) {
            for _ in 0..<maxPages {
                var params = JSONObject()
                if let cursor { params["cursor"] = cursor }
                let page = try session.request("resources/list", params: params)
                resourcesCount += page["resources"]?.arrayValue?.count ?? 0
                guard let next = page["nextCursor"], !next.isNull else { break }
                cursor = next
            }
        } catch .rpc {
            // A server without resources answers -32601 (or, loosely, another error): none to count.
            resourcesCount = 0
        }
        return JSONObject([
            ("protocol_version", initialized["protocolVersion"] ?? .string(protocolVersion)),
            ("server_info", initialized["serverInfo"] ?? .object(JSONObject())),
            ("tools", .array(tools)),
            ("tools_count", .int(Int64(tools.count))),
            ("resources_count", .int(Int64(resourcesCount))),
            ("latency_ms", .int(latencyMs)),
        ])
    }

    private static func outcome(_ failure: RemoteMCPFailure, timeoutMs: Int) -> ToolOutcome {
        switch failure {
        case .cancelled: .cancelled
        case .timeout: .failure(kind: "upstream_timeout", message: "the MCP server did not answer within \(timeoutMs) ms")
        case .rpc(let code, let message): .failure(kind: "mcp_error", message: code == 0 ? message : "\(message) (JSON-RPC \(code))")
        case .connection(let message): .failure(kind: "connection_failed", message: message)
        }
    }
}
