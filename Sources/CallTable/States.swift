// The states and counters stored in the call table, with the names operators see in mcpctl.
// Raw values are the numbers in the shared region (layout version 1); never renumber a case.

/// Where a call is in its life, as stored in its call slot.
public enum CallState: UInt32, Sendable, CaseIterable {
    case free = 0, pending, running, finished, error, cancelled
    /// Claimed by the supervisor, not yet published.
    case reserved

    public var name: String {
        switch self {
        case .free: "free"
        case .pending: "pending"
        case .running: "running"
        case .finished: "finished"
        case .error: "error"
        case .cancelled: "cancelled"
        case .reserved: "reserved"
        }
    }

    /// Whether the call still holds a queue place or a worker.
    public var isInFlight: Bool { self == .pending || self == .running || self == .reserved }
}

/// Where a worker process is in its life, as stored in its worker slot.
public enum WorkerState: UInt32, Sendable, CaseIterable {
    case free = 0, starting, idle, busy, stopping

    public var name: String {
        switch self {
        case .free: "free"
        case .starting: "starting"
        case .idle: "idle"
        case .busy: "busy"
        case .stopping: "stopping"
        }
    }
}

/// The supervisor's own state, in the header.
public enum SupervisorState: UInt32, Sendable, CaseIterable {
    case none = 0, starting, ready, draining, stopped

    public var name: String {
        switch self {
        case .none: "none"
        case .starting: "starting"
        case .ready: "ready"
        case .draining: "draining"
        case .stopped: "stopped"
        }
    }
}

/// The supervisor's monotonic counters, stored in the header in this order.
public enum CallTableCounter: Int, Sendable, CaseIterable {
    case callsAccepted, callsFinished, callsFailed, callsCancelled
    case workersSpawned, workersCrashed, workersRecycled, workersKilled

    /// The snake_case name used in mcpctl's JSON and in metrics.
    public var name: String {
        switch self {
        case .callsAccepted: "calls_accepted"
        case .callsFinished: "calls_finished"
        case .callsFailed: "calls_failed"
        case .callsCancelled: "calls_cancelled"
        case .workersSpawned: "workers_spawned"
        case .workersCrashed: "workers_crashed"
        case .workersRecycled: "workers_recycled"
        case .workersKilled: "workers_killed"
        }
    }
}
