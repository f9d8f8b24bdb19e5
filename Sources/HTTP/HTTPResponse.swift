import JSON

/// Encodes response heads. Bodies are appended by the connection; nothing here allocates per byte.
public enum HTTPResponseHead {
    public static func reason(for status: Int) -> String {
        switch status {
        case 100: return "Continue"
        case 200: return "OK"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 413: return "Content Too Large"
        case 415: return "Unsupported Media Type"
        case 422: return "Unprocessable Content"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 505: return "HTTP Version Not Supported"
        default: return "Status \(status)"
        }
    }

    /// Appends a status line and header fields, then either Content-Length or chunked framing.
    /// Besides its own `headers`, every response carries X-Request-Id with `requestId` (when there
    /// is one) and the request's pending `fields`, unless `headers` has fields of those names.
    public static func append(status: Int, headers: [(String, String)], requestId: String = "", fields: HTTPFieldBlock = HTTPFieldBlock(),
                              contentLength: Int?, close: Bool, to buffer: inout [UInt8]) {
        if status == 200 {
            appendBytes(of: "HTTP/1.1 200 OK\r\n", to: &buffer)  // the usual one, without formatting
        } else {
            appendBytes(of: "HTTP/1.1 \(status) \(reason(for: status))\r\n", to: &buffer)
        }
        for (name, value) in headers { appendField(name, value, to: &buffer) }
        if !requestId.isEmpty && !has(headers, requestIdField) { appendField(requestIdField, requestId, to: &buffer) }
        if !fields.lines.isEmpty && !has(headers, fields.firstName) { buffer.append(contentsOf: fields.lines) }
        if let contentLength {
            appendBytes(of: "Content-Length: ", to: &buffer)
            JSONWriter.appendInteger(Int64(contentLength), to: &buffer)
            buffer.append(13)
            buffer.append(10)
        } else {
            appendBytes(of: "Transfer-Encoding: chunked\r\n", to: &buffer)
        }
        if close { appendBytes(of: "Connection: close\r\n", to: &buffer) }
        buffer.append(13)
        buffer.append(10)
    }

    static let requestIdField = "X-Request-Id"

    private static func has(_ headers: [(String, String)], _ name: String) -> Bool {
        headers.contains { $0.0.utf8.count == name.utf8.count && $0.0 == name }
    }

    /// "name: value\r\n" with a decimal value, written without making a String of it.
    public static func appendField(_ name: String, _ value: Int, to buffer: inout [UInt8]) {
        appendBytes(of: name, to: &buffer)
        buffer.append(UInt8(ascii: ":"))
        buffer.append(UInt8(ascii: " "))
        JSONWriter.appendInteger(Int64(value), to: &buffer)
        buffer.append(13)
        buffer.append(10)
    }

    private static func appendField(_ name: String, _ value: String, to buffer: inout [UInt8]) {
        appendBytes(of: name, to: &buffer)
        buffer.append(UInt8(ascii: ":"))
        buffer.append(UInt8(ascii: " "))
        appendBytes(of: value, to: &buffer)
        buffer.append(13)
        buffer.append(10)
    }

    /// A string's UTF-8 as one copy: appending a String.UTF8View goes through a generic per-element
    /// path (~170 instructions for a short field; a response head has about twenty).
    static func appendBytes(of text: String, to buffer: inout [UInt8]) {
        var text = text
        text.withUTF8 { buffer.append(contentsOf: $0) }
    }

    /// The JSON error body every surface of the execute API shares: {"error":{"code","message"}}.
    /// Messages produced by the HTTP layer are fixed ASCII without quotes, so no escaping is needed.
    static func errorBody(_ error: HTTPError) -> [UInt8] {
        Array("{\"error\":{\"code\":\"\(error.code)\",\"message\":\"\(error.message)\"}}".utf8)
    }
}

/// Header fields serialized ahead of the response they go into ("Name: value\r\n" each), with
/// the name of the first: a response that has a field of that name itself leaves the block out.
public struct HTTPFieldBlock: Sendable {
    public var firstName: String
    public var lines: [UInt8]

    public init(firstName: String = "", lines: [UInt8] = []) {
        self.firstName = firstName
        self.lines = lines
    }
}
