// Logging: structured logs to stderr, one JSON object per line. Under systemd (JOURNAL_STREAM set)
// each line starts with a <N> priority prefix that journald turns into the entry's priority.
// Callers must never pass secrets: tokens are identified by their owner name only.
import Glibc
import JSON

public enum LogLevel: Int, Comparable, Sendable {
    case debug = 0, info, warn, error

    public init?(name: String) {
        switch name.lowercased() {
        case "debug": self = .debug
        case "info": self = .info
        case "warn", "warning": self = .warn
        case "error": self = .error
        default: return nil
        }
    }

    var name: String { ["debug", "info", "warn", "error"][rawValue] }
    /// syslog priorities, as journald reads them.
    var priority: Int { [7, 6, 4, 3][rawValue] }

    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A process-wide logger configured once at start-up, before any other thread exists.
public enum Log {
    // Written only during single-threaded start-up, read afterwards.
    nonisolated(unsafe) public static var level: LogLevel = .info
    nonisolated(unsafe) public static var component = "mcpd"
    nonisolated(unsafe) static var journald = getenv("JOURNAL_STREAM") != nil
    /// Fields added to every line, e.g. the request id of the call a worker is running. Set and
    /// read on the thread that logs (a worker runs one call at a time).
    nonisolated(unsafe) public static var context: [(String, String)] = []

    public static func debug(_ message: String, _ fields: KeyValuePairs<String, String> = [:]) { write(.debug, message, fields) }
    public static func info(_ message: String, _ fields: KeyValuePairs<String, String> = [:]) { write(.info, message, fields) }
    public static func warn(_ message: String, _ fields: KeyValuePairs<String, String> = [:]) { write(.warn, message, fields) }
    public static func error(_ message: String, _ fields: KeyValuePairs<String, String> = [:]) { write(.error, message, fields) }

    static func write(_ level: LogLevel, _ message: String, _ fields: KeyValuePairs<String, String>) {
        guard level >= Log.level else { return }
        var line: [UInt8] = []
        line.reserveCapacity(128 + message.utf8.count)
        if journald { line.append(contentsOf: "<\(level.priority)>".utf8) }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let millis = Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
        line.append(contentsOf: "{\"ts_ms\":\(millis),\"level\":\"\(level.name)\",\"component\":".utf8)
        JSONWriter.appendString(component, to: &line)
        line.append(contentsOf: ",\"msg\":".utf8)
        JSONWriter.appendString(message, to: &line)
        for (key, value) in context {
            line.append(UInt8(ascii: ","))
            JSONWriter.appendString(key, to: &line)
            line.append(UInt8(ascii: ":"))
            JSONWriter.appendString(value, to: &line)
        }
        for (key, value) in fields {
            line.append(UInt8(ascii: ","))
            JSONWriter.appendString(key, to: &line)
            line.append(UInt8(ascii: ":"))
            JSONWriter.appendString(value, to: &line)
        }
        line.append(contentsOf: "}\n".utf8)
        line.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = Glibc.write(2, bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                offset += n
            }
        }
    }
}
