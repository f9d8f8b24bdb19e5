import Connectors
import Glibc
import JSON
import SystemCalls
import Testing
import Tools

/// A ToolContext that records what a connector reports.
final class RecordingContext: ToolContext, @unchecked Sendable {
    private let state = Locked<(partials: [JSONObject], progress: [JSONObject], logs: [String])>(([], [], []))
    private let cancelAfterMs: Int64?
    private let started = Clock.monotonicMillis()

    init(cancelAfterMs: Int64? = nil) { self.cancelAfterMs = cancelAfterMs }

    var partials: [JSONObject] { state.current.partials }
    var progress: [JSONObject] { state.current.progress }
    var logs: [String] { state.current.logs }

    func emitPartial(_ fields: JSONObject) { state.withLock { $0.partials.append(fields) } }
    func waitForCancellation(milliseconds: Int) -> Bool { false }
    var isCancelled: Bool { pollCancellation() }
    func pollCancellation() -> Bool { cancelAfterMs.map { Clock.monotonicMillis() - started >= $0 } ?? false }
    func emitProgress(_ fields: JSONObject) { state.withLock { $0.progress.append(fields) } }
    func emitLog(level: String, data: JSONValue, logger: String?) { state.withLock { $0.logs.append("\(level) \(data.serialized())") } }
    func askClient(method: String, params: JSONObject) -> ClientAnswer { .cancelled }
}

private func json(_ text: String) -> JSONValue { (try? JSONValue.parse(text)) ?? .null }

@Suite struct OpenAIChatTests {
    @Test func streamsDeltasAsPartialsAndReturnsTheWholeText() throws {
        let seen = Locked<ReceivedRequest?>(nil)
        let server = TestServer { peer in
            guard let request = peer.readRequest() else { return }
            seen.withLock { $0 = request }
            peer.send("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
            let events = [
                #"data: {"model":"gpt-test-1","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
                #"data: {"model":"gpt-test-1","choices":[{"index":0,"delta":{"content":"Hel"}}]}"#,
                ": keep-alive",
                #"data: {"model":"gpt-test-1","choices":[{"index":0,"delta":{"content":"lo!"},"finish_reason":null}]}"#,
                #"data: {"model":"gpt-test-1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
                "data: [DONE]",
            ]
            for event in events {
                let bytes = Array((event + "\n\n").utf8)
                peer.send(String(bytes.count, radix: 16) + "\r\n")
                peer.send(bytes + Array("\r\n".utf8))
                sleepMs(2)
            }
            sleepMs(300)  // [DONE] ends the answer; the chunked terminator may come late
            peer.send("0\r\n\r\n")
        }
        let context = RecordingContext()
        let spec = JSONObject([("kind", "openai_chat"), ("base_url", .string(server.url + "/v1/")), ("api_key", "sk-test")])
        let input = json(#"{"messages":[{"role":"user","content":"Hi"}],"max_tokens":5,"temperature":0.5}"#)
        let started = Clock.monotonicMillis()
        let outcome = Connectors.run(spec: spec, tool: "openai_chat", input: input, context: context)
        #expect(Clock.monotonicMillis() - started < 250)
        #expect(outcome == .result(JSONObject([("text", "Hello!"), ("model", "gpt-test-1"), ("finish_reason", "stop")])))
        #expect(context.partials == [JSONObject([("text", "Hel")]), JSONObject([("text", "lo!")])])

        let request = try #require(seen.current)
        #expect(request.method == "POST" && request.target == "/v1/chat/completions")
        #expect(request.header("Authorization") == "Bearer sk-test")
        let body = json(request.bodyText)
        #expect(body["model"] == "gpt-4o-mini" && body["stream"] == true && body["max_tokens"] == 5 && body["temperature"] == 0.5)
        #expect(body["messages"] == json(#"[{"role":"user","content":"Hi"}]"#))
    }

    @Test func upstreamErrorsBecomeOpenAIErrors() {
        let server = TestServer { peer in
            guard let request = peer.readRequest() else { return }
            if request.header("Authorization") == nil {
                peer.respond(status: 401, reason: "Unauthorized", body: #"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}"#)
            } else {
                peer.respond(status: 503, reason: "Service Unavailable", body: "<html>down</html>")
            }
        }
        let input = json(#"{"messages":[{"role":"user","content":"Hi"}]}"#)
        let noKey = JSONObject([("kind", "openai_chat"), ("base_url", .string(server.url)), ("api_key", "")])
        #expect(Connectors.run(spec: noKey, tool: "openai_chat", input: input, context: RecordingContext())
            == .failure(kind: "openai_error", message: "Incorrect API key provided"))
        var withKey = noKey
        withKey["api_key"] = "k"
        #expect(Connectors.run(spec: withKey, tool: "openai_chat", input: input, context: RecordingContext())
            == .failure(kind: "openai_error", message: "HTTP 503 Service Unavailable"))
        let port = closedPort()
        let unreachable = JSONObject([("kind", "openai_chat"), ("base_url", .string("http://127.0.0.1:\(port)"))])
        guard case .failure(let kind, let message) = Connectors.run(spec: unreachable, tool: "openai_chat", input: input, context: RecordingContext()) else {
            Issue.record("expected a failure"); return
        }
        #expect(kind == "openai_error" && message.contains("Connection refused"), "\(message)")
    }

    @Test func badMessagesAreInvalidInput() {
        let spec = JSONObject([("kind", "openai_chat"), ("base_url", "http://127.0.0.1:1")])
        for bad in [#"{}"#, #"{"messages":[]}"#, #"{"messages":[{"content":"x"}]}"#, #"{"messages":[{"role":"user"}]}"#,
                    #"{"messages":[{"role":"user","content":"x"}],"max_tokens":0}"#] {
            guard case .failure(let kind, _) = Connectors.run(spec: spec, tool: "openai_chat", input: json(bad), context: RecordingContext()) else {
                Issue.record("expected a failure for \(bad)"); continue
            }
            #expect(kind == "invalid_input", "\(bad)")
        }
    }

    @Test func cancellationStopsTheStream() {
        let server = TestServer { peer in
            _ = peer.readRequest()
            peer.send("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
            peer.send(#"data: {"choices":[{"delta":{"content":"a"}}]}"# + "\n\n")
            sleepMs(1000)
        }
        let context = RecordingContext(cancelAfterMs: 100)
        let started = Clock.monotonicMillis()
        let outcome = Connectors.run(spec: JSONObject([("kind", "openai_chat"), ("base_url", .string(server.url))]), tool: "openai_chat",
                                     input: json(#"{"messages":[{"role":"user","content":"Hi"}]}"#), context: context)
        #expect(outcome == .cancelled)
        #expect(Clock.monotonicMillis() - started < 600)
        #expect(context.partials == [JSONObject([("text", "a")])])
    }
}

/// A Streamable HTTP MCP server good enough for a client: JSON or SSE answers by method.
private func streamableServer(log: Locked<[String]>) -> TestServer {
    TestServer { peer in
        guard let request = peer.readRequest() else { return }
        let message = json(request.bodyText)
        let method = message["method"]?.stringValue ?? request.method
        log.withLock { $0.append("\(method) session=\(request.header("Mcp-Session-Id") ?? "-") version=\(request.header("MCP-Protocol-Version") ?? "-") auth=\(request.header("X-Key") ?? "-")") }
        let id = message["id"]?.serialized() ?? "null"
        func result(_ result: String) -> String { #"{"jsonrpc":"2.0","id":\#(id),"result":\#(result)}"# }
        switch method {
        case "initialize":
            peer.respond(headers: [("Content-Type", "application/json"), ("Mcp-Session-Id", "session-1")],
                         body: result(#"{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"fake","version":"9"}}"#))
        case "notifications/initialized", "DELETE":
            peer.respond(status: 202, reason: "Accepted")
        case "tools/call":
            let name = message["params"]?["name"]?.stringValue ?? ""
            if name == "fails" {
                peer.respond(headers: [("Content-Type", "application/json")],
                             body: #"{"jsonrpc":"2.0","id":\#(id),"error":{"code":-32602,"message":"Unknown tool: fails"}}"#)
                return
            }
            if name == "slow" { sleepMs(1000); return }
            let token = message["params"]?["_meta"]?["progressToken"]?.serialized() ?? "null"
            peer.send("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
            peer.send("event: message\ndata: " + #"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":\#(token),"progress":1,"total":2}}"# + "\n\n")
            peer.send("data: " + #"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"working"}}"# + "\n\n")
            peer.send("data: " + result(#"{"content":[{"type":"text","text":"a"},{"type":"image","data":"x","mimeType":"image/png"},{"type":"text","text":"b"}],"structuredContent":{"n":1},"isError":false}"#) + "\n\n")
        case "tools/list":
            let page = message["params"]?["cursor"]?.stringValue == "p2"
                ? #"{"tools":[{"name":"t2","inputSchema":{"type":"object"}}]}"#
                : #"{"tools":[{"name":"t1","inputSchema":{"type":"object"}}],"nextCursor":"p2"}"#
            peer.respond(headers: [("Content-Type", "application/json")], body: result(page))
        case "resources/list":
            peer.respond(headers: [("Content-Type", "application/json")],
                         body: #"{"jsonrpc":"2.0","id":\#(id),"error":{"code":-32601,"message":"Method not found"}}"#)
        case "resources/read":
            peer.respond(headers: [("Content-Type", "application/json")],
                         body: result(#"{"contents":[{"uri":"file:///a","text":"A"}]}"#))
        default:
            peer.respond(status: 400, reason: "Bad Request")
        }
    }
}

@Suite struct RemoteMCPTests {
    func spec(_ server: TestServer, method: String, timeoutMs: Int = 5000) -> JSONObject {
        JSONObject([("kind", "mcp_remote"), ("endpoint", .string(server.url + "/mcp")), ("transport", "streamable_http"),
                    ("auth", ["strategy": "api_key", "header": "X-Key", "key": "secret"]), ("method", .string(method)),
                    ("timeout_ms", .int(Int64(timeoutMs)))])
    }

    @Test func toolsCallOverStreamableHTTPForwardsProgressAndLogs() {
        let log = Locked<[String]>([])
        let server = streamableServer(log: log)
        let context = RecordingContext()
        let outcome = Connectors.run(spec: spec(server, method: "tools/call"), tool: "echo", input: json(#"{"x":1}"#), context: context)
        #expect(outcome == .result(JSONObject([
            ("content", json(#"[{"type":"text","text":"a"},{"type":"image","data":"x","mimeType":"image/png"},{"type":"text","text":"b"}]"#)),
            ("structuredContent", ["n": 1]), ("isError", false), ("text", "a\nb"),
        ])))
        #expect(context.progress == [JSONObject([("progress", 1), ("total", 2)])])
        #expect(context.logs == [#"info "working""#])
        #expect(log.current == [
            "initialize session=- version=- auth=secret",
            "notifications/initialized session=session-1 version=2025-06-18 auth=secret",
            "tools/call session=session-1 version=2025-06-18 auth=secret",
            "DELETE session=session-1 version=2025-06-18 auth=secret",
        ])
    }

    @Test func probeListsEveryToolPageAndCountsMissingResourcesAsNone() throws {
        let server = streamableServer(log: Locked([]))
        guard case .result(let result) = Connectors.run(spec: spec(server, method: "probe"), tool: "", input: json("{}"), context: RecordingContext()) else {
            Issue.record("expected a result"); return
        }
        #expect(result["protocol_version"] == "2025-06-18" && result["server_info"] == json(#"{"name":"fake","version":"9"}"#))
        #expect(result["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["t1", "t2"])
        #expect(result["tools_count"] == 2 && result["resources_count"] == 0)
        #expect(try #require(result["latency_ms"]?.intValue) >= 0)
    }

    @Test func resourcesReadAndErrorsMapToFailureKinds() {
        let server = streamableServer(log: Locked([]))
        #expect(Connectors.run(spec: spec(server, method: "resources/read"), tool: "", input: json(#"{"uri":"file:///a"}"#), context: RecordingContext())
            == .result(JSONObject([("contents", json(#"[{"uri":"file:///a","text":"A"}]"#))])))
        #expect(Connectors.run(spec: spec(server, method: "tools/call"), tool: "fails", input: json("{}"), context: RecordingContext())
            == .failure(kind: "mcp_error", message: "Unknown tool: fails (JSON-RPC -32602)"))
        guard case .failure(let kind, _) = Connectors.run(spec: spec(server, method: "tools/call", timeoutMs: 150), tool: "slow",
                                                          input: json("{}"), context: RecordingContext()) else {
            Issue.record("expected a failure"); return
        }
        #expect(kind == "upstream_timeout")
        #expect(Connectors.run(spec: spec(server, method: "tools/call"), tool: "slow", input: json("{}"), context: RecordingContext(cancelAfterMs: 50))
            == .cancelled)
    }

    @Test func refusedCredentialsAndUnreachableServersAreConnectionFailures() {
        let refusing = TestServer { peer in
            _ = peer.readRequest()
            peer.respond(status: 401, reason: "Unauthorized", body: "no")
        }
        #expect(Connectors.run(spec: spec(refusing, method: "probe"), tool: "", input: json("{}"), context: RecordingContext())
            == .failure(kind: "connection_failed", message: "the server refused our credentials (HTTP 401)"))
        let port = closedPort()
        let unreachable = JSONObject([("kind", "mcp_remote"), ("endpoint", .string("http://127.0.0.1:\(port)/mcp")), ("method", "probe")])
        guard case .failure(let kind, let message) = Connectors.run(spec: unreachable, tool: "", input: json("{}"), context: RecordingContext()) else {
            Issue.record("expected a failure"); return
        }
        #expect(kind == "connection_failed" && message.contains("Connection refused"), "\(message)")
    }

    @Test func legacySSETransport() {
        // Answers POSTed to /messages arrive on the GET stream.
        let outbox = Locked<[String]>([])
        let seen = Locked<[String]>([])
        let server = TestServer { peer in
            guard let request = peer.readRequest() else { return }
            if request.method == "GET" {
                seen.withLock { $0.append("GET \(request.target) auth=\(request.header("Authorization") ?? "-")") }
                peer.send("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
                peer.send("event: endpoint\ndata: messages?session_id=abc\n\n")
                while true {
                    for message in outbox.withLock({ let all = $0; $0 = []; return all }) {
                        peer.send("event: message\r\ndata: \(message)\r\n\r\n")
                    }
                    var entry = pollfd(fd: peer.fd, events: Int16(POLLIN), revents: 0)
                    if poll(&entry, 1, 5) > 0 { return }  // the client hung up
                }
            }
            let message = json(request.bodyText)
            seen.withLock { $0.append("POST \(request.target) \(message["method"]?.stringValue ?? "?")") }
            peer.respond(status: 202, reason: "Accepted", body: "Accepted")
            guard let id = message["id"]?.serialized() else { return }
            switch message["method"]?.stringValue {
            case "initialize":
                outbox.withLock { $0.append(#"{"jsonrpc":"2.0","id":\#(id),"result":{"protocolVersion":"2024-11-05","capabilities":{},"serverInfo":{"name":"old"}}}"#) }
            default:
                outbox.withLock { $0.append(#"{"jsonrpc":"2.0","id":\#(id),"result":{"content":[{"type":"text","text":"legacy ok"}]}}"#) }
            }
        }
        let spec = JSONObject([("kind", "mcp_remote"), ("endpoint", .string(server.url + "/mcp/sse")), ("transport", "sse"),
                               ("auth", ["strategy": "basic", "username": "Aladdin", "password": "open sesame"]), ("method", "tools/call")])
        #expect(Connectors.run(spec: spec, tool: "t", input: json("{}"), context: RecordingContext())
            == .result(JSONObject([("content", json(#"[{"type":"text","text":"legacy ok"}]"#)), ("text", "legacy ok")])))
        #expect(seen.current == [
            "GET /mcp/sse auth=Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
            "POST /mcp/messages?session_id=abc initialize",
            "POST /mcp/messages?session_id=abc notifications/initialized",
            "POST /mcp/messages?session_id=abc tools/call",
        ])
    }
}
