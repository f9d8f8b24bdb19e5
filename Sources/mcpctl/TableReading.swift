// What mcpctl's commands derive from one snapshot of the call table, computed in one place so
// that status and health never disagree about what "alive" means.
import CallTable
import Glibc
import SystemCalls

struct TableReading {
    /// A heartbeat older than this means the process is stuck or gone. Workers stamp at least once a
    /// second and the supervisor on every tick, so five missed stamps are not noise.
    static let heartbeatLimitMs: Int64 = 5000

    let path: String
    let snapshot: CallTableSnapshot
    /// Wall clock when the snapshot was taken; every age is measured from it.
    let now: Int64
    let supervisorAlive: Bool
    /// Rate buckets holding a client that has used part of its limit, and all of them.
    let rateBuckets: (active: Int, total: Int)

    init(_ table: CallTable, path: String) {
        self.path = path
        snapshot = table.snapshot()
        rateBuckets = (table.activeRateBuckets(), table.rateBucketCount)
        now = Clock.wallMillis()
        supervisorAlive = Process.isRunning(snapshot.supervisorPid)
    }

    /// Milliseconds since a wall-clock stamp; nil for a stamp never written. A stamp slightly in the
    /// future (clocks stepped between processes) counts as fresh.
    func age(of stampMs: Int64) -> Int64? {
        stampMs == 0 ? nil : max(now - stampMs, 0)
    }

    var supervisorHeartbeatAge: Int64? { age(of: snapshot.supervisorHeartbeatMs) }

    /// A worker that can take or is running a call and has stamped its heartbeat recently.
    func isLive(_ worker: WorkerRecord) -> Bool {
        guard worker.state == .idle || worker.state == .busy, let age = age(of: worker.heartbeatMs) else { return false }
        return age < Self.heartbeatLimitMs
    }

    var liveWorkers: [WorkerRecord] { snapshot.workers.filter(isLive) }

    func workers(in state: WorkerState) -> Int { snapshot.workers.filter { $0.state == state }.count }

    func calls(in state: CallState) -> Int { snapshot.calls.filter { $0.state == state }.count }

    var callsInFlight: Int { snapshot.calls.filter { $0.state.isInFlight }.count }

    /// The id of the call in a call slot, for showing what a worker is running.
    func callId(inSlot slot: Int?) -> String? {
        guard let slot else { return nil }
        return snapshot.calls.first { $0.slot == slot }?.callId
    }
}

/// "1 worker", "3 workers".
func counted(_ count: Int, _ noun: String) -> String {
    "\(count) \(noun)\(count == 1 ? "" : "s")"
}
