// JSON Schema validation: each supported keyword accepts and rejects, naming the exact path.
import JSON
import Testing

/// The violation as the API reports it ("path: message"), nil when the value is valid.
private func violation(_ value: JSONValue, _ schema: JSONValue, path: String = "input") -> String? {
    JSONSchema.validate(value, against: schema, path: path)?.description
}

@Suite("JSON Schema validation")
struct JSONSchemaTests {
    // MARK: Boolean schemas and type

    @Test func trueSchemaAcceptsEverythingFalseSchemaNothing() {
        #expect(violation(["any": [1, "thing"]], true) == nil)
        #expect(violation(.null, false) == "input: is not allowed")
        #expect(violation(["a": 1], ["properties": ["a": false]]) == "input.a: is not allowed")
    }

    @Test func typeStringAcceptsStringsOnly() {
        #expect(violation("hi", ["type": "string"]) == nil)
        #expect(violation(5, ["type": "string"]) == "input: expected string, got integer")
        #expect(violation(2.5, ["type": "string"]) == "input: expected string, got number")
    }

    @Test func typeIntegerAcceptsIntegralDoubles() {
        #expect(violation(3, ["type": "integer"]) == nil)
        #expect(violation(3.0, ["type": "integer"]) == nil)
        #expect(violation(1e20, ["type": "integer"]) == nil)
        #expect(violation(3.5, ["type": "integer"]) == "input: expected integer, got number")
        #expect(violation("3", ["type": "integer"]) == "input: expected integer, got string")
    }

    @Test func typeNumberAcceptsIntegersAndDoubles() {
        #expect(violation(3, ["type": "number"]) == nil)
        #expect(violation(3.5, ["type": "number"]) == nil)
        #expect(violation(true, ["type": "number"]) == "input: expected number, got boolean")
    }

    @Test func typeCoversNullBooleanArrayAndObject() {
        #expect(violation(.null, ["type": "null"]) == nil)
        #expect(violation(false, ["type": "boolean"]) == nil)
        #expect(violation([1], ["type": "array"]) == nil)
        #expect(violation(["a": 1], ["type": "object"]) == nil)
        #expect(violation(0, ["type": "null"]) == "input: expected null, got integer")
        #expect(violation("true", ["type": "boolean"]) == "input: expected boolean, got string")
        #expect(violation(["a": 1], ["type": "array"]) == "input: expected array, got object")
        #expect(violation([1], ["type": "object"]) == "input: expected object, got array")
    }

    @Test func typeListAcceptsAnyListedType() {
        let schema: JSONValue = ["type": ["string", "null"]]
        #expect(violation("x", schema) == nil)
        #expect(violation(.null, schema) == nil)
        #expect(violation(1, schema) == "input: expected string or null, got integer")
    }

    // MARK: Objects

    @Test func propertiesValidateMembersAtTheirPath() {
        let schema: JSONValue = ["type": "object", "properties": ["message": ["type": "string"]]]
        #expect(violation(["message": "hi"], schema) == nil)
        #expect(violation([:], schema) == nil)
        #expect(violation(["message": 42], schema) == "input.message: expected string, got integer")
    }

    @Test func requiredNamesTheMissingMember() {
        let schema: JSONValue = ["type": "object", "required": ["message"]]
        #expect(violation(["message": "hi"], schema) == nil)
        #expect(violation([:], schema) == "input.message: is required")
        #expect(violation(["message": .null], schema) == nil)
    }

    @Test func additionalPropertiesFalseRejectsUnknownMembers() {
        let schema: JSONValue = ["properties": ["message": ["type": "string"]], "additionalProperties": false]
        #expect(violation(["message": "hi"], schema) == nil)
        #expect(violation(["message": "hi", "extra": 1], schema) == "input.extra: unexpected property")
    }

    @Test func additionalPropertiesSchemaValidatesUnknownMembers() {
        let schema: JSONValue = ["properties": ["name": ["type": "string"]], "additionalProperties": ["type": "integer"]]
        #expect(violation(["name": "n", "count": 2], schema) == nil)
        #expect(violation(["name": "n", "label": "x"], schema) == "input.label: expected integer, got string")
    }

    @Test func objectKeywordsIgnoreNonObjects() {
        let schema: JSONValue = ["required": ["a"], "properties": ["a": false], "additionalProperties": false]
        #expect(violation("not an object", schema) == nil)
        #expect(violation([1, 2], schema) == nil)
    }

    // MARK: Arrays

    @Test func itemsValidatesEveryElementAtItsIndex() {
        let schema: JSONValue = ["type": "array", "items": ["type": "string"]]
        #expect(violation(["a", "b"], schema) == nil)
        #expect(violation(["a", 2], schema) == "input[1]: expected string, got integer")
    }

    @Test func nestedPathsCombineMembersAndIndices() {
        let schema: JSONValue = [
            "properties": [
                "items": ["items": ["required": ["name"], "properties": ["name": ["type": "string"]]]],
            ],
        ]
        #expect(violation(["items": [["name": "a"], ["name": "b"]]], schema) == nil)
        #expect(violation(["items": [["name": "a"], ["name": "b"], ["name": 3]]], schema)
            == "input.items[2].name: expected string, got integer")
        #expect(violation(["items": [["name": "a"], [:]]], schema) == "input.items[1].name: is required")
    }

    @Test func prefixItemsValidatesByPosition() {
        let schema: JSONValue = ["prefixItems": [["type": "integer"], ["type": "string"]]]
        #expect(violation([1, "a"], schema) == nil)
        #expect(violation([1], schema) == nil)
        #expect(violation([1, "a", true], schema) == nil)
        #expect(violation(["a"], schema) == "input[0]: expected integer, got string")
        #expect(violation([1, 2], schema) == "input[1]: expected string, got integer")
    }

    @Test func itemsAfterPrefixItemsCoverTheRest() {
        let closed: JSONValue = ["prefixItems": [["type": "integer"]], "items": false]
        #expect(violation([1], closed) == nil)
        #expect(violation([1, "a"], closed) == "input[1]: unexpected item")
        let typed: JSONValue = ["prefixItems": [["type": "integer"]], "items": ["type": "boolean"]]
        #expect(violation([1, true, false], typed) == nil)
        #expect(violation([1, true, 0], typed) == "input[2]: expected boolean, got integer")
    }

    @Test func minItemsAndMaxItemsBoundTheLength() {
        let schema: JSONValue = ["minItems": 1, "maxItems": 2]
        #expect(violation([1], schema) == nil)
        #expect(violation([1, 2], schema) == nil)
        #expect(violation([], schema) == "input: must have at least 1 item")
        #expect(violation([1, 2, 3], schema) == "input: must have at most 2 items")
    }

    @Test func uniqueItemsRejectsEqualElements() {
        let schema: JSONValue = ["uniqueItems": true]
        #expect(violation([1, "1", [1], ["a": 1]], schema) == nil)
        #expect(violation([1, 2, 1], schema) == "input: must have unique items (items 0 and 2 are equal)")
        #expect(violation([1, 1.0], schema) == "input: must have unique items (items 0 and 1 are equal)")
        #expect(violation([["a": 1, "b": 2], ["b": 2, "a": 1]], schema)
            == "input: must have unique items (items 0 and 1 are equal)")
        #expect(violation([1, 1], ["uniqueItems": false]) == nil)
    }

    // MARK: Values

    @Test func enumAcceptsListedValuesOnly() {
        let schema: JSONValue = ["enum": ["a", "b"]]
        #expect(violation("a", schema) == nil)
        #expect(violation("c", schema) == #"input: must be one of ["a", "b"]"#)
        #expect(violation(1.0, ["enum": [1, 2]]) == nil)
        #expect(violation(.null, ["enum": [1, .null]]) == nil)
    }

    @Test func constAcceptsOnlyThatValue() {
        #expect(violation("x", ["const": "x"]) == nil)
        #expect(violation("y", ["const": "x"]) == #"input: must be "x""#)
        #expect(violation(["b": 2, "a": 1], ["const": ["a": 1, "b": 2]]) == nil)
        #expect(violation(5.0, ["const": 5]) == nil)
        #expect(violation(6, ["const": 5]) == "input: must be 5")
    }

    // MARK: Numbers

    @Test func minimumIsInclusive() {
        let schema: JSONValue = ["properties": ["seconds": ["type": "integer", "minimum": 0]]]
        #expect(violation(["seconds": 0], schema) == nil)
        #expect(violation(["seconds": -1], schema) == "input.seconds: must be >= 0")
        #expect(violation(-0.5, ["minimum": 0]) == "input: must be >= 0")
    }

    @Test func maximumIsInclusive() {
        let schema: JSONValue = ["properties": ["seconds": ["type": "integer", "maximum": 3600]]]
        #expect(violation(["seconds": 3600], schema) == nil)
        #expect(violation(["seconds": 3601], schema) == "input.seconds: must be at most 3600")
        #expect(violation(3600.5, ["maximum": 3600]) == "input: must be at most 3600")
    }

    @Test func exclusiveMinimumRejectsTheBound() {
        let schema: JSONValue = ["exclusiveMinimum": 0]
        #expect(violation(0.5, schema) == nil)
        #expect(violation(1, schema) == nil)
        #expect(violation(0, schema) == "input: must be > 0")
    }

    @Test func exclusiveMaximumRejectsTheBound() {
        let schema: JSONValue = ["exclusiveMaximum": 10]
        #expect(violation(9.99, schema) == nil)
        #expect(violation(10, schema) == "input: must be < 10")
        #expect(violation(10.0, schema) == "input: must be < 10")
    }

    @Test func boundsCompareIntegersAndDoublesExactly() {
        #expect(violation(0, ["minimum": 0.5]) == "input: must be >= 0.5")
        #expect(violation(1, ["minimum": 0.5]) == nil)
        #expect(violation(-3, ["maximum": -2.5]) == nil)
        #expect(violation(-2, ["maximum": -2.5]) == "input: must be at most -2.5")
        #expect(violation(-2.5, ["minimum": -2]) == "input: must be >= -2")
        // 2^63 - 1 is below the double 2^63, which Double(Int64.max) would round it to.
        #expect(violation(.int(.max), ["exclusiveMaximum": 9_223_372_036_854_775_808.0]) == nil)
        #expect(violation(.int(.min), ["minimum": -9_223_372_036_854_775_808.0]) == nil)
    }

    @Test func numericKeywordsIgnoreNonNumbers() {
        #expect(violation("5", ["minimum": 10, "maximum": 1]) == nil)
    }

    // MARK: Strings

    @Test func minLengthCountsUnicodeScalars() {
        let schema: JSONValue = ["minLength": 2]
        #expect(violation("ab", schema) == nil)
        #expect(violation("e\u{301}", schema) == nil)  // one grapheme, two scalars
        #expect(violation("é", schema) == "input: must be at least 2 characters")
        #expect(violation("", ["minLength": 1]) == "input: must be at least 1 character")
    }

    @Test func maxLengthCountsUnicodeScalars() {
        let schema: JSONValue = ["properties": ["message": ["maxLength": 3]]]
        #expect(violation(["message": "😀😀😀"], schema) == nil)  // 12 bytes, 3 scalars
        #expect(violation(["message": "abcd"], schema) == "input.message: must be at most 3 characters")
    }

    @Test func patternSearchesAnywhereUnlessAnchored() {
        #expect(violation("abc", ["pattern": "^[a-z]+$"]) == nil)
        #expect(violation("aBc", ["pattern": "^[a-z]+$"]) == "input: must match pattern ^[a-z]+$")
        #expect(violation("xxbxx", ["pattern": "b"]) == nil)
        #expect(violation("xxx", ["pattern": "b"]) == "input: must match pattern b")
        #expect(violation("a\u{301}", ["pattern": "^a.$"]) == nil)
    }

    @Test func invalidPatternIsIgnored() {
        #expect(violation("anything", ["pattern": "(unclosed"]) == nil)
    }

    // MARK: Combinators

    @Test func allOfRequiresEverySchema() {
        let schema: JSONValue = ["allOf": [["type": "integer"], ["minimum": 1]]]
        #expect(violation(2, schema) == nil)
        #expect(violation(0, schema) == "input: must be >= 1")
        #expect(violation("2", schema) == "input: expected integer, got string")
    }

    @Test func anyOfRequiresOneSchemaAndMergesTypeMismatches() {
        let schema: JSONValue = ["anyOf": [["type": "string"], ["type": "integer"]]]
        #expect(violation("s", schema) == nil)
        #expect(violation(3, schema) == nil)
        #expect(violation(true, schema) == "input: expected string or integer, got boolean")
    }

    @Test func anyOfReportsTheAlternativeWhoseTypeMatched() {
        let schema: JSONValue = [
            "anyOf": [["type": "object", "required": ["a"]], ["type": "string"]],
        ]
        #expect(violation([:], schema) == "input.a: is required")
        let ambiguous: JSONValue = ["anyOf": [["minimum": 10], ["maximum": 1]]]
        #expect(violation(5, ambiguous) == "input: does not match any of the allowed schemas")
    }

    @Test func aSchemaCompiledOnceJudgesEveryValueAsTheSchemaItselfDoes() {
        let schema: JSONValue = [
            "type": "object", "required": ["message"], "additionalProperties": false,
            "properties": ["message": ["type": "string", "maxLength": 3], "count": ["type": "integer", "minimum": 1]],
        ]
        let compiled = CompiledSchema(schema)
        let values: [JSONValue] = [["message": "hi"], ["message": "long"], [:], ["message": "a", "count": 0],
                                   ["message": "a", "extra": true], "text", ["message": "a", "count": 2]]
        for value in values {
            #expect(JSONSchema.validate(value, against: compiled)?.description == violation(value, schema))
        }
        #expect(JSONSchema.validate([:], against: compiled)?.description == "input.message: is required")
        #expect(JSONSchema.validate(["message": "a", "extra": true], against: compiled)?.description == "input.extra: unexpected property")
        #expect(JSONSchema.validate(["message": "a", "count": 2], against: compiled) == nil)
        #expect(JSONSchema.validate(["message": "long"], against: compiled, path: "arguments")?.description
            == "arguments.message: must be at most 3 characters")
        #expect(JSONSchema.validate(1, against: CompiledSchema(false))?.description == "input: is not allowed")
        #expect(JSONSchema.validate(1, against: CompiledSchema(true)) == nil)
    }

    @Test func alternativesBelowTheRootReportFullPaths() {
        // anyOf on an array's items: each failure is located from the item, then from the root.
        let schema: JSONValue = ["properties": ["list": ["items": [
            "anyOf": [["type": "string"], ["type": "object", "properties": ["n": ["type": "integer"]]]],
        ]]]]
        #expect(violation(["list": ["x", ["n": 1]]], schema) == nil)
        #expect(violation(["list": ["x", ["n": "one"]]], schema) == "input.list[1].n: expected integer, got string")
        #expect(violation(["list": ["x", true]], schema) == "input.list[1]: expected string or object, got boolean")
        let nested: JSONValue = ["properties": ["a": ["oneOf": [["type": "integer"], ["minimum": 10]]]]]
        #expect(violation(["a": 20], nested) == "input.a: must match exactly one of the allowed schemas, matches 2")
        #expect(violation(["a": ["not": .null]], ["properties": ["a": ["properties": ["not": ["not": ["type": "null"]]]]]])
            == "input.a.not: must not match the schema in 'not'")
    }

    @Test func oneOfRequiresExactlyOneSchema() {
        let schema: JSONValue = ["oneOf": [["type": "integer"], ["minimum": 10]]]
        #expect(violation(5, schema) == nil)
        #expect(violation(10.5, schema) == nil)
        #expect(violation(20, schema) == "input: must match exactly one of the allowed schemas, matches 2")
        #expect(violation("x", ["oneOf": [["type": "integer"], ["type": "null"]]])
            == "input: expected integer or null, got string")
    }

    @Test func notRejectsValuesTheSchemaAccepts() {
        let schema: JSONValue = ["not": ["type": "null"]]
        #expect(violation("x", schema) == nil)
        #expect(violation(.null, schema) == "input: must not match the schema in 'not'")
    }

    // MARK: General behaviour

    @Test func unknownKeywordsAreIgnored() {
        let schema: JSONValue = ["type": "string", "format": "email", "x-mcpd": true, "$comment": "free text"]
        #expect(violation("not-an-email", schema) == nil)
        #expect(violation(1, schema) == "input: expected string, got integer")
    }

    @Test func nonSchemaValuesConstrainNothing() {
        #expect(violation("x", 5) == nil)
        #expect(violation(["a": [1]], ["properties": "nonsense", "items": 3, "required": "a"]) == nil)
        #expect(violation([1], ["items": 3, "prefixItems": "x"]) == nil)
    }

    @Test func keysThatAreNotIdentifiersAreQuotedInPaths() {
        let schema: JSONValue = ["additionalProperties": ["type": "string"]]
        #expect(violation(["key with space": 1], schema) == #"input["key with space"]: expected string, got integer"#)
        #expect(violation(["1st": 1], schema) == #"input["1st"]: expected string, got integer"#)
        #expect(violation(["dash-key": 1], schema) == #"input["dash-key"]: expected string, got integer"#)
        #expect(violation(["quote\"d": 1], schema) == #"input["quote\"d"]: expected string, got integer"#)
        #expect(violation(["snake_case2": 1], schema) == "input.snake_case2: expected string, got integer")
    }

    @Test func pathStartsAtTheGivenRoot() {
        #expect(violation(["tool": 1], ["properties": ["tool": ["type": "string"]]], path: "body")
            == "body.tool: expected string, got integer")
        let reported = JSONSchema.validate([], against: ["type": "object"], path: "input.metadata")
        #expect(reported == SchemaViolation(path: "input.metadata", message: "expected object, got array"))
    }

    @Test func typeIsReportedBeforeOtherKeywords() {
        let schema: JSONValue = ["enum": ["a"], "minLength": 5, "type": "string"]
        #expect(violation(7, schema) == "input: expected string, got integer")
        #expect(violation("b", schema) == #"input: must be one of ["a"]"#)
    }

    @Test func validatesTheBuiltInToolSchemas() {
        let echo: JSONValue = [
            "type": "object", "properties": ["message": ["type": "string"]],
            "required": ["message"], "additionalProperties": false,
        ]
        #expect(violation(["message": "hello"], echo) == nil)
        #expect(violation([:], echo) == "input.message: is required")
        #expect(violation(["message": ["nested": true]], echo) == "input.message: expected string, got object")

        let countdown: JSONValue = [
            "type": "object", "required": ["seconds"], "additionalProperties": false,
            "properties": ["seconds": ["type": "integer", "minimum": 0, "maximum": 3600]],
        ]
        #expect(violation(["seconds": 3], countdown) == nil)
        #expect(violation(["seconds": 10.0], countdown) == nil)
        #expect(violation(["seconds": 1.5], countdown) == "input.seconds: expected integer, got number")
        #expect(violation(["seconds": -1], countdown) == "input.seconds: must be >= 0")
        #expect(violation(["seconds": 3601], countdown) == "input.seconds: must be at most 3600")
        #expect(violation("3", countdown) == "input: expected object, got string")
    }

    @Test func violationDescriptionJoinsPathAndMessage() {
        let violation = SchemaViolation(path: "input.message", message: "is required")
        #expect(violation.description == "input.message: is required")
    }
}
