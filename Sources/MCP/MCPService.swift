import Access
import OAuth
import Calls
import EventLoop
import HTTP
import JSON
import SystemCalls

/// The MCP front door: checks Origin/Host and credentials, then hands each request to its transport.
///   /mcp                          Streamable HTTP (2025-03-26 … 2025-11-25) and stateless 2026-07-28
///   /sse, /messages               the legacy HTTP+SSE transport (2024-11-05)
///   /mcp/{tenant-uuid}[/{session}] seed 003's asynchronous tenant endpoint
public final class MCPService {
    let settings: MCPSettings
    let authenticator: Authenticator
    /// OAuth access tokens, accepted besides the static tokens when --oauth-issuer is set.
    public var oauth: TokenVerifier?
    let calls: CallService
    let methods: Methods
    let sessions: SessionStore
    private var streamable: StreamableHTTPTransport!
    private var legacy: LegacySSETransport!
    var tenant: TenantTransport!
    /// Every open SSE or NDJSON stream, for keep-alives.
    var openStreams: [ObjectIdentifier: KeptAliveStream] = [:]
    /// Open 2026-07-28 subscriptions/listen streams.
    var listeners: [Listener] = []
    /// What server://status said, and which files the resource directory held, when clients were
    /// last told: they hear only of changes.
    private var lastStatusFingerprint = ""
    private var lastResourceFiles: [String]?

    public init(calls: CallService, settings: MCPSettings, authenticator: Authenticator, loop: EventLoop) {
        self.settings = settings
        self.authenticator = authenticator
        self.calls = calls
        self.methods = Methods(calls: calls, settings: settings)
        self.sessions = SessionStore(idleTimeoutMs: settings.sessionIdleTimeoutMs, maxSessions: settings.maxSessions)
        streamable = StreamableHTTPTransport(service: self)
        legacy = LegacySSETransport(service: self)
        tenant = TenantTransport(service: self)
        // An OAuth caller's role comes from the verifier that accepted its token (member).
        methods.role = { [unowned self] owner in self.oauth?.role(of: owner) ?? self.authenticator.role(of: owner) }
        loop.every(milliseconds: 1000) { [unowned self] in self.tick() }
        calls.directory.onToolsChanged { [unowned self] in self.notifyListChanged("tools") }
        calls.directory.onPromptsChanged { [unowned self] in self.notifyListChanged("prompts") }
    }

    /// Live figures for the server://status resource.
    public var statusFigures: () -> JSONObject {
        get { methods.status }
        set { methods.status = newValue }
    }

    /// The management operations offered as tools to admin callers.
    public var adminTools: AdminTools? {
        get { methods.adminTools }
        set { methods.adminTools = newValue }
    }

    public var sessionCount: Int { sessions.count }
    public var openStreamCount: Int { openStreams.count }

    /// Whether a path belongs to MCP (the router sends everything else to the execute API).
    public static func serves(_ path: Substring) -> Bool {
        path == "/mcp" || path == "/sse" || path == "/messages" || TenantTransport.parsePath(path) != nil
    }

    public func handle(_ request: HTTPRequest, on connection: HTTPConnection) {
        let path = request.path
        let isTenant = path != "/mcp" && path != "/sse" && path != "/messages"
        guard originAndHostAllowed(request, connection) else {
            let error = RPCError(code: -32600, message: "Forbidden: the Origin or Host header is not allowed (DNS rebinding protection)")
            return connection.respondRPCError(403, error)
        }
        authorize(request, connection, isTenant: isTenant) { [unowned self] owner in
            switch path {
            case "/mcp": streamable.handle(request, owner: owner, connection: connection)
            case "/sse", "/messages": legacy.handle(request, owner: owner, connection: connection)
            default: tenant.handle(request, owner: owner, connection: connection)
            }
        }
    }

    // MARK: DNS-rebinding protection

    private func originAndHostAllowed(_ request: HTTPRequest, _ connection: HTTPConnection) -> Bool {
        if let origin = request.header("origin") {
            if !settings.allowedOrigins.contains("*") && !settings.allowedOrigins.contains(origin) {
                guard let host = MCPService.host(ofOrigin: origin), MCPService.isLoopbackName(host) else { return false }
            }
        }
        if let hostHeader = request.header("host"), !settings.allowedHosts.contains("*") {
            let host = MCPService.hostName(hostHeader)
            if !MCPService.isLoopbackName(host) && !settings.allowedHosts.contains(host) && !settings.allowedHosts.contains(hostHeader) {
                // A server deliberately exposed beyond loopback serves whatever names reach it.
                if Socket.isLoopback(connection.fd) { return false }
            }
        }
        return true
    }

    /// Checked on every request, so on bytes and without allocating: Character-based splitting
    /// cost ~18k instructions.
    static func isLoopbackName(_ host: String) -> Bool {
        var host = host
        return host.withUTF8 { bytes in
            let localhost = "localhost".utf8
            if ASCII.equalIgnoringCase(bytes, localhost) || bytes.elementsEqual("::1".utf8) || bytes.elementsEqual("[::1]".utf8) {
                return true
            }
            if bytes.count > localhost.count + 1, bytes[bytes.count - localhost.count - 1] == UInt8(ascii: "."),
               ASCII.equalIgnoringCase(bytes[(bytes.count - localhost.count)...], localhost) { return true }
            return isLoopbackDottedQuad(bytes)
        }
    }

    /// 127.0.0.0/8 written as a dotted quad (first part exactly "127", each part 0...255 in at most
    /// three digits), and nothing else: "127.0.0.1.evil.example" is a name.
    private static func isLoopbackDottedQuad(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var dots = 0, value = 0, digits = 0
        for byte in bytes {
            if byte == UInt8(ascii: ".") {
                guard digits > 0, dots > 0 || (value == 127 && digits == 3) else { return false }
                dots += 1
                value = 0
                digits = 0
                continue
            }
            guard byte >= 48 && byte <= 57, digits < 3 else { return false }
            value = value * 10 + Int(byte - 48)
            digits += 1
            guard value <= 255 else { return false }
        }
        return dots == 3 && digits > 0
    }

    /// "http://example.com:8080" → "example.com"; "http://[::1]:80" → "::1".
    static func host(ofOrigin origin: String) -> String? {
        let parts = origin.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].hasSuffix(":"), parts[1].isEmpty else { return nil }
        return hostName(String(parts[2]))
    }

    /// The host part of a Host header or an origin's authority, without port or brackets, lowercased.
    static func hostName(_ authority: String) -> String {
        var authority = authority
        return authority.withUTF8 { all in
            var bytes = all[...]
            if let slash = bytes.firstIndex(of: UInt8(ascii: "/")) { bytes = bytes[..<slash] }
            if bytes.first == UInt8(ascii: "[") {
                guard let close = bytes.firstIndex(of: UInt8(ascii: "]")) else { return String(decoding: bytes, as: UTF8.self) }
                return String(decoding: bytes[(bytes.startIndex + 1)..<close], as: UTF8.self)
            }
            if let colon = bytes.firstIndex(of: UInt8(ascii: ":")) { bytes = bytes[..<colon] }
            guard bytes.contains(where: { $0 >= 65 && $0 <= 90 }) else { return String(decoding: bytes, as: UTF8.self) }
            return String(decoding: bytes.map(ASCII.lowercased), as: UTF8.self)
        }
    }

    // MARK: streams and sessions

    /// Starts an SSE response to the current request, kept alive until it ends.
    func openSSE(on connection: HTTPConnection, extraHeaders: [(String, String)] = []) -> KeptAliveStream {
        connection.beginStream(status: 200, headers: SSE.headers + extraHeaders)
        let kept = KeptAliveStream.sse(EventStream(connection: connection, lastEventId: 0))
        track(kept)
        return kept
    }

    /// Answers an initialize request for a new session on `surface`: the negotiated revision's
    /// result, with the session id in Mcp-Session-Id.
    func startSession(_ object: JSONObject, owner: String, surface: Session.Surface, connection: HTTPConnection) {
        let id = object["id"] ?? .null
        let params = object["params"]?.objectValue ?? JSONObject()
        let revision: ProtocolRevision
        switch Methods.negotiate(params) {
        case .success(let value): revision = value
        case .failure(let error): return connection.respondJSONValue(200, JSONRPCMessage.error(id: id, error))
        }
        guard !sessions.isFull else { return respondTooManySessions(connection, id: id) }
        let session = Session(owner: owner, revision: revision,
                              clientCapabilities: params["capabilities"]?.objectValue ?? JSONObject(),
                              clientInfo: params["clientInfo"]?.objectValue ?? JSONObject(), surface: surface,
                              idPrefix: settings.sessionIdPrefix)
        sessions.insert(session)
        connection.respondJSONValue(200, JSONRPCMessage.result(id: id, methods.initializeResult(revision)),
                                    headers: [(StreamableHTTPTransport.sessionHeader, session.id)])
    }

    func respondTooManySessions(_ connection: HTTPConnection, id: JSONValue = .null) {
        connection.respondRPCError(503, RPCError(code: -32603, message: "Too many sessions; retry later"), id: id,
                                   headers: [("Retry-After", "5")])
    }

    func track(_ stream: KeptAliveStream) {
        let key = ObjectIdentifier(stream)
        openStreams[key] = stream
        let connection = stream.stream.connection
        let previous = connection.onClose
        connection.onClose = { [weak self] in
            self?.openStreams[key] = nil
            stream.stream.isOpen = false
            previous?()
            stream.closed()
        }
    }

    private func tick() {
        let now = Clock.monotonicMillis()
        sessions.expire(now: now, calls: calls)
        listeners.removeAll { !$0.stream.isOpen }
        notifyStatusSubscribers()
        notifyResourceListChanges()
        for (key, kept) in openStreams {
            if !kept.stream.isOpen {
                openStreams[key] = nil
            } else if now - kept.stream.lastSentAtMs >= settings.keepAliveIntervalMs {
                kept.keepAlive()
            }
        }
    }
}

extension MCPService {
    /// server://status changes when workers or calls do: its subscribers hear
    /// notifications/resources/updated (sessions on their GET stream, listeners on theirs).
    func notifyStatusSubscribers() {
        let fingerprint = methods.status().description
        guard fingerprint != lastStatusFingerprint else { return }
        lastStatusFingerprint = fingerprint
        let uri = Catalog.statusURI
        let message = JSONRPCMessage.notification("notifications/resources/updated", JSONObject([("uri", .string(uri))]))
        sessions.forEach { session in
            if session.subscriptions.contains(uri) { session.standalone.append(Array(message.serialized().utf8)) }
        }
        for listener in listeners where listener.resourceURIs.contains(uri) {
            listener.notify("notifications/resources/updated", JSONObject([("uri", .string(uri))]))
        }
    }

    /// Files added to or removed from the resource directory change resources/list: every session
    /// hears notifications/resources/list_changed, and every listener that asked for it.
    func notifyResourceListChanges() {
        guard settings.resourceRoot != nil else { return }
        let files = methods.catalog.resourceFiles()
        defer { lastResourceFiles = files }
        guard let previous = lastResourceFiles, previous != files else { return }
        let message = Array(JSONRPCMessage.notification("notifications/resources/list_changed", JSONObject()).serialized().utf8)
        sessions.forEach { session in
            if session.surface == .streamableHTTP || session.surface == .legacySSE { session.standalone.append(message) }
        }
        for listener in listeners where listener.resourcesListChanged { listener.notify("notifications/resources/list_changed") }
    }
}

extension MCPService {
    /// Tools or prompts were registered, removed, enabled, disabled or redescribed: sessions on
    /// their GET stream and listeners that asked hear notifications/{tools,prompts}/list_changed.
    func notifyListChanged(_ kind: String) {
        let method = "notifications/\(kind)/list_changed"
        let message = Array(JSONRPCMessage.notification(method, JSONObject()).serialized().utf8)
        sessions.forEach { session in
            if session.surface == .streamableHTTP || session.surface == .legacySSE { session.standalone.append(message) }
        }
        for listener in listeners where kind == "tools" ? listener.toolsListChanged : listener.promptsListChanged {
            listener.notify(method)
        }
    }
}

/// An open stream and how to keep it alive (an SSE comment, or seed 003's ping notification).
final class KeptAliveStream {
    let stream: EventStream
    let keepAlive: () -> Void
    /// Told when the client goes away.
    var onClosed: (() -> Void)?

    init(stream: EventStream, keepAlive: @escaping () -> Void) {
        self.stream = stream
        self.keepAlive = keepAlive
    }

    func closed() { onClosed?(); onClosed = nil }

    static func sse(_ stream: EventStream) -> KeptAliveStream {
        KeptAliveStream(stream: stream) { stream.send(Array(": keep-alive\n\n".utf8)) }
    }
}
