import CallTable
import Glibc
import JSON
import SystemCalls

/// The supervisor's side of a per-call pool's fork server: one mcp-worker, started once, that forks
/// each new worker on request instead of the supervisor spawning (exec-ing) it, which saves the
/// start-up every per-call worker would otherwise repeat (see mcp-worker's ForkServer.swift).
/// The children are the supervisor's own: a forked worker is reaped, signalled and sandboxed
/// exactly like a spawned one.
final class ForkServer {
    let pid: Int32
    /// Our end of the SOCK_SEQPACKET pair; blocking, with a receive timeout.
    private let control: Int32
    /// How long a fork may take before the server is given up on (the event loop waits meanwhile).
    static let answerTimeoutMs = 1000

    private init(pid: Int32, control: Int32) {
        self.pid = pid
        self.control = control
    }

    /// Spawns the server with the pool's sandbox policy and log level (each child applies the policy
    /// to itself), its end of the control pair and the call table.
    static func start(_ configuration: PoolConfiguration, table: CallTable) throws(SystemError) -> ForkServer {
        let (mine, theirs) = try Socket.seqpacketPair()
        defer { Descriptor.close(theirs) }
        let arguments = ["--fork-server", "--control-fd", String(theirs), "--table-fd", String(table.descriptor),
                         "--supervisor-pid", String(getpid()), "--log-level", configuration.logLevel]
            + Spawning.sandboxArguments(configuration.sandbox, hidden: configuration.hiddenPaths, cgroup: nil)
        do {
            let pid = try Process.spawn(path: configuration.workerExecutable, arguments: arguments,
                                        environment: Spawning.workerEnvironment, keepDescriptors: [theirs, table.descriptor])
            Socket.setReceiveTimeout(mine, milliseconds: answerTimeoutMs)
            return ForkServer(pid: pid, control: mine)
        } catch {
            Descriptor.close(mine)
            throw error
        }
    }

    /// A new worker for `workerSlot`, forked by the server and holding the other end of a fresh
    /// pair. Blocks until the server answers (a fork: well under a millisecond when idle).
    func fork(workerSlot: Int, cgroup: String?) throws(SystemError) -> SpawnedProcess {
        let (mine, theirs) = try Socket.seqpacketPair()
        Socket.setSendBuffer(mine, bytes: 1 << 20)
        Socket.setSendBuffer(theirs, bytes: 1 << 20)
        defer { Descriptor.close(theirs) }
        do throws(SystemError) {
            var request = JSONObject([("slot", .int(Int64(workerSlot)))])
            if let cgroup { request["cgroup"] = .string(cgroup) }
            try Socket.send(control, Array(JSONValue.object(request).serialized().utf8), passing: theirs)
            guard let reply = try Socket.receive(control, capacity: 4096) else {
                throw SystemError("the fork server closed its socket", errno: EPIPE)
            }
            if let descriptor = reply.descriptor { Descriptor.close(descriptor) }
            let fields = (try? JSONValue.parse(reply.bytes))?.objectValue
            guard let pid = fields?["pid"]?.intValue, pid > 0, pid <= Int64(Int32.max) else {
                let reason = fields?["error"]?.stringValue ?? "an answer without a pid"
                throw SystemError("the fork server: \(reason)", errno: EPROTO)
            }
            return SpawnedProcess(pid: Int32(pid), channel: mine, stderr: nil)
        } catch {
            Descriptor.close(mine)
            throw error
        }
    }

    /// Whether the server was reaped: its pid may belong to another process by now.
    private var reaped = false
    private var stopped = false

    /// Reaps the server if it has exited (it is a child like the workers): true when it has.
    func reapIfExited() -> Bool {
        if !reaped && Process.reap(pid) != nil { reaped = true }
        return reaped
    }

    /// Closes the conversation and kills and reaps the server. Its children live on: they are the
    /// supervisor's, not its.
    func stop() {
        guard !stopped else { return }
        stopped = true
        Descriptor.close(control)
        guard !reaped else { return }
        _ = Glibc.kill(pid, SIGKILL)
        _ = Process.wait(pid)
        reaped = true
    }
}
