import Glibc
import SystemCalls

/// cgroup v2 resource ceilings for workers, when systemd (Delegate=yes) gave mcpd a cgroup subtree
/// of its own. v2 forbids processes in a cgroup that has children with controllers, so the
/// supervisor moves into a leaf (`supervisor`) and each worker gets a sibling leaf with its limits.
public enum CgroupDelegation {
    public enum Probe: Equatable, Sendable {
        /// Our cgroup directory, writable, on a cgroup2 mount.
        case delegated(String)
        /// Why not, for the one log line.
        case unavailable(String)
    }

    static let mountPoint = "/sys/fs/cgroup"

    /// Our cgroup from /proc/self/cgroup ("0::/path", the unified hierarchy), when it is on a cgroup2
    /// mount and we may write its cgroup.subtree_control.
    public static func probe() -> Probe {
        guard let text = readText("/proc/self/cgroup") else { return .unavailable("cannot read /proc/self/cgroup") }
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("0::") }) else {
            return .unavailable("no unified (v2) hierarchy in /proc/self/cgroup (cgroup v1 or hybrid)")
        }
        guard readText(mountPoint + "/cgroup.controllers") != nil else {
            return .unavailable("\(mountPoint) is not a cgroup2 mount (cgroup v1 or hybrid)")
        }
        let directory = mountPoint + String(line.dropFirst(3))
        guard access(directory + "/cgroup.subtree_control", W_OK) == 0, access(directory + "/cgroup.procs", W_OK) == 0 else {
            return .unavailable("\(directory) is not delegated to us (cgroup.subtree_control not writable)")
        }
        return .delegated(directory)
    }

    /// Moves this process into `<root>/supervisor` and enables the memory, pids and cpu controllers
    /// for the children of `root`. Throws with the step that failed.
    public static func prepare(root: String) throws(SystemError) {
        try makeDirectory(root + "/supervisor")
        try writeText(root + "/supervisor/cgroup.procs", String(getpid()))
        try writeText(root + "/cgroup.subtree_control", "+memory +pids +cpu")
    }

    /// A leaf for one worker with its limits, made before the worker is spawned: the worker joins
    /// it itself (`join`) before it sandboxes itself or forks, so nothing it starts escapes it.
    public static func createLeaf(root: String, name: String, limits: CgroupLimits) throws(SystemError) -> String {
        let leaf = root + "/" + name
        try makeDirectory(leaf)
        try writeText(leaf + "/memory.max", String(limits.memoryBytes))
        try writeText(leaf + "/pids.max", String(limits.processes))
        // cpu.max is "QUOTA PERIOD": the share of one CPU as microseconds per 100 ms.
        try writeText(leaf + "/cpu.max", "\(limits.cpuPercent * 1000) 100000")
        return leaf
    }

    /// Moves the calling process into `leaf` (the worker's first step, in the child).
    public static func join(_ leaf: String) throws(SystemError) {
        try writeText(leaf + "/cgroup.procs", "0")
    }

    /// Kills whatever is left in a worker's leaf (cgroup.kill, Linux 5.14) and removes it; rmdir
    /// fails harmlessly while dying processes remain, and the leaf's name is not reused.
    public static func remove(_ leaf: String) {
        try? writeText(leaf + "/cgroup.kill", "1")
        _ = rmdir(leaf)
    }

    private static func makeDirectory(_ path: String) throws(SystemError) {
        if mkdir(path, 0o755) != 0 && errno != EEXIST { throw SystemError("mkdir \(path)", errno: errno) }
    }

    private static func writeText(_ path: String, _ text: String) throws(SystemError) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open \(path)", errno: errno) }
        defer { Descriptor.close(fd) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if written != bytes.count { throw SystemError("write \(path)", errno: errno) }
    }

    private static func readText(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Descriptor.close(fd) }
        var buffer = [UInt8](repeating: 0, count: 8192)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count >= 0 else { return nil }
        return String(decoding: buffer[..<count], as: UTF8.self)
    }
}

/// A worker's cgroup v2 ceilings, from its sandbox policy.
public struct CgroupLimits: Sendable, Equatable {
    public var memoryBytes: UInt64
    public var processes: UInt64
    /// Percent of one CPU.
    public var cpuPercent: UInt64

    public init(_ limits: ResourceLimits) {
        memoryBytes = limits.addressSpaceBytes
        processes = limits.processes
        cpuPercent = 100
    }
}
