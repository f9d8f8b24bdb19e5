// Local `$ref`s in an OpenAPI document, and OpenAPI schemas made into the JSON Schema that mcpd's
// validator checks tool inputs against.
import JSON

struct OpenAPIReferences {
    let document: JSONValue

    /// How many `$ref`s deep a schema is inlined; deeper ones become `{}` (anything).
    static let maxReferenceDepth = 16
    /// How many JSON nodes one tool's schemas may grow to once inlined; a huge specification must
    /// not turn into a huge tools/list answer.
    static let nodeBudget = 20_000

    /// The value a local reference ("#/components/schemas/Pet") points to, nil when it is not
    /// local or points nowhere.
    func target(of reference: String) -> JSONValue? {
        guard reference.hasPrefix("#") else { return nil }
        var current = document
        let pointer = reference.dropFirst()
        if pointer.isEmpty { return current }
        guard pointer.hasPrefix("/") else { return nil }
        for rawToken in pointer.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            let token = Self.unescape(Self.percentDecoded(rawToken))
            switch current {
            case .object(let object):
                guard let next = object[token] else { return nil }
                current = next
            case .array(let array):
                guard let index = Int(token), array.indices.contains(index) else { return nil }
                current = array[index]
            default:
                return nil
            }
        }
        return current
    }

    /// `value` with its `$ref` chain followed (a parameter or request body that is a reference to
    /// one in components), checked to be an object. `location` names it in errors.
    func resolvedObject(_ value: JSONValue, location: String) throws(ToolSourceError) -> JSONObject {
        var current = value
        var seen: [String] = []
        while let reference = current["$ref"]?.stringValue {
            guard !seen.contains(reference), seen.count < Self.maxReferenceDepth else {
                throw ToolSourceError("\(location): the $ref '\(reference)' leads round in a circle")
            }
            guard reference.hasPrefix("#") else {
                throw ToolSourceError("\(location): the $ref '\(reference)' points outside the document, which is not supported")
            }
            guard let target = target(of: reference) else {
                throw ToolSourceError("\(location): the $ref '\(reference)' points nowhere in the document")
            }
            seen.append(reference)
            current = target
        }
        guard let object = current.objectValue else { throw ToolSourceError("\(location) must be an object") }
        return object
    }

    /// `schema` with every local `$ref` replaced by what it points to (members beside a `$ref`
    /// apply on top, as in OpenAPI 3.1), and OpenAPI 3.0's dialect turned into JSON Schema:
    /// `nullable` becomes a "null" type, boolean `exclusiveMinimum`/`exclusiveMaximum` numeric ones.
    /// A cyclic, external or dangling reference, or one past the depth limit, becomes `{}`.
    func inlinedSchema(_ schema: JSONValue, budget: inout Int) -> JSONValue {
        inline(schema, references: [], budget: &budget)
    }

    /// Keywords whose values are data, not schemas: never searched for `$ref`.
    private static let dataKeywords: Set<String> = ["enum", "const", "default", "example", "examples", "x-example"]

    private func inline(_ value: JSONValue, references: [String], budget: inout Int) -> JSONValue {
        budget -= 1
        guard budget > 0 else { return [:] }
        switch value {
        case .array(let elements):
            return .array(elements.map { inline($0, references: references, budget: &budget) })
        case .object(let object):
            if let reference = object["$ref"]?.stringValue {
                guard !references.contains(reference), references.count < Self.maxReferenceDepth,
                      let target = target(of: reference)
                else { return [:] }
                let resolved = inline(target, references: references + [reference], budget: &budget)
                let siblings = object.filter { $0.key != "$ref" }
                guard !siblings.isEmpty, case .object(var merged) = resolved else { return resolved }
                for (key, sibling) in siblings {
                    merged[key] = Self.dataKeywords.contains(key) ? sibling : inline(sibling, references: references, budget: &budget)
                }
                return .object(Self.jsonSchemaDialect(merged))
            }
            var result = JSONObject()
            for (key, member) in object {
                result[key] = Self.dataKeywords.contains(key) ? member : inline(member, references: references, budget: &budget)
            }
            return .object(Self.jsonSchemaDialect(result))
        default:
            return value
        }
    }

    /// OpenAPI 3.0's schema extensions rewritten as JSON Schema 2020-12 says the same thing.
    static func jsonSchemaDialect(_ schema: JSONObject) -> JSONObject {
        var schema = schema
        if let nullable = schema["nullable"]?.boolValue {
            schema["nullable"] = nil
            if nullable {
                switch schema["type"] {
                case .string(let type)?: schema["type"] = [.string(type), "null"]
                case .array(var types)? where !types.contains("null"):
                    types.append("null")
                    schema["type"] = .array(types)
                default: break
                }
                if case .array(var options)? = schema["enum"], !options.contains(.null) {
                    options.append(.null)
                    schema["enum"] = .array(options)
                }
            }
        }
        for (exclusive, inclusive) in [("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")] {
            guard let flag = schema[exclusive]?.boolValue else { continue }
            schema[exclusive] = nil
            if flag, let bound = schema[inclusive] {
                schema[exclusive] = bound
                schema[inclusive] = nil
            }
        }
        return schema
    }

    /// RFC 6901: "~1" is '/', "~0" is '~'.
    private static func unescape(_ token: String) -> String {
        guard token.contains("~") else { return token }
        var result = ""
        var iterator = token.makeIterator()
        while let character = iterator.next() {
            guard character == "~" else {
                result.append(character)
                continue
            }
            switch iterator.next() {
            case "1": result.append("/")
            case "0": result.append("~")
            case let other?: result.append("~"); result.append(other)
            case nil: result.append("~")
            }
        }
        return result
    }

    /// A URI fragment's %XX escapes decoded ("#/paths/~1pets%7Bid%7D").
    private static func percentDecoded(_ token: Substring) -> String {
        guard token.contains("%") else { return String(token) }
        var bytes: [UInt8] = []
        let utf8 = Array(token.utf8)
        var index = 0
        while index < utf8.count {
            if utf8[index] == UInt8(ascii: "%"), index + 2 < utf8.count,
               let high = hexValue(utf8[index + 1]), let low = hexValue(utf8[index + 2]) {
                bytes.append(high << 4 | low)
                index += 3
            } else {
                bytes.append(utf8[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
