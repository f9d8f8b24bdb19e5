import Glibc
import Logging
import Sandbox
import SystemCalls

/// What the sandbox can and cannot do on this host, said once at startup: one line per degraded
/// capability, so that an operator knows which layer is missing without reading every worker's log.
enum SandboxReport {
    /// Logs what is missing and, when mcpd has a delegated cgroup v2, moves mcpd into its leaf and
    /// answers the directory workers get theirs in.
    static func logCapabilities() -> String? {
        if SandboxEntry.landlockABI == 0 {
            Log.warn("Landlock is not available; strict sandboxes rely on the read-only mount view alone for file writes",
                     ["kernel_lsm": "landlock missing or disabled"])
        }
        switch CgroupDelegation.probe() {
        case .delegated(let path):
            do {
                try CgroupDelegation.prepare(root: path)
                Log.info("cgroup v2 delegated: workers get memory.max, pids.max and cpu.max", ["cgroup": path])
                return path
            } catch {
                Log.warn("cgroup v2 delegated but not usable; sandboxes are limited by rlimits only", ["error": error.description])
            }
        case .unavailable(let reason):
            Log.warn("no delegated cgroup v2; sandboxes are limited by rlimits only", ["reason": reason])
        }
        return nil
    }

    /// `path` made absolute against the working directory (the state directory may be relative).
    static func absolutePath(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buffer, buffer.count) != nil else { return path }
        let directory = String(nulTerminated: buffer)
        return (directory == "/" ? "" : directory) + "/" + path
    }
}
