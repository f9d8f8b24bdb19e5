// The JSON-RPC translation on its own, message by message, without processes.
import JSON
import Testing
import WorkerProtocol
@testable import Pool

@Suite struct StdioSessionTests {
    private func sent(_ outputs: [StdioSession.Output]) -> [JSONValue] {
        outputs.compactMap { if case .send(let bytes) = $0 { return try? JSONValue.parse(bytes) } else { return nil } }
    }

    private func delivered(_ outputs: [StdioSession.Output]) -> [WorkerMessage] {
        outputs.compactMap { if case .deliver(let message) = $0 { return message } else { return nil } }
    }

    private func parse(_ text: String) -> JSONValue { try! JSONValue.parse(text) }

    /// A session past initialize for a server with the given capabilities; returns the outputs of
    /// the initialize answer.
    private func started(_ session: inout StdioSession, capabilities: String) -> [StdioSession.Output] {
        let initialize = sent(session.start())
        #expect(initialize.first?["method"]?.stringValue == "initialize")
        #expect(initialize.first?["params"]?["protocolVersion"]?.stringValue == "2025-06-18")
        let id = initialize.first?["id"]?.serialized() ?? "null"
        return session.receive(parse(#"{"jsonrpc":"2.0","id":\#(id),"result":{"protocolVersion":"2025-03-26","capabilities":\#(capabilities),"serverInfo":{"name":"s"}}}"#))
    }

    @Test func aServerWithoutToolsIsReadyAtOnceWithNone() {
        var session = StdioSession()
        let outputs = started(&session, capabilities: #"{"resources":{}}"#)
        #expect(outputs.contains(.described(protocolVersion: "2025-03-26", serverInfo: ["name": "s"])))
        #expect(sent(outputs).map { $0["method"]?.stringValue } == ["notifications/initialized"])
        #expect(outputs.contains(.toolsDiscovered([])))
        #expect(delivered(outputs).map(\.kind) == [.ready])
    }

    @Test func aFailedInitializeIsAViolation() {
        var session = StdioSession()
        _ = session.start()
        let outputs = session.receive(parse(#"{"jsonrpc":"2.0","id":"mcpd-1","error":{"code":-32602,"message":"unsupported"}}"#))
        #expect(outputs == [.violation("initialize failed: unsupported (JSON-RPC error -32602)")])
    }

    @Test func listChangedDuringAListingListsAgainAfterIt() {
        var session = StdioSession()
        let first = sent(started(&session, capabilities: #"{"tools":{}}"#)).last!
        #expect(first["method"]?.stringValue == "tools/list")
        #expect(session.receive(parse(#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#)).isEmpty)
        let id = first["id"]!.serialized()
        let outputs = session.receive(parse(#"{"jsonrpc":"2.0","id":\#(id),"result":{"tools":[{"name":"a"}]}}"#))
        #expect(outputs.contains(.toolsDiscovered([["name": "a"]])))
        #expect(delivered(outputs).map(\.kind) == [.ready])
        #expect(sent(outputs).map { $0["method"]?.stringValue } == ["tools/list"])
    }

    @Test func callsBecomeRequestsAndAnswersBecomeResults() throws {
        var session = StdioSession()
        _ = started(&session, capabilities: "{}")
        let request = try #require(sent(session.call(number: 7, tool: "t", spec: [], input: Array(#"{"x":1}"#.utf8))).first)
        #expect(request["id"] == .int(7))
        #expect(request["method"]?.stringValue == "tools/call")
        #expect(request["params"]?["name"]?.stringValue == "t")
        #expect(request["params"]?["arguments"]?["x"] == .int(1))
        #expect(request["params"]?["_meta"]?["progressToken"] == .int(7))

        let progress = delivered(session.receive(parse(#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":7,"progress":0.5}}"#)))
        #expect(progress.map(\.kind) == [.progress])
        #expect(progress.first?.payload == Array(#"{"progress":0.5}"#.utf8))
        #expect(session.receive(parse(#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":8,"progress":1}}"#)).isEmpty)

        let answer = #"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"a"},{"type":"image","data":""},{"type":"text","text":"b"}]}}"#
        let result = try #require(delivered(session.receive(parse(answer))).first)
        #expect(result.kind == .result && result.callNumber == 7)
        #expect(try JSONValue.parse(result.payload)["text"]?.stringValue == "a\nb")
        // A second answer to the same id is nobody's.
        #expect(session.receive(parse(answer)).isEmpty)
    }

    @Test func errorsCancelsAndServerRequests() throws {
        var session = StdioSession()
        _ = started(&session, capabilities: "{}")
        _ = session.call(number: 3, tool: "t", spec: [], input: [])
        let cancel = try #require(sent(session.cancel(number: 3, reason: "bored")).first)
        #expect(cancel["method"]?.stringValue == "notifications/cancelled")
        #expect(cancel["params"]?["requestId"] == .int(3))
        #expect(cancel["params"]?["reason"]?.stringValue == "bored")
        let error = try #require(delivered(session.receive(parse(#"{"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"nope"}}"#))).first)
        #expect(error.kind == .error)
        let payload = try JSONValue.parse(error.payload)
        #expect(payload["kind"]?.stringValue == "mcp_error" && payload["message"]?.stringValue == "nope")
        #expect(session.cancel(number: 3, reason: "late").isEmpty)

        let pong = try #require(sent(session.receive(parse(#"{"jsonrpc":"2.0","id":"x","method":"ping"}"#))).first)
        #expect(pong["id"]?.stringValue == "x" && pong["result"] == .object(JSONObject()))
        let refused = try #require(sent(session.receive(parse(#"{"jsonrpc":"2.0","id":9,"method":"sampling/createMessage"}"#))).first)
        #expect(refused["error"]?["code"] == .int(-32601))
        #expect(session.receive(parse("[1, 2]")) == [.unrecognized, .unrecognized])
    }

    @Test func aBadSpecFailsTheCallWithoutAsking() throws {
        var session = StdioSession()
        _ = started(&session, capabilities: "{}")
        let outputs = session.call(number: 1, tool: "t", spec: Array(#"{"kind":"x"}"#.utf8), input: [])
        #expect(sent(outputs).isEmpty)
        let failure = try #require(delivered(outputs).first)
        #expect(failure.kind == .error)
        #expect(try JSONValue.parse(failure.payload)["kind"]?.stringValue == "invalid_input")
    }
}
