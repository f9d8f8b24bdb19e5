// Calls: the one way every surface (seed 000's execute API, MCP on /mcp, /sse and the tenant
// endpoint) starts, tracks and cancels tool calls. Each call is a CallRecord in one CallStore, runs
// through the one WorkerPool and holds a slot in the shared call table, so `mcpctl status`,
// cancel_all and draining see every call whichever surface started it.
import JSON
import Pool
import RateLimit
import SystemCalls
import Tools

/// Where the supervisor is in its life: readiness probes and admission depend on it.
public enum ServerPhase: Sendable { case starting, ready, draining }

/// The front door a call came through, for metrics.
public enum CallSurface: String, Sendable {
    /// Seed 000's POST /mcp/execute.
    case execute
    /// MCP tools/call on any transport.
    case mcp
    /// Seed 001's call_tool.
    case composer
    /// Seed 002's POST /v1/mcp/invoke.
    case registry
}

public enum StartFailure: Error, Sendable {
    /// Every worker is busy and the queue is full.
    case overloaded
    /// The server is draining and accepts no new call.
    case draining
    /// The tool's server has no pool (it was removed or deactivated meanwhile).
    case unavailable
    /// The tool's own rate limit refused the call (HTTP 429, with the outcome's headers).
    case rateLimited(RateLimitOutcome)
}

public final class CallService {
    /// The mcp-worker pool: built-in tools and every tool kind that needs outbound HTTP.
    public let pool: WorkerPool
    /// The pools of stdio MCP servers, by server id.
    public var serverPools: [String: WorkerPool] = [:]
    public let store = CallStore()
    public let directory: Directory
    /// Hears how every call ended, how long it took (microseconds), where it came from and whose
    /// it was (the registry's statistics, the metrics).
    public var onCallEnded: ((ToolDefinition, CallEvent, Int64, CallSurface, String) -> Void)?
    private let defaultDeadlineSeconds: Double
    /// Per-tool deadlines from the command line, overriding the tools' own.
    private let toolDeadlines: [String: Double]
    public var phase: ServerPhase = .starting
    /// Checks a tool's own rate limit for the calling owner as a call starts; a refusal (allowed
    /// false) ends the start with `.rateLimited`. Set by the supervisor when limits are on.
    public var admitCall: ((ToolDefinition, String) -> RateLimitOutcome?)?
    /// Hears each call refused by its tool's rate limit, with the surface it came through (metrics).
    public var onCallRateLimited: ((CallSurface) -> Void)?

    public init(pool: WorkerPool, directory: Directory, defaultDeadlineSeconds: Double, toolDeadlines: [String: Double]) {
        self.pool = pool
        self.directory = directory
        self.defaultDeadlineSeconds = defaultDeadlineSeconds
        self.toolDeadlines = toolDeadlines
    }

    /// The tools a tenant sees, in the order they are listed.
    public func tools(for tenant: String) -> [ToolDefinition] { directory.tools(for: tenant) }

    public func tool(named name: String, tenant: String) -> ToolDefinition? { directory.tool(named: name, tenant: tenant) }

    public func deadline(for tool: ToolDefinition) -> Double {
        toolDeadlines[tool.name] ?? tool.deadlineSeconds ?? defaultDeadlineSeconds
    }

    public var activeCount: Int { store.activeCount }

    /// The owner as the call table shows it (32 bytes, for `mcpctl status`): "name@tenant", the
    /// credential's name first so that a long tenant id (a UUID) is what gets cut, not the name.
    static func tableOwner(_ owner: String) -> String {
        guard let slash = owner.utf8.firstIndex(of: UInt8(ascii: "/")) else { return owner }
        return String(owner[owner.index(after: slash)...]) + "@" + String(owner[..<slash])
    }

    /// Starts a call whose input has already passed the tool's schema. The observer hears every
    /// event, possibly before this returns (an idle worker may take the call at once).
    /// `httpRequestId` is the HTTP request's id (X-Request-Id), carried to the worker for its logs;
    /// `requestId` is seed 000's idempotency key. `inputBytes`, when given, is `input` as it arrived
    /// (DESIGN: arguments travel to the worker as the raw bytes they came as); else it is written.
    public func start(tool: ToolDefinition, input: JSONValue, inputBytes: ArraySlice<UInt8>? = nil, owner: String,
                      surface: CallSurface, httpRequestId: String,
                      sessionId: String? = nil, requestId: String? = nil, keepsEvents: Bool, canAskClient: Bool = false,
                      observer: ((CallEvent) -> Void)? = nil) -> Result<CallRecord, StartFailure> {
        guard phase != .draining else { return .failure(.draining) }
        if let outcome = admitCall?(tool, owner), !outcome.allowed {
            onCallRateLimited?(surface)
            return .failure(.rateLimited(outcome))
        }
        let record = CallRecord(id: Random.uuid(), owner: owner, tool: tool.name, sessionId: sessionId,
                                requestId: requestId, keepsEvents: keepsEvents)
        record.observer = observer
        var bytes: [UInt8]
        if let inputBytes {
            bytes = Array(inputBytes)
        } else {
            bytes = []
            input.write(into: &bytes)
        }
        let route = tool.route
        let targetPool: WorkerPool
        if let server = route.serverPool {
            guard let serverPool = serverPools[server] else { return .failure(.unavailable) }
            targetPool = serverPool
        } else {
            targetPool = pool
        }
        let startedMicros = Clock.monotonicMicros()
        let submitted = targetPool.submit(tool: route.upstreamName, spec: route.spec, input: bytes, callId: record.id,
                                          owner: CallService.tableOwner(owner), httpRequestId: httpRequestId,
                                          deadlineSeconds: deadline(for: tool)) { [unowned self, unowned record] event in
            record.apply(event)
            if event.isTerminal {
                self.store.markEnded(record)
                self.onCallEnded?(tool, event, Clock.monotonicMicros() - startedMicros, surface, owner)
            }
            if case .ask = event, !canAskClient {
                self.answer(record, error: "this tool needs to ask the client, which is not possible through this API")
            }
        }
        switch submitted {
        case .success(let poolCall):
            // A call handed to an idle worker may already be running, or even over.
            if !record.status.hasEnded { record.poolCall = poolCall }
            store.insert(record)
            if record.status.hasEnded { store.markEnded(record) }
            return .success(record)
        case .failure(.queueFull):
            return .failure(.overloaded)
        case .failure(.shuttingDown):
            return .failure(.draining)
        }
    }

    /// Answers the tool's pending question (a client request such as sampling) with a result.
    public func answer(_ record: CallRecord, result: JSONValue) {
        guard let poolCall = record.poolCall else { return }
        pool.answer(poolCall, payload: Array(JSONValue.object(JSONObject([("result", result)])).serialized().utf8))
    }

    /// Answers the tool's pending question with an error.
    public func answer(_ record: CallRecord, error message: String, code: Int64 = -32603) {
        guard let poolCall = record.poolCall else { return }
        let error = JSONObject([("code", .int(code)), ("message", .string(message))])
        pool.answer(poolCall, payload: Array(JSONValue.object(JSONObject([("error", .object(error))])).serialized().utf8))
    }

    /// Asks the call's worker to stop; the call then ends with `cancelled` (or whatever came first).
    public func cancel(_ record: CallRecord, reason: String) {
        if let poolCall = record.poolCall { pool.cancel(poolCall, reason: reason) }
    }

    /// Cancels every running or queued call of this owner; returns the ids of those now cancelled.
    public func cancelAll(owner: String, reason: String) -> [String] {
        var cancelled: [String] = []
        for call in store.activeCalls(owner: owner) {
            cancel(call, reason: reason)
            if call.status == .cancelled { cancelled.append(call.id) }
        }
        return cancelled
    }
}
