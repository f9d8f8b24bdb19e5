import HTTP
import JSON

/// Small helpers for answering MCP requests over HTTP.
extension HTTPConnection {
    func respondJSONValue(_ status: Int, _ value: JSONValue, headers: [(String, String)] = []) {
        var body: [UInt8] = []
        value.write(into: &body)
        respond(status: status, headers: [("Content-Type", "application/json")] + headers, body: body)
    }

    /// An HTTP error carrying a JSON-RPC error object, as MCP transports answer protocol failures.
    func respondRPCError(_ status: Int, _ error: RPCError, id: JSONValue = .null, headers: [(String, String)] = []) {
        respondJSONValue(status, JSONRPCMessage.error(id: id, error), headers: headers)
    }

    func respondEmpty(_ status: Int, headers: [(String, String)] = []) {
        respond(status: status, headers: headers, body: [])
    }
}

extension HTTPRequest {
    /// Whether a comma-separated header (Accept) lists a media type, ignoring parameters.
    func accepts(_ mediaType: String) -> Bool {
        guard let accept = header("accept") else { return false }
        for item in accept.split(separator: ",") {
            let type = item.split(separator: ";").first.map { $0.trimmingCharacters(in: " \t") } ?? ""
            if type == mediaType || type == "*/*" { return true }
        }
        return false
    }

    /// A query parameter's raw value (session ids are URL-safe, so no decoding is needed).
    func queryParameter(_ name: String) -> String? {
        guard let mark = target.firstIndex(of: "?") else { return nil }
        for pair in target[target.index(after: mark)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if parts.first == Substring(name) { return parts.count > 1 ? String(parts[1]) : "" }
        }
        return nil
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> String {
        var slice = self[...]
        while let first = slice.first, set.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, set.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}

enum SSE {
    static let headers: [(String, String)] = [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"),
                                             ("X-Accel-Buffering", "no")]
}
