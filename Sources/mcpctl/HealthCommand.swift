// `mcpctl health`: one line and an exit status, for exec probes (systemd, Kubernetes, load balancers).
import CallTable
import SystemCalls

enum HealthCommand: Subcommand {
    static let name = "health"
    static let abstract = "Exit 0 if mcpd is healthy, 1 if not; print one line saying why."
    static let discussion = """
        mcpd is healthy when its call table can be read and has a layout this mcpctl knows, the \
        supervisor process is running, its heartbeat is younger than 5 seconds, it is ready (not \
        starting, draining or stopped), and at least one worker is idle or busy with a heartbeat \
        younger than 5 seconds.

        Prints "healthy: ..." or "unhealthy: <reason>" on standard output, so that a probe's log \
        says what failed. Suitable as a Kubernetes exec probe or a systemd ExecCondition.
        """
    static let options: [OptionSpec] = []

    static func run(_ options: ParsedOptions, _ context: Context) -> Int32 {
        guard let table = context.openTable(reportingTo: 1, prefix: "unhealthy: ") else { return 1 }
        switch verdict(TableReading(table, path: context.tablePath)) {
        case .success(let summary):
            Descriptor.writeAll(1, "healthy: \(summary)\n")
            return 0
        case .failure(let problem):
            Descriptor.writeAll(1, "unhealthy: \(problem.reason)\n")
            return 1
        }
    }

    struct Problem: Error { let reason: String }

    /// The first rule the table breaks, or a summary when it breaks none.
    static func verdict(_ reading: TableReading) -> Result<String, Problem> {
        let snapshot = reading.snapshot
        let limit = Format.duration(ms: TableReading.heartbeatLimitMs)
        guard reading.supervisorAlive else {
            return .failure(Problem(reason: "supervisor \(snapshot.supervisorPid) is not running"))
        }
        guard let heartbeatAge = reading.supervisorHeartbeatAge else {
            return .failure(Problem(reason: "supervisor \(snapshot.supervisorPid) has never stamped its heartbeat"))
        }
        guard heartbeatAge < TableReading.heartbeatLimitMs else {
            return .failure(Problem(reason: "supervisor heartbeat is \(Format.duration(ms: heartbeatAge)) old (limit \(limit))"))
        }
        guard snapshot.supervisorState == .ready else {
            let state = snapshot.supervisorState == .none ? "not started" : snapshot.supervisorState.name
            return .failure(Problem(reason: "supervisor is \(state)"))
        }
        let live = reading.liveWorkers
        guard !live.isEmpty else {
            let total = snapshot.workers.count
            let detail = total == 0 ? "" : " (\(counted(total, "worker")), none idle or busy with a heartbeat younger than \(limit))"
            return .failure(Problem(reason: "no live worker" + detail))
        }
        let idle = reading.workers(in: .idle)
        return .success("\(counted(snapshot.workers.count, "worker")) (\(idle) idle), "
            + "\(counted(reading.callsInFlight, "call")) in flight")
    }
}
