import CallTable
import EventLoop
import Glibc
import Logging
import SystemCalls
import WorkerProtocol

/// The pool of mcp-worker processes and the queue of calls waiting for one.
public final class WorkerPool {
    public let configuration: PoolConfiguration
    let loop: EventLoop
    let table: CallTable
    private var workers: [Int32: Worker] = [:]
    /// Idle workers, most recently idle last: reusing a warm worker first keeps the others' pages cold.
    private var idleWorkers: [Worker] = []
    private var queue: [PoolCall] = []
    private var queueHead = 0
    private var queuedCount = 0
    /// Pending and running calls by number, for deadlines and lookups.
    private var activeCalls: [UInt64: PoolCall] = [:]
    private var nextCallNumber: UInt64 = 1
    private var consecutiveCrashes = 0
    private var nextSpawnAllowedMs: Int64 = 0
    private var shuttingDown = false
    /// Called whenever worker counts may have changed (readiness, STATUS=).
    public var onCountsChanged: (() -> Void)?

    public init(configuration: PoolConfiguration, loop: EventLoop, table: CallTable) {
        self.configuration = configuration
        self.loop = loop
        self.table = table
        table.setQueue(depth: 0, capacity: configuration.queueCapacity)
        loop.every(milliseconds: 100) { [unowned self] in self.tick() }
    }

    // MARK: counts

    public var counts: PoolCounts {
        var counts = PoolCounts(queued: queuedCount)
        for worker in workers.values {
            switch worker.state {
            case .starting: counts.starting += 1
            case .idle: counts.idle += 1
            case .busy: counts.busy += 1
            case .cancelling, .retiring, .killed: counts.stopping += 1
            }
        }
        return counts
    }

    /// pids of every worker process not yet reaped.
    public var workerPids: [Int32] { Array(workers.keys) }

    // MARK: calls

    /// Queues a call, dispatching it at once when a worker is idle.
    public func submit(tool: String, spec: [UInt8] = [], input: [UInt8], callId: String, owner: String, deadlineSeconds: Double,
                       onEvent: @escaping (CallEvent) -> Void) -> Result<PoolCall, SubmitError> {
        if shuttingDown { return .failure(.shuttingDown) }
        if idleWorkers.isEmpty && queuedCount >= configuration.queueCapacity { return .failure(.queueFull) }
        guard let slot = table.claimCallSlot() else { return .failure(.queueFull) }
        let deadlineMs = Clock.monotonicMillis() + Int64(deadlineSeconds * 1000)
        let wallNow = Clock.wallMillis()
        table.publishCall(slot: slot, callId: callId, tool: tool, owner: owner, state: .pending,
                          startedAtMs: wallNow, deadlineAtMs: wallNow + Int64(deadlineSeconds * 1000))
        table.increment(.callsAccepted)
        let call = PoolCall(number: nextCallNumber, tool: tool, spec: spec, input: input, deadlineMs: deadlineMs,
                            tableSlot: slot, onEvent: onEvent)
        nextCallNumber += 1
        activeCalls[call.number] = call
        if let worker = idleWorkers.popLast() {
            assign(call, to: worker)
        } else {
            queue.append(call)
            queuedCount += 1
            table.setQueue(depth: queuedCount, capacity: configuration.queueCapacity)
            maintainPool()
        }
        return .success(call)
    }

    /// Cancels a pending or running call: it ends `cancelled` now; its worker is told to stop and is
    /// killed if it does not within the grace period.
    /// Delivers the client's answer to the call's pending `ask`; ignored once the call has ended.
    public func answer(_ call: PoolCall, payload: [UInt8]) {
        guard call.state == .running, let worker = call.worker, worker.call === call else { return }
        worker.send(WorkerMessage(kind: .answer, callNumber: call.number, payload: payload))
    }

    public func cancel(_ call: PoolCall, reason: String) {
        switch call.state {
        case .ended:
            return
        case .pending:
            // Left in the queue array and skipped when reached; the count is what limits admission.
            queuedCount -= 1
            table.setQueue(depth: queuedCount, capacity: configuration.queueCapacity)
            end(call, .cancelled(reason: reason))
        case .running:
            table.requestCancel(slot: call.tableSlot)
            if let worker = call.worker {
                worker.call = nil
                worker.abandonedCallNumber = call.number
                worker.state = .cancelling(untilMs: Clock.monotonicMillis() + configuration.cancelGraceMs)
                table.setWorkerState(slot: worker.tableSlot, .stopping)
                worker.send(WorkerMessage(kind: .cancel, callNumber: call.number))
            }
            end(call, .cancelled(reason: reason))
            maintainPool()
        }
    }

    private func assign(_ call: PoolCall, to worker: Worker) {
        call.state = .running
        call.worker = worker
        worker.state = .busy
        worker.call = call
        table.assignWorker(slot: call.tableSlot, pid: worker.pid, workerSlot: worker.tableSlot)
        table.setWorkerState(slot: worker.tableSlot, .busy)
        table.setWorkerCurrentCall(slot: worker.tableSlot, callSlot: call.tableSlot)
        let request = CallRequest(tableSlot: UInt32(call.tableSlot), tool: call.tool, spec: call.spec, input: call.input)
        call.input = []
        call.spec = []
        call.onEvent(.dispatched(workerPid: worker.pid))
        worker.send(WorkerMessage(kind: .call, callNumber: call.number, payload: request.encoded()))
    }

    /// The single place where a call ends.
    private func end(_ call: PoolCall, _ event: CallEvent) {
        guard call.state != .ended else { return }
        call.state = .ended
        call.worker = nil
        activeCalls[call.number] = nil
        switch event {
        case .finished:
            table.setCallState(slot: call.tableSlot, .finished)
            table.increment(.callsFinished)
        case .failed:
            table.setCallState(slot: call.tableSlot, .error)
            table.increment(.callsFailed)
        default:
            table.setCallState(slot: call.tableSlot, .cancelled)
            table.increment(.callsCancelled)
        }
        table.releaseCallSlot(call.tableSlot)
        call.onEvent(event)
    }

    private func dispatchQueued() {
        while queuedCount > 0, let worker = idleWorkers.popLast() {
            guard let call = nextQueued() else { idleWorkers.append(worker); break }
            assign(call, to: worker)
        }
        table.setQueue(depth: queuedCount, capacity: configuration.queueCapacity)
    }

    private func nextQueued() -> PoolCall? {
        while queueHead < queue.count {
            let call = queue[queueHead]
            queueHead += 1
            if queueHead > 1024 && queueHead * 2 > queue.count {
                queue.removeFirst(queueHead)
                queueHead = 0
            }
            if call.state == .pending {
                queuedCount -= 1
                return call
            }
        }
        return nil
    }

    // MARK: messages from workers

    func received(_ message: WorkerMessage, from worker: Worker) {
        switch message.kind {
        case .ready:
            guard worker.state == .starting else { return protocolViolation(by: worker, "ready sent twice") }
            consecutiveCrashes = 0
            becomeIdle(worker)
        case .heartbeat:
            break
        case .partial, .progress, .log, .ask:
            guard let call = worker.call, call.number == message.callNumber else { return }
            guard isJSONObjectLine(message.payload) else {
                return protocolViolation(by: worker, "\(message.kind) payload is not a one-line JSON object")
            }
            switch message.kind {
            case .partial: call.onEvent(.partial(message.payload))
            case .progress: call.onEvent(.progress(message.payload))
            case .log: call.onEvent(.log(message.payload))
            default: call.onEvent(.ask(message.payload))
            }
        case .result, .error, .cancelled:
            if let call = worker.call, call.number == message.callNumber {
                worker.call = nil
                worker.callsServed += 1
                table.incrementCallsServed(slot: worker.tableSlot)
                switch message.kind {
                case .result:
                    guard isJSONObjectLine(message.payload) else {
                        end(call, .failed(kind: "worker_protocol", message: "the worker sent a malformed result"))
                        return protocolViolation(by: worker, "result payload is not a one-line JSON object")
                    }
                    end(call, .finished(message.payload))
                case .error:
                    let (kind, text) = ErrorPayload.decode(message.payload)
                    end(call, .failed(kind: kind, message: text))
                default:
                    end(call, .cancelled(reason: "cancelled by the worker"))
                }
                callCompleted(on: worker)
            } else if worker.abandonedCallNumber == message.callNumber {
                // The acknowledgement (or late answer) of a call already ended as cancelled.
                worker.abandonedCallNumber = nil
                worker.callsServed += 1
                callCompleted(on: worker)
            }
        case .call, .cancel, .answer:
            protocolViolation(by: worker, "unexpected \(message.kind) message")
        }
    }

    private func callCompleted(on worker: Worker) {
        if worker.callsServed >= worker.callBudget {
            retire(worker, recycled: true)
        } else {
            becomeIdle(worker)
        }
        maintainPool()
    }

    private func becomeIdle(_ worker: Worker) {
        worker.state = .idle
        worker.idleSinceMs = Clock.monotonicMillis()
        table.setWorkerState(slot: worker.tableSlot, .idle)
        table.setWorkerCurrentCall(slot: worker.tableSlot, callSlot: nil)
        idleWorkers.append(worker)
        dispatchQueued()
        onCountsChanged?()
    }

    func protocolViolation(by worker: Worker, _ what: String) {
        Log.error("worker broke the protocol; killing it", ["pid": String(worker.pid), "problem": what])
        kill(worker, reason: .failed(kind: "worker_protocol", message: "the worker broke the protocol: \(what)"))
    }

    /// The worker's socket closed: it exited or is about to. Its call fails now; the reap follows.
    func workerChannelClosed(_ worker: Worker) {
        if worker.state == .retiring || worker.state == .killed { return }
        Process.signal(worker.pid, SIGKILL)
        let call = worker.call
        markStopping(worker, .killed)
        if let call { end(call, .failed(kind: "worker_crashed", message: "the worker exited during the call")) }
        noteCrash()
        maintainPool()
    }

    // MARK: process lifecycle

    /// Reaps exited workers (on SIGCHLD).
    public func reapChildren() {
        for (pid, status) in Process.reapExited() {
            guard let worker = workers.removeValue(forKey: pid) else { continue }
            let expected = worker.state == .retiring || worker.state == .killed
            worker.closeChannel()
            removeFromIdle(worker)
            if let call = worker.call {
                end(call, .failed(kind: "worker_crashed", message: "the worker \(status) during the call"))
            }
            table.releaseWorkerSlot(worker.tableSlot)
            if !expected {
                Log.warn("worker died", ["pid": String(pid), "status": status.description])
                noteCrash()
            } else {
                Log.debug("worker reaped", ["pid": String(pid), "status": status.description])
            }
        }
        maintainPool()
        onCountsChanged?()
    }

    private func noteCrash() {
        table.increment(.workersCrashed)
        consecutiveCrashes += 1
        if consecutiveCrashes >= 2 {
            // Exponential backoff, 100 ms doubling to 5 s, so a worker that cannot start does not spin.
            let delay = min(5000, 100 << min(consecutiveCrashes - 2, 6))
            nextSpawnAllowedMs = Clock.monotonicMillis() + Int64(delay)
        }
    }

    private func markStopping(_ worker: Worker, _ state: Worker.State) {
        removeFromIdle(worker)
        worker.state = state
        worker.call = nil
        table.setWorkerState(slot: worker.tableSlot, .stopping)
        onCountsChanged?()
    }

    private func removeFromIdle(_ worker: Worker) {
        if let index = idleWorkers.firstIndex(where: { $0 === worker }) { idleWorkers.remove(at: index) }
    }

    /// Closes the worker's socket; it exits on end-of-file and is reaped.
    private func retire(_ worker: Worker, recycled: Bool) {
        markStopping(worker, .retiring)
        worker.closeChannel()
        if recycled { table.increment(.workersRecycled) }
    }

    private func kill(_ worker: Worker, reason: CallEvent) {
        let call = worker.call
        Process.signal(worker.pid, SIGKILL)
        markStopping(worker, .killed)
        worker.closeChannel()
        table.increment(.workersKilled)
        if let call { end(call, reason) }
        maintainPool()
    }

    private func spawnWorker() {
        guard let tableSlot = table.claimWorkerSlot() else {
            Log.error("no free worker slot in the call table")
            return
        }
        let pair: (Int32, Int32)
        do {
            pair = try Socket.seqpacketPair()
        } catch {
            table.releaseWorkerSlot(tableSlot)
            Log.error("cannot create a worker socket", ["error": error.description])
            return
        }
        let (mine, theirs) = pair
        Socket.setSendBuffer(mine, bytes: 1 << 20)
        Socket.setSendBuffer(theirs, bytes: 1 << 20)
        let arguments = ["--socket-fd", String(theirs), "--table-fd", String(table.descriptor),
                         "--worker-slot", String(tableSlot), "--supervisor-pid", String(getpid()),
                         "--log-level", configuration.logLevel]
        let environment = ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"]
        let pid: Int32
        do {
            pid = try Process.spawn(path: configuration.workerExecutable, arguments: arguments,
                                    environment: environment, keepDescriptors: [theirs, table.descriptor])
        } catch {
            Descriptor.close(mine)
            Descriptor.close(theirs)
            table.releaseWorkerSlot(tableSlot)
            Log.error("cannot spawn a worker", ["error": error.description])
            noteCrash()
            return
        }
        Descriptor.close(theirs)
        try? Descriptor.setNonBlocking(mine)
        // ±10 % jitter on the recycle budget (uWSGI/Gunicorn practice) so workers do not all restart together.
        let budget = configuration.maxCallsPerWorker
        let jitter = budget >= 10 ? Int.random(in: -(budget / 10)...(budget / 10)) : 0
        let worker = Worker(pid: pid, fd: mine, tableSlot: tableSlot, callBudget: max(1, budget + jitter), pool: self)
        do {
            try loop.register(mine, for: .readable, handler: worker)
        } catch {
            Process.signal(pid, SIGKILL)
            Descriptor.close(mine)
        }
        workers[pid] = worker
        table.setWorker(slot: tableSlot, pid: pid, state: .starting)
        table.increment(.workersSpawned)
        onCountsChanged?()
    }

    // MARK: upkeep

    /// Spawns up to the target and retires idle workers above it. The target follows PHP-FPM's
    /// dynamic manager: every busy worker, plus spares (or the queued calls), within [min, max].
    public func maintainPool() {
        guard !shuttingDown else { return }
        let counts = self.counts
        let wanted = counts.busy + max(configuration.spareWorkers, counts.queued)
        let target = min(configuration.maxWorkers, max(configuration.minWorkers, wanted))
        // Stopping workers (cancelling, retiring, killed) still count until reaped: the number of
        // worker processes never exceeds --workers-max, even while one finishes a cancelled call.
        var present = counts.starting + counts.idle + counts.busy
        let ceiling = configuration.maxWorkers - counts.stopping
        let now = Clock.monotonicMillis()
        while present < target && present < ceiling && now >= nextSpawnAllowedMs {
            spawnWorker()
            present += 1
        }
        if counts.idle > 0 && present > target {
            var surplus = present - target
            for worker in idleWorkers where surplus > 0 && now - worker.idleSinceMs >= configuration.idleRetireMs {
                retire(worker, recycled: false)
                surplus -= 1
            }
        }
    }

    private func tick() {
        let now = Clock.monotonicMillis()
        for call in Array(activeCalls.values) where now >= call.deadlineMs {
            if call.state == .pending {
                queuedCount -= 1
                end(call, .failed(kind: "deadline_exceeded", message: "the call did not start before its deadline"))
            } else if let worker = call.worker {
                Log.warn("call passed its deadline; killing its worker", ["pid": String(worker.pid), "tool": call.tool])
                kill(worker, reason: .failed(kind: "deadline_exceeded", message: "the call ran past its deadline"))
            }
        }
        for worker in Array(workers.values) {
            if case .cancelling(let until) = worker.state, now >= until {
                Log.warn("worker did not stop within the cancel grace period; killing it", ["pid": String(worker.pid)])
                kill(worker, reason: .cancelled(reason: "cancelled"))
            }
        }
        table.setQueue(depth: queuedCount, capacity: configuration.queueCapacity)
        maintainPool()
    }

    // MARK: shutdown

    /// Ends every pending and running call as cancelled (the drain timeout passed).
    public func cancelEverything(reason: String) {
        for call in activeCalls.values.sorted(by: { $0.number < $1.number }) { cancel(call, reason: reason) }
    }

    /// Whether no call is pending or running.
    public var isQuiet: Bool { activeCalls.isEmpty }

    /// Stops spawning and asks every worker to exit (socket closed, SIGTERM).
    public func beginShutdown() {
        shuttingDown = true
        for worker in workers.values {
            if worker.state != .killed { worker.state = .retiring }
            worker.closeChannel()
            Process.signal(worker.pid, SIGTERM)
        }
        idleWorkers.removeAll()
    }

    /// SIGKILLs whatever is left and waits for it, so no worker outlives the supervisor.
    public func killRemaining() {
        for pid in workers.keys { Process.signal(pid, SIGKILL) }
        for pid in Array(workers.keys) {
            _ = Process.wait(pid)
            if let worker = workers.removeValue(forKey: pid) { table.releaseWorkerSlot(worker.tableSlot) }
        }
    }

    public var hasWorkers: Bool { !workers.isEmpty }
}

/// Whether bytes are a JSON object on one line: what may be spliced into an SSE `data:` line.
/// (The worker is our own code, but a line break from it must never forge SSE events.)
func isJSONObjectLine(_ bytes: [UInt8]) -> Bool {
    guard bytes.count >= 2, bytes.first == UInt8(ascii: "{"), bytes.last == UInt8(ascii: "}") else { return false }
    return !bytes.contains(10) && !bytes.contains(13)
}
