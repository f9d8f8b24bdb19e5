// A per-call pool's fork server: `mcp-worker --fork-server --control-fd FD --table-fd FD
// --supervisor-pid PID [--log-level LEVEL] [--sandbox POLICY-JSON] [--hide PATH]...`.
//
// A per-call worker lives for one call, so whatever it costs to start is paid on every call. Of a
// spawned one's CPU, perf puts ~20 % before main: the exec, the dynamic linker relocating
// libstdc++, glibc's CPU probing (cpuid traps to the hypervisor in a VM) and the Swift runtime's
// start. The fork server pays that once and then forks each new worker on request; the child
// enters its own sandbox (cgroup, namespaces, read-only system, Landlock, seccomp) exactly as a
// spawned worker does, from the same code. The children share the server's address-space layout
// (as Android's zygote does): one sandboxed call learns where another's code is mapped, and has
// no way to reach that other process.
//
// The conversation, over a SOCK_SEQPACKET pair: the supervisor sends {"slot": N, "cgroup": DIR?}
// with the new worker's socket attached (SCM_RIGHTS); the server answers {"pid": N}, or
// {"error": TEXT}. The child is the supervisor's own (CLONE_PARENT): it reaps and signals it like
// any worker it spawned, and the child's parent-death signal follows the supervisor. The server
// holds no call and no secret; it exits when the supervisor closes the socket or dies.
import CallTable
import CMcpd
import Glibc
import JSON
import Logging
import SystemCalls

enum ForkServer {
    static let flag = "--fork-server"

    /// Runs the fork server when the command line asks for it; returns otherwise.
    static func runIfRequested(_ commandLine: [String]) {
        guard commandLine.count > 1, commandLine[1] == flag else { return }
        guard let options = WorkerArguments.parseOptions(Array(commandLine.dropFirst(2))),
              options.controlFD >= 0, options.tableFD >= 0, options.supervisorPid > 0 else {
            Descriptor.writeAll(2, "usage: mcp-worker --fork-server --control-fd FD --table-fd FD --supervisor-pid PID "
                                   + "[--log-level LEVEL] [--sandbox POLICY-JSON] [--hide PATH]...\n")
            exit(2)
        }
        Log.component = "mcp-worker"
        Log.level = LogLevel(name: options.logLevel) ?? .info
        _ = mcpd_set_parent_death_signal(SIGKILL)
        if getppid() != options.supervisorPid { exit(1) }
        // Forking is only safe in a single-threaded process: were the runtime ever to start a thread,
        // refuse, and the pool spawns its workers instead.
        guard threadCount() == 1 else {
            Log.error("the fork server is not single-threaded; not forking")
            exit(1)
        }
        // Its own name, so that ps and the tests tell it from the workers it forks.
        _ = mcpd_set_process_name("mcp-fork-server")
        // Mapped once here, inherited by every child.
        let table: CallTable
        do {
            table = try CallTable.attach(descriptor: options.tableFD)
        } catch {
            Log.error("cannot map the call table", ["error": error.description])
            exit(1)
        }
        serve(options, table: table)
    }

    private static func serve(_ options: WorkerArguments, table: CallTable) -> Never {
        let control = options.controlFD
        while true {
            let request: (bytes: [UInt8], descriptor: Int32?)
            do {
                guard let received = try Socket.receive(control, capacity: 4096) else { exit(0) }
                request = received
            } catch {
                Log.error("cannot read the supervisor's request", ["error": error.description])
                exit(1)
            }
            guard let socket = request.descriptor,
                  let fields = (try? JSONValue.parse(request.bytes))?.objectValue,
                  let slot = fields["slot"]?.intValue, slot >= 0, slot <= Int64(Int32.max) else {
                if let socket = request.descriptor { Descriptor.close(socket) }
                answer(control, JSONObject([("error", .string("the request needs a worker slot and a socket"))]))
                continue
            }
            var worker = options
            worker.socketFD = socket
            worker.workerSlot = Int(slot)
            worker.cgroup = fields["cgroup"]?.stringValue
            worker.controlFD = -1
            let pid = mcpd_fork_for_parent()
            if pid == 0 {
                // The child must not hand out random bytes the server (or a sibling) also holds.
                Random.discardReserve()
                Descriptor.close(control)
                _ = mcpd_set_process_name("mcp-worker")
                becomeWorker(worker, table: table)
            }
            Descriptor.close(socket)
            if pid < 0 {
                let reason = String(cString: strerror(-pid))
                answer(control, JSONObject([("error", .string("clone3: \(reason)"))]))
            } else {
                answer(control, JSONObject([("pid", .int(Int64(pid)))]))
            }
        }
    }

    /// The threads of this process (entries of /proc/self/task); 0 when that cannot be read.
    private static func threadCount() -> Int {
        guard let tasks = opendir("/proc/self/task") else { return 0 }
        defer { closedir(tasks) }
        var count = 0
        while let entry = readdir(tasks) {
            if entry.pointee.d_name.0 != CChar(UInt8(ascii: ".")) { count += 1 }
        }
        return count
    }

    private static func answer(_ control: Int32, _ fields: JSONObject) {
        let bytes = Array(JSONValue.object(fields).serialized().utf8)
        let sent = bytes.withUnsafeBytes { Descriptor.send(control, $0) }
        // The supervisor is gone or no longer listening: nothing more to fork for.
        if case .failed = sent { exit(0) }
    }
}
