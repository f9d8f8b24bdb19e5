import JSON

/// JSON-RPC 2.0 as MCP uses it: requests, notifications and responses, one per object, or a batch.
enum JSONRPCMessage {
    case request(id: JSONValue, method: String, params: JSONObject)
    case notification(method: String, params: JSONObject)
    /// A client's answer to a request the server sent (sampling, elicitation, roots).
    case response(id: JSONValue, result: JSONValue?, error: JSONValue?)

    /// Why one message could not be read: the error to answer with, and the id when one was found.
    struct Invalid: Error {
        let id: JSONValue
        let error: RPCError
    }

    static func parse(_ value: JSONValue) -> Result<JSONRPCMessage, Invalid> {
        guard let object = value.objectValue else {
            return .failure(Invalid(id: .null, error: .invalidRequest("a JSON-RPC message must be an object")))
        }
        let id = object["id"]
        if let id, !(id.stringValue != nil || id.intValue != nil || id.isNull) {
            return .failure(Invalid(id: .null, error: .invalidRequest("id must be a string or an integer")))
        }
        guard object["jsonrpc"]?.stringValue == "2.0" else {
            return .failure(Invalid(id: id ?? .null, error: .invalidRequest("jsonrpc must be \"2.0\"")))
        }
        if let methodValue = object["method"] {
            guard let method = methodValue.stringValue, !method.isEmpty else {
                return .failure(Invalid(id: id ?? .null, error: .invalidRequest("method must be a non-empty string")))
            }
            let params: JSONObject
            switch object["params"] {
            case nil, .some(.null): params = JSONObject()
            case .some(.object(let value)): params = value
            case .some: return .failure(Invalid(id: id ?? .null, error: .invalidRequest("params must be an object")))
            }
            guard let id else { return .success(.notification(method: method, params: params)) }
            // MCP forbids null ids on requests.
            guard !id.isNull else { return .failure(Invalid(id: .null, error: .invalidRequest("a request id must not be null"))) }
            return .success(.request(id: id, method: method, params: params))
        }
        guard let id, !id.isNull, object["result"] != nil || object["error"] != nil else {
            return .failure(Invalid(id: id ?? .null, error: .invalidRequest("a message needs a method, or an id with a result or an error")))
        }
        return .success(.response(id: id, result: object["result"], error: object["error"]))
    }

    static func result(id: JSONValue, _ result: JSONObject) -> JSONValue {
        .object(JSONObject([("jsonrpc", "2.0"), ("id", id), ("result", .object(result))]))
    }

    /// `result(id:_:)` serialized, with `extraMembers` (serialized members, without braces)
    /// written after the result's own: a reply that adds the same members to every result need
    /// not build and write them for each call.
    static func writeResult(id: JSONValue, _ result: JSONObject, extraMembers: [UInt8] = [], into body: inout [UInt8]) {
        writeResult(id: id, extraMembers: extraMembers, into: &body) { body in
            JSONValue.object(result).write(into: &body)
            return !result.isEmpty
        }
    }

    /// `writeResult` with the result object written by `writeObject`, which returns whether it
    /// wrote any members.
    static func writeResult(id: JSONValue, extraMembers: [UInt8] = [], into body: inout [UInt8],
                            writeObject: (inout [UInt8]) -> Bool) {
        JSONWriter.appendLiteral(#"{"jsonrpc":"2.0","id":"#, to: &body)
        id.write(into: &body)
        JSONWriter.appendLiteral(#","result":"#, to: &body)
        let hasMembers = writeObject(&body)
        if !extraMembers.isEmpty {
            body.removeLast() // the result's closing brace: its members go on
            if hasMembers { body.append(UInt8(ascii: ",")) }
            body.append(contentsOf: extraMembers)
            body.append(UInt8(ascii: "}"))
        }
        body.append(UInt8(ascii: "}"))
    }

    /// An error response. When the request's id is unknown (unparseable body, or an HTTP-level
    /// refusal before the body was read) the id is omitted, as 2025-11-25 on specifies.
    static func error(id: JSONValue, _ error: RPCError) -> JSONValue {
        if id.isNull { return .object(JSONObject([("jsonrpc", "2.0"), ("error", error.json)])) }
        return .object(JSONObject([("jsonrpc", "2.0"), ("id", id), ("error", error.json)]))
    }

    static func notification(_ method: String, _ params: JSONObject) -> JSONValue {
        .object(JSONObject([("jsonrpc", "2.0"), ("method", .string(method)), ("params", .object(params))]))
    }

    static func request(id: JSONValue, _ method: String, _ params: JSONObject) -> JSONValue {
        .object(JSONObject([("jsonrpc", "2.0"), ("id", id), ("method", .string(method)), ("params", .object(params))]))
    }
}

/// A JSON-RPC error object. Codes from JSON-RPC, MCP and seed 003.
struct RPCError: Error {
    let code: Int
    let message: String
    var data: JSONValue? = nil

    static func parse(_ message: String) -> RPCError { RPCError(code: -32700, message: "Parse error: \(message)") }
    static func invalidRequest(_ message: String) -> RPCError { RPCError(code: -32600, message: "Invalid Request: \(message)") }
    static func methodNotFound(_ method: String) -> RPCError {
        RPCError(code: -32601, message: "Method not found: \(method)")
    }
    static func invalidParams(_ message: String) -> RPCError { RPCError(code: -32602, message: "Invalid params: \(message)") }
    static func `internal`(_ message: String) -> RPCError { RPCError(code: -32603, message: "Internal error: \(message)") }
    /// Seed 003: authentication required (with the OAuth endpoints in data).
    static let authenticationRequired = -32000
    /// Over a rate limit. JSON-RPC reserves -32000…-32099 for implementation-defined server errors;
    /// -32029 echoes HTTP 429.
    static let rateLimited = -32029
    /// Seed 003: a valid session is required.
    static func sessionRequired(_ message: String) -> RPCError { RPCError(code: -32001, message: message) }
    /// The caller is known but may not do this (its role, or another tenant's endpoint).
    static func forbidden(_ message: String) -> RPCError { RPCError(code: -32003, message: "Forbidden: \(message)") }
    /// Seed 003: the HTTP method is not supported here.
    static func methodNotAllowed(_ message: String) -> RPCError { RPCError(code: -32002, message: message) }
    /// 2026-07-28: an Mcp-Method / Mcp-Name header disagrees with the body.
    static func headerMismatch(_ message: String) -> RPCError { RPCError(code: -32020, message: message) }
    /// 2026-07-28: the request needs a client capability the client did not declare.
    static func missingCapability(_ capability: String) -> RPCError {
        RPCError(code: -32021, message: "this request needs the client capability '\(capability)'",
                 data: .object(JSONObject([("requiredCapabilities", .object(JSONObject([(capability, .object(JSONObject()))])))])))
    }
    /// 2026-07-28: the request's protocol version is not one this server speaks.
    static func unsupportedVersion(_ requested: String) -> RPCError {
        RPCError(code: -32022, message: "unsupported protocol version '\(requested)'",
                 data: .object(JSONObject([("supported", .array(ProtocolRevision.allNames.map { .string($0) })),
                                           ("requested", .string(requested))])))
    }

    /// The HTTP status a stateless (2026-07-28) error is sent with.
    var httpStatus: Int {
        switch code {
        case -32601: return 404
        case -32700, -32600, -32602, -32020, -32021, -32022: return 400
        case RPCError.rateLimited: return 429
        default: return 200
        }
    }

    var json: JSONValue {
        var object = JSONObject([("code", .int(Int64(code))), ("message", .string(message))])
        if let data { object["data"] = data }
        return .object(object)
    }
}
