import HTTP
import JSON
import Pool
import SystemCalls

/// The seed's status values for a call.
public enum CallStatus: String, Sendable {
    case pending, running, finished, error, cancelled

    public var hasEnded: Bool { self == .finished || self == .error || self == .cancelled }
}

/// A call as every surface keeps it: its identity, its status, and (for the execute API's streams)
/// every SSE event it produced, pre-encoded once, so that late and repeated streams replay them
/// without re-encoding. MCP surfaces observe the events instead and keep none.
public final class CallRecord {
    public let id: String
    public let owner: String
    public let tool: String
    public let sessionId: String?
    public let requestId: String?
    let createdAtWallMs: Int64
    public internal(set) var status = CallStatus.pending
    var workerPid: Int32?
    var poolCall: PoolCall?
    /// Whether SSE events are encoded and kept for GET /mcp/stream (the execute API's calls).
    let keepsEvents: Bool
    /// Told every event as it happens, after the record has applied it.
    var observer: ((CallEvent) -> Void)?
    /// Encoded SSE events (`id:`, `event:`, `data:` lines); the last one is terminal once ended.
    private(set) var events: [[UInt8]] = []
    public var streams: [EventStream] = []
    var endedAtMs: Int64 = 0

    init(id: String, owner: String, tool: String, sessionId: String?, requestId: String?, keepsEvents: Bool) {
        self.id = id
        self.owner = owner
        self.tool = tool
        self.sessionId = sessionId
        self.requestId = requestId
        self.keepsEvents = keepsEvents
        self.createdAtWallMs = Clock.wallMillis()
    }

    /// Records an event, sends it to every open stream (a terminal event ends them), then tells
    /// the observer.
    func apply(_ event: CallEvent) {
        switch event {
        case .dispatched(let pid):
            status = .running
            workerPid = pid
        case .partial(let object):
            if keepsEvents { append(name: "partial", data: spliceType("partial", into: object)) }
        case .progress(let object):
            if keepsEvents { append(name: "progress", data: spliceType("progress", into: object)) }
        case .log, .ask:
            // Only MCP surfaces carry these to a client (through the observer).
            break
        case .finished(let object):
            status = .finished
            if keepsEvents { append(name: "final", data: spliceType("final", into: object)) }
        case .failed(let kind, let message):
            status = .error
            if keepsEvents {
                var error = JSONObject([("kind", .string(kind)), ("message", .string(message))])
                // Seed 000: an OpenAI upstream failure is OPENAI_ERROR, a 502 (Bad Gateway) by nature.
                if kind == "openai_error" {
                    error["code"] = "OPENAI_ERROR"
                    error["status"] = 502
                }
                append(name: "error", data: JSONValue.object(JSONObject([("type", "error"), ("error", .object(error))])).serialized())
            }
        case .cancelled(let reason):
            status = .cancelled
            if keepsEvents {
                append(name: "cancelled", data: JSONValue.object(JSONObject([("type", "cancelled"), ("reason", .string(reason))])).serialized())
            }
        }
        if event.isTerminal {
            workerPid = nil
            poolCall = nil
            endedAtMs = Clock.monotonicMillis()
            let open = streams
            streams.removeAll()
            for stream in open { stream.finish() }
        }
        observer?(event)
        if event.isTerminal { observer = nil }
    }

    private func append<Data: Sequence>(name: String, data: Data) where Data.Element == UInt8 {
        var encoded: [UInt8] = []
        encoded.append(contentsOf: "id: \(events.count + 1)\nevent: \(name)\ndata: ".utf8)
        encoded.append(contentsOf: data)
        encoded.append(contentsOf: "\n\n".utf8)
        events.append(encoded)
        for stream in streams where stream.lastEventId < events.count { stream.send(encoded) }
    }

    private func append(name: String, data: String) { append(name: name, data: Array(data.utf8)) }

    /// `{"text":"x"}` from a worker becomes `{"type":"partial","text":"x"}` without parsing it:
    /// the pool has checked that it is a one-line JSON object.
    private func spliceType(_ type: String, into object: [UInt8]) -> [UInt8] {
        var data = Array("{\"type\":\"\(type)\"".utf8)
        let inner = object.dropFirst().dropLast()
        if inner.contains(where: { $0 != 32 && $0 != 9 }) { data.append(UInt8(ascii: ",")) }
        data.append(contentsOf: inner)
        data.append(UInt8(ascii: "}"))
        return data
    }

    /// Events after `lastEventId`, concatenated.
    public func replay(after lastEventId: Int) -> [UInt8] {
        guard lastEventId < events.count else { return [] }
        return events[max(0, lastEventId)...].flatMap { $0 }
    }

    public var statusJSON: JSONValue {
        .object(JSONObject([
            ("call_id", .string(id)),
            ("tool", .string(tool)),
            ("status", .string(status.rawValue)),
            ("session_id", sessionId.map { .string($0) } ?? .null),
            ("request_id", requestId.map { .string($0) } ?? .null),
            ("created_at_ms", .int(createdAtWallMs)),
            ("worker_pid", workerPid.map { .int(Int64($0)) } ?? .null),
        ]))
    }
}

/// One open SSE response (GET /mcp/stream, MCP streams): chunks out, keep-alives, an end.
public final class EventStream {
    public let connection: HTTPConnection
    /// The client's Last-Event-ID: events up to it are neither replayed nor sent live.
    public let lastEventId: Int
    public let openedAtMs: Int64
    public private(set) var lastSentAtMs: Int64
    public var isOpen = true

    public init(connection: HTTPConnection, lastEventId: Int) {
        self.connection = connection
        self.lastEventId = lastEventId
        self.openedAtMs = Clock.monotonicMillis()
        self.lastSentAtMs = openedAtMs
    }

    public func send(_ bytes: [UInt8]) {
        guard isOpen, !bytes.isEmpty else { return }
        connection.sendChunk(bytes)
        lastSentAtMs = Clock.monotonicMillis()
    }

    public func finish() {
        guard isOpen else { return }
        isOpen = false
        connection.onClose = nil
        connection.endStream()
    }
}
