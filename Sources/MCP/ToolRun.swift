import Calls
import JSON
import Pool

/// One tools/call in flight: turns its worker's events into MCP messages on its reply —
/// progress and log notifications, questions for the client, then the result.
///
/// A tool's question (sampling, elicitation, roots) goes to the client as a server-to-client
/// request on sessionful revisions. At 2026-07-28 there are no server-to-client requests: the call
/// ends with an `input_required` result naming the questions, and the client retries tools/call
/// with `inputResponses` and our `requestState`; the tool then runs again and its questions are
/// answered from those, in order ("input-1", "input-2", …), without asking again.
final class ToolRun {
    let id: JSONValue
    let context: RequestContext
    let progressToken: JSONValue?
    let reply: Reply
    unowned let calls: CallService
    var record: CallRecord?
    private var progress: Int64 = 0
    private var questionsAsked = 0
    /// Answers carried by a 2026-07-28 retry: the earlier rounds' (in requestState) and this one's.
    private var suppliedAnswers: JSONObject

    init(id: JSONValue, params: JSONObject, context: RequestContext, reply: Reply, calls: CallService) {
        self.id = id
        self.context = context
        self.reply = reply
        self.calls = calls
        let token = params["_meta"]?["progressToken"]
        self.progressToken = (token?.stringValue != nil || token?.intValue != nil) ? token : nil
        var answers = ToolRun.decodeState(params["requestState"]?.stringValue)
        for (key, value) in params["inputResponses"]?.objectValue ?? JSONObject() { answers[key] = value }
        self.suppliedAnswers = answers
    }

    func apply(_ event: CallEvent) {
        switch event {
        case .dispatched:
            break
        case .partial(let bytes), .progress(let bytes):
            guard let token = progressToken else { return }
            let fields = (try? JSONValue.parse(bytes))?.objectValue ?? JSONObject()
            progress += 1
            var params = JSONObject([("progressToken", token), ("progress", fields["progress"] ?? .int(progress))])
            if let total = fields["total"] { params["total"] = total }
            if context.revision.hasAnnotations, let message = fields["message"]?.stringValue ?? fields["text"]?.stringValue {
                params["message"] = .string(message)
            }
            reply.send(JSONRPCMessage.notification("notifications/progress", params))
        case .log(let bytes):
            guard let fields = (try? JSONValue.parse(bytes))?.objectValue,
                  let level = fields["level"]?.stringValue.flatMap(LogSeverity.init(name:)) else { return }
            guard let threshold = context.session?.logLevel ?? context.logLevel, level >= threshold else { return }
            var params = JSONObject([("level", .string(level.name))])
            if let logger = fields["logger"] { params["logger"] = logger }
            params["data"] = fields["data"] ?? .null
            reply.send(JSONRPCMessage.notification("notifications/message", params))
        case .ask(let bytes):
            ask(bytes)
        case .finished(let bytes):
            reply.finishToolCall(id: id, workerResult: bytes, revision: context.revision)
        case .failed(let kind, let message):
            reply.finish(JSONRPCMessage.result(id: id, ToolResults.error("\(kind): \(message)")))
        case .cancelled(let reason):
            if reason == ToolRun.clientCancelled || reason == ToolRun.inputRequired {
                reply.abandon()
            } else {
                reply.finish(JSONRPCMessage.result(id: id, ToolResults.error("The call was cancelled: \(reason)")))
            }
        }
    }

    static let clientCancelled = "cancelled by the MCP client"
    static let inputRequired = "ended to ask the client for input"

    // MARK: questions for the client

    private static func capability(for method: String) -> String? {
        switch method {
        case "sampling/createMessage": return "sampling"
        case "elicitation/create": return "elicitation"
        case "roots/list": return "roots"
        default: return nil
        }
    }

    private func ask(_ bytes: [UInt8]) {
        guard let record else { return }
        guard let question = (try? JSONValue.parse(bytes))?.objectValue, let method = question["method"]?.stringValue,
              let capability = ToolRun.capability(for: method) else {
            return calls.answer(record, error: "the tool asked the client something MCP has no request for", code: -32601)
        }
        let params = question["params"]?.objectValue ?? JSONObject()
        guard context.clientCapabilities[capability] != nil else {
            if context.revision.isStateless {
                // At 2026-07-28 the request itself fails: the client must declare what it can answer.
                reply.finish(JSONRPCMessage.error(id: id, .missingCapability(capability)))
                return calls.cancel(record, reason: ToolRun.inputRequired)
            }
            return calls.answer(record, error: "the client did not declare the '\(capability)' capability", code: -32021)
        }
        if method == "elicitation/create" && !context.revision.hasStructuredContent {
            return calls.answer(record, error: "elicitation needs protocol 2025-06-18 or later", code: -32601)
        }
        questionsAsked += 1
        let key = "input-\(questionsAsked)"
        if context.revision.isStateless {
            if let answer = suppliedAnswers[key] { return calls.answer(record, result: answer) }
            // Ask by ending this round: the client answers and retries.
            let request = JSONValue.object(JSONObject([("method", .string(method)), ("params", .object(params))]))
            let result = JSONObject([("resultType", "input_required"),
                                     ("inputRequests", .object(JSONObject([(key, request)]))),
                                     ("requestState", .string(ToolRun.encodeState(suppliedAnswers)))])
            reply.finish(JSONRPCMessage.result(id: id, result))
            calls.cancel(record, reason: ToolRun.inputRequired)
            return
        }
        guard let session = context.session else {
            return calls.answer(record, error: "no session to ask the client through")
        }
        let requestId = session.allocateServerRequestId()
        session.awaitingClient[Methods.key(requestId)] = { [weak self] result, error in
            guard let self, let record = self.record else { return }
            if let result { self.calls.answer(record, result: result) } else {
                self.calls.answer(record, error: error?["message"]?.stringValue ?? "the client answered with an error")
            }
        }
        reply.send(JSONRPCMessage.request(id: requestId, method, params))
    }

    /// requestState is opaque to the client: the answers so far, as base64 JSON.
    static func encodeState(_ answers: JSONObject) -> String {
        Base64.encode(Array(JSONValue.object(answers).serialized().utf8))
    }

    static func decodeState(_ state: String?) -> JSONObject {
        guard let state, let bytes = Base64.decode(state), let value = try? JSONValue.parse(bytes) else { return JSONObject() }
        return value.objectValue ?? JSONObject()
    }
}
