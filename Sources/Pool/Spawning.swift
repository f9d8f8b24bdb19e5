import CallTable
import Glibc
import Sandbox
import SystemCalls

/// A process just spawned and the supervisor's ends of its descriptors.
struct SpawnedProcess {
    let pid: Int32
    /// The supervisor's end of the conversation (close-on-exec, still blocking).
    let channel: Int32
    /// The read end of a stdio server's stderr pipe.
    let stderr: Int32?
}

/// Starting the pool's processes with posix_spawn (never fork: the supervisor is a Swift process
/// with threads in its runtime). Each child leads its own process group, so that it and anything
/// it starts are signalled together.
enum Spawning {
    /// The mcp-worker flag that makes it a pre-exec step for a stdio server (see mcp-worker's ExecShim).
    static let execShimFlag = "--exec-stdio"
    static let defaultSearchPath = "/usr/local/bin:/usr/bin:/bin"
    /// mcp-worker's whole environment: nothing of the supervisor's (no tokens, no NOTIFY_SOCKET).
    static let workerEnvironment = ["PATH=\(defaultSearchPath)", "LANG=C.UTF-8"]

    /// mcp-worker with its end of a SOCK_SEQPACKET pair and the call table, nothing else.
    static func mcpWorker(_ configuration: PoolConfiguration, table: CallTable, workerSlot: Int,
                          cgroup: String? = nil) throws(SystemError) -> SpawnedProcess {
        let (mine, theirs) = try Socket.seqpacketPair()
        Socket.setSendBuffer(mine, bytes: 1 << 20)
        Socket.setSendBuffer(theirs, bytes: 1 << 20)
        let arguments = ["--socket-fd", String(theirs), "--table-fd", String(table.descriptor),
                         "--worker-slot", String(workerSlot), "--supervisor-pid", String(getpid()),
                         "--log-level", configuration.logLevel]
            + sandboxArguments(configuration.sandbox, hidden: configuration.hiddenPaths, cgroup: cgroup)
        defer { Descriptor.close(theirs) }
        do {
            let pid = try Process.spawn(path: configuration.workerExecutable, arguments: arguments,
                                        environment: workerEnvironment, keepDescriptors: [theirs, table.descriptor])
            return SpawnedProcess(pid: pid, channel: mine, stderr: nil)
        } catch {
            Descriptor.close(mine)
            throw error
        }
    }

    /// A stdio MCP server: its stdin and stdout one end of a SOCK_STREAM pair, its stderr a pipe,
    /// the configured working directory, PATH, HOME and LANG plus the configured environment, and
    /// no other descriptor. Through mcp-worker's exec shim when `shim` is set, so that the server
    /// gets PR_SET_PDEATHSIG(SIGKILL) and dies with the supervisor even if the supervisor is killed.
    static func stdioServer(_ launch: StdioLaunch, shim: String, hidden: [String] = [],
                            cgroup: String? = nil) throws(SystemError) -> SpawnedProcess {
        var configured = launch.environment
        // Inside a strict sandbox mcpd's HOME is not there (or not ours): the private /tmp is.
        if launch.sandbox.level >= .strict && configured["HOME"] == nil { configured["HOME"] = "/tmp" }
        let environment = serverEnvironment(configured)
        let searchPath = environment.first { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) } ?? defaultSearchPath
        guard let executable = Process.findExecutable(launch.command, searchPath: searchPath) else {
            throw SystemError("find \(launch.command) in PATH \(searchPath)", errno: ENOENT)
        }
        let (mine, theirs) = try Socket.streamPair()
        let stderrPipe: (read: Int32, write: Int32)
        do {
            stderrPipe = try Descriptor.pipe()
        } catch {
            Descriptor.close(mine)
            Descriptor.close(theirs)
            throw error
        }
        defer {
            Descriptor.close(theirs)
            Descriptor.close(stderrPipe.write)
        }
        let path: String
        let arguments: [String]
        if shim.isEmpty {
            path = executable
            arguments = launch.arguments
        } else {
            path = shim
            arguments = [execShimFlag, "--supervisor-pid", String(getpid())] + sandboxArguments(launch.sandbox, hidden: hidden, cgroup: cgroup)
                + ["--", executable, launch.command] + launch.arguments
        }
        do {
            let pid = try Process.spawn(path: path, arguments: arguments, environment: environment,
                                        placing: [(theirs, 0), (theirs, 1), (stderrPipe.write, 2)],
                                        workingDirectory: launch.workingDirectory)
            return SpawnedProcess(pid: pid, channel: mine, stderr: stderrPipe.read)
        } catch {
            Descriptor.close(mine)
            Descriptor.close(stderrPipe.read)
            throw error
        }
    }

    /// The policy as mcp-worker's `--sandbox` (complete JSON), the paths a strict sandbox hides,
    /// and the cgroup leaf the child joins first.
    static func sandboxArguments(_ policy: SandboxPolicy, hidden: [String], cgroup: String?) -> [String] {
        ["--sandbox", policy.json.serialized()] + hidden.flatMap { ["--hide", $0] } + (cgroup.map { ["--cgroup", $0] } ?? [])
    }

    /// PATH, HOME and LANG from the supervisor's environment (a default PATH if it has none), then
    /// the configured variables, which win. Nothing else leaks: no tokens, no NOTIFY_SOCKET.
    static func serverEnvironment(_ configured: [String: String]) -> [String] {
        var variables: [String: String] = ["PATH": defaultSearchPath]
        for name in ["PATH", "HOME", "LANG"] {
            if let value = Process.environment(name) { variables[name] = value }
        }
        for (name, value) in configured where !name.isEmpty && !name.contains("=") { variables[name] = value }
        return variables.keys.sorted().map { "\($0)=\(variables[$0]!)" }
    }
}
