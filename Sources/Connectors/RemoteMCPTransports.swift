import HTTPClient
import JSON
import Tools

/// MCP Streamable HTTP (2025-03-26 on): every message is a POST to the endpoint; a request's
/// answer comes back as JSON or as an SSE stream that ends with it.
final class StreamableHTTPSession: RemoteMCPSession {
    private let endpoint: String
    private let authHeaders: [(String, String)]
    private let budget: CallBudget
    private let context: any ToolContext
    private var sessionID: String?
    private var protocolVersion: String?
    private var nextID: Int64 = 1

    init(endpoint: String, authHeaders: [(String, String)], budget: CallBudget, context: any ToolContext) {
        self.endpoint = endpoint
        self.authHeaders = authHeaders
        self.budget = budget
        self.context = context
    }

    func open() throws(RemoteMCPFailure) {}

    func negotiated(protocolVersion: String) { self.protocolVersion = protocolVersion }

    func request(_ method: String, params: JSONObject) throws(RemoteMCPFailure) -> JSONObject {
        let id = nextID
        nextID += 1
        do {
            return try exchange(JSONRPC.request(id: id, method: method, params: params), id: id)
        } catch .cancelled {
            // Tell the server to stop working on it; it must not hold up our own cancellation.
            postQuietly(JSONRPC.notification(method: "notifications/cancelled",
                                             params: JSONObject([("requestId", .int(id)), ("reason", "cancelled by the caller")])))
            throw .cancelled
        }
    }

    func notify(_ method: String, params: JSONObject?) throws(RemoteMCPFailure) {
        let stream = try post(JSONRPC.notification(method: method, params: params))
        defer { stream.close() }
        guard (200..<300).contains(stream.status) else {
            throw RemoteMCPFailure.httpStatus(stream.status, body: (try? stream.readAll(maxBody: 64 * 1024)) ?? [], endpoint: endpoint)
        }
    }

    func close() {
        guard let sessionID else { return }
        self.sessionID = nil
        // Best effort and brief: the result is already in hand.
        var headers = authHeaders + [("Mcp-Session-Id", sessionID)]
        if let protocolVersion { headers.append(("MCP-Protocol-Version", protocolVersion)) }
        _ = try? HTTPClient.fetch(HTTPClientRequest(method: "DELETE", url: endpoint, headers: headers, timeoutMs: 500),
                                  maxBody: 64 * 1024)
    }

    private func exchange(_ message: JSONObject, id: Int64) throws(RemoteMCPFailure) -> JSONObject {
        let stream = try post(message)
        defer { stream.close() }
        if sessionID == nil, let assigned = stream.header("Mcp-Session-Id"), !assigned.isEmpty { sessionID = assigned }
        guard (200..<300).contains(stream.status) else {
            let body = (try? stream.readAll(maxBody: 64 * 1024)) ?? []
            if stream.status == 404 && message["method"]?.stringValue != "initialize" && sessionID != nil {
                throw .connection("the server ended the MCP session (HTTP 404)")
            }
            throw RemoteMCPFailure.httpStatus(stream.status, body: body, endpoint: endpoint)
        }
        let router = MessageRouter(context: context, reply: { [weak self] answer in self?.postQuietly(answer) })
        let contentType = (stream.header("Content-Type") ?? "").lowercased()
        do {
            if contentType.hasPrefix("text/event-stream") {
                var parser = SSEParser()
                while let chunk = try stream.readChunk() {
                    for event in parser.feed(chunk) where event.event == "message" {
                        guard let document = try? JSONValue.parse(event.data) else { continue }
                        if let result = try router.handle(document, awaiting: id) { return result }
                    }
                }
                throw RemoteMCPFailure.connection("\(RemoteMCPFailure.displayed(endpoint)) closed the event stream before answering")
            }
            let body = try stream.readAll(maxBody: 16 << 20)
            guard let document = try? JSONValue.parse(body) else {
                throw RemoteMCPFailure.connection("\(RemoteMCPFailure.displayed(endpoint)) did not answer with JSON-RPC (Content-Type '\(contentType)')")
            }
            if let result = try router.handle(document, awaiting: id) { return result }
            throw RemoteMCPFailure.connection("\(RemoteMCPFailure.displayed(endpoint)) answered without a response to request \(id)")
        } catch let error as HTTPClientError {
            throw RemoteMCPFailure(error, endpoint: endpoint)
        } catch let error as RemoteMCPFailure {
            throw error
        } catch {
            throw .connection("\(error)")
        }
    }

    private func post(_ message: JSONObject) throws(RemoteMCPFailure) -> HTTPClientStream {
        var headers = authHeaders + [("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream")]
        if let sessionID { headers.append(("Mcp-Session-Id", sessionID)) }
        if let protocolVersion { headers.append(("MCP-Protocol-Version", protocolVersion)) }
        let request = HTTPClientRequest(method: "POST", url: endpoint, headers: headers, body: JSONRPC.bytes(message),
                                        timeoutMs: try budget.remainingMs())
        do {
            return try HTTPClient.open(request, interrupt: budget.interrupt)
        } catch {
            throw RemoteMCPFailure(error, endpoint: endpoint)
        }
    }

    /// Fire and forget, for answers and cancellations: half a second at most, never interrupted.
    private func postQuietly(_ message: JSONObject) {
        var headers = authHeaders + [("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream")]
        if let sessionID { headers.append(("Mcp-Session-Id", sessionID)) }
        if let protocolVersion { headers.append(("MCP-Protocol-Version", protocolVersion)) }
        _ = try? HTTPClient.fetch(HTTPClientRequest(method: "POST", url: endpoint, headers: headers, body: JSONRPC.bytes(message),
                                                    timeoutMs: 500), maxBody: 64 * 1024)
    }
}

/// The legacy HTTP+SSE transport (2024-11-05): a GET opens an event stream whose first event
/// names the URL to POST messages to; every answer arrives on that stream.
final class LegacySSESession: RemoteMCPSession {
    private let endpoint: String
    private let authHeaders: [(String, String)]
    private let budget: CallBudget
    private let context: any ToolContext
    private var events: HTTPClientStream?
    private var parser = SSEParser()
    private var queued: [SSEEvent] = []
    private var messagesURL = ""
    private var nextID: Int64 = 1

    init(endpoint: String, authHeaders: [(String, String)], budget: CallBudget, context: any ToolContext) {
        self.endpoint = endpoint
        self.authHeaders = authHeaders
        self.budget = budget
        self.context = context
    }

    /// Opens the event stream and waits for the `endpoint` event.
    func open() throws(RemoteMCPFailure) {
        let request = HTTPClientRequest(method: "GET", url: endpoint, headers: authHeaders + [("Accept", "text/event-stream")],
                                        timeoutMs: try budget.remainingMs())
        let stream: HTTPClientStream
        do {
            stream = try HTTPClient.open(request, interrupt: budget.interrupt)
        } catch {
            throw RemoteMCPFailure(error, endpoint: endpoint)
        }
        events = stream
        guard (200..<300).contains(stream.status) else {
            throw RemoteMCPFailure.httpStatus(stream.status, body: (try? stream.readAll(maxBody: 64 * 1024)) ?? [], endpoint: endpoint)
        }
        guard (stream.header("Content-Type") ?? "").lowercased().hasPrefix("text/event-stream") else {
            throw .connection("\(RemoteMCPFailure.displayed(endpoint)) did not open an event stream (Content-Type '\(stream.header("Content-Type") ?? "")')")
        }
        while true {
            let event = try nextEvent()
            guard event.event == "endpoint" else { continue }
            guard let base = URLParts.parse(endpoint), let resolved = base.resolving(event.data) else {
                throw .connection("\(RemoteMCPFailure.displayed(endpoint)) named an unusable message endpoint '\(event.data)'")
            }
            messagesURL = resolved.url
            return
        }
    }

    func negotiated(protocolVersion: String) {}

    func request(_ method: String, params: JSONObject) throws(RemoteMCPFailure) -> JSONObject {
        let id = nextID
        nextID += 1
        let router = MessageRouter(context: context, reply: { [weak self] answer in self?.postQuietly(answer) })
        do {
            try post(JSONRPC.request(id: id, method: method, params: params))
            while true {
                let event = try nextEvent()
                guard event.event == "message", let document = try? JSONValue.parse(event.data) else { continue }
                if let result = try router.handle(document, awaiting: id) { return result }
            }
        } catch .cancelled {
            postQuietly(JSONRPC.notification(method: "notifications/cancelled",
                                             params: JSONObject([("requestId", .int(id)), ("reason", "cancelled by the caller")])))
            throw .cancelled
        }
    }

    func notify(_ method: String, params: JSONObject?) throws(RemoteMCPFailure) {
        try post(JSONRPC.notification(method: method, params: params))
    }

    func close() {
        events?.close()
        events = nil
    }

    private func post(_ message: JSONObject) throws(RemoteMCPFailure) {
        let request = HTTPClientRequest(method: "POST", url: messagesURL,
                                        headers: authHeaders + [("Content-Type", "application/json")],
                                        body: JSONRPC.bytes(message), timeoutMs: try budget.remainingMs())
        let response: HTTPClientResponse
        do {
            response = try HTTPClient.fetch(request, maxBody: 64 * 1024, interrupt: budget.interrupt)
        } catch {
            throw RemoteMCPFailure(error, endpoint: messagesURL)
        }
        guard (200..<300).contains(response.status) else {
            throw RemoteMCPFailure.httpStatus(response.status, body: response.body, endpoint: messagesURL)
        }
    }

    private func postQuietly(_ message: JSONObject) {
        _ = try? HTTPClient.fetch(HTTPClientRequest(method: "POST", url: messagesURL,
                                                    headers: authHeaders + [("Content-Type", "application/json")],
                                                    body: JSONRPC.bytes(message), timeoutMs: 500), maxBody: 64 * 1024)
    }

    private func nextEvent() throws(RemoteMCPFailure) -> SSEEvent {
        while queued.isEmpty {
            guard let events else { throw .connection("the event stream from \(RemoteMCPFailure.displayed(endpoint)) is closed") }
            let chunk: [UInt8]?
            do {
                chunk = try events.readChunk()
            } catch {
                throw RemoteMCPFailure(error, endpoint: endpoint)
            }
            guard let chunk else { throw .connection("\(RemoteMCPFailure.displayed(endpoint)) closed the event stream") }
            queued = parser.feed(chunk)
        }
        return queued.removeFirst()
    }
}
