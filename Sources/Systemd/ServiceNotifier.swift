import CMcpd
import Glibc
import SystemCalls

/// Talks to the service manager over $NOTIFY_SOCKET: READY=1, STATUS=, WATCHDOG=1, STOPPING=1.
/// Without NOTIFY_SOCKET every call does nothing, so callers never need to ask.
public final class ServiceNotifier {
    private let socketPath: String?
    /// How often to send WATCHDOG=1 (half of WatchdogSec), when the manager asked for it.
    public let watchdogIntervalMs: Int64?
    private var lastStatus = ""

    public init() {
        socketPath = Process.environment("NOTIFY_SOCKET").flatMap { $0.isEmpty ? nil : $0 }
        if let usecText = Process.environment("WATCHDOG_USEC"), let usec = Int64(usecText), usec > 0,
           Process.environment("WATCHDOG_PID").map({ Int32($0) == getpid() }) ?? true {
            watchdogIntervalMs = max(1, usec / 2000)
        } else {
            watchdogIntervalMs = nil
        }
        // The variables are for this process only, not for the workers it spawns.
        unsetenv("NOTIFY_SOCKET")
        unsetenv("WATCHDOG_USEC")
        unsetenv("WATCHDOG_PID")
    }

    public var isConnected: Bool { socketPath != nil }

    @discardableResult
    public func send(_ assignments: String) -> Bool {
        guard let socketPath else { return false }
        return assignments.withCString { mcpd_notify_send(socketPath, $0, strlen($0), -1) } == 0
    }

    public func ready(status: String) { send("READY=1\nSTATUS=\(status)\nMAINPID=\(getpid())") }
    /// A reload begins (systemd's Type=notify-reload protocol): READY=1 ends it.
    public func reloading(status: String) {
        send("RELOADING=1\nSTATUS=\(status)\nMONOTONIC_USEC=\(Clock.monotonicMicros())")
    }
    public func stopping(status: String) { send("STOPPING=1\nSTATUS=\(status)") }
    public func watchdog() { send("WATCHDOG=1") }

    /// Keeps `descriptor` in the service manager's fd store under `name` (FDSTORE=1), replacing what
    /// was stored under that name; it comes back in LISTEN_FDS with that name when the service
    /// restarts. The unit needs FileDescriptorStoreMax= above 0, else the manager drops it.
    @discardableResult
    public func store(descriptor: Int32, name: String) -> Bool {
        guard let socketPath else { return false }
        send("FDSTOREREMOVE=1\nFDNAME=\(name)")
        let message = "FDSTORE=1\nFDNAME=\(name)"
        return message.withCString { mcpd_notify_send(socketPath, $0, strlen($0), descriptor) } == 0
    }

    /// Sends STATUS= only when the text changed.
    public func status(_ text: String) {
        guard text != lastStatus else { return }
        lastStatus = text
        send("STATUS=\(text)")
    }
}
