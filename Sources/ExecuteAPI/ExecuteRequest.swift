import JSON

/// The body of POST /mcp/execute, checked field by field so that errors name the field.
struct ExecuteRequest {
    var tool: String
    var input: JSONValue
    var sessionId: String?
    var requestId: String?
    var metadata: JSONValue?

    static func parse(_ body: [UInt8]) -> Result<ExecuteRequest, APIError> {
        let value: JSONValue
        do {
            value = try JSONValue.parse(body)
        } catch {
            return .failure(.validation("the request body is not valid JSON: \(error.description)"))
        }
        guard let object = value.objectValue else {
            return .failure(.validation("the request body must be a JSON object", field: "body"))
        }
        guard let toolValue = object["tool"] else { return .failure(.validation("tool is required", field: "tool")) }
        guard let tool = toolValue.stringValue, !tool.isEmpty else {
            return .failure(.validation("tool must be a non-empty string, got \(toolValue.typeName)", field: "tool"))
        }
        let input = object["input"] ?? .object(JSONObject())
        guard input.objectValue != nil else {
            return .failure(.validation("input must be an object, got \(input.typeName)", field: "input"))
        }
        var request = ExecuteRequest(tool: tool, input: input)
        switch optionalString(object, "session_id") {
        case .success(let value): request.sessionId = value
        case .failure(let error): return .failure(error)
        }
        switch optionalString(object, "request_id") {
        case .success(let value): request.requestId = value
        case .failure(let error): return .failure(error)
        }
        if let metadata = object["metadata"], !metadata.isNull {
            guard metadata.objectValue != nil else {
                return .failure(.validation("metadata must be an object, got \(metadata.typeName)", field: "metadata"))
            }
            request.metadata = metadata
        }
        return .success(request)
    }

    private static func optionalString(_ object: JSONObject, _ name: String) -> Result<String?, APIError> {
        guard let value = object[name], !value.isNull else { return .success(nil) }
        guard let text = value.stringValue else {
            return .failure(.validation("\(name) must be a string, got \(value.typeName)", field: name))
        }
        guard !text.isEmpty, text.utf8.count <= 256 else {
            return .failure(.validation("\(name) must be 1 to 256 bytes long", field: name))
        }
        return .success(text)
    }
}
