// Systemd: the socket-activation and notify protocols, implemented natively (no libsystemd; see
// DESIGN.md). Both are small, stable and documented in sd_listen_fds(3) and sd_notify(3).
import Glibc
import SystemCalls

/// Sockets handed over by systemd (or systemd-socket-activate): LISTEN_PID names this process,
/// LISTEN_FDS counts descriptors starting at 3, LISTEN_FDNAMES optionally names them.
public enum SocketActivation {
    public static let firstDescriptor: Int32 = 3

    public struct Passed: Sendable {
        public let fd: Int32
        public let name: String
    }

    /// The passed descriptors, or nil when none were passed to this process. The variables are
    /// removed from the environment so that children never believe they were meant for them.
    public static func takeListeners() -> [Passed]? {
        defer {
            unsetenv("LISTEN_PID")
            unsetenv("LISTEN_FDS")
            unsetenv("LISTEN_FDNAMES")
        }
        guard let pidText = Process.environment("LISTEN_PID"), let pid = Int32(pidText), pid == getpid(),
              let countText = Process.environment("LISTEN_FDS"), let count = Int32(countText), count > 0 else {
            return nil
        }
        let names = Process.environment("LISTEN_FDNAMES")?.split(separator: ":", omittingEmptySubsequences: false).map(String.init) ?? []
        return (0..<count).map { index in
            let fd = firstDescriptor + index
            // Passed descriptors arrive without close-on-exec; workers must not inherit them.
            try? Descriptor.setCloseOnExec(fd)
            return Passed(fd: fd, name: Int(index) < names.count ? names[Int(index)] : "unknown")
        }
    }
}
