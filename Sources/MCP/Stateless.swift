import Calls
import HTTP
import JSON
import SystemCalls

/// The stateless 2026-07-28 revision on /mcp. No initialize and no session: every request carries
/// its revision, client capabilities and client info in `params._meta`, mirrored in headers that
/// must agree with the body. Checked in this order, the first failure answering 400:
/// `_meta` envelope (-32602), headers (-32020), supported revision (-32022); then an unknown or
/// removed method is 404 with -32601. Results carry `resultType`, and list/read results a cache
/// hint. Closing a request's stream cancels its call.
final class StatelessHandler {
    unowned let service: MCPService

    init(service: MCPService) { self.service = service }

    static let protocolVersionKey = "io.modelcontextprotocol/protocolVersion"
    static let clientCapabilitiesKey = "io.modelcontextprotocol/clientCapabilities"
    static let clientInfoKey = "io.modelcontextprotocol/clientInfo"
    static let logLevelKey = "io.modelcontextprotocol/logLevel"
    static let subscriptionIdKey = "io.modelcontextprotocol/subscriptionId"
    static let serverInfoKey = "io.modelcontextprotocol/serverInfo"
    /// Which parameter the Mcp-Name header mirrors, for the methods that have one. Told apart by
    /// length first: this runs on every request, and a dictionary hashed the method each time.
    static func nameBearingParameter(of method: String) -> String? {
        switch method.utf8.count {
        case 10: method == "tools/call" ? "name" : nil
        case 11: method == "prompts/get" ? "name" : nil
        case 14: method == "resources/read" ? "uri" : nil
        default: nil
        }
    }

    /// A request is stateless when it names a revision past the sessionful ones, in its header or
    /// in its body's `_meta`, and carries no session.
    static func applies(to request: HTTPRequest) -> Bool {
        if request.header("mcp-session-id") != nil { return false }
        if let version = request.header("mcp-protocol-version") { return isModern(version) }
        guard request.method == "POST" else { return false }
        // Without the header, look for the envelope key in the body (cheaply, before parsing).
        return request.body.count < 1 << 20 && contains(request.body, Array(protocolVersionKey.utf8))
            || contains(request.body.prefix(256), Array("\"server/discover\"".utf8))
    }

    static func isModern(_ version: String) -> Bool { version >= ProtocolRevision.v2026_07_28.rawValue }

    /// Whether `needle` occurs in `haystack`, without copying either.
    private static func contains<C: Collection>(_ haystack: C, _ needle: [UInt8]) -> Bool where C.Element == UInt8 {
        guard let first = needle.first else { return false }
        var start = haystack.startIndex
        while let found = haystack[start...].firstIndex(of: first) {
            if haystack[found...].starts(with: needle) { return true }
            start = haystack.index(after: found)
        }
        return false
    }

    func handle(_ request: HTTPRequest, owner: String, connection: HTTPConnection) {
        guard request.method == "POST" else {
            return connection.respondRPCError(405, RPCError(code: -32600, message: "Method not allowed: protocol 2026-07-28 is stateless; only POST is served"),
                                              headers: [("Allow", "POST")])
        }
        let body: JSONValue
        let argumentsRange: Range<Int>?
        do {
            (body, argumentsRange) = try JSONValue.parseMessage(request.body)
        } catch {
            return connection.respondRPCError(400, .parse(error.description))
        }
        if case .array = body {
            return connection.respondRPCError(400, .invalidRequest("JSON-RPC batches are not supported by protocol 2026-07-28"))
        }
        let message: JSONRPCMessage
        switch JSONRPCMessage.parse(body) {
        case .failure(let invalid): return connection.respondRPCError(400, invalid.error, id: invalid.id)
        case .success(let parsed): message = parsed
        }
        guard case .request(let id, let method, let params) = message else {
            // Notifications and responses have nothing to attach to without a session.
            return connection.respondEmpty(202)
        }
        // 1. The envelope.
        guard let meta = params["_meta"]?.objectValue, let versionValue = meta[StatelessHandler.protocolVersionKey],
              let capabilities = meta[StatelessHandler.clientCapabilitiesKey] else {
            return connection.respondRPCError(400, .invalidParams("params._meta must carry '\(StatelessHandler.protocolVersionKey)' and '\(StatelessHandler.clientCapabilitiesKey)'"), id: id)
        }
        guard let version = versionValue.stringValue, let capabilityObject = capabilities.objectValue else {
            return connection.respondRPCError(400, .invalidParams("the protocol version must be a string and the client capabilities an object"), id: id)
        }
        // 2. Headers agree with the body.
        guard request.header("mcp-protocol-version") == version else {
            return connection.respondRPCError(400, .headerMismatch("MCP-Protocol-Version header does not match the request's protocol version"), id: id)
        }
        guard request.header("mcp-method") == method else {
            return connection.respondRPCError(400, .headerMismatch("Mcp-Method header does not match the request's method"), id: id)
        }
        if let key = StatelessHandler.nameBearingParameter(of: method), let expected = params[key]?.stringValue,
           StatelessHandler.decodeHeader(request.header("mcp-name")) != expected {
            return connection.respondRPCError(400, .headerMismatch("Mcp-Name header does not match the request's '\(key)'"), id: id)
        }
        // 3. A revision we speak.
        guard let revision = ProtocolRevision(rawValue: version), revision.isStateless else {
            return connection.respondRPCError(400, .unsupportedVersion(version), id: id)
        }
        // 4. A method that exists at this revision.
        guard Methods.exists(method, in: revision) else {
            return connection.respondRPCError(404, .methodNotFound(method), id: id)
        }
        let logLevel = meta[StatelessHandler.logLevelKey]?.stringValue.flatMap(LogSeverity.init(name:))
        var context = RequestContext(revision: revision, owner: owner, session: nil, clientCapabilities: capabilityObject,
                                     logLevel: logLevel)
        context.httpRequestId = connection.requestId
        context.rawArguments = argumentsRange.map { request.body[$0] }
        switch method {
        case "server/discover":
            var result = JSONObject([("supportedVersions", .array([.string(ProtocolRevision.v2026_07_28.rawValue)])),
                                     ("capabilities", .object(service.methods.capabilities(for: revision))),
                                     ("instructions", .string(service.settings.instructions))])
            result = StatelessHandler.stamp(result, method: method, service: service)
            connection.respondJSONValue(200, JSONRPCMessage.result(id: id, result))
        case "subscriptions/listen":
            guard request.accepts("text/event-stream") else {
                return connection.respondRPCError(406, RPCError(code: -32600, message: "Not Acceptable: subscriptions/listen answers with text/event-stream"), id: id)
            }
            listen(id: id, params: params, connection: connection)
        default:
            let reply = StatelessReply(connection: connection, acceptsSSE: request.accepts("text/event-stream"),
                                       service: service, method: method)
            service.methods.handle(id: id, method: method, params: params, context: context, reply: reply)
        }
    }

    /// Mcp-Name values that are not visible ASCII arrive as =?base64?…?=.
    static func decodeHeader(_ value: String?) -> String? {
        guard let value else { return nil }
        guard value.hasPrefix("=?base64?"), value.hasSuffix("?=") else { return value }
        let payload = value.dropFirst("=?base64?".count).dropLast(2)
        guard let bytes = Base64.decode(String(payload)) else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }

    /// Methods whose results carry a cache hint.
    private static func hasCacheHint(_ method: String) -> Bool {
        switch method {
        case "tools/list", "prompts/list", "resources/list", "resources/templates/list", "resources/read", "server/discover":
            return true
        default:
            return false
        }
    }

    /// Whether `stamp` would only add `Methods.completeResultStamp`'s members to `result`.
    static func takesCompleteStamp(_ result: JSONObject, method: String) -> Bool {
        !hasCacheHint(method) && result["resultType"] == nil && result["_meta"] == nil
    }

    /// Every 2026-07-28 result says it is complete and who answered; list and read results add a
    /// cache hint. Lists are the same for every caller of a tenant, so "private" scope.
    static func stamp(_ result: JSONObject, method: String, service: MCPService) -> JSONObject {
        var stamped = result
        stamped["resultType"] = stamped["resultType"] ?? "complete"
        var meta = stamped["_meta"]?.objectValue ?? JSONObject()
        meta[serverInfoKey] = method == "server/discover" ? service.methods.serverInfo(for: .v2026_07_28) : service.methods.briefServerInfo
        stamped["_meta"] = .object(meta)
        if hasCacheHint(method) {
            stamped["ttlMs"] = .int(method == "resources/read" ? 0 : 60_000)
            stamped["cacheScope"] = "private"
        }
        return stamped
    }

    /// subscriptions/listen: an SSE stream that acknowledges the filter, then carries the
    /// notifications it selected until the client closes it.
    private func listen(id: JSONValue, params: JSONObject, connection: HTTPConnection) {
        let filter = params["notifications"]?.objectValue ?? JSONObject()
        // The client matches the acknowledgement to its request by this id: the request's own, same JSON type.
        let subscriptionId = id
        let stream = service.openSSE(on: connection).stream
        var acknowledged = JSONObject()
        for key in ["toolsListChanged", "promptsListChanged", "resourcesListChanged"] where filter[key]?.boolValue == true {
            acknowledged[key] = true
        }
        if let uris = filter["resourceSubscriptions"]?.arrayValue { acknowledged["resourceSubscriptions"] = .array(uris) }
        let notification = JSONRPCMessage.notification("notifications/subscriptions/acknowledged", JSONObject([
            ("_meta", .object(JSONObject([(StatelessHandler.subscriptionIdKey, subscriptionId)]))),
            ("notifications", .object(acknowledged)),
        ]))
        stream.send(Array("event: message\ndata: \(notification.serialized())\n\n".utf8))
        service.listeners.append(Listener(stream: stream, subscriptionId: subscriptionId,
                                          resourceURIs: Set((filter["resourceSubscriptions"]?.arrayValue ?? []).compactMap(\.stringValue)),
                                          resourcesListChanged: filter["resourcesListChanged"]?.boolValue == true,
                                          toolsListChanged: filter["toolsListChanged"]?.boolValue == true,
                                          promptsListChanged: filter["promptsListChanged"]?.boolValue == true))
    }
}

/// An open subscriptions/listen stream and what it asked to hear.
struct Listener {
    let stream: EventStream
    let subscriptionId: JSONValue
    let resourceURIs: Set<String>
    let resourcesListChanged: Bool
    let toolsListChanged: Bool
    let promptsListChanged: Bool

    /// Sends a notification stamped with the subscription's id, as the client matches them by it.
    func notify(_ method: String, _ params: JSONObject = JSONObject()) {
        var stamped = params
        stamped["_meta"] = .object(JSONObject([(StatelessHandler.subscriptionIdKey, subscriptionId)]))
        stream.send(Array("event: message\ndata: \(JSONRPCMessage.notification(method, stamped).serialized())\n\n".utf8))
    }
}

/// A stateless request's answer: JSON, or SSE once a notification precedes the result; the
/// result is stamped for 2026-07-28, and a client that closes the connection cancels the call.
final class StatelessReply: Reply {
    private weak var connection: HTTPConnection?
    private let acceptsSSE: Bool
    private unowned let service: MCPService
    private let method: String
    private var stream: EventStream?
    private var done = false
    private var abortHandler: (() -> Void)?

    init(connection: HTTPConnection, acceptsSSE: Bool, service: MCPService, method: String) {
        self.connection = connection
        self.acceptsSSE = acceptsSSE
        self.service = service
        self.method = method
    }

    func onAbort(_ handler: @escaping () -> Void) {
        abortHandler = handler
        connection?.onClose = { [weak self] in self?.connectionClosed() }
    }

    private func connectionClosed() {
        guard !done else { return }
        done = true
        let handler = abortHandler
        abortHandler = nil
        handler?()
    }

    func send(_ message: JSONValue) {
        guard !done, acceptsSSE, let connection, connection.isOpen else { return }
        if stream == nil {
            let kept = service.openSSE(on: connection)
            stream = kept.stream
            kept.onClosed = { [weak self] in self?.connectionClosed() }
        }
        stream?.send(Array("event: message\ndata: \(message.serialized())\n\n".utf8))
    }

    func finish(_ response: JSONValue) {
        guard !done else { return }
        done = true
        abortHandler = nil
        var message = response
        var status = 200
        if stream == nil, case .object(let object) = response, let id = object["id"],
           let result = object["result"]?.objectValue, StatelessHandler.takesCompleteStamp(result, method: method) {
            return respondStamped(id: id, result: result)
        }
        if case .object(var object) = response, let result = object["result"]?.objectValue {
            // An input_required result is not cacheable and carries no cache hint.
            if result["resultType"]?.stringValue == "input_required" {
                var stamped = result
                stamped["_meta"] = .object(JSONObject([(StatelessHandler.serverInfoKey, service.methods.briefServerInfo)]))
                object["result"] = .object(stamped)
            } else {
                object["result"] = .object(StatelessHandler.stamp(result, method: method, service: service))
            }
            message = .object(object)
        } else if let code = response["error"]?["code"]?.intValue {
            status = RPCError(code: Int(code), message: "").httpStatus
        }
        if let stream {
            stream.send(Array("event: message\ndata: \(message.serialized())\n\n".utf8))
            stream.finish()
        } else if let connection, connection.isOpen {
            connection.onClose = nil
            connection.respondJSONValue(status, message)
        }
    }

    /// The JSON-RPC response for `result` with the complete stamp's members written after its own,
    /// the bytes `StatelessHandler.stamp` and a serialization would give.
    private func respondStamped(id: JSONValue, result: JSONObject) {
        guard let connection, connection.isOpen else { return }
        connection.onClose = nil
        var body: [UInt8] = []
        body.reserveCapacity(512)
        JSONRPCMessage.writeResult(id: id, result, extraMembers: service.methods.completeResultStamp, into: &body)
        connection.respond(status: 200, headers: [("Content-Type", "application/json")], body: body)
    }

    func finishToolCall(id: JSONValue, workerResult: [UInt8], revision: ProtocolRevision) {
        // A result already serialized takes the complete stamp as bytes (tools/call results carry
        // no cache hint); on a stream, `finish` stamps.
        guard stream == nil, let text = ToolResults.soleText(workerResult) else {
            return finish(JSONRPCMessage.result(id: id, ToolResults.success(workerResult, revision: revision)))
        }
        guard !done else { return }
        done = true
        abortHandler = nil
        guard let connection, connection.isOpen else { return }
        connection.onClose = nil
        let body = ToolResults.textResponse(id: id, text, of: workerResult, extraMembers: service.methods.completeResultStamp)
        connection.respond(status: 200, headers: [("Content-Type", "application/json")], body: body)
    }

    func finishRefused(_ response: JSONValue, status: Int, headers: [(String, String)]) {
        guard !done, stream == nil, let connection, connection.isOpen else { return finish(response) }
        done = true
        abortHandler = nil
        connection.onClose = nil
        connection.respondJSONValue(status, response, headers: headers)
    }

    func abandon() {
        guard !done else { return }
        done = true
        abortHandler = nil
        if let stream { stream.finish() } else if let connection, connection.isOpen {
            // Nothing may answer a cancelled request; the HTTP exchange still needs an end.
            connection.onClose = nil
            connection.beginStream(status: 200, headers: SSE.headers)
            connection.endStream()
        }
    }
}
