import Access
import Calls
import EventLoop
import HTTP
import JSON
import Logging
import Pool
import RateLimit
import SystemCalls
import Tools

public struct ExecuteAPIConfiguration {
    public var authenticator: Authenticator
    public var streamTimeoutMs: Int64 = 300_000
    public var keepAliveIntervalMs: Int64 = 15_000

    public init(authenticator: Authenticator) {
        self.authenticator = authenticator
    }
}

/// Serves seed 000's endpoints. Each handler answers exactly once.
public final class ExecuteAPI: HTTPHandler {
    private let configuration: ExecuteAPIConfiguration
    private let calls: CallService
    private var store: CallStore { calls.store }
    private var openStreams: [ObjectIdentifier: EventStream] = [:]
    /// GET /metrics's body (Prometheus text); nil: no /metrics.
    public var metricsText: (() -> String)?

    public init(configuration: ExecuteAPIConfiguration, calls: CallService, loop: EventLoop) {
        self.configuration = configuration
        self.calls = calls
        loop.every(milliseconds: 500) { [unowned self] in self.tickStreams() }
    }

    public var openStreamCount: Int { openStreams.count }

    // MARK: routing

    private enum Route {
        case healthz, readyz, manifest, execute, cancelAll, metrics
        case stream(String), cancel(String), status(String)

        /// Matches a path by byte comparison; a call id is whatever follows the prefix, if non-empty
        /// and without a further '/'.
        init?(_ path: Substring) {
            switch path {
            case "/healthz": self = .healthz
            case "/readyz": self = .readyz
            case "/mcp/manifest": self = .manifest
            case "/mcp/execute": self = .execute
            case "/mcp/cancel_all": self = .cancelAll
            case "/metrics": self = .metrics
            default:
                if let id = Route.callId(path, after: "/mcp/stream/") { self = .stream(id) }
                else if let id = Route.callId(path, after: "/mcp/cancel/") { self = .cancel(id) }
                else if let id = Route.callId(path, after: "/mcp/calls/") { self = .status(id) }
                else { return nil }
            }
        }

        private static func callId(_ path: Substring, after prefix: String) -> String? {
            guard path.utf8.starts(with: prefix.utf8) else { return nil }
            let id = path.utf8.dropFirst(prefix.utf8.count)
            guard !id.isEmpty, !id.contains(UInt8(ascii: "/")) else { return nil }
            return String(Substring(id))
        }

        var methods: [String] {
            switch self {
            case .healthz, .readyz: return ["GET", "HEAD"]
            case .manifest, .stream, .status, .metrics: return ["GET"]
            case .execute, .cancelAll, .cancel: return ["POST"]
            }
        }
    }

    public func handle(_ request: HTTPRequest, on connection: HTTPConnection) {
        guard let route = Route(request.path) else {
            return connection.respondError(APIError(status: 404, code: "NOT_FOUND", message: "no route for \(request.path)"))
        }
        guard allow(request, route.methods, connection) else { return }
        switch route {
        case .healthz: return connection.respondJSON(200, ["status": "ok"])
        case .readyz: return readiness(connection)
        default: break
        }
        let identity: Identity
        switch configuration.authenticator.authenticate(authorization: request.header("authorization"), apiKey: request.header("x-api-key")) {
        case .identity(let found): identity = found
        case .missing: return connection.respondError(.authentication("missing Authorization: Bearer header (or X-API-Key)"))
        case .malformed: return connection.respondError(.authentication("malformed Authorization header; expected 'Bearer <token>'"))
        case .unknown: return connection.respondError(.authorization)
        }
        // Calls are kept per credential ("tenant/name"), tools looked up in its tenant's view.
        let owner = identity.owner
        switch route {
        case .manifest: manifest(identity.tenant, connection)
        case .metrics: metrics(identity, connection)
        case .execute:
            guard identity.role.mayCall else {
                return connection.respondError(APIError(status: 403, code: "AUTHZ_ERROR",
                                                        message: "calling tools needs a member role or higher; yours is \(identity.role.rawValue)"))
            }
            execute(request, identity, connection)
        case .cancelAll: cancelAll(owner, connection)
        case .stream(let id): stream(id, request, owner, connection)
        case .cancel(let id): cancel(id, owner, connection)
        case .status(let id): status(id, owner, connection)
        case .healthz, .readyz: break
        }
    }

    private func allow(_ request: HTTPRequest, _ methods: [String], _ connection: HTTPConnection) -> Bool {
        if methods.contains(request.method) { return true }
        connection.respondError(APIError(status: 405, code: "METHOD_NOT_ALLOWED",
                                         message: "\(request.method) is not allowed here; use \(methods.joined(separator: ", "))",
                                         headers: [("Allow", methods.joined(separator: ", "))]))
        return false
    }

    // MARK: probes and metrics

    /// Prometheus text for the operator — an owner or admin of the default tenant: the figures
    /// span every tenant's tools and servers (Prometheus sends the token with
    /// `authorization: {credentials_file: …}`).
    private func metrics(_ identity: Identity, _ connection: HTTPConnection) {
        guard let metricsText else {
            return connection.respondError(APIError(status: 404, code: "NOT_FOUND", message: "no route for /metrics"))
        }
        guard identity.role.mayManage, identity.tenant == Tenant.defaultId else {
            return connection.respondError(APIError(status: 403, code: "AUTHZ_ERROR",
                                                    message: "metrics are for the owner and admin roles of the default tenant"))
        }
        connection.respond(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
                           body: Array(metricsText().utf8))
    }

    private func readiness(_ connection: HTTPConnection) {
        let counts = calls.pool.counts
        let workers: JSONValue = ["idle": .int(Int64(counts.idle)), "busy": .int(Int64(counts.busy)), "total": .int(Int64(counts.total))]
        switch calls.phase {
        case .starting:
            connection.respondJSON(503, ["status": "starting", "reason": "the worker pool is starting", "workers": workers])
        case .draining:
            connection.respondJSON(503, ["status": "draining", "reason": "the server is shutting down", "workers": workers])
        case .ready where counts.live == 0:
            connection.respondJSON(503, ["status": "unavailable", "reason": "no live worker", "workers": workers])
        case .ready:
            connection.respondJSON(200, ["status": "ready", "workers": workers])
        }
    }

    private func manifest(_ tenant: String, _ connection: HTTPConnection) {
        let list: [JSONValue] = calls.tools(for: tenant).map { tool in
            .object(JSONObject([
                ("name", .string(tool.name)),
                ("description", .string(tool.description)),
                ("input_schema", tool.inputSchema),
                ("deadline_seconds", .double(calls.deadline(for: tool))),
            ]))
        }
        connection.respondJSON(200, ["tools": .array(list)])
    }

    // MARK: execute

    private func execute(_ request: HTTPRequest, _ identity: Identity, _ connection: HTTPConnection) {
        let owner = identity.owner
        let parsed: ExecuteRequest
        switch ExecuteRequest.parse(request.body) {
        case .success(let value): parsed = value
        case .failure(let error): return connection.respondError(error)
        }
        if let requestId = parsed.requestId, let existing = store.call(owner: owner, requestId: requestId) {
            return connection.respondJSON(200, ["call_id": .string(existing.id), "status": .string(existing.status.rawValue)])
        }
        guard let tool = calls.tool(named: parsed.tool, tenant: identity.tenant) else { return connection.respondError(.toolNotFound(parsed.tool)) }
        if let violation = JSONSchema.validate(parsed.input, against: tool.compiledInputSchema, path: "input") {
            return connection.respondError(.validation(violation.description, field: violation.path))
        }
        switch calls.start(tool: tool, input: parsed.input, owner: owner, surface: .execute, httpRequestId: connection.requestId,
                           sessionId: parsed.sessionId,
                           requestId: parsed.requestId, keepsEvents: true) {
        case .success(let record):
            connection.respondJSON(200, ["call_id": .string(record.id), "status": "started"])
        case .failure(.overloaded):
            connection.respondError(.overloaded)
        case .failure(.draining):
            connection.respondError(.draining)
        case .failure(.unavailable):
            connection.respondError(.toolNotFound(parsed.tool))
        case .failure(.rateLimited(let outcome)):
            connection.respondError(.rateLimited(outcome))
        }
    }

    // MARK: stream

    private func stream(_ id: String, _ request: HTTPRequest, _ owner: String, _ connection: HTTPConnection) {
        guard let call = store.call(id: id, owner: owner) else { return connection.respondError(.callNotFound) }
        // The parser has already trimmed the value's surrounding whitespace.
        let lastEventId = request.header("last-event-id").flatMap { Int($0) } ?? 0
        connection.beginStream(status: 200, headers: [("Content-Type", "text/event-stream"),
                                                      ("Cache-Control", "no-cache"),
                                                      ("X-Accel-Buffering", "no")])
        let stream = EventStream(connection: connection, lastEventId: lastEventId)
        stream.send(call.replay(after: lastEventId))
        if call.status.hasEnded {
            stream.finish()
            return
        }
        call.streams.append(stream)
        let key = ObjectIdentifier(stream)
        openStreams[key] = stream
        connection.onClose = { [weak self, weak call, unowned stream] in
            stream.isOpen = false
            self?.openStreams[key] = nil
            call?.streams.removeAll { $0 === stream }
        }
    }

    /// Keep-alive comments, and the 5-minute limit on a stream.
    private func tickStreams() {
        let now = Clock.monotonicMillis()
        store.evict(now: now)
        for (key, stream) in openStreams {
            if !stream.isOpen {
                openStreams[key] = nil
            } else if now - stream.openedAtMs >= configuration.streamTimeoutMs {
                stream.send(Array(": stream timeout; reconnect with Last-Event-ID to resume\n\n".utf8))
                stream.finish()
                openStreams[key] = nil
            } else if now - stream.lastSentAtMs >= configuration.keepAliveIntervalMs {
                stream.send(Array(": keep-alive\n\n".utf8))
            }
        }
    }

    // MARK: status and cancel

    private func status(_ id: String, _ owner: String, _ connection: HTTPConnection) {
        guard let call = store.call(id: id, owner: owner) else { return connection.respondError(.callNotFound) }
        connection.respondJSON(200, call.statusJSON)
    }

    private func cancel(_ id: String, _ owner: String, _ connection: HTTPConnection) {
        guard let call = store.call(id: id, owner: owner) else { return connection.respondError(.callNotFound) }
        calls.cancel(call, reason: "cancelled by the client")
        connection.respondJSON(200, ["call_id": .string(call.id), "status": .string(call.status.rawValue)])
    }

    private func cancelAll(_ owner: String, _ connection: HTTPConnection) {
        let cancelled = calls.cancelAll(owner: owner, reason: "cancelled by cancel_all")
        connection.respondJSON(200, ["cancelled": .int(Int64(cancelled.count)), "call_ids": .array(cancelled.map { .string($0) })])
    }
}
