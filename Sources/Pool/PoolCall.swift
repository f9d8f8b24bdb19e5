// Pool: the supervisor's side of the workers. It spawns worker processes (posix_spawn, never
// fork), keeps a PHP-FPM-like dynamic pool warm, queues calls when every worker is busy, enforces
// deadlines and cancellation, and replaces workers that crash, hang or have served enough calls.
// The workers are mcp-worker processes, or the processes of one stdio MCP server (seed 004): the
// same machinery, another channel (WorkerChannel: PacketChannel or StdioChannel).
//
// Invariants:
// - Each PoolCall ends exactly once (`finished`, `failed` or `cancelled` through `onEvent`), whatever
//   happens to its worker; `end` is the only place that emits a terminal event.
// - A worker runs at most `maxConcurrentCallsPerWorker` calls (mcp-worker: one). A cancelled call
//   keeps its place on the worker until the worker acknowledges it, and the worker is stopped when
//   it does not within the grace period.
// - Every call that is pending or running holds a call-table slot; the slot is released when it ends.
// - Every process leads its own process group; stopping a worker signals the whole group.

import Sandbox

/// What the owner of a call hears about it, in order. The last event is always a terminal one.
public enum CallEvent: Sendable {
    /// The call left the queue and runs on this worker.
    case dispatched(workerPid: Int32)
    /// A partial result: a JSON object's bytes, as the worker sent them.
    case partial([UInt8])
    case progress([UInt8])
    /// A log message for the client: {"level","data","logger"?}.
    case log([UInt8])
    /// The tool asks the client something ({"method","params"}); answer with `WorkerPool.answer`.
    case ask([UInt8])
    /// Terminal: the tool's result, a JSON object's bytes.
    case finished([UInt8])
    /// Terminal: seed 004's error kinds (worker_crashed, deadline_exceeded, tool errors ...).
    case failed(kind: String, message: String)
    /// Terminal.
    case cancelled(reason: String)

    public var isTerminal: Bool {
        switch self {
        case .finished, .failed, .cancelled: return true
        default: return false
        }
    }

    /// A terminal event's outcome as the call table and metrics name it: finished, error, cancelled.
    public var outcomeName: String {
        switch self {
        case .finished: return "finished"
        case .failed: return "error"
        case .cancelled: return "cancelled"
        default: return "running"
        }
    }
}

public enum PoolCallState: Sendable { case pending, running, ended }

/// A call as the pool sees it.
public final class PoolCall {
    public let number: UInt64
    public let tool: String
    /// How a configured tool runs (JSON, empty for built-in tools) and its input, kept only until
    /// the call is handed to a worker.
    var spec: [UInt8]
    var input: [UInt8]
    /// Monotonic milliseconds after which the call fails with deadline_exceeded (pending or running).
    public let deadlineMs: Int64
    let tableSlot: Int
    /// The id of the HTTP request that started the call, for log lines (the pool's and the worker's).
    let httpRequestId: String
    public internal(set) var state: PoolCallState = .pending
    weak var worker: Worker?
    let onEvent: (CallEvent) -> Void

    init(number: UInt64, tool: String, spec: [UInt8], input: [UInt8], deadlineMs: Int64, tableSlot: Int,
         httpRequestId: String = "", onEvent: @escaping (CallEvent) -> Void) {
        self.httpRequestId = httpRequestId
        self.number = number
        self.tool = tool
        self.spec = spec
        self.input = input
        self.deadlineMs = deadlineMs
        self.tableSlot = tableSlot
        self.onEvent = onEvent
    }
}

/// What the pool's processes are.
public enum WorkerLauncher: Sendable {
    /// mcp-worker processes speaking WorkerProtocol over a SOCK_SEQPACKET socketpair.
    case mcpWorker
    /// A stdio MCP server (seed 004): newline-delimited JSON-RPC on its stdin and stdout.
    case stdio(StdioLaunch)
}

/// How to start a stdio MCP server: seed 004's `command`, `args`, `env` and `cwd`.
public struct StdioLaunch: Sendable {
    /// The server's id, for logs.
    public var serverId: String
    /// A path, or a name looked up in the PATH the server gets.
    public var command: String
    public var arguments: [String]
    /// Added to PATH, HOME and LANG (taken from mcpd's own environment); these entries win.
    public var environment: [String: String]
    public var workingDirectory: String?
    /// The sandbox the server runs in (see the Sandbox module); the mcp-worker shim applies it.
    public var sandbox = SandboxPolicy.serverDefault

    public init(serverId: String, command: String, arguments: [String] = [], environment: [String: String] = [:],
                workingDirectory: String? = nil, sandbox: SandboxPolicy = .serverDefault) {
        self.serverId = serverId
        self.command = command
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.sandbox = sandbox
    }
}

public struct PoolConfiguration: Sendable {
    /// mcp-worker's path. For `.stdio` pools it is the pre-exec step (`--exec-stdio`) that makes the
    /// server die with the supervisor; empty: the server is spawned directly.
    public var workerExecutable: String
    public var launcher = WorkerLauncher.mcpWorker
    public var minWorkers = 2
    public var maxWorkers = 8
    /// Idle workers kept warm beyond the busy ones (PHP-FPM's min_spare_servers).
    public var spareWorkers = 1
    /// Calls after which a worker is replaced; 0: never.
    public var maxCallsPerWorker = 10_000
    /// Calls one stdio server process runs at once (`concurrent` servers); mcp-worker always runs one.
    public var maxConcurrentCallsPerWorker = 1
    public var queueCapacity = 1024
    /// How long a cancelled call may take to stop before its worker is killed; also how long a
    /// stdio server gets between SIGTERM and SIGKILL, and to exit after its stdin closes.
    public var cancelGraceMs: Int64 = 2000
    /// An idle worker above the target is retired after this long.
    public var idleRetireMs: Int64 = 10_000
    /// A worker that has not said ready after this long is killed (and counts as a crash).
    public var startTimeoutMs: Int64 = 60_000
    /// An mcp-worker whose heartbeat in the call table is older than this is stuck (stopped,
    /// deadlocked, or running a tool that never yields): it is killed and replaced, and its call
    /// ends `worker_stuck` (uWSGI's harakiri, Unicorn's timeout). 0: never. mcp-worker stamps its
    /// heartbeat every second while idle and whenever a tool polls for cancellation.
    public var stuckTimeoutMs: Int64 = 30_000
    /// The largest message a stdio server may send (one JSON-RPC line); more is a protocol violation.
    public var maxMessageBytes = 4 << 20
    /// Whether this pool publishes its queue depth in the call table (the table has one figure:
    /// the main pool's; stdio pools leave it alone).
    public var publishesQueueDepth = true
    /// Passed to workers so that their log lines match the supervisor's.
    public var logLevel = "info"
    /// The sandbox of this pool's processes. `per-call` destroys each process after its call.
    public var sandbox = SandboxPolicy.builtinDefault
    /// Paths a strict sandbox covers with an empty tmpfs: the supervisor's state directory.
    public var hiddenPaths: [String] = []
    /// The delegated cgroup v2 directory workers get their leaves in; nil: rlimits only.
    public var cgroupRoot: String?

    public init(workerExecutable: String) {
        self.workerExecutable = workerExecutable
    }

    /// A pool of one stdio MCP server's processes with contract defaults: 1 to 2 processes, none
    /// spare, never recycled, one call each (set `maxConcurrentCallsPerWorker` for concurrent ones).
    /// `shim` is mcp-worker's path (see `workerExecutable`).
    public init(stdio launch: StdioLaunch, shim: String) {
        self.workerExecutable = shim
        self.launcher = .stdio(launch)
        self.minWorkers = 1
        self.maxWorkers = 2
        self.spareWorkers = 0
        self.maxCallsPerWorker = 0
        self.idleRetireMs = 60_000
        self.publishesQueueDepth = false
        self.sandbox = launch.sandbox
        if launch.sandbox.isPerCall {
            // One call per process, and the next one already warm when a call ends.
            self.maxCallsPerWorker = 1
            self.spareWorkers = 1
        }
    }

    var isStdio: Bool {
        if case .stdio = launcher { return true }
        return false
    }
}

public enum SubmitError: Error, Sendable {
    /// Every worker is busy and the queue is full.
    case queueFull
    /// The pool is shutting down.
    case shuttingDown
}

/// Counts for readiness, STATUS= and metrics.
public struct PoolCounts: Sendable, Equatable {
    public var starting = 0
    public var idle = 0
    public var busy = 0
    /// Workers finishing a cancelled call, or being retired or killed.
    public var stopping = 0
    public var queued = 0

    public var live: Int { idle + busy }
    public var total: Int { starting + idle + busy + stopping }
}
