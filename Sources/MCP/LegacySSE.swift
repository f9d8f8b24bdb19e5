import Calls
import HTTP
import JSON

/// The HTTP+SSE transport of 2024-11-05: GET /sse opens the session's event stream, whose first
/// event (`endpoint`) names the URL to POST messages to; each POST is answered 202 and every
/// response and notification travels on the stream as an SSE `message` event. The revision is
/// whatever initialize negotiates (clients on this transport may ask for a newer one).
final class LegacySSETransport {
    unowned let service: MCPService

    init(service: MCPService) { self.service = service }

    func handle(_ request: HTTPRequest, owner: String, connection: HTTPConnection) {
        switch (request.path, request.method) {
        case ("/sse", "GET"): open(request, owner, connection)
        case ("/messages", "POST"): post(request, owner, connection)
        case ("/sse", _):
            connection.respondRPCError(405, RPCError(code: -32600, message: "Method not allowed: GET /sse opens the stream"), headers: [("Allow", "GET")])
        default:
            connection.respondRPCError(405, RPCError(code: -32600, message: "Method not allowed: POST /messages?session_id=…"), headers: [("Allow", "POST")])
        }
    }

    private func open(_ request: HTTPRequest, _ owner: String, _ connection: HTTPConnection) {
        guard !service.sessions.isFull else { return service.respondTooManySessions(connection) }
        let session = Session(owner: owner, revision: .v2024_11_05, clientCapabilities: JSONObject(), clientInfo: JSONObject(),
                              surface: .legacySSE, idPrefix: service.settings.sessionIdPrefix)
        session.initialized = false
        service.sessions.insert(session)
        let kept = service.openSSE(on: connection)
        let stream = kept.stream
        stream.send(Array("event: endpoint\ndata: /messages?session_id=\(session.id)\n\n".utf8))
        session.standalone.attach(stream, after: Int.max)
        // Without its stream a legacy session can deliver nothing: it ends with the connection.
        kept.onClosed = { [weak self, weak session] in
            guard let self, let session else { return }
            self.service.sessions.remove(session.id, calls: self.service.calls)
        }
    }

    private func post(_ request: HTTPRequest, _ owner: String, _ connection: HTTPConnection) {
        guard let id = request.queryParameter("session_id"), !id.isEmpty else {
            return connection.respondRPCError(400, RPCError(code: -32600, message: "Bad Request: session_id query parameter is required"))
        }
        guard let session = service.sessions.session(id, owner: owner, surface: .legacySSE) else {
            return connection.respondRPCError(404, RPCError(code: -32001, message: "Session not found: open GET /sse again"))
        }
        let body: JSONValue
        do {
            body = try JSONValue.parse(request.body)
        } catch {
            return connection.respondRPCError(400, .parse(error.description))
        }
        connection.respond(status: 202, headers: [("Content-Type", "text/plain")], body: Array("Accepted".utf8))
        let reply = StreamReply(log: session.standalone)
        switch JSONRPCMessage.parse(body) {
        case .failure(let invalid):
            reply.finish(JSONRPCMessage.error(id: invalid.id, invalid.error))
        case .success(.request(let id, "initialize", let params)):
            switch Methods.negotiate(params) {
            case .success(let revision):
                session.revision = revision
                session.clientCapabilities = params["capabilities"]?.objectValue ?? JSONObject()
                session.clientInfo = params["clientInfo"]?.objectValue ?? JSONObject()
                session.initialized = true
                reply.finish(JSONRPCMessage.result(id: id, service.methods.initializeResult(revision)))
            case .failure(let error):
                reply.finish(JSONRPCMessage.error(id: id, error))
            }
        case .success(let message):
            dispatch(message, session, owner, reply, httpRequestId: connection.requestId)
        }
    }

    private func dispatch(_ message: JSONRPCMessage, _ session: Session, _ owner: String, _ reply: StreamReply, httpRequestId: String) {
        var context = RequestContext(revision: session.revision, owner: owner, session: session,
                                     clientCapabilities: session.clientCapabilities, logLevel: session.logLevel)
        context.httpRequestId = httpRequestId
        switch message {
        case .notification(let method, let params):
            service.methods.handleNotification(method: method, params: params, context: context)
        case .response(let id, let result, let error):
            service.methods.handleResponse(id: id, result: result, error: error, session: session)
        case .request(let id, let method, let params):
            guard session.initialized else {
                return reply.finish(JSONRPCMessage.error(id: id, .invalidRequest("send initialize first")))
            }
            service.methods.handle(id: id, method: method, params: params, context: context, reply: reply)
        }
    }
}

/// Sends a request's messages on a session's stream, as SSE `message` events.
final class StreamReply: Reply {
    let log: StreamLog
    init(log: StreamLog) { self.log = log }
    func send(_ message: JSONValue) { log.append(Array(message.serialized().utf8)) }
    func finish(_ response: JSONValue) { log.append(Array(response.serialized().utf8)) }
    func abandon() {}
}
