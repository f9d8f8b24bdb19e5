// How mcpctl shows times, tables and JSON. Ages are computed against the wall clock because that is
// what the table stores (its writers and readers are different processes).
import Glibc
import JSON

enum Format {
    /// A duration in the largest units that keep it short: "850 ms", "4.2 s", "42 s", "4m 05s",
    /// "2h 03m 10s", "3d 04h 02m".
    static func duration(ms: Int64) -> String {
        let ms = max(ms, 0)
        if ms < 1000 { return "\(ms) ms" }
        if ms < 10_000 { return "\(ms / 1000).\(ms % 1000 / 100) s" }
        let seconds = ms / 1000
        if seconds < 60 { return "\(seconds) s" }
        let (minutes, s) = (seconds / 60, seconds % 60)
        if minutes < 60 { return "\(minutes)m \(twoDigits(s))s" }
        let (hours, m) = (minutes / 60, minutes % 60)
        if hours < 24 { return "\(hours)h \(twoDigits(m))m \(twoDigits(s))s" }
        return "\(hours / 24)d \(twoDigits(hours % 24))h \(twoDigits(m))m"
    }

    /// How long ago a wall-clock stamp was, or "never" for a stamp that was never written.
    static func age(of stampMs: Int64, now: Int64) -> String {
        stampMs == 0 ? "never" : duration(ms: now - stampMs) + " ago"
    }

    /// "2025-11-22 01:30:12 UTC".
    static func timestamp(ms: Int64) -> String {
        var seconds = time_t(ms / 1000)
        var parts = tm()
        guard gmtime_r(&seconds, &parts) != nil else { return "?" }
        return "\(parts.tm_year + 1900)-\(twoDigits(Int64(parts.tm_mon + 1)))-\(twoDigits(Int64(parts.tm_mday))) "
            + "\(twoDigits(Int64(parts.tm_hour))):\(twoDigits(Int64(parts.tm_min))):\(twoDigits(Int64(parts.tm_sec))) UTC"
    }

    private static func twoDigits(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }

    /// Columns padded to their widest cell, two spaces apart, the header row first.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for row in rows {
            for (column, cell) in row.enumerated() { widths[column] = max(widths[column], cell.count) }
        }
        var out = ""
        for row in [header] + rows {
            var line = ""
            for (column, cell) in row.enumerated() {
                line += column == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[column] - cell.count + 2)
            }
            out += line + "\n"
        }
        return out
    }

    /// "label:" padded so that values line up, as PHP-FPM's status page does.
    static func fields(_ fields: [(String, String)]) -> String {
        let width = (fields.map(\.0.count).max() ?? 0) + 2
        return fields.map { label, value in
            label + ":" + String(repeating: " ", count: width - label.count - 1) + value + "\n"
        }.joined()
    }
}

/// Compact JSON text built piece by piece; strings are escaped by the JSON module's writer.
enum JSONText {
    static func string(_ value: String) -> String { JSONWriter.quoted(value) }
    static func number<T: BinaryInteger>(_ value: T) -> String { "\(value)" }
    static func number<T: BinaryInteger>(_ value: T?) -> String { value.map { "\($0)" } ?? "null" }
    static func bool(_ value: Bool) -> String { value ? "true" : "false" }
    static func object(_ members: [(String, String)]) -> String {
        "{" + members.map { string($0.0) + ":" + $0.1 }.joined(separator: ",") + "}"
    }
    static func array(_ elements: [String]) -> String { "[" + elements.joined(separator: ",") + "]" }
}
