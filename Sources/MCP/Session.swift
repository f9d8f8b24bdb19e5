import Calls
import JSON
import SystemCalls

/// One MCP session (2024-11-05 … 2025-11-25): what initialize negotiated, the calls in flight, and
/// the SSE events sent on its streams, kept briefly so that a client can resume with Last-Event-ID.
final class Session {
    let id: String
    let owner: String
    var revision: ProtocolRevision
    var clientCapabilities: JSONObject
    var clientInfo: JSONObject
    /// Which front door created it: a session is only valid on that surface (and tenant).
    let surface: Surface
    var logLevel: LogSeverity? = .info
    /// False for a legacy SSE session until its initialize request arrives.
    var initialized = true
    var lastUsedMs: Int64
    var subscriptions: Set<String> = []
    /// tools/call requests in flight, by the JSON-RPC id's text, for notifications/cancelled.
    var callsInFlight: [String: CallRecord] = [:]
    /// Server-to-client requests awaiting the client's answer, by id.
    var awaitingClient: [String: (JSONValue?, JSONValue?) -> Void] = [:]
    var nextServerRequestId: Int64 = 1
    /// SSE streams of this session (POST responses and the GET stream), by stream number.
    var streams: [Int: StreamLog] = [:]
    private var nextStreamNumber = 1
    /// The standalone GET stream's log is stream 0.
    static let standaloneStream = 0

    enum Surface: Equatable { case streamableHTTP, legacySSE, tenant(String) }

    init(owner: String, revision: ProtocolRevision, clientCapabilities: JSONObject, clientInfo: JSONObject, surface: Surface,
         idPrefix: String) {
        self.id = idPrefix + Random.hexToken(byteCount: 16)
        self.owner = owner
        self.revision = revision
        self.clientCapabilities = clientCapabilities
        self.clientInfo = clientInfo
        self.surface = surface
        self.lastUsedMs = Clock.monotonicMillis()
    }

    func newStream() -> StreamLog {
        let log = StreamLog(number: nextStreamNumber)
        nextStreamNumber += 1
        streams[log.number] = log
        // Keep the logs of the most recent streams only: resumption is for brief disconnections.
        if streams.count > 64, let oldest = streams.keys.filter({ $0 != Session.standaloneStream }).min() {
            streams[oldest] = nil
        }
        return log
    }

    var standalone: StreamLog {
        if let log = streams[Session.standaloneStream] { return log }
        let log = StreamLog(number: Session.standaloneStream)
        streams[Session.standaloneStream] = log
        return log
    }

    func allocateServerRequestId() -> JSONValue {
        defer { nextServerRequestId += 1 }
        return .string("mcpd-\(nextServerRequestId)")
    }

    func declares(_ capability: String) -> Bool { clientCapabilities[capability] != nil }

    /// Told when the session ends, for transports that hold per-session state.
    var onEnd: (() -> Void)?

    /// Cancels whatever runs for this session (DELETE, expiry).
    func end(calls: CallService) {
        onEnd?()
        onEnd = nil
        for record in callsInFlight.values { calls.cancel(record, reason: "the MCP session ended") }
        callsInFlight.removeAll()
        for stream in streams.values { stream.detach() }
        for (_, answer) in awaitingClient { answer(nil, RPCError.internal("the session ended").json) }
        awaitingClient.removeAll()
    }
}

/// The events of one SSE stream, with ids unique in the session ("<stream>-<sequence>"), and the
/// connection currently attached to it, if any.
final class StreamLog {
    let number: Int
    private(set) var events: [(sequence: Int, bytes: [UInt8])] = []
    private var nextSequence = 1
    private(set) var attached: EventStream?
    /// Set once the stream's response has been sent: a resumed stream then ends after replaying.
    private(set) var isComplete = false
    static let retainedEvents = 256

    init(number: Int) { self.number = number }

    func eventId(_ sequence: Int) -> String { "\(number)-\(sequence)" }

    /// Parses "<stream>-<sequence>" from a Last-Event-ID header.
    static func parse(eventId: String) -> (stream: Int, sequence: Int)? {
        let parts = eventId.split(separator: "-")
        guard parts.count == 2, let stream = Int(parts[0]), let sequence = Int(parts[1]) else { return nil }
        return (stream, sequence)
    }

    /// Appends a `message` event (or a priming event when `data` is nil) and sends it if attached.
    func append(_ data: [UInt8]?, retryMs: Int? = nil) {
        var bytes: [UInt8] = []
        bytes.append(contentsOf: "id: \(eventId(nextSequence))\n".utf8)
        if let retryMs { bytes.append(contentsOf: "retry: \(retryMs)\n".utf8) }
        if let data {
            bytes.append(contentsOf: "event: message\ndata: ".utf8)
            bytes.append(contentsOf: data)
            bytes.append(contentsOf: "\n\n".utf8)
        } else {
            bytes.append(contentsOf: "data: \n\n".utf8)
        }
        events.append((nextSequence, bytes))
        nextSequence += 1
        if events.count > StreamLog.retainedEvents { events.removeFirst(events.count - StreamLog.retainedEvents) }
        attached?.send(bytes)
    }

    func attach(_ stream: EventStream, after sequence: Int) {
        attached = stream
        for event in events where event.sequence > sequence { stream.send(event.bytes) }
    }

    /// Attaches a new stream at 2025-11-25: nothing is replayed, and a priming event (an id to
    /// resume from, no data, reconnect after 3 s) is sent first.
    func attachPriming(_ stream: EventStream) {
        attach(stream, after: Int.max)
        append(nil, retryMs: 3000)
    }

    func complete() {
        isComplete = true
        attached?.finish()
        attached = nil
    }

    func detach() {
        attached?.finish()
        attached = nil
    }

    func connectionClosed(_ stream: EventStream) {
        if attached === stream { attached = nil }
    }
}

/// RFC 5424 severities as MCP's logging uses them, least severe first.
enum LogSeverity: Int, Comparable {
    case debug, info, notice, warning, error, critical, alert, emergency

    init?(name: String) {
        switch name {
        case "debug": self = .debug
        case "info": self = .info
        case "notice": self = .notice
        case "warning": self = .warning
        case "error": self = .error
        case "critical": self = .critical
        case "alert": self = .alert
        case "emergency": self = .emergency
        default: return nil
        }
    }

    var name: String {
        switch self {
        case .debug: return "debug"
        case .info: return "info"
        case .notice: return "notice"
        case .warning: return "warning"
        case .error: return "error"
        case .critical: return "critical"
        case .alert: return "alert"
        case .emergency: return "emergency"
        }
    }

    static func < (lhs: LogSeverity, rhs: LogSeverity) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Sessions by id, expiring when idle.
final class SessionStore {
    private var sessions: [String: Session] = [:]
    let idleTimeoutMs: Int64
    let maxSessions: Int

    init(idleTimeoutMs: Int64, maxSessions: Int) {
        self.idleTimeoutMs = idleTimeoutMs
        self.maxSessions = maxSessions
    }

    var count: Int { sessions.count }
    var isFull: Bool { sessions.count >= maxSessions }

    func insert(_ session: Session) { sessions[session.id] = session }

    func forEach(_ body: (Session) -> Void) { sessions.values.forEach(body) }

    /// The session if it exists, belongs to this owner and surface, and has not expired.
    func session(_ id: String, owner: String, surface: Session.Surface) -> Session? {
        guard let session = sessions[id], session.owner == owner, session.surface == surface else { return nil }
        session.lastUsedMs = Clock.monotonicMillis()
        return session
    }

    func remove(_ id: String, calls: CallService) {
        sessions.removeValue(forKey: id)?.end(calls: calls)
    }

    /// Ends sessions idle for longer than the timeout, unless a stream or a call keeps them busy.
    func expire(now: Int64, calls: CallService) {
        for (id, session) in sessions where now - session.lastUsedMs >= idleTimeoutMs {
            let busy = !session.callsInFlight.isEmpty || session.streams.values.contains { $0.attached?.isOpen == true }
            if busy { continue }
            remove(id, calls: calls)
        }
    }
}
