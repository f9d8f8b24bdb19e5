import Access
import Calls
import HTTP
import JSON
import Pool
import RateLimit
import SystemCalls
import Tools

/// Running a tool on behalf of a management API (composer call_tool, /v1/mcp/invoke): the call goes
/// through the CallService like any other — a worker runs it, the call table shows it — and the
/// caller hears one outcome.
extension Registry {
    public func invoke(_ tool: ToolDefinition, arguments: JSONValue, owner: String, surface: CallSurface, httpRequestId: String,
                       completion: @escaping (Result<JSONObject, ManagementError>) -> Void) {
        if let violation = JSONSchema.validate(arguments, against: tool.compiledInputSchema, path: "arguments") {
            return completion(.failure(.invalid("invalid arguments: \(violation.description)", field: violation.path)))
        }
        let started = calls.start(tool: tool, input: arguments, owner: owner, surface: surface, httpRequestId: httpRequestId,
                                  keepsEvents: false) { event in
            switch event {
            case .finished(let bytes): completion(.success(CallToolResult.from(bytes)))
            case .failed(let kind, let message): completion(.failure(.fromWorker(kind: kind, message: message)))
            case .cancelled(let reason): completion(.failure(ManagementError(.executionFailed, "the call was cancelled: \(reason)")))
            default: break
            }
        }
        switch started {
        case .success: break
        case .failure(.overloaded): completion(.failure(ManagementError(.overloaded, "every worker is busy and the queue is full; retry shortly")))
        case .failure(.draining): completion(.failure(ManagementError(.overloaded, "the server is shutting down")))
        case .failure(.unavailable): completion(.failure(.noTool(tool.name)))
        case .failure(.rateLimited(let outcome)): completion(.failure(.rateLimited(outcome)))
        }
    }
}

/// Small helpers both management APIs share.
enum ManagementHTTP {
    /// Seed 001 accepts `Authorization: Bearer <token>` or `X-API-Key: <key>`: the same tokens.
    static func identify(_ request: HTTPRequest, _ authenticator: Authenticator) -> Authenticator.Outcome {
        authenticator.authenticate(authorization: request.header("authorization"), apiKey: request.header("x-api-key"))
    }

    static func respond(_ connection: HTTPConnection, _ status: Int, _ value: JSONValue, headers: [(String, String)] = []) {
        guard connection.isOpen else { return }
        var body: [UInt8] = []
        value.write(into: &body)
        connection.respond(status: status, headers: [("Content-Type", "application/json")] + headers, body: body)
    }

    /// Seed 002's envelope (/v1, also /v1/keys): {"success": true, "data": …, "error": null}.
    static func succeedV1(_ connection: HTTPConnection, _ data: JSONValue, status: Int = 200) {
        respond(connection, status, .object(JSONObject([("success", true), ("data", data), ("error", .null)])))
    }

    /// Seed 002's error: {"success": false, "error": {"code", "message"}}.
    static func failV1(_ connection: HTTPConnection, _ status: Int, _ code: String, _ message: String, headers: [(String, String)] = []) {
        respond(connection, status, .object(JSONObject([
            ("success", false), ("error", .object(JSONObject([("code", .string(code)), ("message", .string(message))]))),
        ])), headers: headers)
    }

    static var timestamp: JSONValue { .string(Clock.iso8601(millis: Clock.wallMillis())) }

    /// The request body as a JSON object; an empty body is an empty object.
    static func bodyObject(_ request: HTTPRequest) -> JSONObject? {
        if request.body.allSatisfy({ $0 == 32 || $0 == 10 || $0 == 13 || $0 == 9 }) { return JSONObject() }
        return (try? JSONValue.parse(request.body))?.objectValue
    }

    /// The query string's parameters, percent-decoded.
    static func query(_ target: String) -> [String: String] {
        guard let mark = target.firstIndex(of: "?") else { return [:] }
        var result: [String: String] = [:]
        for pair in target[target.index(after: mark)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            result[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return result
    }

    private static func decode(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        func hex(_ byte: UInt8) -> UInt8? {
            switch byte {
            case 48...57: return byte - 48
            case 65...70: return byte - 55
            case 97...102: return byte - 87
            default: return nil
            }
        }
        while let byte = iterator.next() {
            if byte == 43 { bytes.append(32); continue }
            if byte == 37, let high = iterator.next(), let low = iterator.next(), let h = hex(high), let l = hex(low) {
                bytes.append(h << 4 | l)
                continue
            }
            bytes.append(byte)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
