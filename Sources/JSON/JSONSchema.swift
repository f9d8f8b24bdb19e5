// A JSON Schema validator for the subset of draft 2020-12 that tool input schemas use.
//
// Keywords are checked in a fixed order (type, const, enum, numeric bounds, string, array, object,
// then allOf/anyOf/oneOf/not) so that the violation reported for a given input never depends on the
// order in which a schema happens to list its keywords. Unknown keywords are ignored, as the
// specification asks. Paths are built only when a check fails.

/// The first place where a value breaks its schema, e.g. `input.items[2].name: is required`.
public struct SchemaViolation: Equatable, Sendable, CustomStringConvertible {
    /// Where the offending value is (or, for a missing member, would be): "input.message".
    public let path: String
    /// What is wrong, in a few words: "expected string, got integer".
    public let message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}

public enum JSONSchema {
    /// Validates `value` against a JSON Schema (draft 2020-12 subset); returns the first violation,
    /// nil when valid.
    ///
    /// Supported: boolean schemas, `type`, `const`, `enum`, `minimum`, `maximum`, `exclusiveMinimum`,
    /// `exclusiveMaximum`, `minLength`, `maxLength` (in Unicode scalars), `pattern` (Swift `Regex`
    /// syntax, unanchored; an invalid pattern is ignored), `minItems`, `maxItems`, `uniqueItems`,
    /// `prefixItems`, `items`, `required`, `properties`, `additionalProperties`, `allOf`, `anyOf`,
    /// `oneOf` and `not`. Numbers compare by value, so `1` and `1.0` are equal for `const`, `enum`
    /// and `uniqueItems`.
    public static func validate(_ value: JSONValue, against schema: JSONValue, path: String = "input") -> SchemaViolation? {
        var validator = SchemaValidator()
        guard let failure = validator.check(value, against: schema) else { return nil }
        return SchemaViolation(path: render(root: path, failure.location), message: failure.message)
    }

    static func render(root: String, _ location: [SchemaPathComponent]) -> String {
        var path = root
        for component in location {
            switch component {
            case .index(let index):
                path += "[\(index)]"
            case .key(let key) where isIdentifierLike(key):
                path += "." + key
            case .key(let key):
                path += "[" + JSONWriter.quoted(key) + "]"
            }
        }
        return path
    }

    /// Whether `key` can follow a dot in a path: ASCII letters, digits and '_', not starting with a digit.
    static func isIdentifierLike(_ key: String) -> Bool {
        var isFirst = true
        for byte in key.utf8 {
            let isLetter = (byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z")
            let isDigit = byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
            guard isLetter || byte == UInt8(ascii: "_") || (isDigit && !isFirst) else { return false }
            isFirst = false
        }
        return !isFirst
    }
}

enum SchemaPathComponent: Equatable {
    case key(String)
    case index(Int)
}

struct SchemaFailure {
    let location: [SchemaPathComponent]
    let message: String
    /// Set when the failure is a `type` mismatch, so that anyOf/oneOf can merge alternatives
    /// into one message ("expected string or null, got integer").
    let typeMismatch: (expected: [String], actual: String)?
}

struct SchemaValidator {
    /// Where the value being checked sits below the root.
    private var location: [SchemaPathComponent] = []

    mutating func check(_ value: JSONValue, against schema: JSONValue) -> SchemaFailure? {
        switch schema {
        case .bool(true):
            return nil
        case .bool(false):
            return fail("is not allowed")
        case .object(let keywords):
            return check(value, keywords: keywords)
        default:
            // Not a schema at all; there is nothing to enforce.
            return nil
        }
    }

    private mutating func check(_ value: JSONValue, keywords: JSONObject) -> SchemaFailure? {
        if let type = keywords["type"], let failure = checkType(value, type) { return failure }
        if let constant = keywords["const"], !jsonEquals(value, constant) {
            return fail("must be \(constant.serialized())")
        }
        if case .array(let options)? = keywords["enum"], !options.contains(where: { jsonEquals(value, $0) }) {
            return fail("must be one of [\(options.map { $0.serialized() }.joined(separator: ", "))]")
        }
        switch value {
        case .int, .double:
            if let failure = checkNumber(value, keywords) { return failure }
        case .string(let string):
            if let failure = checkString(string, keywords) { return failure }
        case .array(let elements):
            if let failure = checkArray(elements, keywords) { return failure }
        case .object(let object):
            if let failure = checkObject(object, keywords) { return failure }
        case .null, .bool:
            break
        }
        return checkCombinators(value, keywords)
    }

    // MARK: Keywords by value type

    private func checkType(_ value: JSONValue, _ type: JSONValue) -> SchemaFailure? {
        let names: [String]
        switch type {
        case .string(let name): names = [name]
        case .array(let list): names = list.compactMap(\.stringValue)
        default: return nil
        }
        guard !names.isEmpty, !names.contains(where: { value.hasType(named: $0) }) else { return nil }
        return SchemaFailure(
            location: location,
            message: "expected \(names.joined(separator: " or ")), got \(value.typeName)",
            typeMismatch: (names, value.typeName))
    }

    private func checkNumber(_ value: JSONValue, _ keywords: JSONObject) -> SchemaFailure? {
        if let bound = keywords["minimum"], let order = compareNumbers(value, bound), order < 0 {
            return fail("must be >= \(bound.serialized())")
        }
        if let bound = keywords["maximum"], let order = compareNumbers(value, bound), order > 0 {
            return fail("must be at most \(bound.serialized())")
        }
        if let bound = keywords["exclusiveMinimum"], let order = compareNumbers(value, bound), order <= 0 {
            return fail("must be > \(bound.serialized())")
        }
        if let bound = keywords["exclusiveMaximum"], let order = compareNumbers(value, bound), order >= 0 {
            return fail("must be < \(bound.serialized())")
        }
        return nil
    }

    private func checkString(_ string: String, _ keywords: JSONObject) -> SchemaFailure? {
        let minLength = keywords["minLength"]?.intValue
        let maxLength = keywords["maxLength"]?.intValue
        if minLength != nil || maxLength != nil {
            let length = string.unicodeScalars.count
            if let minLength, length < minLength {
                return fail("must be at least \(counted(minLength, "character"))")
            }
            if let maxLength, length > maxLength {
                return fail("must be at most \(counted(maxLength, "character"))")
            }
        }
        // Compiled on each check: Regex is not Sendable, so a shared cache would need a lock and an
        // unchecked conformance, and tool schemas rarely carry patterns.
        if case .string(let pattern)? = keywords["pattern"], let regex = try? Regex(pattern) {
            // JSON Schema patterns are ECMA-262 expressions, which match code points, not graphemes.
            if string.firstMatch(of: regex.matchingSemantics(.unicodeScalar)) == nil {
                return fail("must match pattern \(pattern)")
            }
        }
        return nil
    }

    private mutating func checkArray(_ elements: [JSONValue], _ keywords: JSONObject) -> SchemaFailure? {
        if let minItems = keywords["minItems"]?.intValue, elements.count < minItems {
            return fail("must have at least \(counted(minItems, "item"))")
        }
        if let maxItems = keywords["maxItems"]?.intValue, elements.count > maxItems {
            return fail("must have at most \(counted(maxItems, "item"))")
        }
        if keywords["uniqueItems"] == .bool(true) {
            for later in elements.indices {
                for earlier in 0..<later where jsonEquals(elements[earlier], elements[later]) {
                    return fail("must have unique items (items \(earlier) and \(later) are equal)")
                }
            }
        }
        var checkedByPrefix = 0
        if case .array(let prefixSchemas)? = keywords["prefixItems"] {
            checkedByPrefix = min(prefixSchemas.count, elements.count)
            for index in 0..<checkedByPrefix {
                if let failure = check(elements[index], against: prefixSchemas[index], at: .index(index)) {
                    return failure
                }
            }
        }
        if let itemSchema = keywords["items"], checkedByPrefix < elements.count {
            for index in checkedByPrefix..<elements.count {
                if itemSchema == .bool(false) {
                    return fail("unexpected item", at: .index(index))
                }
                if let failure = check(elements[index], against: itemSchema, at: .index(index)) {
                    return failure
                }
            }
        }
        return nil
    }

    private mutating func checkObject(_ object: JSONObject, _ keywords: JSONObject) -> SchemaFailure? {
        if case .array(let required)? = keywords["required"] {
            for case .string(let name) in required where object[name] == nil {
                return fail("is required", at: .key(name))
            }
        }
        let properties = keywords["properties"]?.objectValue ?? JSONObject()
        for (name, propertySchema) in properties {
            if let member = object[name], let failure = check(member, against: propertySchema, at: .key(name)) {
                return failure
            }
        }
        if let additional = keywords["additionalProperties"] {
            for (name, member) in object where properties[name] == nil {
                if additional == .bool(false) {
                    return fail("unexpected property", at: .key(name))
                }
                if let failure = check(member, against: additional, at: .key(name)) {
                    return failure
                }
            }
        }
        return nil
    }

    // MARK: Combinators

    private mutating func checkCombinators(_ value: JSONValue, _ keywords: JSONObject) -> SchemaFailure? {
        if case .array(let schemas)? = keywords["allOf"] {
            for schema in schemas {
                if let failure = check(value, against: schema) { return failure }
            }
        }
        if case .array(let schemas)? = keywords["anyOf"] {
            var failures: [SchemaFailure] = []
            for schema in schemas {
                guard let failure = check(value, against: schema) else {
                    failures.removeAll()
                    break
                }
                failures.append(failure)
            }
            if !failures.isEmpty { return explainNoMatch(failures) }
        }
        if case .array(let schemas)? = keywords["oneOf"] {
            var failures: [SchemaFailure] = []
            var matches = 0
            for schema in schemas {
                if let failure = check(value, against: schema) {
                    failures.append(failure)
                } else {
                    matches += 1
                }
            }
            if matches == 0, !failures.isEmpty { return explainNoMatch(failures) }
            if matches > 1 { return fail("must match exactly one of the allowed schemas, matches \(matches)") }
        }
        if let disallowed = keywords["not"], check(value, against: disallowed) == nil {
            return fail("must not match the schema in 'not'")
        }
        return nil
    }

    /// One failure standing for a set of alternatives that all failed: a merged type message when
    /// every alternative wanted another type, the alternative whose type did match when there is just
    /// one (its complaint is the useful one), else a general message.
    private func explainNoMatch(_ failures: [SchemaFailure]) -> SchemaFailure {
        let hereDepth = location.count
        let typeMismatchesHere = failures.compactMap { failure in
            failure.location.count == hereDepth ? failure.typeMismatch : nil
        }
        if typeMismatchesHere.count == failures.count, let actual = typeMismatchesHere.first?.actual {
            var expected: [String] = []
            for name in typeMismatchesHere.flatMap(\.expected) where !expected.contains(name) {
                expected.append(name)
            }
            return SchemaFailure(
                location: location,
                message: "expected \(expected.joined(separator: " or ")), got \(actual)",
                typeMismatch: (expected, actual))
        }
        let typeMatched = failures.filter { $0.location.count != hereDepth || $0.typeMismatch == nil }
        if typeMatched.count == 1 { return typeMatched[0] }
        return fail("does not match any of the allowed schemas")
    }

    // MARK: Helpers

    private mutating func check(
        _ value: JSONValue, against schema: JSONValue, at component: SchemaPathComponent
    ) -> SchemaFailure? {
        location.append(component)
        defer { location.removeLast() }
        return check(value, against: schema)
    }

    private func fail(_ message: String) -> SchemaFailure {
        SchemaFailure(location: location, message: message, typeMismatch: nil)
    }

    private func fail(_ message: String, at component: SchemaPathComponent) -> SchemaFailure {
        SchemaFailure(location: location + [component], message: message, typeMismatch: nil)
    }

    private func counted(_ count: Int64, _ noun: String) -> String {
        count == 1 ? "1 \(noun)" : "\(count) \(noun)s"
    }
}

extension JSONValue {
    /// Whether the value is of the JSON Schema type `name`; integral doubles count as integers.
    func hasType(named name: String) -> Bool {
        switch (name, self) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object),
            ("number", .int), ("number", .double), ("integer", .int):
            return true
        case ("integer", .double(let double)):
            // Every finite double of magnitude 2^52 or more is an integer, even beyond Int64.
            return exactInt64(double) != nil || (double.isFinite && double.magnitude >= 4_503_599_627_370_496.0)
        default:
            return false
        }
    }
}

/// JSON equality as JSON Schema defines it: numbers by mathematical value (1 equals 1.0), objects
/// regardless of member order, everything else structurally.
func jsonEquals(_ lhs: JSONValue, _ rhs: JSONValue) -> Bool {
    switch (lhs, rhs) {
    case (.int, .int), (.int, .double), (.double, .int), (.double, .double):
        return compareNumbers(lhs, rhs) == 0
    case (.array(let left), .array(let right)):
        return left.count == right.count && zip(left, right).allSatisfy { jsonEquals($0, $1) }
    case (.object(let left), .object(let right)):
        guard left.count == right.count else { return false }
        return left.allSatisfy { member in
            guard let other = right[member.key] else { return false }
            return jsonEquals(member.value, other)
        }
    default:
        return lhs == rhs
    }
}

/// The sign of `lhs - rhs` when both are numbers, computed exactly even where Int64 and Double
/// cannot represent each other; nil when either is not a number (or is NaN).
func compareNumbers(_ lhs: JSONValue, _ rhs: JSONValue) -> Int? {
    switch (lhs, rhs) {
    case (.int(let left), .int(let right)):
        return left < right ? -1 : (left == right ? 0 : 1)
    case (.double(let left), .double(let right)):
        if left.isNaN || right.isNaN { return nil }
        return left < right ? -1 : (left == right ? 0 : 1)
    case (.int(let left), .double(let right)):
        return compare(left, right)
    case (.double(let left), .int(let right)):
        return compare(right, left).map { -$0 }
    default:
        return nil
    }
}

private func compare(_ integer: Int64, _ double: Double) -> Int? {
    if double.isNaN { return nil }
    // Doubles outside [-2^63, 2^63) lie beyond every Int64.
    if double >= 9_223_372_036_854_775_808.0 { return -1 }
    if double < -9_223_372_036_854_775_808.0 { return 1 }
    // In range, conversion truncates toward zero exactly (no libm call, unlike `rounded`); when the
    // integer equals the truncated part, the sign of the fraction decides.
    let truncated = Int64(double)
    if integer != truncated { return integer < truncated ? -1 : 1 }
    let fraction = double - Double(truncated)
    return fraction == 0 ? 0 : (fraction > 0 ? -1 : 1)
}
