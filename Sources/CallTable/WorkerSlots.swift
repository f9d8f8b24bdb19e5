// Worker slots: claimed by the supervisor with a CAS on their state, stamped by the worker itself.
// Each field is one atomic; a worker slot has no seqlock because every field stands on its own.
import CMcpd
import SystemCalls

extension CallTable {
    /// Claims a free worker slot (state free → starting) for a worker about to be spawned.
    /// Returns nil when every slot is taken.
    public func claimWorkerSlot() -> Int? {
        requireWritable()
        let count = workerSlotCount
        var slot = nextWorkerSlotHint
        for _ in 0..<count {
            let worker = workerSlot(slot)
            let state = worker + Layout.Worker.state
            if load32(state) == WorkerState.free.rawValue,
               mcpd_cas_u32(state, WorkerState.free.rawValue, WorkerState.starting.rawValue) != 0 {
                store32(worker + Layout.Worker.currentCallSlot, Layout.noSlot)
                nextWorkerSlotHint = slot + 1 == count ? 0 : slot + 1
                return slot
            }
            slot = slot + 1 == count ? 0 : slot + 1
        }
        return nil
    }

    /// Records a spawned worker: its pid and state, spawned and heartbeat now, no calls served yet.
    public func setWorker(slot: Int, pid: Int32, state: WorkerState) {
        let worker = writableWorkerSlot(slot)
        let now = UInt64(bitPattern: Clock.wallMillis())
        store64(worker + Layout.Worker.spawnedAtMs, now)
        store64(worker + Layout.Worker.heartbeatMs, now)
        store64(worker + Layout.Worker.callsServed, 0)
        store32(worker + Layout.Worker.currentCallSlot, Layout.noSlot)
        store32(worker + Layout.Worker.pid, UInt32(bitPattern: pid))
        store32(worker + Layout.Worker.state, state.rawValue)
    }

    public func setWorkerState(slot: Int, _ state: WorkerState) {
        store32(writableWorkerSlot(slot) + Layout.Worker.state, state.rawValue)
    }

    public func setWorkerCurrentCall(slot: Int, callSlot: Int?) {
        if let callSlot { precondition((0..<callSlotCount).contains(callSlot), "call slot \(callSlot) out of range") }
        store32(writableWorkerSlot(slot) + Layout.Worker.currentCallSlot, callSlot.map { UInt32($0) } ?? Layout.noSlot)
    }

    /// Called by the worker process itself, at least once a second, to prove it is not stuck.
    public func stampWorkerHeartbeat(slot: Int) {
        store64(writableWorkerSlot(slot) + Layout.Worker.heartbeatMs, UInt64(bitPattern: Clock.wallMillis()))
    }

    public func incrementCallsServed(slot: Int) {
        _ = mcpd_add_u64(writableWorkerSlot(slot) + Layout.Worker.callsServed, 1)
    }

    /// Zeroes the slot and marks it free; the state is stored last, so a claim finds it zeroed.
    public func releaseWorkerSlot(_ slot: Int) {
        let worker = writableWorkerSlot(slot)
        store32(worker + Layout.Worker.pid, 0)
        store64(worker + Layout.Worker.heartbeatMs, 0)
        store64(worker + Layout.Worker.callsServed, 0)
        store32(worker + Layout.Worker.currentCallSlot, 0)
        store64(worker + Layout.Worker.spawnedAtMs, 0)
        store32(worker + Layout.Worker.state, WorkerState.free.rawValue)
    }

    /// A copy of a worker slot, or nil when it is free or out of range.
    public func readWorker(slot: Int) -> WorkerRecord? {
        guard (0..<workerSlotCount).contains(slot) else { return nil }
        let worker = workerSlot(slot)
        let stateRaw = load32(worker + Layout.Worker.state)
        guard stateRaw != WorkerState.free.rawValue else { return nil }
        let pid = Int32(bitPattern: load32(worker + Layout.Worker.pid))
        let currentCall = load32(worker + Layout.Worker.currentCallSlot)
        return WorkerRecord(
            slot: slot,
            pid: pid,
            // A state this build does not know: the worker exists but cannot take calls.
            state: WorkerState(rawValue: stateRaw) ?? .stopping,
            heartbeatMs: Int64(bitPattern: load64(worker + Layout.Worker.heartbeatMs)),
            callsServed: load64(worker + Layout.Worker.callsServed),
            // A slot index means something only once the worker process exists.
            currentCallSlot: pid == 0 || currentCall == Layout.noSlot ? nil : Int(currentCall),
            spawnedAtMs: Int64(bitPattern: load64(worker + Layout.Worker.spawnedAtMs)))
    }

    // MARK: internals

    @inline(__always) func workerSlot(_ slot: Int) -> UnsafeMutableRawPointer {
        base + geometry.workerSlotsOffset + slot * Layout.workerSlotSize
    }

    private func writableWorkerSlot(_ slot: Int) -> UnsafeMutableRawPointer {
        requireWritable()
        precondition((0..<workerSlotCount).contains(slot), "worker slot \(slot) out of range")
        return workerSlot(slot)
    }
}
