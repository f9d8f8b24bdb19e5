import Glibc
import JSON
import Testing
import Tools
@testable import Connectors
import ToolSources

/// A server on 127.0.0.1 that answers exactly one request with a canned response, on its own
/// thread (a blocking accept must not hold one of the test runner's few cooperative threads).
final class OneShotHTTPServer: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    /// nil: read the request, then say nothing until the client gives up.
    private let response: [UInt8]?
    private var thread = pthread_t()
    /// The request as received; read it only after `finish()`.
    private(set) var request = ""

    init(status: String = "200 OK", headers: [String] = ["Content-Type: application/json"], body: String, silent: Bool = false) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        listen(fd, 4)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        let head = (["HTTP/1.1 \(status)", "Content-Length: \(body.utf8.count)", "Connection: close"] + headers).joined(separator: "\r\n")
        response = silent ? nil : Array((head + "\r\n\r\n" + body).utf8)
        let unmanaged = Unmanaged.passRetained(self)
        pthread_create(&thread, nil, { argument in
            let server = Unmanaged<OneShotHTTPServer>.fromOpaque(argument!).takeRetainedValue()
            server.serveOnce()
            return nil
        }, unmanaged.toOpaque())
    }

    /// Waits for the exchange to end and returns the request received.
    func finish() -> String {
        pthread_join(thread, nil)
        close(listener)
        return request
    }

    private func serveOnce() {
        var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, 5000) == 1 else { return }
        let connection = accept(listener, nil, nil)
        guard connection >= 0 else { return }
        defer { close(connection) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !Self.isComplete(received) {
            let count = recv(connection, &buffer, buffer.count, 0)
            guard count > 0 else { break }
            received += buffer[..<count]
        }
        request = String(decoding: received, as: UTF8.self)
        guard let response else {
            _ = recv(connection, &buffer, buffer.count, 0)  // returns when the client closes (or after 5 s)
            return
        }
        _ = response.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Whether `bytes` hold a whole request: the head and as much body as its Content-Length says.
    private static func isComplete(_ bytes: [UInt8]) -> Bool {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let end = text.firstRange(of: "\r\n\r\n") else { return false }
        let head = text[..<end.lowerBound].lowercased()
        var length = 0
        for line in head.split(separator: "\r\n") where line.hasPrefix("content-length:") {
            length = Int(line.dropFirst("content-length:".count).filter { $0 != " " }) ?? 0
        }
        return text.utf8.count - text[..<end.upperBound].utf8.count >= length
    }
}

@Test func curlToolRequestCarriesTheCallersValues() throws {
    let server = OneShotHTTPServer(body: #"{"temperature": 21}"#)
    let (_, spec) = try CurlTool.make(name: "weather", description: "", commandLine: """
        curl 'http://127.0.0.1:\(server.port)/weather?q={{city}}&units=metric' -H 'X-Lang: {{lang}}' \\
          --json '{"city": "{{city}}", "note": {{note}}}'
        """)
    let input: JSONValue = ["city": "São Paulo & \"Rio\"", "lang": "pt", "note": "null"]
    let outcome = Connectors.run(spec: spec, tool: "weather", input: input, context: QuietToolContext())
    let request = server.finish()

    #expect(request.hasPrefix("POST /weather?q=S%C3%A3o%20Paulo%20%26%20%22Rio%22&units=metric HTTP/1.1\r\n"))
    #expect(request.contains("\r\nX-Lang: pt\r\n"))
    #expect(request.contains("\r\nContent-Type: application/json\r\n"))
    // Inside a JSON string the value is JSON-escaped; outside one it goes in as given.
    #expect(request.hasSuffix(#"{"city": "São Paulo & \"Rio\"", "note": null}"#))
    guard case .result(let result) = outcome else {
        Issue.record("expected a result, got \(outcome)")
        return
    }
    #expect(result["status"] == 200)
    #expect(result["json"] == ["temperature": 21])
    #expect(result["text"] == #"{"temperature": 21}"#)
    #expect(result["content_type"] == "application/json")
}

@Test func curlToolRefusesLineBreaksInHeaders() throws {
    let (_, spec) = try CurlTool.make(name: "t", description: "", commandLine: "curl -H 'X-A: {{a}}' http://127.0.0.1:9/")
    let outcome = Connectors.run(spec: spec, tool: "t", input: ["a": "x\r\nEvil: 1"], context: QuietToolContext())
    guard case .failure(let kind, _) = outcome else {
        Issue.record("expected a failure")
        return
    }
    #expect(kind == "invalid_input")
}

@Test func nonSuccessStatusIsAnUpstreamFailure() throws {
    let server = OneShotHTTPServer(status: "404 Not Found", headers: ["Content-Type: text/plain"], body: "no such city")
    let (_, spec) = try CurlTool.make(name: "t", description: "", commandLine: "curl http://127.0.0.1:\(server.port)/x")
    let outcome = Connectors.run(spec: spec, tool: "t", input: [:], context: QuietToolContext())
    _ = server.finish()
    #expect(outcome == .failure(kind: "upstream_http_error", message: "HTTP 404: no such city"))
}

@Test func refusedConnectionIsConnectionFailed() throws {
    // A port that was just free: bind, read it back, close.
    let probe = OneShotHTTPServer(body: "")
    let port = probe.port
    // Connect once so the probe's thread ends, then the port is closed.
    let (_, warmup) = try CurlTool.make(name: "t", description: "", commandLine: "curl http://127.0.0.1:\(port)/")
    _ = Connectors.run(spec: warmup, tool: "t", input: [:], context: QuietToolContext())
    _ = probe.finish()
    let outcome = Connectors.run(spec: warmup, tool: "t", input: [:], context: QuietToolContext())
    guard case .failure(let kind, _) = outcome else {
        Issue.record("expected a failure, got \(outcome)")
        return
    }
    #expect(kind == "connection_failed")
}

@Test func openAPIOperationPlacesEveryInput() throws {
    let server = OneShotHTTPServer(body: #"{"id": 7}"#)
    let document: JSONValue = [
        "openapi": "3.1.0",
        "servers": [["url": .string("http://127.0.0.1:\(server.port)/api")]],
        "paths": ["/pets/{petId}/toys": ["post": [
            "operationId": "addToy",
            "parameters": [
                ["name": "petId", "in": "path", "required": true, "schema": ["type": "string"]],
                ["name": "tag", "in": "query", "schema": ["type": "array", "items": ["type": "string"]]],
                ["name": "dry_run", "in": "query", "schema": ["type": "boolean"]],
                ["name": "X-Request-Id", "in": "header", "schema": ["type": "string"]],
                ["name": "session", "in": "cookie", "schema": ["type": "string"]],
            ],
            "requestBody": ["required": true, "content": ["application/json": ["schema": ["type": "object"]]]],
        ]]],
    ]
    let tools = try OpenAPIImport.tools(document: document, authConfig: ["auth_strategy": "basic", "auth": ["username": "u", "password": "p"]], baseURL: nil)
    let input: JSONValue = [
        "petId": "a/b", "tag": ["x y", "z"], "dry_run": true, "X-Request-Id": "r1", "session": "s1",
        "body": ["name": "ball"],
    ]
    let outcome = Connectors.run(spec: tools[0].spec, tool: "addToy", input: input, context: QuietToolContext())
    let request = server.finish()
    #expect(request.hasPrefix("POST /api/pets/a%2Fb/toys?tag=x%20y&tag=z&dry_run=true HTTP/1.1\r\n"))
    #expect(request.contains("\r\nX-Request-Id: r1\r\n"))
    #expect(request.contains("\r\nCookie: session=s1\r\n"))
    #expect(request.contains("\r\nAuthorization: Basic dTpw\r\n"))
    #expect(request.contains("\r\nContent-Type: application/json\r\n"))
    #expect(request.hasSuffix(#"{"name":"ball"}"#))
    #expect(outcome == .result(["text": #"{"id": 7}"#, "status": 200, "content_type": "application/json", "json": ["id": 7]]))

    // A missing required input never reaches the network.
    let missing = Connectors.run(spec: tools[0].spec, tool: "addToy", input: ["body": [:]], context: QuietToolContext())
    guard case .failure(let kind, let message) = missing else {
        Issue.record("expected a failure")
        return
    }
    #expect(kind == "invalid_input")
    #expect(message.contains("petId"))
}

/// Says the call was cancelled from the `after`-th poll on.
private final class CancellingContext: ToolContext {
    private var polls = 0
    private let after: Int
    init(after: Int) { self.after = after }
    func emitPartial(_ fields: JSONObject) {}
    func waitForCancellation(milliseconds: Int) -> Bool { true }
    var isCancelled: Bool { polls >= after }
    func pollCancellation() -> Bool {
        polls += 1
        return polls >= after
    }
    func emitProgress(_ fields: JSONObject) {}
    func emitLog(level: String, data: JSONValue, logger: String?) {}
    func askClient(method: String, params: JSONObject) -> ClientAnswer { .cancelled }
}

@Test func silentUpstreamTimesOutOrIsCancelled() throws {
    let slow = OneShotHTTPServer(body: "", silent: true)
    let (_, spec) = try CurlTool.make(name: "t", description: "", commandLine: "curl -m 0.3 http://127.0.0.1:\(slow.port)/")
    let timedOut = Connectors.run(spec: spec, tool: "t", input: [:], context: QuietToolContext())
    _ = slow.finish()
    guard case .failure(let kind, _) = timedOut else {
        Issue.record("expected a failure, got \(timedOut)")
        return
    }
    #expect(kind == "upstream_timeout")

    let stalled = OneShotHTTPServer(body: "", silent: true)
    let (_, waiting) = try CurlTool.make(name: "t", description: "", commandLine: "curl http://127.0.0.1:\(stalled.port)/")
    let cancelled = Connectors.run(spec: waiting, tool: "t", input: [:], context: CancellingContext(after: 3))
    _ = stalled.finish()
    #expect(cancelled == .cancelled)
}
