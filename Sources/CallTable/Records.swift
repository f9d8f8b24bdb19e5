// Values copied out of the shared region. They are snapshots: the region may change the moment after.

/// Why a call table could not be created, attached or opened, in words an operator can act on.
public struct CallTableError: Error, CustomStringConvertible, Sendable, Equatable {
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// One call slot, read consistently under its seqlock.
public struct CallRecord: Sendable, Equatable {
    public let slot: Int
    public let callId: String
    public let tool: String
    public let owner: String
    public let state: CallState
    public let cancelRequested: Bool
    /// 0 until a worker is assigned.
    public let workerPid: Int32
    /// The worker slot running the call; nil until a worker is assigned.
    public let workerSlot: Int?
    public let startedAtMs: Int64
    public let deadlineAtMs: Int64
    public let cancelEpochAtStart: UInt64
}

/// One worker slot. Its fields are read one by one, so two of them may come from different updates.
public struct WorkerRecord: Sendable, Equatable {
    public let slot: Int
    /// 0 while the worker is being spawned.
    public let pid: Int32
    public let state: WorkerState
    public let heartbeatMs: Int64
    public let callsServed: UInt64
    /// The call slot the worker is running; nil when none.
    public let currentCallSlot: Int?
    public let spawnedAtMs: Int64
}

/// Everything in the table at one moment (each record is consistent; the whole is not atomic).
public struct CallTableSnapshot: Sendable {
    public let supervisorPid: Int32
    public let supervisorState: SupervisorState
    public let supervisorHeartbeatMs: Int64
    public let startedAtMs: Int64
    public let cancelEpoch: UInt64
    public let queueDepth: Int
    public let queueCapacity: Int
    public let counters: [CallTableCounter: UInt64]
    /// The call slots that are not free, in slot order.
    public let calls: [CallRecord]
    /// The worker slots that are not free, in slot order.
    public let workers: [WorkerRecord]
    public let callSlotCount: Int
    public let workerSlotCount: Int
}
