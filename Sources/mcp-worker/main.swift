// mcp-worker: runs tool calls for mcpd, one at a time, in its own process.
//
// Started by the supervisor with posix_spawn, holding exactly two descriptors: its end of a
// SOCK_SEQPACKET socketpair (the worker protocol, see WorkerProtocol/WorkerMessage.swift) and the
// shared call table. It dies with its supervisor: PR_SET_PDEATHSIG when the supervisor dies, and
// end-of-file on the socket when the supervisor closes it (Unicorn's pipe trick).
import CallTable
import CMcpd
import Connectors
import Glibc
import JSON
import Logging
import Sandbox
import SystemCalls
import Tools
import WorkerProtocol

struct WorkerArguments {
    var socketFD: Int32 = -1
    var tableFD: Int32 = -1
    var workerSlot = -1
    var supervisorPid: Int32 = 0
    var logLevel = "info"
    var sandbox = SandboxPolicy.builtinDefault
    var hidden: [String] = []
    var cgroup: String?
    /// The fork server's end of its conversation with the supervisor (ForkServer.swift).
    var controlFD: Int32 = -1

    /// A spawned worker's arguments: its socket, the table, its slot and the supervisor are required.
    static func parse(_ arguments: [String]) -> WorkerArguments? {
        guard let parsed = parseOptions(arguments),
              parsed.socketFD >= 0, parsed.tableFD >= 0, parsed.workerSlot >= 0, parsed.supervisorPid > 0 else { return nil }
        return parsed
    }

    /// The options as given, none required: nil for an unknown option or a missing value.
    static func parseOptions(_ arguments: [String]) -> WorkerArguments? {
        var parsed = WorkerArguments()
        var iterator = arguments.makeIterator()
        while let option = iterator.next() {
            guard let value = iterator.next() else { return nil }
            switch option {
            case "--socket-fd": parsed.socketFD = Int32(value) ?? -1
            case "--table-fd": parsed.tableFD = Int32(value) ?? -1
            case "--worker-slot": parsed.workerSlot = Int(value) ?? -1
            case "--supervisor-pid": parsed.supervisorPid = Int32(value) ?? 0
            case "--log-level": parsed.logLevel = value
            case "--sandbox":
                guard let json = try? JSONValue.parse(value),
                      case .success(let policy) = SandboxPolicy.parse(json, base: .builtinDefault) else { return nil }
                parsed.sandbox = policy
            case "--hide": parsed.hidden.append(value)
            case "--cgroup": parsed.cgroup = value
            case "--control-fd": parsed.controlFD = Int32(value) ?? -1
            default: return nil
            }
        }
        return parsed
    }
}

// Tool processes, this one and a stdio server exec'd from here, run in the batch scheduling class:
// woken by a call, they wait for the CPU rather than preempt the supervisor's event loop that
// handed it over. Under load that preemption cost ~20 % of the supervisor's time (perf). Failure
// (a seccomp filter refusing it) leaves the normal class, which only costs speed.
_ = mcpd_set_batch_scheduling()

// A stdio MCP server's pre-exec step (see ExecShim.swift) never returns from here, nor does a
// per-call pool's fork server (ForkServer.swift).
ExecShim.runIfRequested(CommandLine.arguments)
ForkServer.runIfRequested(CommandLine.arguments)

guard let arguments = WorkerArguments.parse(Array(CommandLine.arguments.dropFirst())) else {
    Descriptor.writeAll(2, """
    mcp-worker runs tool calls for mcpd and is started by it, never by hand.
    USAGE: mcp-worker --socket-fd FD --table-fd FD --worker-slot N --supervisor-pid PID [--log-level LEVEL]
                      [--sandbox POLICY-JSON] [--hide PATH]... [--cgroup DIR]
           mcp-worker --fork-server --control-fd FD --table-fd FD --supervisor-pid PID [--log-level LEVEL]
                      [--sandbox POLICY-JSON] [--hide PATH]...

    """)
    exit(2)
}
Log.component = "mcp-worker"
Log.level = LogLevel(name: arguments.logLevel) ?? .info
becomeWorker(arguments, table: nil)

/// Dies with the supervisor, enters the sandbox and serves calls until the supervisor closes the
/// socket: a worker spawned on its own, or one the fork server forked (which maps the table once
/// for all its children: `table`).
func becomeWorker(_ arguments: WorkerArguments, table mapped: CallTable?) -> Never {
    // Die with the supervisor; and if it is already gone, do not start at all.
    _ = mcpd_set_parent_death_signal(SIGKILL)
    if getppid() != arguments.supervisorPid { exit(1) }
    // Into the sandbox while still single-threaded, before any tool code; only the socket and the
    // table stay open (spawning placed them at their own, low, numbers).
    do {
        if let cgroup = arguments.cgroup { try CgroupDelegation.join(cgroup) }
    } catch {
        Log.error("cannot join the worker cgroup", ["error": error.description])
        exit(1)
    }
    do {
        _ = try SandboxEntry.enter(arguments.sandbox, hidden: arguments.hidden,
                                   closeFrom: max(arguments.socketFD, arguments.tableFD) + 1)
    } catch {
        Log.error("cannot enter the sandbox", ["level": arguments.sandbox.level.rawValue, "error": error.description])
        exit(1)
    }
    mcpd_ignore_sigpipe()

    let table: CallTable
    if let mapped {
        table = mapped
    } else {
        do {
            table = try CallTable.attach(descriptor: arguments.tableFD)
        } catch {
            Log.error("cannot map the call table", ["error": error.description])
            exit(1)
        }
    }
    WorkerRuntime(endpoint: WorkerEndpoint(fd: arguments.socketFD), table: table, slot: arguments.workerSlot).serve()
}

/// The worker's loop: one call at a time until the supervisor closes the socket.
final class WorkerRuntime {
    let endpoint: WorkerEndpoint
    let table: CallTable
    let slot: Int

    init(endpoint: WorkerEndpoint, table: CallTable, slot: Int) {
        self.endpoint = endpoint
        self.table = table
        self.slot = slot
    }

    func serve() -> Never {
        table.stampWorkerHeartbeat(slot: slot)
        guard endpoint.send(WorkerMessage(kind: .ready, callNumber: 0)) else { exit(0) }
        while true {
            switch endpoint.receive(timeoutMs: 1000) {
            case .closed:
                exit(0)
            case .timedOut:
                table.stampWorkerHeartbeat(slot: slot)
            case .message(let message):
                table.stampWorkerHeartbeat(slot: slot)
                if message.kind == .call { run(message) }
                // A cancel for a call that already ended needs no answer.
            }
        }
    }

    private func run(_ message: WorkerMessage) {
        guard let request = CallRequest(decoding: message.payload) else {
            send(error: "worker_protocol", "the call message is malformed", for: message.callNumber)
            return
        }
        let input: JSONValue
        do {
            input = try JSONValue.parse(request.input)
        } catch {
            send(error: "invalid_input", "the input is not valid JSON: \(error.description)", for: message.callNumber)
            return
        }
        // Every line logged while the call runs names the HTTP request it came from.
        Log.context = request.requestId.isEmpty ? [] : [("request_id", request.requestId)]
        defer { Log.context = [] }
        Log.debug("call started", ["tool": request.tool])
        let context = CallContext(runtime: self, callNumber: message.callNumber, tableSlot: Int(request.tableSlot))
        let outcome: ToolOutcome
        if !request.spec.isEmpty {
            guard let spec = (try? JSONValue.parse(request.spec))?.objectValue else {
                send(error: "worker_protocol", "the call's spec is not a JSON object", for: message.callNumber)
                return
            }
            outcome = Connectors.run(spec: spec, tool: request.tool, input: input, context: context)
        } else {
            outcome = ConformanceTools.handles(request.tool)
                ? ConformanceTools.run(tool: request.tool, input: input, context: context)
                : BuiltinTools.run(tool: request.tool, input: input, context: context)
        }
        Log.debug("call ended", ["tool": request.tool, "outcome": outcome.name])
        switch outcome {
        case .result(let fields):
            var payload: [UInt8] = []
            JSONValue.object(fields).write(into: &payload)
            endpoint.send(WorkerMessage(kind: .result, callNumber: message.callNumber, payload: payload))
        case .failure(let kind, let text):
            send(error: kind, text, for: message.callNumber)
        case .cancelled:
            endpoint.send(WorkerMessage(kind: .cancelled, callNumber: message.callNumber))
        }
    }

    private func send(error kind: String, _ text: String, for callNumber: UInt64) {
        let payload = JSONValue.object(JSONObject([("kind", .string(kind)), ("message", .string(text))])).serialized()
        endpoint.send(WorkerMessage(kind: .error, callNumber: callNumber, payload: Array(payload.utf8)))
    }
}

/// The running call's view of the world: partial events out, cancellation in.
final class CallContext: ToolContext {
    private unowned let runtime: WorkerRuntime
    let callNumber: UInt64
    let tableSlot: Int
    let epochAtStart: UInt64
    private(set) var isCancelled = false
    private var lastHeartbeatMs = Clock.monotonicMillis()

    init(runtime: WorkerRuntime, callNumber: UInt64, tableSlot: Int) {
        self.runtime = runtime
        self.callNumber = callNumber
        self.tableSlot = tableSlot
        self.epochAtStart = runtime.table.cancelEpoch
    }

    func emitPartial(_ fields: JSONObject) { send(.partial, fields) }

    func emitProgress(_ fields: JSONObject) { send(.progress, fields) }

    func emitLog(level: String, data: JSONValue, logger: String?) {
        var fields = JSONObject([("level", .string(level)), ("data", data)])
        if let logger { fields["logger"] = .string(logger) }
        send(.log, fields)
    }

    private func send(_ kind: WorkerMessage.Kind, _ fields: JSONObject) {
        var payload: [UInt8] = []
        JSONValue.object(fields).write(into: &payload)
        if !runtime.endpoint.send(WorkerMessage(kind: kind, callNumber: callNumber, payload: payload)) { exit(0) }
    }

    func askClient(method: String, params: JSONObject) -> ClientAnswer {
        if isCancelled { return .cancelled }
        send(.ask, JSONObject([("method", .string(method)), ("params", .object(params))]))
        while true {
            beat(now: Clock.monotonicMillis())
            switch runtime.endpoint.receive(timeoutMs: 1000) {
            case .closed:
                exit(0)
            case .message(let message) where message.callNumber == callNumber && message.kind == .cancel:
                isCancelled = true
                return .cancelled
            case .message(let message) where message.callNumber == callNumber && message.kind == .answer:
                guard let answer = (try? JSONValue.parse(message.payload))?.objectValue else { return .error("malformed answer") }
                if let result = answer["result"] { return .result(result) }
                return .error(answer["error"]?["message"]?.stringValue ?? "the client refused")
            case .message, .timedOut:
                let table = runtime.table
                if table.isCancelRequested(slot: tableSlot) || table.cancelEpoch != epochAtStart {
                    isCancelled = true
                    return .cancelled
                }
            }
        }
    }

    func pollCancellation() -> Bool {
        if isCancelled { return true }
        beat(now: Clock.monotonicMillis())
        while true {
            switch runtime.endpoint.receive(timeoutMs: 0) {
            case .closed:
                exit(0)
            case .message(let message) where message.kind == .cancel && message.callNumber == callNumber:
                isCancelled = true
                return true
            case .message:
                continue
            case .timedOut:
                let table = runtime.table
                if table.isCancelRequested(slot: tableSlot) || table.cancelEpoch != epochAtStart { isCancelled = true }
                return isCancelled
            }
        }
    }

    func waitForCancellation(milliseconds: Int) -> Bool {
        let deadline = Clock.monotonicMillis() + Int64(milliseconds)
        while !isCancelled {
            let now = Clock.monotonicMillis()
            if now >= deadline { break }
            beat(now: now)
            switch runtime.endpoint.receive(timeoutMs: Int(min(deadline - now, 1000))) {
            case .closed:
                exit(0)
            case .message(let message) where message.kind == .cancel && message.callNumber == callNumber:
                isCancelled = true
            case .message, .timedOut:
                // The supervisor's cancel flag and the operator's cancel epoch in shared memory count too.
                let table = runtime.table
                if table.isCancelRequested(slot: tableSlot) || table.cancelEpoch != epochAtStart { isCancelled = true }
            }
        }
        return isCancelled
    }

    private func beat(now: Int64) {
        guard now - lastHeartbeatMs >= 1000 else { return }
        lastHeartbeatMs = now
        runtime.table.stampWorkerHeartbeat(slot: runtime.slot)
        _ = runtime.endpoint.send(WorkerMessage(kind: .heartbeat, callNumber: callNumber))
    }
}
