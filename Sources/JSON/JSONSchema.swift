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
        validate(value, against: CompiledSchema(schema), path: path)
    }

    /// `validate` against a schema compiled once, as each tool's input schema is: a call then
    /// reads the keywords' values where they were put, rather than searching the schema for them.
    public static func validate(_ value: JSONValue, against schema: CompiledSchema, path: String = "input") -> SchemaViolation? {
        guard let failure = SchemaValidator().check(value, against: schema) else { return nil }
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
    /// Where the offending value sits below the value whose check reported it: empty for that
    /// value itself. Each enclosing check puts its own step in front as the failure passes up, so
    /// a valid input (the common case) builds no path at all.
    var location: [SchemaPathComponent]
    let message: String
    /// Set when the failure is a `type` mismatch, so that anyOf/oneOf can merge alternatives
    /// into one message ("expected string or null, got integer").
    let typeMismatch: (expected: [String], actual: String)?
}

/// A JSON Schema with its keywords read out: each schema object becomes a node holding the values
/// of the keywords the validator knows, its subschemas compiled in turn. Compiling once per tool
/// spares each call the search for twenty-odd keywords in every schema object it meets, most of
/// them absent (callgrind: ~4k instructions of an echo call's ~80k went to validation).
public final class CompiledSchema: Sendable {
    /// `true` and anything that is not a schema accept every value; `false` rejects every value.
    enum Form { case acceptsAll, rejectsAll, keywords }

    let form: Form
    let type: JSONValue?
    let constant: JSONValue?
    let enumeration: [JSONValue]?
    let minimum, maximum, exclusiveMinimum, exclusiveMaximum: JSONValue?
    let minLength, maxLength: Int64?
    let pattern: String?
    let minItems, maxItems: Int64?
    let uniqueItems: Bool
    let prefixItems: [CompiledSchema]?
    let items: CompiledSchema?
    let required: [String]?
    /// `properties`, in order; an absent or non-object `properties` is empty.
    let properties: [(name: String, schema: CompiledSchema)]
    let additionalProperties: CompiledSchema?
    let allOf, anyOf, oneOf: [CompiledSchema]?
    let not: CompiledSchema?

    public convenience init(_ schema: JSONValue) {
        switch schema {
        case .bool(false): self.init(form: .rejectsAll, JSONObject())
        case .object(let keywords): self.init(form: .keywords, keywords)
        default: self.init(form: .acceptsAll, JSONObject())
        }
    }

    private init(form: Form, _ keywords: JSONObject) {
        func schemas(_ value: JSONValue?) -> [CompiledSchema]? {
            guard case .array(let list)? = value else { return nil }
            return list.map(CompiledSchema.init)
        }
        self.form = form
        type = keywords["type"]
        constant = keywords["const"]
        if case .array(let options)? = keywords["enum"] { enumeration = options } else { enumeration = nil }
        minimum = keywords["minimum"]
        maximum = keywords["maximum"]
        exclusiveMinimum = keywords["exclusiveMinimum"]
        exclusiveMaximum = keywords["exclusiveMaximum"]
        minLength = keywords["minLength"]?.intValue
        maxLength = keywords["maxLength"]?.intValue
        if case .string(let text)? = keywords["pattern"] { pattern = text } else { pattern = nil }
        minItems = keywords["minItems"]?.intValue
        maxItems = keywords["maxItems"]?.intValue
        uniqueItems = keywords["uniqueItems"] == .bool(true)
        prefixItems = schemas(keywords["prefixItems"])
        items = keywords["items"].map(CompiledSchema.init)
        if case .array(let names)? = keywords["required"] {
            required = names.compactMap(\.stringValue)
        } else {
            required = nil
        }
        properties = (keywords["properties"]?.objectValue ?? JSONObject()).map { (name: $0.key, schema: CompiledSchema($0.value)) }
        additionalProperties = keywords["additionalProperties"].map(CompiledSchema.init)
        allOf = schemas(keywords["allOf"])
        anyOf = schemas(keywords["anyOf"])
        oneOf = schemas(keywords["oneOf"])
        not = keywords["not"].map(CompiledSchema.init)
    }

    var hasCombinators: Bool { allOf != nil || anyOf != nil || oneOf != nil || not != nil }

    /// Whether `name` is one of `properties`.
    func declares(_ name: String) -> Bool { properties.contains { sameKey($0.name, name) } }
}

struct SchemaValidator {
    func check(_ value: JSONValue, against schema: CompiledSchema) -> SchemaFailure? {
        switch schema.form {
        case .acceptsAll: return nil
        case .rejectsAll: return fail("is not allowed")
        case .keywords: break
        }
        if let type = schema.type, let failure = checkType(value, type) { return failure }
        if let constant = schema.constant, !jsonEquals(value, constant) {
            return fail("must be \(constant.serialized())")
        }
        if let options = schema.enumeration, !options.contains(where: { jsonEquals(value, $0) }) {
            return fail("must be one of [\(options.map { $0.serialized() }.joined(separator: ", "))]")
        }
        switch value {
        case .int, .double:
            if let failure = checkNumber(value, schema) { return failure }
        case .string(let string):
            if let failure = checkString(string, schema) { return failure }
        case .array(let elements):
            if let failure = checkArray(elements, schema) { return failure }
        case .object(let object):
            if let failure = checkObject(object, schema) { return failure }
        case .null, .bool:
            break
        }
        return schema.hasCombinators ? checkCombinators(value, schema) : nil
    }

    // MARK: Keywords by value type

    private func checkType(_ value: JSONValue, _ type: JSONValue) -> SchemaFailure? {
        let names: [String]
        switch type {
        case .string(let name):
            // The common case decided before any array is made.
            if value.hasType(named: name) { return nil }
            names = [name]
        case .array(let list): names = list.compactMap(\.stringValue)
        default: return nil
        }
        guard !names.isEmpty, !names.contains(where: { value.hasType(named: $0) }) else { return nil }
        return SchemaFailure(
            location: [],
            message: "expected \(names.joined(separator: " or ")), got \(value.typeName)",
            typeMismatch: (names, value.typeName))
    }

    private func checkNumber(_ value: JSONValue, _ schema: CompiledSchema) -> SchemaFailure? {
        if let bound = schema.minimum, let order = compareNumbers(value, bound), order < 0 {
            return fail("must be >= \(bound.serialized())")
        }
        if let bound = schema.maximum, let order = compareNumbers(value, bound), order > 0 {
            return fail("must be at most \(bound.serialized())")
        }
        if let bound = schema.exclusiveMinimum, let order = compareNumbers(value, bound), order <= 0 {
            return fail("must be > \(bound.serialized())")
        }
        if let bound = schema.exclusiveMaximum, let order = compareNumbers(value, bound), order >= 0 {
            return fail("must be < \(bound.serialized())")
        }
        return nil
    }

    private func checkString(_ string: String, _ schema: CompiledSchema) -> SchemaFailure? {
        if schema.minLength != nil || schema.maxLength != nil {
            let length = string.unicodeScalars.count
            if let minLength = schema.minLength, length < minLength {
                return fail("must be at least \(counted(minLength, "character"))")
            }
            if let maxLength = schema.maxLength, length > maxLength {
                return fail("must be at most \(counted(maxLength, "character"))")
            }
        }
        // Compiled on each check: Regex is not Sendable, so a shared compiled schema cannot hold
        // one, and tool schemas rarely carry patterns.
        if let pattern = schema.pattern, let regex = try? Regex(pattern) {
            // JSON Schema patterns are ECMA-262 expressions, which match code points, not graphemes.
            if string.firstMatch(of: regex.matchingSemantics(.unicodeScalar)) == nil {
                return fail("must match pattern \(pattern)")
            }
        }
        return nil
    }

    private func checkArray(_ elements: [JSONValue], _ schema: CompiledSchema) -> SchemaFailure? {
        if let minItems = schema.minItems, elements.count < minItems {
            return fail("must have at least \(counted(minItems, "item"))")
        }
        if let maxItems = schema.maxItems, elements.count > maxItems {
            return fail("must have at most \(counted(maxItems, "item"))")
        }
        if schema.uniqueItems {
            for later in elements.indices {
                for earlier in 0..<later where jsonEquals(elements[earlier], elements[later]) {
                    return fail("must have unique items (items \(earlier) and \(later) are equal)")
                }
            }
        }
        var checkedByPrefix = 0
        if let prefixSchemas = schema.prefixItems {
            checkedByPrefix = min(prefixSchemas.count, elements.count)
            for index in 0..<checkedByPrefix {
                if let failure = check(elements[index], against: prefixSchemas[index], at: .index(index)) {
                    return failure
                }
            }
        }
        if let itemSchema = schema.items, checkedByPrefix < elements.count {
            for index in checkedByPrefix..<elements.count {
                if itemSchema.form == .rejectsAll {
                    return fail("unexpected item", at: .index(index))
                }
                if let failure = check(elements[index], against: itemSchema, at: .index(index)) {
                    return failure
                }
            }
        }
        return nil
    }

    private func checkObject(_ object: JSONObject, _ schema: CompiledSchema) -> SchemaFailure? {
        if let required = schema.required {
            for name in required where object[name] == nil {
                return fail("is required", at: .key(name))
            }
        }
        for property in schema.properties {
            if let member = object[property.name], let failure = check(member, against: property.schema, at: .key(property.name)) {
                return failure
            }
        }
        if let additional = schema.additionalProperties {
            for (name, member) in object where !schema.declares(name) {
                if additional.form == .rejectsAll {
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

    private func checkCombinators(_ value: JSONValue, _ schema: CompiledSchema) -> SchemaFailure? {
        if let schemas = schema.allOf {
            for alternative in schemas {
                if let failure = check(value, against: alternative) { return failure }
            }
        }
        if let schemas = schema.anyOf {
            var failures: [SchemaFailure] = []
            for alternative in schemas {
                guard let failure = check(value, against: alternative) else {
                    failures.removeAll()
                    break
                }
                failures.append(failure)
            }
            if !failures.isEmpty { return explainNoMatch(failures) }
        }
        if let schemas = schema.oneOf {
            var failures: [SchemaFailure] = []
            var matches = 0
            for alternative in schemas {
                if let failure = check(value, against: alternative) {
                    failures.append(failure)
                } else {
                    matches += 1
                }
            }
            if matches == 0, !failures.isEmpty { return explainNoMatch(failures) }
            if matches > 1 { return fail("must match exactly one of the allowed schemas, matches \(matches)") }
        }
        if let disallowed = schema.not, check(value, against: disallowed) == nil {
            return fail("must not match the schema in 'not'")
        }
        return nil
    }

    /// One failure standing for a set of alternatives that all failed: a merged type message when
    /// every alternative wanted another type, the alternative whose type did match when there is just
    /// one (its complaint is the useful one), else a general message.
    private func explainNoMatch(_ failures: [SchemaFailure]) -> SchemaFailure {
        let typeMismatchesHere = failures.compactMap { failure in
            failure.location.isEmpty ? failure.typeMismatch : nil
        }
        if typeMismatchesHere.count == failures.count, let actual = typeMismatchesHere.first?.actual {
            var expected: [String] = []
            for name in typeMismatchesHere.flatMap(\.expected) where !expected.contains(name) {
                expected.append(name)
            }
            return SchemaFailure(
                location: [],
                message: "expected \(expected.joined(separator: " or ")), got \(actual)",
                typeMismatch: (expected, actual))
        }
        let typeMatched = failures.filter { !$0.location.isEmpty || $0.typeMismatch == nil }
        if typeMatched.count == 1 { return typeMatched[0] }
        return fail("does not match any of the allowed schemas")
    }

    // MARK: Helpers

    /// Checks a member or item of the current value, at `component` below it.
    private func check(
        _ value: JSONValue, against schema: CompiledSchema, at component: SchemaPathComponent
    ) -> SchemaFailure? {
        guard var failure = check(value, against: schema) else { return nil }
        failure.location.insert(component, at: 0)
        return failure
    }

    private func fail(_ message: String) -> SchemaFailure {
        SchemaFailure(location: [], message: message, typeMismatch: nil)
    }

    private func fail(_ message: String, at component: SchemaPathComponent) -> SchemaFailure {
        SchemaFailure(location: [component], message: message, typeMismatch: nil)
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
