import HTTP
import JSON

/// Small helpers for answering MCP requests over HTTP.
extension HTTPConnection {
    func respondJSONValue(_ status: Int, _ value: JSONValue, headers: [(String, String)] = []) {
        var body: [UInt8] = []
        body.reserveCapacity(512)  // most answers fit: no regrowth while writing
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
    /// Whether a comma-separated header (Accept) lists a media type (or */*), ignoring parameters
    /// and ASCII case. Scans bytes: this runs on every POST, and splitting into Substrings and
    /// trimming by Character cost ~36k instructions a request.
    func accepts(_ mediaType: String) -> Bool {
        guard var accept = header("accept") else { return false }
        var mediaType = mediaType
        return accept.withUTF8 { value in mediaType.withUTF8 { wanted in Self.lists(value, wanted) } }
    }

    /// Whether the Accept field value `value` lists the media type `wanted`.
    private static func lists(_ value: UnsafeBufferPointer<UInt8>, _ wanted: UnsafeBufferPointer<UInt8>) -> Bool {
        var itemStart = 0
        while itemStart <= value.count {
            var itemEnd = itemStart
            while itemEnd < value.count && value[itemEnd] != UInt8(ascii: ",") { itemEnd += 1 }
            var typeEnd = itemStart
            while typeEnd < itemEnd && value[typeEnd] != UInt8(ascii: ";") { typeEnd += 1 }
            var start = itemStart, end = typeEnd
            while start < end && (value[start] == 32 || value[start] == 9) { start += 1 }
            while end > start && (value[end - 1] == 32 || value[end - 1] == 9) { end -= 1 }
            if names(value, start..<end, wanted) { return true }
            itemStart = itemEnd + 1
        }
        return false
    }

    /// Whether the media range at `range` of `value` is */* or, ignoring ASCII case, `wanted`.
    private static func names(_ value: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ wanted: UnsafeBufferPointer<UInt8>) -> Bool {
        let start = range.lowerBound
        if range.count == 3, value[start] == UInt8(ascii: "*"), value[start + 1] == UInt8(ascii: "/"), value[start + 2] == UInt8(ascii: "*") {
            return true
        }
        return ASCII.equalIgnoringCase(value[range], wanted)
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

enum SSE {
    static let headers: [(String, String)] = [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"),
                                             ("X-Accel-Buffering", "no")]
}
