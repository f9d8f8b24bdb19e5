// JSONValue accessors and JSONObject's ordered-member behaviour.
import JSON
import Testing

@Suite("JSON values and objects")
struct JSONValueTests {
    // MARK: JSONValue

    @Test func namesTypesTheWayJSONSchemaDoes() {
        let names = ([.null, true, 1, 1.5, "s", [], ["k": 1]] as [JSONValue]).map(\.typeName)
        #expect(names == ["null", "boolean", "integer", "number", "string", "array", "object"])
    }

    @Test func accessorsReturnPayloadsOfTheirOwnKind() {
        #expect(JSONValue.string("s").stringValue == "s")
        #expect(JSONValue.bool(true).boolValue == true)
        #expect(JSONValue.array([1]).arrayValue == [1])
        #expect(JSONValue.object(["a": 1]).objectValue == ["a": 1])
        #expect(JSONValue.int(5).stringValue == nil)
        #expect(JSONValue.string("5").intValue == nil)
        #expect(JSONValue.null.boolValue == nil)
        #expect(JSONValue.null.isNull)
        #expect(!JSONValue.bool(false).isNull)
    }

    @Test func intValueAcceptsIntegralDoubles() {
        #expect(JSONValue.int(-7).intValue == -7)
        #expect(JSONValue.double(3.0).intValue == 3)
        #expect(JSONValue.double(3.5).intValue == nil)
        #expect(JSONValue.double(1e20).intValue == nil)
        #expect(JSONValue.double(-9_223_372_036_854_775_808.0).intValue == .min)
        #expect(JSONValue.double(9_223_372_036_854_775_808.0).intValue == nil)
        #expect(JSONValue.double(-2.0).intValue == -2)
        #expect(JSONValue.double(.nan).intValue == nil)
    }

    @Test func doubleValueAcceptsIntegers() {
        #expect(JSONValue.int(2).doubleValue == 2.0)
        #expect(JSONValue.double(2.5).doubleValue == 2.5)
        #expect(JSONValue.bool(true).doubleValue == nil)
    }

    @Test func subscriptReadsObjectMembersOnly() {
        let value: JSONValue = ["input": ["message": "hi"]]
        #expect(value["input"]?["message"] == "hi")
        #expect(value["missing"] == nil)
        #expect(JSONValue.array([1])["input"] == nil)
        #expect(JSONValue.string("input")["input"] == nil)
    }

    @Test func integersAndDoublesAreDistinctValues() {
        #expect(JSONValue.int(1) != JSONValue.double(1))
        #expect(JSONValue.double(0.5) == 0.5)
    }

    // MARK: JSONObject

    @Test func objectKeepsInsertionOrder() {
        var object = JSONObject()
        #expect(object.isEmpty)
        object["z"] = 1
        object["a"] = 2
        object["m"] = 3
        #expect(object.keys == ["z", "a", "m"])
        #expect(object.count == 3)
        #expect(!object.isEmpty)
    }

    @Test func settingAnExistingKeyReplacesItInPlace() {
        var object: JSONObject = ["a": 1, "b": 2, "c": 3]
        object["b"] = "two"
        #expect(object.keys == ["a", "b", "c"])
        #expect(object["b"] == "two")
    }

    @Test func settingNilRemovesTheMember() {
        var object: JSONObject = ["a": 1, "b": 2]
        object["a"] = nil
        object["missing"] = nil
        #expect(object.keys == ["b"])
        #expect(object["a"] == nil)
    }

    @Test func initializerFoldsDuplicateKeysLastWins() {
        let object = JSONObject([("a", 1), ("b", 2), ("a", 3)])
        #expect(object.keys == ["a", "b"])
        #expect(object["a"] == 3)
        let large = JSONObject((0..<50).map { ("k\($0 % 25)", JSONValue.int(Int64($0))) })
        #expect(large.count == 25)
        #expect(large["k3"] == 28)
        #expect(large.keys.first == "k0")
    }

    @Test func iteratesMembersInOrder() {
        let object: JSONObject = ["one": 1, "two": 2, "three": 3]
        var seen: [String] = []
        var total: Int64 = 0
        for (key, value) in object {
            seen.append(key)
            total += value.intValue ?? 0
        }
        #expect(seen == ["one", "two", "three"])
        #expect(total == 6)
        #expect(object.map(\.key) == ["one", "two", "three"])
    }

    @Test func objectEqualityIgnoresMemberOrder() {
        let first: JSONObject = ["a": 1, "b": [true]]
        let reordered: JSONObject = ["b": [true], "a": 1]
        #expect(first == reordered)
        #expect(JSONValue.object(first) == JSONValue.object(reordered))
        #expect(first != ["a": 1, "b": [false]])
        #expect(first != ["a": 1])
        #expect(first != ["a": 1, "c": [true]])
    }
}
