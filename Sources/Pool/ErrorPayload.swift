import JSON

/// Reads a worker's `error` payload, seed 004's {"kind", "message", "data"}.
enum ErrorPayload {
    static func decode(_ bytes: [UInt8]) -> (kind: String, message: String) {
        guard let value = try? JSONValue.parse(bytes),
              let kind = value["kind"]?.stringValue, let message = value["message"]?.stringValue else {
            return ("tool_error", "the tool failed without a readable error")
        }
        return (kind, message)
    }
}
