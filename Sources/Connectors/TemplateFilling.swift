// `{{name}}` placeholders of curl tools filled in with the caller's values, escaped for where each
// one sits: percent-encoded in the URL, JSON-escaped inside a JSON string in the body, as given
// elsewhere. A name is [A-Za-z_][A-Za-z0-9_]* (ToolSources finds them by the same rule).
import JSON

enum TemplateFilling {
    struct MissingValue: Error {
        let name: String
    }

    /// `template` with each placeholder replaced by `encode(value)`; a placeholder without a value
    /// in `values` throws (the schema makes them all required, but a worker re-checks).
    static func fill(_ template: String, values: JSONObject, encode: (String, _ insideJSONString: Bool) -> String,
                     trackJSONStrings: Bool = false) throws(MissingValue) -> String {
        let bytes = Array(template.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var insideString = false
        var index = 0
        while index < bytes.count {
            if let (name, end) = placeholder(in: bytes, at: index) {
                guard let value = values[name], let text = text(of: value) else { throw MissingValue(name: name) }
                out.append(contentsOf: encode(text, trackJSONStrings && insideString).utf8)
                index = end
                continue
            }
            let byte = bytes[index]
            if trackJSONStrings {
                if byte == UInt8(ascii: "\"") {
                    insideString.toggle()
                } else if byte == UInt8(ascii: "\\"), insideString, index + 1 < bytes.count {
                    out.append(byte)  // an escaped character, a quote included, never ends the string
                    out.append(bytes[index + 1])
                    index += 2
                    continue
                }
            }
            out.append(byte)
            index += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether a body template is JSON-shaped, so that its strings can be told apart.
    static func looksLikeJSON(_ body: String) -> Bool {
        guard let first = body.utf8.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }) else { return false }
        return first == UInt8(ascii: "{") || first == UInt8(ascii: "[")
    }

    /// A JSON string's contents (no quotes) for `text`.
    static func jsonEscaped(_ text: String) -> String {
        String(JSONWriter.quoted(text).dropFirst().dropLast())
    }

    /// Values are strings per the schema; numbers and booleans are taken as their JSON text.
    private static func text(of value: JSONValue) -> String? {
        switch value {
        case .string(let string): string
        case .int, .double, .bool: value.serialized()
        default: nil
        }
    }

    /// The placeholder starting at `index`: its name and the index just past its closing braces.
    private static func placeholder(in bytes: [UInt8], at index: Int) -> (String, Int)? {
        guard index + 4 < bytes.count, bytes[index] == UInt8(ascii: "{"), bytes[index + 1] == UInt8(ascii: "{") else { return nil }
        var end = index + 2
        while end < bytes.count, isNameByte(bytes[end], first: end == index + 2) { end += 1 }
        guard end > index + 2, end + 1 < bytes.count, bytes[end] == UInt8(ascii: "}"), bytes[end + 1] == UInt8(ascii: "}") else { return nil }
        return (String(decoding: bytes[(index + 2)..<end], as: UTF8.self), end + 2)
    }

    private static func isNameByte(_ byte: UInt8, first: Bool) -> Bool {
        let isLetter = (byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z")
        let isDigit = byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
        return isLetter || byte == UInt8(ascii: "_") || (isDigit && !first)
    }
}
