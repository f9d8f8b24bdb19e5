import HTTPClient
import JSON
import SystemCalls
import Tools

/// Why a call to a remote MCP server did not produce a result.
enum RemoteMCPFailure: Error {
    /// Nothing usable came back: DNS, refused, reset, TLS, HTTP 5xx, a dropped stream, not MCP.
    case connection(String)
    case timeout
    case cancelled
    /// The server answered with a JSON-RPC error.
    case rpc(code: Int64, message: String)

    init(_ error: HTTPClientError, endpoint: String) {
        let endpoint = RemoteMCPFailure.displayed(endpoint)
        switch error {
        case .timedOut: self = .timeout
        case .interrupted: self = .cancelled
        case .tooLarge: self = .connection("the answer from \(endpoint) is too large")
        default: self = .connection("\(endpoint): \(error)")
        }
    }
}

/// The one deadline of a call and the cancellation check, shared by every request it makes.
final class CallBudget {
    let deadline: Int64
    let interrupt: () -> Bool

    init(timeoutMs: Int, interrupt: @escaping () -> Bool) {
        deadline = Clock.monotonicMillis() + Int64(timeoutMs)
        self.interrupt = interrupt
    }

    func remainingMs() throws(RemoteMCPFailure) -> Int {
        let left = deadline - Clock.monotonicMillis()
        if left <= 0 { throw .timeout }
        return Int(left)
    }
}

/// A client session with one remote MCP server, over either transport.
protocol RemoteMCPSession: AnyObject {
    /// Whatever the transport needs before the first request.
    func open() throws(RemoteMCPFailure)
    /// Sends a request and waits for its response; forwards notifications that arrive meanwhile.
    func request(_ method: String, params: JSONObject) throws(RemoteMCPFailure) -> JSONObject
    func notify(_ method: String, params: JSONObject?) throws(RemoteMCPFailure)
    /// Called once initialize has answered, with the revision the server chose.
    func negotiated(protocolVersion: String)
    /// Ends the session (best effort, quickly).
    func close()
}

/// What both transports do with the JSON-RPC messages a server sends while a request is open.
struct MessageRouter {
    let context: any ToolContext
    /// Answers a request from the server (ping, sampling, ...) through the session's transport.
    let reply: (JSONObject) -> Void

    /// The result when `message` is the response to request `id`; nil when it was something else.
    func handle(_ message: JSONValue, awaiting id: Int64) throws(RemoteMCPFailure) -> JSONObject? {
        if case .array(let batch) = message {
            for member in batch { if let result = try handle(member, awaiting: id) { return result } }
            return nil
        }
        guard case .object(let object) = message else { return nil }
        if let method = object["method"]?.stringValue {
            if let requestID = object["id"] {
                answerServerRequest(method: method, id: requestID)
            } else {
                forward(method: method, params: object["params"]?.objectValue ?? JSONObject())
            }
            return nil
        }
        guard let answerID = object["id"], Self.matches(answerID, id) else { return nil }
        if let error = object["error"], !error.isNull {
            throw .rpc(code: error["code"]?.intValue ?? 0, message: error["message"]?.stringValue ?? error.serialized())
        }
        return object["result"]?.objectValue ?? JSONObject()
    }

    static func matches(_ value: JSONValue, _ id: Int64) -> Bool {
        value.intValue == id || value.stringValue == String(id)
    }

    private func forward(method: String, params: JSONObject) {
        switch method {
        case "notifications/progress":
            var fields = JSONObject()
            for key in ["progress", "total", "message"] { fields[key] = params[key] }
            if fields["progress"] != nil { context.emitProgress(fields) }
        case "notifications/message":
            context.emitLog(level: params["level"]?.stringValue ?? "info", data: params["data"] ?? .null,
                            logger: params["logger"]?.stringValue)
        default:
            break  // list changes and the like concern the supervisor's discovery, not this call
        }
    }

    /// A worker has no client to relay questions to: ping is answered, anything else declined, so
    /// that the server does not wait on us.
    private func answerServerRequest(method: String, id: JSONValue) {
        var answer = JSONObject([("jsonrpc", "2.0"), ("id", id)])
        if method == "ping" {
            answer["result"] = .object(JSONObject())
        } else {
            answer["error"] = ["code": -32601, "message": .string("mcpd does not relay \(method) from remote servers")]
        }
        reply(answer)
    }
}

/// JSON-RPC envelopes.
enum JSONRPC {
    static func request(id: Int64, method: String, params: JSONObject) -> JSONObject {
        JSONObject([("jsonrpc", "2.0"), ("id", .int(id)), ("method", .string(method)), ("params", .object(params))])
    }

    static func notification(method: String, params: JSONObject?) -> JSONObject {
        var message = JSONObject([("jsonrpc", "2.0"), ("method", .string(method))])
        if let params { message["params"] = .object(params) }
        return message
    }

    static func bytes(_ message: JSONObject) -> [UInt8] {
        var buffer: [UInt8] = []
        JSONValue.object(message).write(into: &buffer)
        return buffer
    }
}

extension RemoteMCPFailure {
    /// An endpoint as messages show it: without user info or query, where credentials sometimes ride.
    static func displayed(_ endpoint: String) -> String {
        guard let parts = URLParts.parse(endpoint) else { return "the MCP endpoint" }
        let path = parts.target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? "/"
        return "\(parts.scheme)://\(parts.authority)\(path)"
    }

    /// Refusals that mean "your credentials", kept apart from servers that are down.
    static func credentialsRefused(_ status: Int) -> RemoteMCPFailure? {
        status == 401 || status == 403 ? .connection("the server refused our credentials (HTTP \(status))") : nil
    }

    /// A non-2xx answer: the JSON-RPC error in its body when there is one (some servers send
    /// errors with 4xx), else a connection failure naming the status.
    static func httpStatus(_ status: Int, body: [UInt8], endpoint: String) -> RemoteMCPFailure {
        if let refused = credentialsRefused(status) { return refused }
        if let document = try? JSONValue.parse(body), let error = document["error"], let message = error["message"]?.stringValue {
            return .rpc(code: error["code"]?.intValue ?? 0, message: message)
        }
        let text = String(decoding: body.prefix(200), as: UTF8.self)
        return .connection("HTTP \(status) from \(displayed(endpoint))" + (text.isEmpty ? "" : ": \(text)"))
    }
}
