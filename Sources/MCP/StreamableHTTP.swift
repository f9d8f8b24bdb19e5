import Calls
import HTTP
import JSON
import SystemCalls

/// Streamable HTTP on /mcp (2025-03-26, 2025-06-18, 2025-11-25), and the stateless 2026-07-28
/// requests that arrive at the same path (see Stateless.swift).
///
/// POST carries one message (or, at 2025-03-26, a batch). A request is answered with
/// application/json, unless something must be sent before its result (progress, log messages,
/// server-to-client requests): then the answer becomes an SSE stream carrying those and the result.
/// GET opens the session's stream for server-initiated messages, or resumes an interrupted stream
/// from Last-Event-ID. DELETE ends the session.
final class StreamableHTTPTransport {
    unowned let service: MCPService
    private lazy var stateless = StatelessHandler(service: service)

    init(service: MCPService) { self.service = service }

    static let sessionHeader = "Mcp-Session-Id"

    static func unsupported(_ version: String) -> String {
        "Bad Request: unsupported MCP-Protocol-Version '\(version)'; supported: \(ProtocolRevision.allNames.joined(separator: ", "))"
    }

    func handle(_ request: HTTPRequest, owner: String, connection: HTTPConnection) {
        if StatelessHandler.applies(to: request) { return stateless.handle(request, owner: owner, connection: connection) }
        switch request.method {
        case "POST": post(request, owner, connection)
        case "GET": get(request, owner, connection)
        case "DELETE": delete(request, owner, connection)
        default:
            connection.respondRPCError(405, RPCError(code: -32600, message: "Method not allowed: use POST, GET or DELETE"),
                                       headers: [("Allow", "GET, POST, DELETE")])
        }
    }

    // MARK: session and version checks

    private enum SessionLookup { case found(Session), answered }

    /// `requestId` is the id of the POSTed request, echoed in the error when there is one.
    private func session(for request: HTTPRequest, _ owner: String, _ connection: HTTPConnection,
                         requestId: JSONValue = .null) -> SessionLookup {
        guard let id = request.header("mcp-session-id") else {
            connection.respondRPCError(400, RPCError(code: -32600, message: "Bad Request: Mcp-Session-Id header is required; send initialize first"),
                                       id: requestId)
            return .answered
        }
        guard let session = service.sessions.session(id, owner: owner, surface: .streamableHTTP) else {
            connection.respondRPCError(404, RPCError(code: -32001, message: "Session not found: it expired or was deleted; initialize a new one"),
                                       id: requestId)
            return .answered
        }
        // Absent: 2025-03-26 is assumed. Present: it must be the negotiated revision.
        if let version = request.header("mcp-protocol-version"), version != session.revision.rawValue {
            let message = ProtocolRevision(rawValue: version) == nil
                ? StreamableHTTPTransport.unsupported(version)
                : "Bad Request: MCP-Protocol-Version '\(version)' differs from the session's negotiated \(session.revision.rawValue)"
            connection.respondRPCError(400, RPCError(code: -32600, message: message), id: requestId)
            return .answered
        }
        return .found(session)
    }

    // MARK: POST

    private func post(_ request: HTTPRequest, _ owner: String, _ connection: HTTPConnection) {
        let body: JSONValue
        let argumentsRange: Range<Int>?
        do {
            (body, argumentsRange) = try JSONValue.parseMessage(request.body)
        } catch {
            return connection.respondRPCError(400, .parse(error.description))
        }
        let requestId = body["id"] ?? .null
        if let version = request.header("mcp-protocol-version"), ProtocolRevision(rawValue: version) == nil {
            return connection.respondRPCError(400, RPCError(code: -32600, message: StreamableHTTPTransport.unsupported(version)),
                                              id: requestId)
        }
        if case .object(let object) = body, object["method"]?.stringValue == "initialize" {
            return initialize(object, connection, owner)
        }
        guard case .found(let session) = session(for: request, owner, connection, requestId: requestId) else { return }
        var context = RequestContext(revision: session.revision, owner: owner, session: session,
                                     clientCapabilities: session.clientCapabilities, logLevel: session.logLevel)
        context.httpRequestId = connection.requestId
        context.rawArguments = argumentsRange.map { request.body[$0] }
        let acceptsSSE = request.accepts("text/event-stream")
        if case .array(let batch) = body {
            guard session.revision.allowsBatches else {
                return connection.respondRPCError(400, .invalidRequest("JSON-RPC batches are not supported by protocol \(session.revision.rawValue)"))
            }
            guard !batch.isEmpty else { return connection.respondRPCError(400, .invalidRequest("an empty batch")) }
            // A batch answer is one JSON body: notifications its calls emit are not delivered.
            return service.methods.handleBatch(batch, context: context) { [weak connection] responses in
                guard let connection, connection.isOpen else { return }
                if responses.isEmpty { connection.respondEmpty(202) } else { connection.respondJSONValue(200, .array(responses)) }
            }
        }
        switch JSONRPCMessage.parse(body) {
        case .failure(let invalid):
            connection.respondRPCError(400, invalid.error, id: invalid.id)
        case .success(.notification(let method, let params)):
            service.methods.handleNotification(method: method, params: params, context: context)
            connection.respondEmpty(202)
        case .success(.response(let id, let result, let error)):
            service.methods.handleResponse(id: id, result: result, error: error, session: session)
            connection.respondEmpty(202)
        case .success(.request(let id, let method, let params)):
            let reply = PostReply(connection: connection, session: session, acceptsSSE: acceptsSSE, service: service)
            service.methods.handle(id: id, method: method, params: params, context: context, reply: reply)
        }
    }

    private func initialize(_ object: JSONObject, _ connection: HTTPConnection, _ owner: String) {
        guard !(object["id"] ?? .null).isNull else {
            return connection.respondRPCError(400, .invalidRequest("initialize must be a request with an id"))
        }
        service.startSession(object, owner: owner, surface: .streamableHTTP, connection: connection)
    }

    // MARK: GET

    private func get(_ request: HTTPRequest, _ owner: String, _ connection: HTTPConnection) {
        guard request.accepts("text/event-stream") else {
            return connection.respondRPCError(406, RPCError(code: -32600, message: "Not Acceptable: GET /mcp needs Accept: text/event-stream"))
        }
        guard case .found(let session) = session(for: request, owner, connection) else { return }
        var log = session.standalone
        var after = 0
        if let lastEventId = request.header("last-event-id") {
            guard let parsed = StreamLog.parse(eventId: lastEventId), let resumed = session.streams[parsed.stream] else {
                return connection.respondRPCError(404, RPCError(code: -32600, message: "Unknown Last-Event-ID '\(lastEventId)': the stream is no longer retained"))
            }
            log = resumed
            after = parsed.sequence
        } else if log.attached?.isOpen == true {
            return connection.respondRPCError(409, RPCError(code: -32600, message: "Conflict: this session already has an open GET stream"))
        }
        let kept = service.openSSE(on: connection, extraHeaders: [(StreamableHTTPTransport.sessionHeader, session.id)])
        let stream = kept.stream
        kept.onClosed = { [weak log] in log?.connectionClosed(stream) }
        if after == 0 && session.revision >= .v2025_11_25 && log.number == Session.standaloneStream {
            log.attachPriming(stream)
        } else {
            log.attach(stream, after: after)
        }
        if log.isComplete { log.detach() }
    }

    // MARK: DELETE

    private func delete(_ request: HTTPRequest, _ owner: String, _ connection: HTTPConnection) {
        guard case .found(let session) = session(for: request, owner, connection) else { return }
        service.sessions.remove(session.id, calls: service.calls)
        connection.respondEmpty(200)
    }
}

/// The answer to one POSTed request: JSON when the result comes first, SSE once anything else
/// must be sent before it. SSE events are logged in the session so that a client whose connection
/// broke can resume with GET and Last-Event-ID.
final class PostReply: Reply {
    private weak var connection: HTTPConnection?
    private let session: Session?
    private let acceptsSSE: Bool
    private unowned let service: MCPService
    private var log: StreamLog?
    private var done = false

    init(connection: HTTPConnection, session: Session?, acceptsSSE: Bool, service: MCPService) {
        self.connection = connection
        self.session = session
        self.acceptsSSE = acceptsSSE
        self.service = service
    }

    func send(_ message: JSONValue) {
        guard !done, acceptsSSE else { return }
        if log == nil { beginStream() }
        log?.append(Array(message.serialized().utf8))
    }

    func finish(_ response: JSONValue) {
        guard !done else { return }
        done = true
        if let log {
            log.append(Array(response.serialized().utf8))
            log.complete()
        } else if let connection, connection.isOpen {
            connection.respondJSONValue(200, response)
        }
    }

    func finishToolCall(id: JSONValue, workerResult: [UInt8], revision: ProtocolRevision) {
        guard let text = ToolResults.soleText(workerResult) else {
            return finish(JSONRPCMessage.result(id: id, ToolResults.success(workerResult, revision: revision)))
        }
        guard !done else { return }
        done = true
        let body = ToolResults.textResponse(id: id, text, of: workerResult)
        if let log {
            log.append(body)
            log.complete()
        } else if let connection, connection.isOpen {
            connection.respond(status: 200, headers: [("Content-Type", "application/json")], body: body)
        }
    }

    func finishRefused(_ response: JSONValue, status: Int, headers: [(String, String)]) {
        guard !done, log == nil, let connection, connection.isOpen else { return finish(response) }
        done = true
        connection.respondJSONValue(status, response, headers: headers)
    }

    func abandon() {
        guard !done else { return }
        done = true
        if let log {
            log.complete()
        } else if let connection, connection.isOpen {
            // Nothing may answer a cancelled request; the HTTP exchange still needs an end.
            connection.beginStream(status: 200, headers: SSE.headers)
            connection.endStream()
        }
    }

    private func beginStream() {
        guard let connection, connection.isOpen else {
            // The client left before anything was sent; keep the events for a resuming GET.
            log = session?.newStream() ?? StreamLog(number: -1)
            return
        }
        let log = session?.newStream() ?? StreamLog(number: 0)
        self.log = log
        let kept = service.openSSE(on: connection)
        let stream = kept.stream
        kept.onClosed = { [weak log] in log?.connectionClosed(stream) }
        if let session, session.revision >= .v2025_11_25 {
            log.attachPriming(stream)
        } else {
            log.attach(stream, after: 0)
        }
    }
}

