// ExecuteAPI: seed 000's execute/stream surface and the health probes, over the shared core
// (tool registry → pool → call table → worker). Its one error shape, documented in the README:
//   {"error": {"code": "TOOL_NOT_FOUND", "message": "...", "field": "input.message"?}}
import HTTP
import JSON

struct APIError: Error {
    let status: Int
    let code: String
    let message: String
    var field: String? = nil
    var headers: [(String, String)] = []

    static func authentication(_ message: String) -> APIError {
        APIError(status: 401, code: "AUTH_ERROR", message: message, headers: [("WWW-Authenticate", "Bearer")])
    }
    static let authorization = APIError(status: 403, code: "AUTHZ_ERROR", message: "the bearer token is not recognised")
    static func toolNotFound(_ name: String) -> APIError {
        APIError(status: 404, code: "TOOL_NOT_FOUND", message: "no tool named '\(name)'")
    }
    static let callNotFound = APIError(status: 404, code: "CALL_NOT_FOUND", message: "no such call")
    static func validation(_ message: String, field: String? = nil) -> APIError {
        APIError(status: 422, code: "VALIDATION_ERROR", message: message, field: field)
    }
    static let overloaded = APIError(status: 503, code: "OVERLOADED", message: "every worker is busy and the queue is full; retry shortly",
                                     headers: [("Retry-After", "1")])
    static let draining = APIError(status: 503, code: "UNAVAILABLE", message: "the server is shutting down",
                                   headers: [("Retry-After", "5")])

    var body: [UInt8] {
        var error = JSONObject([("code", .string(code)), ("message", .string(message))])
        if let field { error["field"] = .string(field) }
        var bytes: [UInt8] = []
        JSONValue.object(JSONObject([("error", .object(error))])).write(into: &bytes)
        return bytes
    }
}

extension HTTPConnection {
    func respondJSON(_ status: Int, _ value: JSONValue, headers: [(String, String)] = []) {
        var body: [UInt8] = []
        value.write(into: &body)
        respond(status: status, headers: [("Content-Type", "application/json")] + headers, body: body)
    }

    func respondError(_ error: APIError) {
        respond(status: error.status, headers: [("Content-Type", "application/json")] + error.headers, body: error.body)
    }
}
