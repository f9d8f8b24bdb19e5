import CallTable
import EventLoop
import Glibc
import JSON
import Logging
import Sandbox
import SystemCalls
import WorkerProtocol

/// The pool of worker processes (mcp-worker, or one stdio MCP server's) and the queue of calls
/// waiting for one.
public final class WorkerPool {
    public let configuration: PoolConfiguration
    let loop: EventLoop
    let table: CallTable
    private var workers: [Int32: Worker] = [:]
    /// Workers that can take a call, most recently freed last: reusing a warm worker first keeps the
    /// others' pages cold. An mcp-worker leaves the list when it takes a call.
    private var availableWorkers: [Worker] = []
    private var queue: [PoolCall] = []
    private var queueHead = 0
    private var queuedCount = 0
    /// Pending and running calls by number, for deadlines and lookups.
    private var activeCalls: [UInt64: PoolCall] = [:]
    private var nextCallNumber: UInt64 = 1
    private var consecutiveCrashes = 0
    private var cgroupLeaves = 0
    private var cgroupFailureLogged = false
    private var nextSpawnAllowedMs: Int64 = 0
    private var shuttingDown = false
    /// A per-call pool's fork server, started with its first worker (nil: not yet, or after it failed).
    private var forkServer: ForkServer?
    /// Consecutive fork-server failures; at `forkServerAttempts` the pool spawns every worker itself.
    private var forkServerFailures = 0
    private static let forkServerAttempts = 3
    /// Calls one worker runs at once.
    private let workerCapacity: Int
    /// For log lines: "mcp-worker", or the stdio server's id.
    private let poolName: String
    private var ticker: TimerID?
    /// The call table's cancel epoch as this pool last acted on it (`mcpctl cancel-all` bumps it).
    private var seenCancelEpoch: UInt64
    /// Called whenever worker counts may have changed (readiness, STATUS=).
    public var onCountsChanged: (() -> Void)?
    /// A stdio server's tools (raw MCP Tool objects), each time a process lists them differently
    /// from the last report: at the first start, and after notifications/tools/list_changed.
    public var onToolsDiscovered: (([JSONValue]) -> Void)?
    /// A stdio server's tools as last reported; nil until a process has listed them.
    public private(set) var tools: [JSONValue]?
    /// What a stdio server said of itself in its initialize result (latest process).
    public private(set) var serverInfo: JSONValue?
    public private(set) var protocolVersion: String?

    public init(configuration: PoolConfiguration, loop: EventLoop, table: CallTable) {
        self.configuration = configuration
        self.loop = loop
        self.table = table
        // mcp-worker runs one call at a time whatever the configuration says.
        self.workerCapacity = configuration.isStdio ? max(1, configuration.maxConcurrentCallsPerWorker) : 1
        switch configuration.launcher {
        case .mcpWorker: poolName = "mcp-worker"
        case .stdio(let launch): poolName = launch.serverId
        }
        seenCancelEpoch = table.cancelEpoch
        publishQueue()
        // Weak: a stdio server's pool may be dropped while the loop runs on (the server was removed).
        ticker = loop.every(milliseconds: 100) { [weak self] in self?.tick() }
    }

    deinit {
        if let ticker { loop.cancel(ticker) }
        forkServer?.stop()
    }

    // MARK: counts

    public var counts: PoolCounts {
        var counts = PoolCounts(queued: queuedCount)
        for worker in workers.values {
            switch worker.occupancy {
            case .starting: counts.starting += 1
            case .idle: counts.idle += 1
            case .busy: counts.busy += 1
            case .stopping: counts.stopping += 1
            }
        }
        return counts
    }

    /// Whether `pid` is one of this pool's processes (a worker or its fork server), which it reaps itself.
    public func owns(_ pid: Int32) -> Bool { workers[pid] != nil || forkServer?.pid == pid }

    /// pids of every worker process not yet reaped.
    public var workerPids: [Int32] { Array(workers.keys) }

    private var workerNoun: String { configuration.isStdio ? "the server process" : "the worker" }

    private func publishQueue() {
        if configuration.publishesQueueDepth { table.setQueue(depth: queuedCount, capacity: configuration.queueCapacity) }
    }

    // MARK: calls

    /// Queues a call, dispatching it at once when a worker is available. For a stdio server, `tool`
    /// is the server's own tool name and `spec` is empty or {"method": "tools/call" | "probe" |
    /// "resources/read" | "resources/list" | any other request}, whose params are then the input.
    public func submit(tool: String, spec: [UInt8] = [], input: [UInt8], callId: String, owner: String, httpRequestId: String = "",
                       deadlineSeconds: Double, onEvent: @escaping (CallEvent) -> Void) -> Result<PoolCall, SubmitError> {
        if shuttingDown { return .failure(.shuttingDown) }
        if availableWorkers.isEmpty && queuedCount >= configuration.queueCapacity { return .failure(.queueFull) }
        guard let slot = table.claimCallSlot() else { return .failure(.queueFull) }
        let deadlineMs = Clock.monotonicMillis() + Int64(deadlineSeconds * 1000)
        let wallNow = Clock.wallMillis()
        table.publishCall(slot: slot, callId: callId, tool: tool, owner: owner, state: .pending,
                          startedAtMs: wallNow, deadlineAtMs: wallNow + Int64(deadlineSeconds * 1000))
        table.increment(.callsAccepted)
        let call = PoolCall(number: nextCallNumber, tool: tool, spec: spec, input: input, deadlineMs: deadlineMs,
                            tableSlot: slot, httpRequestId: httpRequestId, onEvent: onEvent)
        nextCallNumber += 1
        activeCalls[call.number] = call
        if let worker = availableWorkers.last {
            assign(call, to: worker)
        } else {
            queue.append(call)
            queuedCount += 1
            publishQueue()
            maintainPool()
        }
        return .success(call)
    }

    /// Delivers the client's answer to the call's pending `ask`; ignored once the call has ended.
    public func answer(_ call: PoolCall, payload: [UInt8]) {
        guard call.state == .running, let worker = call.worker else { return }
        worker.send(WorkerMessage(kind: .answer, callNumber: call.number, payload: payload))
    }

    /// Cancels a pending or running call: it ends `cancelled` now; its worker is told to stop and is
    /// stopped itself if it does not acknowledge within the grace period.
    public func cancel(_ call: PoolCall, reason: String) {
        switch call.state {
        case .ended:
            return
        case .pending:
            // Left in the queue array and skipped when reached; the count is what limits admission.
            queuedCount -= 1
            publishQueue()
            end(call, .cancelled(reason: reason))
        case .running:
            abandon(call, telling: reason, ending: .cancelled(reason: reason))
        }
    }

    /// Ends a running call now with `event` and tells its worker to stop it; the call keeps its
    /// place on the worker until the worker acknowledges (or is stopped after the grace period).
    private func abandon(_ call: PoolCall, telling reason: String, ending event: CallEvent) {
        table.requestCancel(slot: call.tableSlot)
        if let worker = call.worker {
            worker.removeCall(call)
            worker.abandoned.append((call.number, Clock.monotonicMillis() + configuration.cancelGraceMs))
            loadChanged(worker)
            worker.send(WorkerMessage(kind: .cancel, callNumber: call.number, payload: Array(reason.utf8)))
        }
        end(call, event)
        maintainPool()
    }

    private func assign(_ call: PoolCall, to worker: Worker) {
        call.state = .running
        call.worker = worker
        worker.calls.append(call)
        if !worker.canTakeCall { removeFromAvailable(worker) }
        table.assignWorker(slot: call.tableSlot, pid: worker.pid, workerSlot: worker.tableSlot)
        table.setWorkerState(slot: worker.tableSlot, .busy)
        if worker.calls.count == 1 { table.setWorkerCurrentCall(slot: worker.tableSlot, callSlot: call.tableSlot) }
        let request = CallRequest(tableSlot: UInt32(call.tableSlot), tool: call.tool, requestId: call.httpRequestId,
                                  spec: call.spec, input: call.input)
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
        while queuedCount > 0, let worker = availableWorkers.last {
            guard let call = nextQueued() else { break }
            assign(call, to: worker)
        }
        publishQueue()
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
            guard worker.isStarting else { return protocolViolation(by: worker, "ready sent twice") }
            if case .starting(let since) = worker.state {
                // The spawn cost of this pool's sandbox level (namespaces are made here, off the request path).
                Log.debug("worker ready", ["pool": poolName, "pid": String(worker.pid), "sandbox": configuration.sandbox.level.rawValue,
                                           "spawn_to_ready_ms": String(Clock.monotonicMillis() - since)])
            }
            consecutiveCrashes = 0
            worker.state = .serving
            workerFreed(worker)
        case .heartbeat:
            break
        case .partial, .progress, .log, .ask:
            guard let call = worker.runningCall(numbered: message.callNumber) else { return }
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
            if let call = worker.runningCall(numbered: message.callNumber) {
                worker.removeCall(call)
                worker.callsServed += 1
                table.incrementCallsServed(slot: worker.tableSlot)
                switch message.kind {
                case .result:
                    guard isJSONObjectLine(message.payload) else {
                        end(call, .failed(kind: "worker_protocol", message: "\(workerNoun) sent a malformed result"))
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
            } else if worker.removeAbandoned(numbered: message.callNumber) {
                // The acknowledgement (or late answer) of a call already ended as cancelled.
                worker.callsServed += 1
                callCompleted(on: worker)
            }
        case .call, .cancel, .answer:
            protocolViolation(by: worker, "unexpected \(message.kind) message")
        }
    }

    /// What a stdio server said of itself in its initialize result.
    func serverDescribed(protocolVersion: String, serverInfo: JSONValue) {
        self.protocolVersion = protocolVersion
        self.serverInfo = serverInfo
    }

    /// A stdio server process listed its tools.
    func toolsDiscovered(_ listed: [JSONValue]) {
        guard tools != listed else { return }
        tools = listed
        Log.info("stdio server tools", ["server": poolName, "count": String(listed.count)])
        onToolsDiscovered?(listed)
    }

    private func callCompleted(on worker: Worker) {
        if configuration.sandbox.isPerCall && worker.isQuiet {
            // per-call: the process and everything it started go with the call (a warm one is next).
            destroy(worker)
            maintainPool()
            return
        }
        if worker.callsServed >= worker.callBudget { worker.retireWhenDrained = true }
        if worker.retireWhenDrained && worker.isQuiet {
            retire(worker, recycled: true)
        } else {
            workerFreed(worker)
        }
        maintainPool()
    }

    /// A worker became ready or finished a call: it may take the next queued one.
    private func workerFreed(_ worker: Worker) {
        loadChanged(worker)
        dispatchQueued()
        onCountsChanged?()
    }

    /// Brings the table and the list of available workers in line with the worker's calls.
    private func loadChanged(_ worker: Worker) {
        table.setWorkerState(slot: worker.tableSlot, worker.tableState)
        table.setWorkerCurrentCall(slot: worker.tableSlot, callSlot: worker.calls.first?.tableSlot)
        if worker.isQuiet { worker.idleSinceMs = Clock.monotonicMillis() }
        if worker.canTakeCall {
            if !worker.isListedAvailable {
                worker.isListedAvailable = true
                availableWorkers.append(worker)
            }
        } else {
            removeFromAvailable(worker)
        }
    }

    private func removeFromAvailable(_ worker: Worker) {
        guard worker.isListedAvailable else { return }
        worker.isListedAvailable = false
        if availableWorkers.last === worker {
            availableWorkers.removeLast()
        } else if let index = availableWorkers.firstIndex(where: { $0 === worker }) {
            availableWorkers.remove(at: index)
        }
    }

    func protocolViolation(by worker: Worker, _ what: String) {
        Log.error("worker broke the protocol; killing it", ["pool": poolName, "pid": String(worker.pid), "problem": what])
        kill(worker, reason: .failed(kind: "worker_protocol", message: "\(workerNoun) broke the protocol: \(what)"))
    }

    /// The worker's channel closed: it exited or is about to. Its calls fail now; the reap follows.
    func workerChannelClosed(_ worker: Worker) {
        if worker.isLeaving { return }
        Process.signalGroup(worker.pid, SIGKILL)
        let calls = takeCalls(from: worker)
        markStopping(worker, .killed)
        worker.closeChannel()
        for call in calls { end(call, .failed(kind: "worker_crashed", message: "\(workerNoun) exited during the call")) }
        noteCrash()
        maintainPool()
    }

    // MARK: process lifecycle

    /// Reaps this pool's exited workers (on SIGCHLD). Only its own pids: several pools can share a
    /// supervisor, each reaping its own.
    public func reapChildren() {
        if let server = forkServer, server.reapIfExited() {
            // Killed from outside: the next worker starts a new one.
            Log.warn("the fork server exited", ["pool": poolName, "pid": String(server.pid)])
            forkServer?.stop()
            forkServer = nil
        }
        var reapedAny = false
        for (pid, worker) in workers {
            let status: ExitStatus
            if configuration.isStdio {
                // Whatever the server left in its process group goes with it; the zombie, not yet
                // reaped, keeps the group's id from being reused while it is signalled.
                guard Process.hasExited(pid) else { continue }
                Process.signalGroup(pid, SIGKILL)
                guard let reaped = Process.reap(pid) else { continue }
                status = reaped
            } else {
                guard let reaped = Process.reap(pid) else { continue }
                status = reaped
            }
            reapedAny = true
            workers[pid] = nil
            if let leaf = worker.cgroup { CgroupDelegation.remove(leaf) }
            let expected = worker.isLeaving
            worker.closeEverything()
            removeFromAvailable(worker)
            for call in takeCalls(from: worker) {
                end(call, .failed(kind: "worker_crashed", message: "\(workerNoun) \(status) during the call"))
            }
            table.releaseWorkerSlot(worker.tableSlot)
            if !expected {
                Log.warn("worker died", ["pool": poolName, "pid": String(pid), "status": status.description])
                noteCrash()
            } else {
                Log.debug("worker reaped", ["pool": poolName, "pid": String(pid), "status": status.description])
            }
        }
        guard reapedAny else { return }
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

    /// Takes the worker's running calls (to be ended by the caller) and forgets its abandoned ones.
    private func takeCalls(from worker: Worker) -> [PoolCall] {
        let calls = worker.calls
        worker.calls = []
        worker.abandoned = []
        return calls
    }

    private func markStopping(_ worker: Worker, _ state: Worker.State) {
        removeFromAvailable(worker)
        worker.state = state
        table.setWorkerState(slot: worker.tableSlot, .stopping)
        onCountsChanged?()
    }

    /// Closes the worker's channel; it exits on end-of-file and is reaped (or, past the grace
    /// period, terminated).
    private func retire(_ worker: Worker, recycled: Bool) {
        markStopping(worker, .retiring(sinceMs: Clock.monotonicMillis()))
        worker.closeChannel()
        if recycled { table.increment(.workersRecycled) }
    }

    /// SIGKILLs a per-call worker that has just finished its call: not a crash, not a failure.
    private func destroy(_ worker: Worker) {
        Process.signalGroup(worker.pid, SIGKILL)
        markStopping(worker, .killed)
        worker.closeChannel()
        table.increment(.workersRecycled)
    }

    /// SIGKILLs the worker's process group now; its calls end with `reason`.
    private func kill(_ worker: Worker, reason: CallEvent) {
        let wasStarting = worker.isStarting
        let calls = takeCalls(from: worker)
        Process.signalGroup(worker.pid, SIGKILL)
        markStopping(worker, .killed)
        worker.closeChannel()
        table.increment(.workersKilled)
        for call in calls { end(call, reason) }
        // A worker that never got ready counts as a crash, so that one failing to start backs off.
        if wasStarting { noteCrash() }
        maintainPool()
    }

    /// SIGTERMs the worker's process group (SIGKILL follows after the grace period) and closes its
    /// channel; its calls end with `reason`. A stdio server gets the chance to clean up.
    private func terminate(_ worker: Worker, reason: CallEvent) {
        let calls = takeCalls(from: worker)
        markStopping(worker, .terminating(untilMs: Clock.monotonicMillis() + configuration.cancelGraceMs))
        worker.closeChannel()
        Process.signalGroup(worker.pid, SIGTERM)
        table.increment(.workersKilled)
        for call in calls { end(call, reason) }
        maintainPool()
    }

    /// A cgroup v2 leaf with the sandbox's ceilings for the next worker, when mcpd has a delegated
    /// cgroup; nil otherwise, or (said once) when the leaf cannot be made.
    private func makeCgroupLeaf(tableSlot: Int) -> String? {
        guard let root = configuration.cgroupRoot else { return nil }
        cgroupLeaves += 1
        do {
            // Table slots are unique across pools while claimed; the count keeps a slot's next leaf apart.
            return try CgroupDelegation.createLeaf(root: root, name: "worker-\(tableSlot)-\(cgroupLeaves)",
                                                   limits: CgroupLimits(configuration.sandbox.limits))
        } catch {
            if !cgroupFailureLogged {
                Log.warn("cannot make a worker cgroup; rlimits only", ["pool": poolName, "error": error.description])
                cgroupFailureLogged = true
            }
            return nil
        }
    }

    private func spawnWorker() {
        guard let tableSlot = table.claimWorkerSlot() else {
            Log.error("no free worker slot in the call table", ["pool": poolName])
            return
        }
        let spawned: SpawnedProcess
        let cgroup = makeCgroupLeaf(tableSlot: tableSlot)
        do {
            switch configuration.launcher {
            case .mcpWorker:
                spawned = try startMcpWorker(tableSlot: tableSlot, cgroup: cgroup)
            case .stdio(let launch):
                spawned = try Spawning.stdioServer(launch, shim: configuration.workerExecutable, hidden: configuration.hiddenPaths,
                                                   cgroup: cgroup)
            }
        } catch {
            if let cgroup { CgroupDelegation.remove(cgroup) }
            table.releaseWorkerSlot(tableSlot)
            Log.error("cannot spawn a worker", ["pool": poolName, "error": error.description])
            noteCrash()
            return
        }
        // ±10 % jitter on the recycle budget (uWSGI/Gunicorn practice) so workers do not all restart together.
        let budget = configuration.maxCallsPerWorker
        let callBudget: Int
        if budget <= 0 {
            callBudget = Int.max
        } else {
            let jitter = budget >= 10 ? Int.random(in: -(budget / 10)...(budget / 10)) : 0
            callBudget = max(1, budget + jitter)
        }
        let worker = Worker(pid: spawned.pid, tableSlot: tableSlot, callBudget: callBudget, capacity: workerCapacity)
        worker.cgroup = cgroup
        switch configuration.launcher {
        case .mcpWorker:
            worker.channel = PacketChannel(fd: spawned.channel, worker: worker, pool: self)
        case .stdio(let launch):
            worker.channel = StdioChannel(fd: spawned.channel, serverId: launch.serverId, worker: worker, pool: self)
            if let stderr = spawned.stderr {
                worker.stderr = StderrReader(fd: stderr, serverId: launch.serverId, pid: spawned.pid, loop: loop)
            }
        }
        workers[spawned.pid] = worker
        table.setWorker(slot: tableSlot, pid: spawned.pid, state: .starting)
        table.increment(.workersSpawned)
        if configuration.isStdio { Log.info("stdio server started", ["server": poolName, "pid": String(spawned.pid),
                                                                 "sandbox": configuration.sandbox.level.rawValue]) }
        do {
            try worker.stderr?.open()
            try worker.channel.open()
        } catch {
            Log.error("cannot watch a worker's descriptors", ["pool": poolName, "error": error.description])
            kill(worker, reason: .failed(kind: "worker_crashed", message: "\(workerNoun) could not be started"))
            return
        }
        onCountsChanged?()
    }

    /// An mcp-worker for `tableSlot`: forked by the fork server in a per-call pool (where start-up
    /// is paid on every call), spawned otherwise, and whenever the fork server keeps failing.
    private func startMcpWorker(tableSlot: Int, cgroup: String?) throws(SystemError) -> SpawnedProcess {
        if configuration.sandbox.isPerCall && forkServerFailures < Self.forkServerAttempts {
            do {
                let server: ForkServer
                if let running = forkServer {
                    server = running
                } else {
                    server = try ForkServer.start(configuration, table: table)
                    forkServer = server
                }
                let spawned = try server.fork(workerSlot: tableSlot, cgroup: cgroup)
                forkServerFailures = 0
                return spawned
            } catch {
                forkServerFailures += 1
                forkServer?.stop()
                forkServer = nil
                let given = forkServerFailures >= Self.forkServerAttempts
                Log.warn(given ? "the fork server keeps failing; workers are spawned from now on"
                               : "the fork server failed; this worker is spawned, the next forked by a new server",
                         ["pool": poolName, "error": error.description])
            }
        }
        return try Spawning.mcpWorker(configuration, table: table, workerSlot: tableSlot, cgroup: cgroup)
    }

    // MARK: upkeep

    /// Spawns up to the target and retires idle workers above it. The target follows PHP-FPM's
    /// dynamic manager: every saturated worker (busy, for one call each), plus spares (or enough
    /// for the queued calls), within [min, max].
    public func maintainPool() {
        guard !shuttingDown else { return }
        let counts = self.counts
        var saturated = counts.busy
        if workerCapacity > 1 {
            saturated = workers.values.filter { $0.occupancy == .busy && !$0.canTakeCall }.count
        }
        let queuedDemand = (counts.queued + workerCapacity - 1) / workerCapacity
        let wanted = saturated + max(configuration.spareWorkers, queuedDemand)
        let target = min(configuration.maxWorkers, max(configuration.minWorkers, wanted))
        // Stopping workers (cancelling, retiring, killed) still count until reaped: the number of
        // worker processes never exceeds the maximum, even while one finishes a cancelled call.
        var present = counts.starting + counts.idle + counts.busy
        let ceiling = configuration.maxWorkers - counts.stopping
        let now = Clock.monotonicMillis()
        while present < target && present < ceiling && now >= nextSpawnAllowedMs {
            spawnWorker()
            present += 1
        }
        if counts.idle > 0 && present > target {
            var surplus = present - target
            for worker in availableWorkers where surplus > 0 && worker.isQuiet && now - worker.idleSinceMs >= configuration.idleRetireMs {
                retire(worker, recycled: false)
                surplus -= 1
            }
        }
    }

    private func tick() {
        honourCancellationsFromTheTable()
        killStuckWorkers()
        let now = Clock.monotonicMillis()
        for call in Array(activeCalls.values) where now >= call.deadlineMs && call.state != .ended {
            if call.state == .pending {
                queuedCount -= 1
                end(call, .failed(kind: "deadline_exceeded", message: "the call did not start before its deadline"))
            } else if let worker = call.worker {
                Log.warn("call passed its deadline; stopping it", ["pool": poolName, "pid": String(worker.pid), "tool": call.tool,
                                                                   "request_id": call.httpRequestId])
                let event = CallEvent.failed(kind: "deadline_exceeded", message: "the call ran past its deadline")
                if configuration.isStdio {
                    // A stdio server is told to cancel, like any MCP server; it is stopped only if it
                    // does not within the grace period (its other calls need not die with this one).
                    abandon(call, telling: "deadline exceeded", ending: event)
                } else {
                    kill(worker, reason: event)
                }
            }
        }
        for worker in Array(workers.values) {
            switch worker.state {
            case .starting(let since) where now - since >= configuration.startTimeoutMs:
                Log.warn("worker did not get ready in time; killing it", ["pool": poolName, "pid": String(worker.pid)])
                kill(worker, reason: .failed(kind: "worker_crashed", message: "\(workerNoun) did not start"))
            case .serving:
                if worker.abandoned.contains(where: { now >= $0.untilMs }) {
                    Log.warn("worker did not stop a cancelled call within the grace period; stopping it",
                             ["pool": poolName, "pid": String(worker.pid)])
                    let event = CallEvent.failed(kind: "worker_crashed",
                                                 message: "\(workerNoun) was stopped: a cancelled call on it did not stop")
                    if configuration.isStdio { terminate(worker, reason: event) } else { kill(worker, reason: event) }
                } else {
                    worker.channel.keepAlive(nowMs: now)
                }
            case .retiring(let since) where now - since >= configuration.cancelGraceMs:
                Log.warn("worker did not exit after its channel closed; terminating it", ["pool": poolName, "pid": String(worker.pid)])
                terminate(worker, reason: .cancelled(reason: "retired"))
            case .terminating(let until) where now >= until:
                Process.signalGroup(worker.pid, SIGKILL)
                worker.state = .killed
            default:
                break
            }
        }
        publishQueue()
        maintainPool()
    }

    // MARK: shutdown

    /// Ends every pending and running call as cancelled (the drain timeout passed).
    /// Cancellations another process asked for through the call table (mcpctl cancel, cancel-all):
    /// a call's cancel flag, or a new cancel epoch for every call. Read on each tick, so they reach
    /// queued calls and stdio servers too, not only mcp-workers (which also watch the table).
    /// A call the supervisor itself abandons has already ended, so its flag is not seen here again.
    private func honourCancellationsFromTheTable() {
        guard !activeCalls.isEmpty else {
            seenCancelEpoch = table.cancelEpoch
            return
        }
        let epoch = table.cancelEpoch
        if epoch != seenCancelEpoch {
            seenCancelEpoch = epoch
            return cancelEverything(reason: "cancelled by the operator (cancel-all)")
        }
        for call in activeCalls.values.sorted(by: { $0.number < $1.number })
        where call.state != .ended && table.isCancelRequested(slot: call.tableSlot) {
            cancel(call, reason: "cancelled by the operator")
        }
    }

    /// mcp-workers whose heartbeat in the table has gone stale: the table, not the channel, is
    /// what proves a worker alive, so a stopped or wedged one is found even while it holds a call.
    private func killStuckWorkers() {
        guard configuration.stuckTimeoutMs > 0, !configuration.isStdio else { return }
        let now = Clock.wallMillis()
        for worker in Array(workers.values) where worker.state == .serving {
            guard let record = table.readWorker(slot: worker.tableSlot), record.pid == worker.pid,
                  record.heartbeatMs != 0, now - record.heartbeatMs > configuration.stuckTimeoutMs else { continue }
            let seconds = (now - record.heartbeatMs) / 1000
            Log.warn("worker is stuck (no heartbeat); killing it", ["pool": poolName, "pid": String(worker.pid),
                                                                     "heartbeat_age_s": String(seconds)])
            kill(worker, reason: .failed(kind: "worker_stuck", message: "the worker sent no heartbeat for \(seconds) s and was killed"))
        }
    }

    public func cancelEverything(reason: String) {
        for call in activeCalls.values.sorted(by: { $0.number < $1.number }) { cancel(call, reason: reason) }
    }

    /// Whether no call is pending or running.
    public var isQuiet: Bool { activeCalls.isEmpty }

    /// Stops spawning and asks every worker to exit: channel closed, SIGTERM to its process group
    /// (SIGKILL follows after the grace period, or from `killRemaining`). Also how a stdio server
    /// removed at run time is stopped: `cancelEverything`, `beginShutdown`, keep calling
    /// `reapChildren` on SIGCHLD until `hasWorkers` is false, then drop the pool.
    public func beginShutdown() {
        shuttingDown = true
        forkServer?.stop()
        forkServer = nil
        let killAt = Clock.monotonicMillis() + configuration.cancelGraceMs
        for worker in workers.values {
            removeFromAvailable(worker)
            if worker.state != .killed { worker.state = .terminating(untilMs: killAt) }
            worker.closeChannel()
            Process.signalGroup(worker.pid, SIGTERM)
        }
    }

    /// SIGKILLs whatever is left, process groups included, and waits for it, so that no worker (nor
    /// anything a stdio server started) outlives the supervisor.
    public func killRemaining() {
        forkServer?.stop()
        forkServer = nil
        for worker in workers.values {
            worker.closeEverything()
            Process.signalGroup(worker.pid, SIGKILL)
        }
        for (pid, worker) in workers {
            _ = Process.wait(pid)
            workers[pid] = nil
            table.releaseWorkerSlot(worker.tableSlot)
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
