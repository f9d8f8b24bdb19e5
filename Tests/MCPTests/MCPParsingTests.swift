// The pure parts of the MCP layer: JSON-RPC message classification, revision negotiation, the
// tenant path and host checks, resumable event ids, base64 and tool-result shaping.
@testable import MCP
import HTTP
import JSON
import Testing

@Suite("MCP parsing and shaping")
struct MCPParsingTests {
    private func parse(_ text: String) -> Result<JSONRPCMessage, JSONRPCMessage.Invalid> {
        JSONRPCMessage.parse(try! JSONValue.parse(Array(text.utf8)))
    }

    @Test func classifiesRequestsNotificationsAndResponses() {
        guard case .success(.request(let id, let method, _)) = parse(#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#) else {
            Issue.record("not a request"); return
        }
        #expect(id == 7 && method == "ping")
        guard case .success(.notification(let name, _)) = parse(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#) else {
            Issue.record("not a notification"); return
        }
        #expect(name == "notifications/initialized")
        guard case .success(.response(let rid, let result, _)) = parse(#"{"jsonrpc":"2.0","id":"a","result":{}}"#) else {
            Issue.record("not a response"); return
        }
        #expect(rid == "a" && result == .object(JSONObject()))
    }

    @Test func rejectsMalformedMessagesWithInvalidRequest() {
        for text in [#"{"id":1,"method":"ping"}"#, #"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
                     #"{"jsonrpc":"2.0","id":1,"method":"ping","params":[1]}"#, #"{"jsonrpc":"2.0","id":{},"method":"x"}"#,
                     #"{"jsonrpc":"2.0","id":1}"#, #"[1]"#] {
            guard case .failure(let invalid) = parse(text) else { Issue.record("accepted \(text)"); continue }
            #expect(invalid.error.code == -32600, "\(text)")
        }
    }

    @Test func negotiatesRevisions() {
        func negotiate(_ version: String) -> Result<ProtocolRevision, RPCError> {
            Methods.negotiate(JSONObject([("protocolVersion", .string(version))]))
        }
        #expect((try? negotiate("2025-03-26").get()) == .v2025_03_26)
        #expect((try? negotiate("2024-11-05").get()) == .v2024_11_05)
        #expect((try? negotiate("2030-01-01").get()) == .v2025_11_25)
        // 2026-07-28 is stateless: initialize never negotiates it.
        #expect((try? negotiate("2026-07-28").get()) == .v2025_11_25)
        guard case .failure(let error) = negotiate("latest") else { Issue.record("accepted garbage"); return }
        #expect(error.code == -32602)
        #expect(error.data?["requested"] == "latest")
        #expect(error.data?["supported"]?.arrayValue?.contains("2025-06-18") == true)
    }

    @Test func gatesMethodsByRevision() {
        #expect(Methods.exists("ping", in: .v2025_11_25))
        #expect(!Methods.exists("ping", in: .v2026_07_28))
        #expect(!Methods.exists("logging/setLevel", in: .v2026_07_28))
        #expect(Methods.exists("server/discover", in: .v2026_07_28))
        #expect(!Methods.exists("server/discover", in: .v2025_06_18))
        #expect(!Methods.exists("tasks/list", in: .v2025_11_25))
        #expect(ProtocolRevision.v2025_03_26.allowsBatches && !ProtocolRevision.v2025_06_18.allowsBatches)
    }

    @Test func revisionsAreReadByExactNameAndOrderedByPublication() {
        let published: [ProtocolRevision] = [.v2024_11_05, .v2025_03_26, .v2025_06_18, .v2025_11_25, .v2026_07_28]
        for (index, revision) in published.enumerated() {
            #expect(ProtocolRevision(rawValue: revision.rawValue) == revision)
            for later in published[(index + 1)...] { #expect(revision < later && !(later < revision)) }
            #expect(!(revision < revision))
        }
        // Each shares its day with another's name, or differs from one by a single byte.
        for name in ["2024-11-25", "2025-11-05", "2026-03-26", "2025-06-28", "2025-11-2", "2025-11-250", "2025-11-25 ", "", "latest"] {
            #expect(ProtocolRevision(rawValue: name) == nil, "\(name)")
        }
    }

    @Test func acceptListsAreReadByMediaRangeIgnoringCaseAndParameters() {
        func accepts(_ accept: String?, _ type: String) -> Bool {
            HTTPRequest(method: "POST", target: "/mcp", minorVersion: 1, headers: accept.map { [("accept", $0)] } ?? []).accepts(type)
        }
        #expect(accepts("application/json, text/event-stream", "text/event-stream"))
        #expect(accepts("application/json, text/event-stream", "application/json"))
        #expect(accepts("Application/JSON;q=0.9 ,\ttext/plain", "application/json"))
        #expect(accepts("text/html, */*;q=0.1", "text/event-stream"))
        #expect(!accepts("text/html, */*x", "text/event-stream"))
        #expect(!accepts("application/jsonx, text/event-streams", "application/json"))
        #expect(!accepts("application/json", "text/event-stream"))
        #expect(!accepts("", "application/json"))
        #expect(!accepts(nil, "application/json"))
        #expect(accepts(" ,application/json,", "application/json"))
    }

    @Test func mcpNameMirrorsTheNameOrUriOfTheMethodsThatHaveOne() {
        #expect(StatelessHandler.nameBearingParameter(of: "tools/call") == "name")
        #expect(StatelessHandler.nameBearingParameter(of: "prompts/get") == "name")
        #expect(StatelessHandler.nameBearingParameter(of: "resources/read") == "uri")
        for method in ["tools/list", "tools/calls", "prompts/list", "resources/list", "server/discover", "", "tools/cal"] {
            #expect(StatelessHandler.nameBearingParameter(of: method) == nil, "\(method)")
        }
    }

    @Test func parsesTenantPaths() {
        let tenant = "550e8400-e29b-41d4-a716-446655440000"
        #expect(TenantTransport.parsePath("/mcp/\(tenant)"[...])?.tenant == tenant)
        #expect(TenantTransport.parsePath("/mcp/\(tenant)/abc"[...])?.session == "abc")
        #expect(TenantTransport.parsePath("/mcp/execute"[...]) == nil)
        #expect(TenantTransport.parsePath("/mcp/\(tenant)/a/b"[...]) == nil)
        #expect(TenantTransport.parsePath("/mcp/550e8400xe29b-41d4-a716-446655440000"[...]) == nil)
        #expect(MCPService.serves("/mcp") && MCPService.serves("/sse") && MCPService.serves("/messages"))
        #expect(!MCPService.serves("/mcp/manifest") && !MCPService.serves("/mcp/stream/x"))
    }

    @Test func readsHostsForRebindingChecks() {
        #expect(MCPService.hostName("localhost:8000") == "localhost")
        #expect(MCPService.hostName("[::1]:8000") == "::1")
        #expect(MCPService.host(ofOrigin: "http://Evil.Example:80") == "evil.example")
        #expect(MCPService.host(ofOrigin: "null") == nil)
        #expect(MCPService.isLoopbackName("127.0.0.1") && MCPService.isLoopbackName("::1"))
        #expect(MCPService.isLoopbackName("127.1.2.3") && MCPService.isLoopbackName("app.localhost"))
        #expect(!MCPService.isLoopbackName("127.0.0.1.evil.example"))
        #expect(!MCPService.isLoopbackName("evil.example"))
        // Dotted quads only: four parts of at most three digits, each ≤ 255, the first exactly 127.
        #expect(!MCPService.isLoopbackName("127.0.0.256") && !MCPService.isLoopbackName("127.0.0"))
        #expect(!MCPService.isLoopbackName("0127.0.0.1") && !MCPService.isLoopbackName("127..0.1"))
        #expect(!MCPService.isLoopbackName("128.0.0.1") && !MCPService.isLoopbackName("127.0.0.1."))
        #expect(MCPService.isLoopbackName("LOCALHOST") && !MCPService.isLoopbackName("localhost.evil"))
        #expect(MCPService.hostName("LocalHost:80") == "localhost")
    }

    @Test func eventIdsNameTheirStream() {
        let log = StreamLog(number: 3)
        #expect(log.eventId(5) == "3-5")
        #expect(StreamLog.parse(eventId: "3-5")! == (3, 5))
        #expect(StreamLog.parse(eventId: "35") == nil)
        #expect(StreamLog.parse(eventId: "a-b") == nil)
    }

    @Test func base64RoundTrips() {
        for text in ["", "f", "fo", "foo", "foob", "fooba", "foobar"] {
            let encoded = Base64.encode(Array(text.utf8))
            #expect(Base64.decode(encoded) == Array(text.utf8))
        }
        #expect(Base64.encode(Array("foobar".utf8)) == "Zm9vYmFy")
        #expect(Base64.decode("Zm9v!") == nil)
    }

    @Test func shapesToolResultsForTheRevision() {
        let text = ToolResults.success(Array(#"{"text":"hi"}"#.utf8), revision: .v2025_06_18)
        #expect(text["content"] == [["type": "text", "text": "hi"]])
        #expect(text["structuredContent"] == nil)
        let structured = ToolResults.success(Array(#"{"a":1}"#.utf8), revision: .v2025_06_18)
        #expect(structured["structuredContent"] == ["a": 1])
        #expect(ToolResults.success(Array(#"{"a":1}"#.utf8), revision: .v2025_03_26)["structuredContent"] == nil)
        let audio = Array(#"{"content":[{"type":"audio","data":"AA==","mimeType":"audio/wav"}]}"#.utf8)
        #expect(ToolResults.success(audio, revision: .v2024_11_05)["content"]?.arrayValue?.first?["type"] == "text")
        #expect(ToolResults.success(audio, revision: .v2025_03_26)["content"]?.arrayValue?.first?["type"] == "audio")
        #expect(ToolResults.error("boom")["isError"] == true)
    }

    @Test func splicesATextResultAsItsParsedShapingWouldRead() throws {
        let revisions: [ProtocolRevision] = [.v2024_11_05, .v2025_03_26, .v2025_06_18, .v2025_11_25, .v2026_07_28]
        let stamp = Array(#""resultType":"complete""#.utf8)
        for worker in [#"{"text":"hi"}"#, #" { "text" : "a\/b\u00e9\n" } "#, "{\"text\":\"\u{1F600}\"}"] {
            let bytes = Array(worker.utf8)
            let text = try #require(ToolResults.soleText(bytes))
            for id: JSONValue in [7, "req-1"] {
                for revision in revisions {
                    let parsed = JSONRPCMessage.result(id: id, ToolResults.success(bytes, revision: revision))
                    #expect(try JSONValue.parse(ToolResults.textResponse(id: id, text, of: bytes)) == parsed)
                }
                var stamped = ToolResults.success(bytes, revision: .v2026_07_28)
                stamped["resultType"] = "complete"
                #expect(try JSONValue.parse(ToolResults.textResponse(id: id, text, of: bytes, extraMembers: stamp))
                        == JSONRPCMessage.result(id: id, stamped))
            }
        }
        // Written as the parsed result serializes when the worker wrote it that way itself.
        let canonical = Array(#"{"text":"hi"}"#.utf8)
        let response = ToolResults.textResponse(id: 3, try #require(ToolResults.soleText(canonical)), of: canonical)
        #expect(String(decoding: response, as: UTF8.self)
                == JSONRPCMessage.result(id: 3, ToolResults.success(canonical, revision: .v2025_11_25)).serialized())
        for other in [#"{"text":"hi","n":1}"#, #"{"a":1}"#, #"{"content":[]}"#, "[]"] {
            #expect(ToolResults.soleText(Array(other.utf8)) == nil)
        }
    }

    @Test func writesAResultWithExtraMembersAsTheMergedResultWouldSerialize() {
        let extra = JSONObject([("resultType", "complete"), ("_meta", ["k": "v"])])
        var extraBytes: [UInt8] = []
        JSONValue.object(extra).write(into: &extraBytes)
        extraBytes = Array(extraBytes.dropFirst().dropLast())
        for (id, result) in [(JSONValue.int(7), JSONObject([("content", [["type": "text"]])])), (.string("a"), JSONObject())] {
            var merged = result
            for (key, value) in extra { merged[key] = value }
            var written: [UInt8] = []
            JSONRPCMessage.writeResult(id: id, result, extraMembers: extraBytes, into: &written)
            #expect(String(decoding: written, as: UTF8.self) == JSONRPCMessage.result(id: id, merged).serialized())
            written = []
            JSONRPCMessage.writeResult(id: id, result, into: &written)
            #expect(String(decoding: written, as: UTF8.self) == JSONRPCMessage.result(id: id, result).serialized())
        }
    }
}
