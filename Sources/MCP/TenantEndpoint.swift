import Access
import Calls
import HTTP
import JSON
import SystemCalls

/// Seed 003's tenant endpoint: `POST /mcp/{tenant-uuid}[/{session}]` and
/// `GET /mcp/{tenant-uuid}?session_id=…`. initialize is answered directly (session in
/// Mcp-Session-Id); every other request is answered 202 {"status":"queued"} and its response is
/// delivered on the tenant stream — SSE `message` events at 2024-11-05, newline-delimited JSON from
/// 2025-03-26 on, which opens with notifications/connection and carries periodic notifications/ping.
/// Sessions belong to their tenant: another tenant's path never finds them.
final class TenantTransport {
    unowned let service: MCPService
    /// Undelivered messages of sessions whose stream is not connected, and the connected streams.
    private var outboxes: [String: TenantOutbox] = [:]

    init(service: MCPService) { self.service = service }

    /// ("550e8400-…", optional session) when the path is /mcp/{uuid}[/{session}].
    static func parsePath(_ path: Substring) -> (tenant: String, session: String?)? {
        guard path.hasUTF8Prefix("/mcp/") else { return nil }
        let rest = path.dropFirst(5).split(separator: "/", omittingEmptySubsequences: false)
        guard rest.count == 1 || rest.count == 2, isUUID(rest[0]) else { return nil }
        if rest.count == 2 {
            guard !rest[1].isEmpty else { return (String(rest[0]).lowercased(), nil) }
            return (String(rest[0]).lowercased(), String(rest[1]))
        }
        return (String(rest[0]).lowercased(), nil)
    }

    static func isUUID(_ text: Substring) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 36 else { return false }
        for (index, byte) in bytes.enumerated() {
            if [8, 13, 18, 23].contains(index) {
                guard byte == UInt8(ascii: "-") else { return false }
            } else {
                let isHex = (48...57).contains(byte) || (97...102).contains(byte | 0x20)
                guard isHex else { return false }
            }
        }
        return true
    }

    /// Seed 003's 401: JSON-RPC -32000 with the OAuth endpoints in data.
    func respondUnauthorized(_ request: HTTPRequest, _ connection: HTTPConnection) {
        let base = (request.header("host")).map { "http://\($0)" } ?? ""
        let oauth = JSONObject([("authorization_endpoint", .string(base + "/oauth/authorize")),
                                ("token_endpoint", .string(base + "/oauth/token")),
                                ("registration_endpoint", .string(base + "/oauth/register"))])
        let error = RPCError(code: RPCError.authenticationRequired, message: "Authentication required",
                             data: .object(JSONObject([("oauth", .object(oauth))])))
        connection.respondRPCError(401, error, headers: [("WWW-Authenticate", "Bearer realm=\"mcpd\"")])
    }

    func handle(_ request: HTTPRequest, owner: String, connection: HTTPConnection) {
        guard let (tenant, pathSession) = TenantTransport.parsePath(request.path) else { return }
        // Tenant `default` is the single-tenant deployment (any id, as before tenants existed);
        // another tenant's credential may use its own id only.
        let callerTenant = Tenant.of(owner: owner)
        guard callerTenant == Tenant.defaultId || callerTenant.lowercased() == tenant.lowercased() else {
            return connection.respondRPCError(403, .forbidden("this credential belongs to another tenant"))
        }
        switch request.method {
        case "POST": post(request, tenant, pathSession, owner, connection)
        case "GET" where pathSession == nil: open(request, tenant, owner, connection)
        default:
            connection.respondRPCError(405, .methodNotAllowed("Method not allowed: \(request.method); use POST, or GET for the stream"),
                                       headers: [("Allow", pathSession == nil ? "GET, POST" : "POST")])
        }
    }

    private func findSession(_ id: String?, _ tenant: String, _ owner: String, _ connection: HTTPConnection) -> Session? {
        guard let id, !id.isEmpty else {
            connection.respondRPCError(400, .sessionRequired("Session required: send Mcp-Session-Id (or the session in the path) after initialize"))
            return nil
        }
        guard let session = service.sessions.session(id, owner: owner, surface: .tenant(tenant)) else {
            connection.respondRPCError(404, .sessionRequired("Session not found: it expired or belongs elsewhere; initialize again"))
            return nil
        }
        return session
    }

    // MARK: POST

    private func post(_ request: HTTPRequest, _ tenant: String, _ pathSession: String?, _ owner: String, _ connection: HTTPConnection) {
        let body: JSONValue
        do {
            body = try JSONValue.parse(request.body)
        } catch {
            return connection.respondRPCError(400, .parse(error.description))
        }
        if case .object(let object) = body, object["method"]?.stringValue == "initialize" {
            return service.startSession(object, owner: owner, surface: .tenant(tenant), connection: connection)
        }
        guard let session = findSession(request.header("mcp-session-id") ?? pathSession ?? request.queryParameter("session_id"),
                                        tenant, owner, connection) else { return }
        var context = RequestContext(revision: session.revision, owner: owner, session: session,
                                     clientCapabilities: session.clientCapabilities, logLevel: session.logLevel, seed003: true)
        context.httpRequestId = connection.requestId
        let outbox = self.outbox(for: session)
        if case .array(let batch) = body {
            guard session.revision.allowsBatches else {
                return connection.respondRPCError(400, .invalidRequest("JSON-RPC batches are only supported by protocol 2025-03-26"))
            }
            guard !batch.isEmpty else { return connection.respondRPCError(400, .invalidRequest("an empty batch")) }
            connection.respondJSONValue(202, ["status": "queued"])
            return service.methods.handleBatch(batch, context: context) { responses in
                if !responses.isEmpty { outbox.deliver(.array(responses)) }
            }
        }
        switch JSONRPCMessage.parse(body) {
        case .failure(let invalid):
            connection.respondRPCError(400, invalid.error, id: invalid.id)
        case .success(.notification(let method, let params)):
            service.methods.handleNotification(method: method, params: params, context: context)
            connection.respondJSONValue(202, ["status": "accepted"])
        case .success(.response(let id, let result, let error)):
            service.methods.handleResponse(id: id, result: result, error: error, session: session)
            connection.respondJSONValue(202, ["status": "accepted"])
        case .success(.request(let id, let method, let params)):
            connection.respondJSONValue(202, ["status": "queued"])
            service.methods.handle(id: id, method: method, params: params, context: context, reply: OutboxReply(outbox))
        }
    }

    private func outbox(for session: Session) -> TenantOutbox {
        if let outbox = outboxes[session.id], outbox.session === session { return outbox }
        let outbox = TenantOutbox(session: session)
        outboxes[session.id] = outbox
        session.onEnd = { [weak self, weak outbox] in
            outbox?.stream?.finish()
            self?.outboxes[session.id] = nil
        }
        return outbox
    }

    // MARK: GET (the stream)

    private func open(_ request: HTTPRequest, _ tenant: String, _ owner: String, _ connection: HTTPConnection) {
        guard let session = findSession(request.queryParameter("session_id") ?? request.header("mcp-session-id"),
                                        tenant, owner, connection) else { return }
        let outbox = self.outbox(for: session)
        outbox.stream?.finish()
        let sse = session.revision == .v2024_11_05
        connection.beginStream(status: 200, headers: sse ? SSE.headers : [("Content-Type", "application/x-ndjson"),
                                                                          ("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no")])
        let stream = EventStream(connection: connection, lastEventId: 0)
        let kept: KeptAliveStream
        if sse {
            kept = KeptAliveStream(stream: stream) { stream.send(Array(": keepalive\n\n".utf8)) }
            let host = request.header("host") ?? "localhost"
            stream.send(Array("event: endpoint\ndata: http://\(host)/mcp/\(tenant)/\(session.id)\n\n".utf8))
        } else {
            kept = KeptAliveStream(stream: stream) {
                stream.send(TenantOutbox.line(JSONRPCMessage.notification("notifications/ping",
                                                                          JSONObject([("timestamp", .string(Catalog.timestamp()))]))))
            }
            stream.send(TenantOutbox.line(JSONRPCMessage.notification("notifications/connection",
                                                                      JSONObject([("status", "connected"), ("sessionId", .string(session.id))]))))
        }
        service.track(kept)
        kept.onClosed = { [weak outbox] in if outbox?.stream === stream { outbox?.stream = nil } }
        outbox.attach(stream, sse: sse)
    }
}

/// A tenant session's undelivered messages and its connected stream.
final class TenantOutbox {
    unowned let session: Session
    var stream: EventStream?
    private var sse = false
    private var pending: [JSONValue] = []
    static let maxPending = 1024

    init(session: Session) { self.session = session }

    static func line(_ message: JSONValue) -> [UInt8] {
        var bytes: [UInt8] = []
        message.write(into: &bytes)
        bytes.append(10)
        return bytes
    }

    func attach(_ stream: EventStream, sse: Bool) {
        self.stream = stream
        self.sse = sse
        let queued = pending
        pending.removeAll()
        for message in queued { deliver(message) }
    }

    func deliver(_ message: JSONValue) {
        guard let stream, stream.isOpen else {
            // Nobody is listening yet: keep it for the next stream, bounded.
            if pending.count < TenantOutbox.maxPending { pending.append(message) }
            return
        }
        if sse {
            var bytes = Array("event: message\ndata: ".utf8)
            message.write(into: &bytes)
            bytes.append(contentsOf: "\n\n".utf8)
            stream.send(bytes)
        } else {
            stream.send(TenantOutbox.line(message))
        }
    }
}

final class OutboxReply: Reply {
    let outbox: TenantOutbox
    init(_ outbox: TenantOutbox) { self.outbox = outbox }
    func send(_ message: JSONValue) { outbox.deliver(message) }
    func finish(_ response: JSONValue) { outbox.deliver(response) }
    func abandon() {}
}

/// Gathers the responses of a batch's requests and hands them over once all have answered.
final class BatchCollector {
    private var responses: [JSONValue] = []
    private var outstanding = 0
    private var sealed = false
    private let completion: ([JSONValue]) -> Void

    init(completion: @escaping ([JSONValue]) -> Void) { self.completion = completion }

    func add(_ response: JSONValue) { responses.append(response) }

    func element() -> Reply {
        outstanding += 1
        return Element(self)
    }

    /// No more elements will be added: complete as soon as all have answered.
    func seal() {
        sealed = true
        completeIfDone()
    }

    private func completeIfDone() {
        guard sealed, outstanding == 0 else { return }
        sealed = false
        completion(responses)
    }

    final class Element: Reply {
        let collector: BatchCollector
        var done = false
        init(_ collector: BatchCollector) { self.collector = collector }
        func send(_ message: JSONValue) {}
        func finish(_ response: JSONValue) {
            guard !done else { return }
            done = true
            collector.responses.append(response)
            collector.outstanding -= 1
            collector.completeIfDone()
        }
        func abandon() {
            guard !done else { return }
            done = true
            collector.outstanding -= 1
            collector.completeIfDone()
        }
    }
}
