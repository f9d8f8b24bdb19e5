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
    public static func append(status: Int, headers: [(String, String)], contentLength: Int?, close: Bool,
                              to buffer: inout [UInt8]) {
        buffer.append(contentsOf: "HTTP/1.1 \(status) \(reason(for: status))\r\n".utf8)
        for (name, value) in headers {
            buffer.append(contentsOf: name.utf8)
            buffer.append(contentsOf: ": ".utf8)
            buffer.append(contentsOf: value.utf8)
            buffer.append(contentsOf: "\r\n".utf8)
        }
        if let contentLength {
            buffer.append(contentsOf: "Content-Length: ".utf8)
            buffer.append(contentsOf: String(contentLength).utf8)
            buffer.append(contentsOf: "\r\n".utf8)
        } else {
            buffer.append(contentsOf: "Transfer-Encoding: chunked\r\n".utf8)
        }
        if close { buffer.append(contentsOf: "Connection: close\r\n".utf8) }
        buffer.append(contentsOf: "\r\n".utf8)
    }

    /// The JSON error body every surface of the execute API shares: {"error":{"code","message"}}.
    /// Messages produced by the HTTP layer are fixed ASCII without quotes, so no escaping is needed.
    static func errorBody(_ error: HTTPError) -> [UInt8] {
        Array("{\"error\":{\"code\":\"\(error.code)\",\"message\":\"\(error.message)\"}}".utf8)
    }
}
