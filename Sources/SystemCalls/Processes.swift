import CMcpd
import Glibc

/// How a child process ended, as waitpid reports it.
public enum ExitStatus: Equatable, Sendable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    public var description: String {
        switch self {
        case .exited(let code): return "exited with status \(code)"
        case .signaled(let signal): return "killed by signal \(signal)"
        }
    }
}

public enum Process {
    public static var currentID: Int32 { getpid() }

    /// Spawns `path` with posix_spawn (never fork), keeping only `keepDescriptors` open in the child.
    public static func spawn(path: String, arguments: [String], environment: [String],
                             keepDescriptors: [Int32]) throws(SystemError) -> Int32 {
        var pid: pid_t = 0
        let rc = withCStrings([path] + arguments) { argv in
            withCStrings(environment) { envp in
                keepDescriptors.withUnsafeBufferPointer { keep in
                    mcpd_spawn(path, argv, envp, keep.baseAddress, Int32(keep.count), &pid)
                }
            }
        }
        guard rc == 0 else { throw SystemError("posix_spawn \(path)", errno: rc) }
        return pid
    }

    /// Spawns `path` with posix_spawn in its own process group, each `placing` pair's descriptor put
    /// at the given number in the child (targets below 3, e.g. a socket as stdin and stdout), in
    /// `workingDirectory` when given, with every other descriptor from 3 up closed.
    public static func spawn(path: String, arguments: [String], environment: [String],
                             placing: [(descriptor: Int32, at: Int32)],
                             workingDirectory: String?) throws(SystemError) -> Int32 {
        var pid: pid_t = 0
        let sources = placing.map(\.descriptor)
        let targets = placing.map(\.at)
        let rc = withCStrings([path] + arguments) { argv in
            withCStrings(environment) { envp in
                sources.withUnsafeBufferPointer { from in
                    targets.withUnsafeBufferPointer { to in
                        if let workingDirectory {
                            return mcpd_spawn_placed(path, argv, envp, from.baseAddress, to.baseAddress, Int32(from.count),
                                                     workingDirectory, 3, &pid)
                        }
                        return mcpd_spawn_placed(path, argv, envp, from.baseAddress, to.baseAddress, Int32(from.count),
                                                 nil, 3, &pid)
                    }
                }
            }
        }
        guard rc == 0 else { throw SystemError("posix_spawn \(path)", errno: rc) }
        return pid
    }

    /// Where `command` runs from: itself when it names a path (holds a '/'), else the first
    /// executable regular file of that name in `searchPath`'s directories, as execvp would pick.
    public static func findExecutable(_ command: String, searchPath: String) -> String? {
        if command.isEmpty { return nil }
        if command.contains("/") { return command }
        for directory in searchPath.split(separator: ":") where directory.hasPrefix("/") {
            let candidate = directory + "/" + command
            var info = stat()
            if stat(candidate, &info) == 0, info.st_mode & S_IFMT == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        return nil
    }

    /// Reaps this child if it has exited, without blocking: nil while it runs (or is not ours).
    /// Pools reap their own pids only, so that several pools in one supervisor never take each
    /// other's exit statuses.
    public static func reap(_ pid: Int32) -> ExitStatus? {
        var status: Int32 = 0
        while true {
            let rc = waitpid(pid, &status, WNOHANG)
            if rc == pid { return decode(status) }
            if rc < 0 && errno == EINTR { continue }
            return nil
        }
    }

    /// Makes this process the reaper of the descendants orphaned below it (PR_SET_CHILD_SUBREAPER),
    /// as PID 1 already is in a container. Inherited by what it starts from then on.
    public static func becomeSubreaper() -> Bool { mcpd_set_child_subreaper() == 0 }

    /// Reaps exited children that `isOwned` does not claim: descendants orphaned under this
    /// subreaper (the pid 1 of a killed sandbox's namespace, a daemon a tool left behind). Stops at
    /// an exited child that is claimed, which its owner reaps (it exited after the owners looked).
    /// Returns how many it reaped.
    public static func reapOrphans(isOwned: (Int32) -> Bool) -> Int {
        var reaped = 0
        while true {
            let pid = mcpd_exited_child()
            guard pid > 0, !isOwned(pid), reap(pid) != nil else { return reaped }
            reaped += 1
        }
    }

    /// Whether this child has exited, without reaping it: its zombie keeps the pid (and the id of
    /// the process group it leads) from being reused, so the group can still be signalled safely.
    public static func hasExited(_ pid: Int32) -> Bool { mcpd_child_has_exited(pid) == 1 }

    /// Signals every process in the group led by `leader` (spawned children lead their own group).
    public static func signalGroup(_ leader: Int32, _ signal: Int32) {
        if leader > 0 { _ = kill(-leader, signal) }
    }

    /// Reaps every child that has exited, without blocking. Not for a supervisor with several
    /// pools: it would take statuses that belong to another pool (they use `reap(_:)`).
    public static func reapExited() -> [(pid: Int32, status: ExitStatus)] {
        var reaped: [(Int32, ExitStatus)] = []
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid <= 0 {
                if pid < 0 && errno == EINTR { continue }
                return reaped
            }
            reaped.append((pid, decode(status)))
        }
    }

    /// Blocks until the child exits (used by tests and the CLI, never by the event loop).
    public static func wait(_ pid: Int32) -> ExitStatus? {
        var status: Int32 = 0
        while true {
            let rc = waitpid(pid, &status, 0)
            if rc == pid { return decode(status) }
            if rc < 0 && errno == EINTR { continue }
            return nil
        }
    }

    public static func signal(_ pid: Int32, _ signal: Int32) {
        if pid > 0 { _ = kill(pid, signal) }
    }

    /// Whether a process with this pid exists (it may belong to someone else, or be a zombie).
    public static func isAlive(_ pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        return kill(pid, 0) == 0 || errno == EPERM
    }

    /// Whether the process exists and has not exited: a zombie (exited, not yet reaped) is not
    /// running, though kill(pid, 0) still succeeds on it; a container whose init does not reap
    /// would otherwise show a dead process as alive.
    public static func isRunning(_ pid: Int32) -> Bool {
        isAlive(pid) && !isZombie(pid)
    }

    private static func isZombie(_ pid: Int32) -> Bool {
        let fd = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { Descriptor.close(fd) }
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return false }
        // "pid (comm) S ...": comm may hold spaces and parentheses, so the state follows the last ')'.
        guard let close = buffer[..<count].lastIndex(of: UInt8(ascii: ")")), close + 2 < count else { return false }
        return buffer[close + 2] == UInt8(ascii: "Z")
    }

    public static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }

    /// The absolute path of the running executable.
    public static func executablePath() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        return n > 0 ? String(nulTerminated: buffer) : CommandLine.arguments[0]
    }

    private static func decode(_ status: Int32) -> ExitStatus {
        // The W* macros are not imported; these are their glibc definitions.
        let signal = status & 0x7f
        return signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
    }
}

/// Calls `body` with a NULL-terminated C string array built from `strings`.
public func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for pointer in pointers { free(pointer) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

extension String {
    /// Decodes a NUL-terminated C character buffer.
    public init(nulTerminated buffer: [CChar]) {
        let end = buffer.firstIndex(of: 0) ?? buffer.count
        self = String(decoding: buffer[..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
