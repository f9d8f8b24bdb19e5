// The supervisor's side of one stdio MCP server's JSON-RPC conversation, without any I/O: parsed
// messages from the server in, lines for the server and WorkerMessages for the pool out. The pool
// therefore drives a stdio server exactly like an mcp-worker (ready, call, progress, log, result,
// error, cancel), and this file is the whole translation.
//
// Conversation (S = supervisor, P = the server process):
//   S→P initialize {protocolVersion 2025-06-18, capabilities {}, clientInfo mcpd}
//   P→S result {protocolVersion, capabilities, serverInfo}
//   S→P notifications/initialized, then tools/list (following nextCursor) when the server has tools
//   → ready. notifications/tools/list_changed lists them again.
//   A call numbered n → request id n: tools/call {name, arguments, _meta {progressToken n}}, or
//   the method the call's spec names (params = the input), or a probe (resources/list, answered
//   with what initialize and tools/list taught). notifications/progress with token n → progress;
//   notifications/message → log of the one call in flight (stdio has no other way to tell which).
//   A cancel → notifications/cancelled {requestId n}; the pool decides how long to wait.
//   Requests from the server: ping → {}; anything else → -32601 (mcpd offers no client features).
//   Internal requests (initialize, tools/list, ping) use string ids "mcpd-N", calls integer ids.
import JSON
import SystemCalls
import WorkerProtocol

struct StdioSession {
    static let protocolVersion = "2025-06-18"
    /// tools/list pages followed before the list is taken as it is (a server cycling cursors).
    static let maxToolPages = 100

    enum Output: Equatable {
        /// One JSON-RPC message for the server, without its newline.
        case send([UInt8])
        /// A message for the pool, as if an mcp-worker had sent it.
        case deliver(WorkerMessage)
        /// What initialize taught, once.
        case described(protocolVersion: String, serverInfo: JSONValue)
        /// The server's tools (raw MCP Tool objects): after the first listing and each refresh.
        case toolsDiscovered([JSONValue])
        /// Something worth a line in the supervisor's log (a log message for no call, a failed refresh).
        case note(String)
        /// A JSON value that is not a JSON-RPC message: logged like any other stray output.
        case unrecognized
        /// The server broke the protocol; the process must go.
        case violation(String)
    }

    private enum InternalRequest { case initialize, toolsList(page: Int), ping }
    private enum CallKind { case tools, passthrough, probe(startedMs: Int64) }

    private let clientVersion: String
    private var nextInternalId = 1
    private var internalRequests: [String: InternalRequest] = [:]
    private var calls: [UInt64: CallKind] = [:]
    private var capabilities = JSONObject()
    private var serverProtocolVersion = ""
    private var serverInfo = JSONValue.object(JSONObject())
    /// The tools as last listed completely.
    private(set) var tools: [JSONValue] = []
    /// Pages gathered by a listing in progress.
    private var listing: [JSONValue]?
    private var listAgain = false
    private var initialized = false
    private(set) var isReady = false
    private var pingOutstanding = false

    init(clientVersion: String = "1.0") {
        self.clientVersion = clientVersion
    }

    // MARK: supervisor → server

    /// The first message: initialize.
    mutating func start() -> [Output] {
        let params: JSONValue = [
            "protocolVersion": .string(Self.protocolVersion),
            "capabilities": .object(JSONObject()),
            "clientInfo": ["name": "mcpd", "version": .string(clientVersion)],
        ]
        return [request(.initialize, method: "initialize", params: params)]
    }

    /// Starts call `number`. `spec` is empty or {"method": ...}; `input` the call's JSON input.
    mutating func call(number: UInt64, tool: String, spec: [UInt8], input: [UInt8]) -> [Output] {
        var method = "tools/call"
        if !spec.isEmpty {
            guard let named = (try? JSONValue.parse(spec))?["method"]?.stringValue, !named.isEmpty else {
                return [failure(number, kind: "invalid_input", "the call's spec names no method")]
            }
            method = named
        }
        let arguments: JSONValue
        if input.isEmpty {
            arguments = .object(JSONObject())
        } else if let parsed = try? JSONValue.parse(input) {
            arguments = parsed
        } else {
            return [failure(number, kind: "invalid_input", "the input is not valid JSON")]
        }
        switch method {
        case "tools/call":
            calls[number] = .tools
            let params: JSONValue = ["name": .string(tool), "arguments": arguments,
                                     "_meta": ["progressToken": .int(Int64(number))]]
            return [callRequest(number, method: method, params: params)]
        case "probe":
            let startedMs = Clock.monotonicMillis()
            guard capabilities["resources"] != nil else {
                return [.deliver(WorkerMessage(kind: .result, callNumber: number,
                                               payload: probeResult(resources: 0, startedMs: startedMs)))]
            }
            calls[number] = .probe(startedMs: startedMs)
            return [callRequest(number, method: "resources/list", params: .object(JSONObject()))]
        default:
            // resources/read, resources/list, prompts/get ...: the input is the params.
            calls[number] = .passthrough
            return [callRequest(number, method: method, params: arguments)]
        }
    }

    /// Tells the server to stop call `number`. A late answer still comes out as the call's
    /// terminal message, which the pool takes as the acknowledgement.
    mutating func cancel(number: UInt64, reason: String) -> [Output] {
        guard calls[number] != nil else { return [] }
        let params: JSONValue = ["requestId": .int(Int64(number)), "reason": .string(reason)]
        return [notification("notifications/cancelled", params: params)]
    }

    /// A liveness ping (the server cannot stamp its own heartbeat); nothing while one is unanswered.
    mutating func ping() -> [Output] {
        guard isReady, !pingOutstanding else { return [] }
        pingOutstanding = true
        return [request(.ping, method: "ping", params: nil)]
    }

    // MARK: server → supervisor

    mutating func receive(_ message: JSONValue) -> [Output] {
        if case .array(let batch) = message {
            // JSON-RPC batches: gone from MCP since 2025-06-18, still accepted from older servers.
            return batch.flatMap { receive($0) }
        }
        guard case .object(let object) = message else { return [.unrecognized] }
        let id = object["id"]
        if let method = object["method"]?.stringValue {
            if let id, !id.isNull { return answerServerRequest(id: id, method: method) }
            return notified(method, params: object["params"])
        }
        guard let id, object["result"] != nil || object["error"] != nil else { return [.unrecognized] }
        switch id {
        case .string(let key):
            guard let pending = internalRequests.removeValue(forKey: key) else { return [] }
            return answered(pending, object)
        case .int(let value) where value > 0:
            let number = UInt64(value)
            guard let kind = calls.removeValue(forKey: number) else { return [] }
            return answered(number, kind, object)
        default:
            return []  // an answer to nothing we asked: a late or confused reply
        }
    }

    private mutating func answered(_ pending: InternalRequest, _ response: JSONObject) -> [Output] {
        switch pending {
        case .initialize:
            guard let result = response["result"]?.objectValue else {
                let code = response["error"]?["code"]?.intValue.map { " (JSON-RPC error \($0))" } ?? ""
                return [.violation("initialize failed: \(errorMessage(response))\(code)")]
            }
            serverProtocolVersion = result["protocolVersion"]?.stringValue ?? ""
            serverInfo = result["serverInfo"] ?? .object(JSONObject())
            capabilities = result["capabilities"]?.objectValue ?? JSONObject()
            initialized = true
            var outputs: [Output] = [.described(protocolVersion: serverProtocolVersion, serverInfo: serverInfo),
                                     notification("notifications/initialized", params: nil)]
            if capabilities["tools"] != nil {
                outputs += listTools()
            } else {
                outputs += toolsListed([])
            }
            return outputs
        case .toolsList(let page):
            guard let result = response["result"]?.objectValue else {
                listing = nil
                let note = Output.note("tools/list failed: \(errorMessage(response))")
                // A server that cannot list its tools is still usable (resources); it just has none.
                return isReady ? [note] : [note] + toolsListed([])
            }
            listing?.append(contentsOf: result["tools"]?.arrayValue ?? [])
            if let cursor = result["nextCursor"]?.stringValue, !cursor.isEmpty, page < Self.maxToolPages {
                return [request(.toolsList(page: page + 1), method: "tools/list", params: ["cursor": .string(cursor)])]
            }
            let listed = listing ?? []
            listing = nil
            return toolsListed(listed)
        case .ping:
            pingOutstanding = false
            return []
        }
    }

    private mutating func answered(_ number: UInt64, _ kind: CallKind, _ response: JSONObject) -> [Output] {
        if response["result"] == nil {
            // The server's own message, as the contract says; its code goes along in `data`.
            return [failure(number, kind: "mcp_error", errorMessage(response), code: response["error"]?["code"]?.intValue)]
        }
        guard case .object(var result) = response["result"]! else {
            return [failure(number, kind: "mcp_error", "the server's result is not a JSON object")]
        }
        switch kind {
        case .tools:
            // seed 000's final event and plain clients read `text`: the text blocks, joined.
            let texts = (result["content"]?.arrayValue ?? []).compactMap { block -> String? in
                block["type"]?.stringValue == "text" ? block["text"]?.stringValue : nil
            }
            result["text"] = .string(texts.joined(separator: "\n"))
            return [.deliver(WorkerMessage(kind: .result, callNumber: number, payload: bytes(.object(result))))]
        case .passthrough:
            return [.deliver(WorkerMessage(kind: .result, callNumber: number, payload: bytes(.object(result))))]
        case .probe(let startedMs):
            let count = result["resources"]?.arrayValue?.count ?? 0
            return [.deliver(WorkerMessage(kind: .result, callNumber: number,
                                           payload: probeResult(resources: count, startedMs: startedMs)))]
        }
    }

    private mutating func notified(_ method: String, params: JSONValue?) -> [Output] {
        switch method {
        case "notifications/progress":
            guard let token = params?["progressToken"], let number = callNumber(token), calls[number] != nil,
                  let progress = params?["progress"], progress.doubleValue != nil else { return [] }
            var payload = JSONObject([("progress", progress)])
            if let total = params?["total"], total.doubleValue != nil { payload["total"] = total }
            if let message = params?["message"]?.stringValue { payload["message"] = .string(message) }
            return [.deliver(WorkerMessage(kind: .progress, callNumber: number, payload: bytes(.object(payload))))]
        case "notifications/message":
            let level = params?["level"]?.stringValue ?? "info"
            let data = params?["data"] ?? .null
            if calls.count == 1, let number = calls.keys.first {
                var payload = JSONObject([("level", .string(level)), ("data", data)])
                if let logger = params?["logger"]?.stringValue { payload["logger"] = .string(logger) }
                return [.deliver(WorkerMessage(kind: .log, callNumber: number, payload: bytes(.object(payload))))]
            }
            return [.note("log message (\(level)): \(data.serialized().prefix(1024))")]
        case "notifications/tools/list_changed":
            return initialized ? listTools() : []
        default:
            return []  // cancelled, resources/list_changed, ...: nothing mcpd acts on
        }
    }

    private func answerServerRequest(id: JSONValue, method: String) -> [Output] {
        var response = JSONObject([("jsonrpc", "2.0"), ("id", id)])
        if method == "ping" {
            response["result"] = .object(JSONObject())
        } else {
            response["error"] = ["code": -32601, "message": .string("mcpd does not offer \(method) to stdio servers")]
        }
        return [.send(bytes(.object(response)))]
    }

    // MARK: pieces

    private mutating func listTools() -> [Output] {
        if listing != nil {
            listAgain = true
            return []
        }
        listing = []
        return [request(.toolsList(page: 1), method: "tools/list", params: nil)]
    }

    private mutating func toolsListed(_ listed: [JSONValue]) -> [Output] {
        tools = listed
        var outputs: [Output] = [.toolsDiscovered(listed)]
        if !isReady {
            isReady = true
            outputs.append(.deliver(WorkerMessage(kind: .ready, callNumber: 0)))
        }
        if listAgain {
            listAgain = false
            outputs += listTools()
        }
        return outputs
    }

    private func probeResult(resources: Int, startedMs: Int64) -> [UInt8] {
        let result: JSONValue = [
            "protocol_version": .string(serverProtocolVersion),
            "server_info": serverInfo,
            "tools": .array(tools),
            "tools_count": .int(Int64(tools.count)),
            "resources_count": .int(Int64(resources)),
            "latency_ms": .int(Clock.monotonicMillis() - startedMs),
        ]
        return bytes(result)
    }

    private mutating func request(_ pending: InternalRequest, method: String, params: JSONValue?) -> Output {
        let id = "mcpd-\(nextInternalId)"
        nextInternalId += 1
        internalRequests[id] = pending
        var message = JSONObject([("jsonrpc", "2.0"), ("id", .string(id)), ("method", .string(method))])
        if let params { message["params"] = params }
        return .send(bytes(.object(message)))
    }

    private func callRequest(_ number: UInt64, method: String, params: JSONValue) -> Output {
        let message = JSONObject([("jsonrpc", "2.0"), ("id", .int(Int64(number))), ("method", .string(method)),
                                  ("params", params)])
        return .send(bytes(.object(message)))
    }

    private func notification(_ method: String, params: JSONValue?) -> Output {
        var message = JSONObject([("jsonrpc", "2.0"), ("method", .string(method))])
        if let params { message["params"] = params }
        return .send(bytes(.object(message)))
    }

    private func failure(_ number: UInt64, kind: String, _ message: String, code: Int64? = nil) -> Output {
        var payload: JSONValue = ["kind": .string(kind), "message": .string(message)]
        if let code { payload = ["kind": .string(kind), "message": .string(message), "data": ["code": .int(code)]] }
        return .deliver(WorkerMessage(kind: .error, callNumber: number, payload: bytes(payload)))
    }

    private func errorMessage(_ response: JSONObject) -> String {
        guard let error = response["error"] else { return "the answer has neither result nor error" }
        return error["message"]?.stringValue ?? "the server's error has no message"
    }

    private func callNumber(_ token: JSONValue) -> UInt64? {
        switch token {
        case .int(let value) where value > 0: return UInt64(value)
        case .string(let text): return UInt64(text)
        default: return nil
        }
    }

    /// Compact JSON: one line, as the pool requires of every payload.
    private func bytes(_ value: JSONValue) -> [UInt8] {
        var buffer: [UInt8] = []
        value.write(into: &buffer)
        return buffer
    }
}
