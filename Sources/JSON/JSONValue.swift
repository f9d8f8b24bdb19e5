// The JSON module: JSON values, a strict parser, a compact writer and a JSON Schema validator,
// built on the Swift standard library alone (no Foundation).
//
// Invariants: every value the parser returns came from input that is valid RFC 8259 JSON and valid
// UTF-8; everything the writer produces is valid JSON and valid UTF-8; objects keep their members in
// parse (or insertion) order and never hold the same key twice.

/// A JSON value.
///
/// Integers that fit in `Int64` are kept apart from other numbers so that ids and counters survive a
/// round trip exactly. The enum is not `indirect`: arrays and objects already store their elements
/// out of line, and boxing every scalar would cost an allocation per number or string parsed.
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// The JSON Schema name of the value's type: `.int` is "integer", `.double` is "number".
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .int: "integer"
        case .double: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// The member named `key` when the value is an object holding it, else nil.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let object) = self else { return nil }
        return object[key]
    }

    public var stringValue: String? {
        guard case .string(let string) = self else { return nil }
        return string
    }

    /// The value as an integer: `.int`, or a `.double` with an integral value that fits in `Int64`
    /// (clients that send `5.0` for a count mean 5).
    public var intValue: Int64? {
        switch self {
        case .int(let int):
            return int
        case .double(let double):
            return exactInt64(double)
        default:
            return nil
        }
    }

    /// The value as a double, for `.double` and `.int` alike.
    public var doubleValue: Double? {
        switch self {
        case .double(let double): double
        case .int(let int): Double(int)
        default: nil
        }
    }

    public var boolValue: Bool? {
        guard case .bool(let bool) = self else { return nil }
        return bool
    }

    public var objectValue: JSONObject? {
        guard case .object(let object) = self else { return nil }
        return object
    }

    public var arrayValue: [JSONValue]? {
        guard case .array(let array) = self else { return nil }
        return array
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

/// `double` as an Int64 when it is integral and in range, else nil.
///
/// Written with a truncating conversion instead of `Int64(exactly:)` or `rounded()`, which compile to
/// calls into libm on baseline x86-64; the module must link into executables that do not load libm.
func exactInt64(_ double: Double) -> Int64? {
    // [-2^63, 2^63): the doubles whose truncation fits in Int64. NaN fails both comparisons.
    guard double >= -9_223_372_036_854_775_808.0, double < 9_223_372_036_854_775_808.0 else { return nil }
    let truncated = Int64(double)
    return Double(truncated) == double ? truncated : nil
}

extension JSONValue: CustomStringConvertible {
    /// Compact JSON, so that values read naturally in logs and test failures.
    public var description: String { serialized() }
}

// Literals make hand-written schemas and responses read like the JSON they stand for.
extension JSONValue: ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(JSONObject(elements)) }
}
