// One HTTP request to an upstream API on behalf of a curl or OpenAPI tool, and its answer as the
// tool's outcome: a 2xx body is the result; anything else is a failure of the contract's kinds.
import HTTPClient
import JSON
import Tools

enum UpstreamFetch {
    /// The most response body a tool takes in.
    static let maxBody = 16 << 20
    /// How many redirects are followed when following them at all (curl -L).
    static let maxRedirects = 10

    /// Sends `request` (following redirects when asked), polling for cancellation while it waits.
    static func perform(_ request: HTTPClientRequest, followRedirects: Bool = false, context: any ToolContext) -> ToolOutcome {
        var current = request
        var redirects = 0
        while true {
            let response: HTTPClientResponse
            do {
                response = try HTTPClient.fetch(current, maxBody: maxBody, interrupt: { context.pollCancellation() })
            } catch {
                return failure(error, timeoutMs: current.timeoutMs)
            }
            if followRedirects, redirects < maxRedirects, let next = redirected(current, by: response) {
                current = next
                redirects += 1
                continue
            }
            return outcome(of: response)
        }
    }

    static func outcome(of response: HTTPClientResponse) -> ToolOutcome {
        let text = String(decoding: response.body, as: UTF8.self)
        guard (200..<300).contains(response.status) else {
            let excerpt = String(decoding: response.body.prefix(500), as: UTF8.self)
            return .failure(kind: "upstream_http_error", message: "HTTP \(response.status): \(excerpt)")
        }
        var result: JSONObject = ["text": .string(text), "status": .int(Int64(response.status))]
        if let contentType = response.header("Content-Type") {
            result["content_type"] = .string(contentType)
            if isJSON(contentType), let parsed = try? JSONValue.parse(response.body) {
                result["json"] = parsed
            }
        }
        return .result(result)
    }

    /// application/json, or any +json type (problem+json, vnd.api+json, ...).
    static func isJSON(_ contentType: String) -> Bool {
        let media = contentType.prefix { $0 != ";" }.lowercased().filter { $0 != " " }
        return media == "application/json" || media.hasSuffix("+json")
    }

    static func failure(_ error: HTTPClientError, timeoutMs: Int) -> ToolOutcome {
        switch error {
        case .interrupted:
            return .cancelled
        case .timedOut:
            return .failure(kind: "upstream_timeout", message: "the upstream did not answer within \(timeoutMs) ms")
        case .connectionFailed, .unsupportedScheme, .malformedResponse:
            return .failure(kind: "connection_failed", message: error.description)
        case .invalidURL:
            // Not the URL itself: it may carry an API key from the tool's configuration.
            return .failure(kind: "invalid_input", message: "the request URL is not a valid http(s) URL")
        case .tooLarge:
            return .failure(kind: "upstream_http_error", message: "the response body is larger than \(maxBody >> 20) MiB")
        }
    }

    /// The request a 3xx response with a Location asks for, as curl -L makes it: 303 (and 301/302
    /// after anything but GET or HEAD) turn into a GET without a body; credentials are not carried
    /// to another host.
    private static func redirected(_ request: HTTPClientRequest, by response: HTTPClientResponse) -> HTTPClientRequest? {
        guard [301, 302, 303, 307, 308].contains(response.status),
              let location = response.header("Location"),
              let from = URLParts.parse(request.url),
              let to = from.resolving(location)
        else { return nil }
        var next = request
        next.url = to.url
        if response.status == 303 || ([301, 302].contains(response.status) && !["GET", "HEAD"].contains(request.method)) {
            next.method = "GET"
            next.body = nil
            next.headers.removeAll { $0.0.lowercased() == "content-type" || $0.0.lowercased() == "content-length" }
        }
        if to.host.lowercased() != from.host.lowercased() || to.port != from.port {
            next.headers.removeAll { ["authorization", "cookie", "proxy-authorization"].contains($0.0.lowercased()) }
        }
        return next
    }
}
