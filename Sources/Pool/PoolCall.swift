// Pool: the supervisor's side of the workers. It spawns mcp-worker processes (posix_spawn, never
// fork), keeps a PHP-FPM-like dynamic pool warm, queues calls when every worker is busy, enforces
// deadlines and cancellation, and replaces workers that crash, hang or have served enough calls.
//
// Invariants:
// - Each PoolCall ends exactly once (`finished`, `failed` or `cancelled` through `onEvent`), whatever
//   happens to its worker; `end` is the only place that emits a terminal event.
// - A worker runs at most one call. After a cancel it is not reused until it acknowledges, and it is
//   killed when it does not within the grace period.
// - Every call that is pending or running holds a call-table slot; the slot is released when it ends.

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
    public internal(set) var state: PoolCallState = .pending
    weak var worker: Worker?
    let onEvent: (CallEvent) -> Void

    init(number: UInt64, tool: String, spec: [UInt8], input: [UInt8], deadlineMs: Int64, tableSlot: Int,
         onEvent: @escaping (CallEvent) -> Void) {
        self.number = number
        self.tool = tool
        self.spec = spec
        self.input = input
        self.deadlineMs = deadlineMs
        self.tableSlot = tableSlot
        self.onEvent = onEvent
    }
}

public struct PoolConfiguration: Sendable {
    public var workerExecutable: String
    public var minWorkers = 2
    public var maxWorkers = 8
    /// Idle workers kept warm beyond the busy ones (PHP-FPM's min_spare_servers).
    public var spareWorkers = 1
    public var maxCallsPerWorker = 1000
    public var queueCapacity = 1024
    public var cancelGraceMs: Int64 = 2000
    /// An idle worker above the target is retired after this long.
    public var idleRetireMs: Int64 = 10_000
    /// Passed to workers so that their log lines match the supervisor's.
    public var logLevel = "info"

    public init(workerExecutable: String) {
        self.workerExecutable = workerExecutable
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
