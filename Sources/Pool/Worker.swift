import CallTable
import SystemCalls
import WorkerProtocol

/// How the supervisor talks to one worker process. Whatever the wire (WorkerProtocol datagrams to
/// mcp-worker, JSON-RPC lines to a stdio MCP server), a channel speaks WorkerMessage to the pool:
/// it takes `call`, `cancel` and `answer` messages, and hands the pool `ready`, `progress`, `log`,
/// `result`, `error` ... through `WorkerPool.received`, or reports `protocolViolation` and
/// `workerChannelClosed`.
protocol WorkerChannel: AnyObject {
    /// Registers on the loop and starts the conversation.
    func open() throws(SystemError)
    func send(_ message: WorkerMessage)
    /// Closes the supervisor's end; the process reads end-of-file and should exit.
    func close()
    /// Asks a process that has been silent for a while for a sign of life (see StdioChannel).
    func keepAlive(nowMs: Int64)
}

extension WorkerChannel {
    /// mcp-worker stamps its own heartbeat in the call table: nothing to ask.
    func keepAlive(nowMs: Int64) {}
}

/// One worker process, as the supervisor sees it: its pid, its channel, the calls it runs and
/// where it is in its life.
final class Worker {
    enum State: Equatable {
        /// Spawned; has not said `ready` yet.
        case starting(sinceMs: Int64)
        /// Takes calls up to its capacity.
        case serving
        /// Asked to exit (channel closed); terminated if it is still there after the grace period.
        case retiring(sinceMs: Int64)
        /// SIGTERMed (its process group); SIGKILLed when `untilMs` passes.
        case terminating(untilMs: Int64)
        /// SIGKILLed; waiting to be reaped.
        case killed
    }

    /// How the pool counts a worker.
    enum Occupancy { case starting, idle, busy, stopping }

    let pid: Int32
    let tableSlot: Int
    /// Calls after which this worker is recycled (jittered so that workers do not recycle together).
    let callBudget: Int
    /// Calls it may run at once.
    let capacity: Int
    var state: State
    /// The calls it runs now, oldest first (one at most for mcp-worker).
    var calls: [PoolCall] = []
    /// Calls it was told to cancel and has not acknowledged: each holds a place until then, and
    /// the worker is stopped when one is still there at `untilMs`.
    var abandoned: [(number: UInt64, untilMs: Int64)] = []
    /// Served its budget while other calls ran: takes no new call and retires once they end.
    var retireWhenDrained = false
    /// Whether it is in the pool's list of available workers (kept in step with `canTakeCall`).
    var isListedAvailable = false
    var callsServed = 0
    var idleSinceMs: Int64 = 0
    var lastHeardMs: Int64
    var channel: (any WorkerChannel)!
    /// A stdio server's stderr, logged line by line.
    var stderr: StderrReader?
    /// The worker's cgroup v2 leaf, removed when it is reaped.
    var cgroup: String?

    init(pid: Int32, tableSlot: Int, callBudget: Int, capacity: Int) {
        self.pid = pid
        self.tableSlot = tableSlot
        self.callBudget = callBudget
        self.capacity = capacity
        let now = Clock.monotonicMillis()
        self.state = .starting(sinceMs: now)
        self.lastHeardMs = now
    }

    var freeCapacity: Int { capacity - calls.count - abandoned.count }

    var canTakeCall: Bool { state == .serving && !retireWhenDrained && freeCapacity > 0 }

    var isStarting: Bool {
        if case .starting = state { return true }
        return false
    }

    /// Retiring, terminating or killed: on its way out, whatever it says.
    var isLeaving: Bool {
        switch state {
        case .starting, .serving: return false
        case .retiring, .terminating, .killed: return true
        }
    }

    var isQuiet: Bool { calls.isEmpty && abandoned.isEmpty }

    var occupancy: Occupancy {
        switch state {
        case .starting: return .starting
        case .serving:
            if !calls.isEmpty { return .busy }
            // mcp-worker finishing a cancelled call, or a worker waiting to retire.
            return freeCapacity > 0 && !retireWhenDrained ? .idle : .stopping
        case .retiring, .terminating, .killed: return .stopping
        }
    }

    var tableState: WorkerState {
        switch occupancy {
        case .starting: return .starting
        case .idle: return .idle
        case .busy: return .busy
        case .stopping: return .stopping
        }
    }

    func runningCall(numbered number: UInt64) -> PoolCall? {
        for call in calls where call.number == number { return call }
        return nil
    }

    func removeCall(_ call: PoolCall) {
        if let index = calls.firstIndex(where: { $0 === call }) { calls.remove(at: index) }
    }

    /// Forgets an abandoned call; false when the number names none.
    func removeAbandoned(numbered number: UInt64) -> Bool {
        guard let index = abandoned.firstIndex(where: { $0.number == number }) else { return false }
        abandoned.remove(at: index)
        return true
    }

    func send(_ message: WorkerMessage) { channel.send(message) }

    /// Closes the channel. Stderr stays open until the process is reaped: a server's last words
    /// (a traceback, "shutting down") are worth logging, and must not meet a closed pipe.
    func closeChannel() { channel.close() }

    /// The process is gone (reaped): its channel and stderr close, after reading what stderr holds.
    func closeEverything() {
        channel.close()
        stderr?.drainAndClose()
    }
}
