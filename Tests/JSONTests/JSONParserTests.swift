// Accepted input: every kind of value, nesting, numbers at the edges of Int64, string escapes.
import Dispatch
import JSON
import Synchronization
import Testing

@Suite("Parsing valid JSON")
struct JSONParserTests {
    @Test func parsesEveryScalarKind() throws {
        #expect(try JSONValue.parse("null") == .null)
        #expect(try JSONValue.parse("true") == .bool(true))
        #expect(try JSONValue.parse("false") == .bool(false))
        #expect(try JSONValue.parse("42") == .int(42))
        #expect(try JSONValue.parse("2.5") == .double(2.5))
        #expect(try JSONValue.parse("\"hi\"") == .string("hi"))
    }

    @Test func parsesEmptyAndFilledContainers() throws {
        #expect(try JSONValue.parse("[]") == .array([]))
        #expect(try JSONValue.parse("{}") == .object(JSONObject()))
        #expect(try JSONValue.parse("[1,\"a\",null]") == .array([.int(1), .string("a"), .null]))
        #expect(try JSONValue.parse("{\"a\":1,\"b\":false}") == .object(JSONObject([("a", .int(1)), ("b", .bool(false))])))
    }

    @Test func readsReservedMetaKeysAndTheirNearMisses() throws {
        // The reserved `_meta` keys come from a table of constants; anything else that starts like
        // them, or spells one with an escape, must still parse as written.
        let keys = ["io.modelcontextprotocol/protocolVersion", "io.modelcontextprotocol/clientCapabilities",
                    "io.modelcontextprotocol/clientInfo", "io.modelcontextprotocol/serverInfo",
                    "io.modelcontextprotocol/logLevel", "io.modelcontextprotocol/subscriptionId",
                    "io.modelcontextprotocol/clientInfoX", "io.modelcontextprotocol/client", "io.modelcontextprotocol/",
                    "io.modelcontextprotocol/serverinfo", "io.other/clientInfo", "io", "i"]
        let text = "{" + keys.enumerated().map { "\"\($0.element)\":\($0.offset)" }.joined(separator: ",") + "}"
        let parsed = try JSONValue.parse(text).objectValue
        #expect(parsed?.keys == keys)
        #expect(parsed?["io.modelcontextprotocol/clientInfo"] == .int(2))
        let escaped = try JSONValue.parse(#"{"io.modelcontextprotocol/clientInf\u006f":1,"io.modelcontextprotocol/logLevel\"":2}"#)
        #expect(escaped.objectValue?.keys == ["io.modelcontextprotocol/clientInfo", "io.modelcontextprotocol/logLevel\""])
        #expect(throws: JSONParseError.self) { try JSONValue.parse(#"{"io.modelcontextprotocol/logLevel"#) }
        #expect(throws: JSONParseError.self) { try JSONValue.parse(#"{"io.modelcontextprotocol/logLevel"}"#) }
    }

    @Test func readsCommonNamesAndValuesAndTheirNearMisses() throws {
        // Common member names and string values come from tables of literals; near misses, escaped
        // spellings, longer strings and strings that end the input must still read as written.
        let names = ["id", "uri", "name", "type", "text", "_meta", "method", "params", "cursor", "result", "jsonrpc",
                     "version", "message", "arguments", "clientInfo", "capabilities", "progressToken", "protocolVersion",
                     "i", "ids", "Id", "nam", "names", "_met", "methods", "param", "json-rpc", "argument", "clientinfo",
                     "protocolVersions", "protocolVersionX", "", "é", "a b", "0123456789abcdef", "0123456789abcde"]
        let values = ["2.0", "tools/call", "tools/list", "initialize", "2026-07-28", "2025-11-25", "2025-06-18",
                      "2025-03-26", "2024-11-05", "2.00", "2.", "tools/calls", "tools/cal", "Tools/call", "2026-07-29",
                      "", "é", "exactly 15 byte", "sixteen bytes!!!"]
        for value in values {
            let text = "{" + names.enumerated().map { "\"\($0.element)\":[\($0.offset),\"\(value)\"]" }.joined(separator: ",") + "}"
            let parsed = try JSONValue.parse(text).objectValue
            #expect(parsed?.keys == names)
            #expect(parsed?["jsonrpc"] == [10, .string(value)])
            #expect(try JSONValue.parse("\"\(value)\"") == .string(value))
        }
        let escaped = try JSONValue.parse(#"{"i\u0064":"2\u002e0","method\"":"tools\/call"}"#)
        #expect(escaped.objectValue?.keys == ["id", "method\""])
        #expect(escaped["id"] == "2.0" && escaped["method\""] == "tools/call")
        for truncated in [#"{"id"#, #"{"id"}"#, #"{"id":"2.0"#, #""tools/call"#, #"{"method":"2.0}"#] {
            #expect(throws: JSONParseError.self) { try JSONValue.parse(truncated) }
        }
    }

    @Test func parsesNestedStructures() throws {
        let value = try JSONValue.parse(#"{"a":[1,{"b":[[],{}]}],"c":{"d":null,"e":[[["deep"]]]}}"#)
        let expected: JSONValue = [
            "a": [1, ["b": [[], .object(JSONObject())]]],
            "c": ["d": .null, "e": [[["deep"]]]],
        ]
        #expect(value == expected)
        #expect(value["c"]?["e"]?.arrayValue?.first?.arrayValue?.first == ["deep"])
    }

    @Test func allowsWhitespaceAroundAndBetweenTokens() throws {
        let value = try JSONValue.parse(" \t\r\n{ \"a\" :\n[ 1 ,\t2 ] , \"b\" : { } }\r\n ")
        #expect(value == ["a": [1, 2], "b": .object(JSONObject())])
    }

    @Test func keepsMembersInDocumentOrder() throws {
        let value = try JSONValue.parse(#"{"zeta":1,"alpha":2,"mid":3}"#)
        #expect(value.objectValue?.keys == ["zeta", "alpha", "mid"])
    }

    @Test func duplicateKeysKeepTheLastValueAtTheFirstPosition() throws {
        let value = try JSONValue.parse(#"{"a":1,"b":2,"a":3}"#)
        #expect(value.objectValue?.keys == ["a", "b"])
        #expect(value["a"] == .int(3))
    }

    @Test func duplicateKeysInLargeObjectsKeepTheLastValue() throws {
        let members = (0..<40).map { "\"k\($0 % 20)\":\($0)" }.joined(separator: ",")
        let object = try #require(try JSONValue.parse("{\(members)}").objectValue)
        #expect(object.count == 20)
        #expect(object.keys.first == "k0")
        #expect(object["k0"] == .int(20))
        #expect(object["k19"] == .int(39))
    }

    // MARK: Numbers

    @Test func integersBecomeInt() throws {
        #expect(try JSONValue.parse("0") == .int(0))
        #expect(try JSONValue.parse("-123") == .int(-123))
        #expect(try JSONValue.parse("9223372036854775807") == .int(.max))
        #expect(try JSONValue.parse("-9223372036854775808") == .int(.min))
    }

    @Test func integersBeyondInt64BecomeDouble() throws {
        #expect(try JSONValue.parse("9223372036854775808") == .double(9_223_372_036_854_775_808.0))
        #expect(try JSONValue.parse("-9223372036854775809") == .double(-9_223_372_036_854_775_809.0))
        #expect(try JSONValue.parse("123456789012345678901234567890") == .double(1.2345678901234568e29))
    }

    @Test func fractionsAndExponentsBecomeDouble() throws {
        #expect(try JSONValue.parse("1.5") == .double(1.5))
        #expect(try JSONValue.parse("-2.5e-3") == .double(-0.0025))
        #expect(try JSONValue.parse("1E2") == .double(100))
        #expect(try JSONValue.parse("1e+2") == .double(100))
        #expect(try JSONValue.parse("0.1") == .double(0.1))
        #expect(try JSONValue.parse("1.0") == .double(1.0))
        #expect(try JSONValue.parse("1e-400") == .double(0))
    }

    @Test func negativeZeroKeepsItsSign() throws {
        let value = try JSONValue.parse("-0")
        guard case .double(let double) = value else {
            Issue.record("expected a double, got \(value)")
            return
        }
        #expect(double == 0)
        #expect(double.sign == .minus)
        #expect(value.intValue == 0)
        #expect(try JSONValue.parse("-0.0").doubleValue?.sign == .minus)
    }

    // MARK: Strings

    @Test func decodesSimpleEscapes() throws {
        #expect(try JSONValue.parse(#""\"\\\/\b\f\n\r\t""#) == .string("\"\\/\u{08}\u{0C}\n\r\t"))
    }

    @Test func decodesUnicodeEscapes() throws {
        #expect(try JSONValue.parse(#""\u0041\u00e9\u20AC""#) == .string("Aé€"))
        #expect(try JSONValue.parse(#""nul:\u0000.""#) == .string("nul:\u{0}."))
    }

    @Test func decodesSurrogatePairs() throws {
        #expect(try JSONValue.parse(#""\ud83d\ude00""#) == .string("😀"))
        #expect(try JSONValue.parse(#""x\uD834\uDD1Ey""#) == .string("x𝄞y"))
    }

    @Test func passesRawUTF8Through() throws {
        #expect(try JSONValue.parse("\"héllo wörld 😀 日本\"") == .string("héllo wörld 😀 日本"))
        #expect(try JSONValue.parse("\"é\\n😀\\t日\"") == .string("é\n😀\t日"))
    }

    @Test func keepsTextAroundEscapes() throws {
        #expect(try JSONValue.parse(#""before\nmiddle\"after""#) == .string("before\nmiddle\"after"))
        #expect(try JSONValue.parse(#""\\""#) == .string("\\"))
    }

    // MARK: Entry points and limits

    @Test func everyEntryPointParsesTheSameDocument() throws {
        let text = #"{"tool":"echo","input":{"message":"hi"},"n":[1,2.5]}"#
        let fromString = try JSONValue.parse(text)
        let fromBytes = try JSONValue.parse(Array(text.utf8))
        let fromBuffer = try Array(text.utf8).withUnsafeBytes { raw in try JSONValue.parse(raw) }
        #expect(fromString == fromBytes)
        #expect(fromString == fromBuffer)
        #expect(fromString["input"]?["message"]?.stringValue == "hi")
    }

    @Test func acceptsNestingUpToTheDepthLimit() throws {
        let text = String(repeating: "[", count: 256) + String(repeating: "]", count: 256)
        var value = try JSONValue.parse(text)
        var depth = 0
        while case .array(let elements) = value {
            depth += 1
            value = elements.first ?? .null
        }
        #expect(depth == 256)
    }

    @Test func honoursACustomDepthLimit() throws {
        #expect(try JSONValue.parse(Array("[[1]]".utf8), maxDepth: 2) == [[1]])
        #expect(throws: JSONParseError(offset: 1, message: "nesting deeper than 1 levels")) {
            try JSONValue.parse(Array("[[1]]".utf8), maxDepth: 1)
        }
        #expect(try JSONValue.parse(Array("7".utf8), maxDepth: 0) == 7)
    }

    @Test func parsesDeepNestingWithoutRecursion() throws {
        let depth = 5_000
        let text = String(repeating: "{\"a\":[", count: depth) + String(repeating: "]}", count: depth)
        let value = try JSONValue.parse(Array(text.utf8), maxDepth: 2 * depth)
        #expect(value.objectValue?.keys == ["a"])
    }

    @Test func parsesLargeArrays() throws {
        let text = "[" + (0..<10_000).map(String.init).joined(separator: ",") + "]"
        let elements = try #require(try JSONValue.parse(text).arrayValue)
        #expect(elements.count == 10_000)
        #expect(elements.last == .int(9_999))
    }

    /// The parser keeps its stacks from one parse to the next on each thread: a failed parse, a
    /// large document and other threads' parses must leave nothing behind for the next one.
    @Test func parsesAfterFailuresLargeDocumentsAndOnManyThreads() throws {
        let request = #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}"#
        let expected = try JSONValue.parse(request)
        for broken in [#"{"a":[1,{"b":"#, #"[[[[{"x":1},"#, #"{"a":1,}"#] {
            #expect(throws: JSONParseError.self) { try JSONValue.parse(broken) }
            #expect(try JSONValue.parse(request) == expected)
        }
        let large = "[" + (0..<5_000).map { #"{"n":\#($0)}"# }.joined(separator: ",") + "]"
        #expect(try JSONValue.parse(large).arrayValue?.count == 5_000)
        #expect(try JSONValue.parse(request) == expected)
        #expect(try JSONValue.parse("[]") == .array([]))

        let failedThreads = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            for round in 0..<500 {
                let text = #"{"thread":\#(thread),"round":\#(round),"list":[\#(thread),[\#(round)],{"k":"v"}]}"#
                guard let value = try? JSONValue.parse(text), value["thread"] == .int(Int64(thread)),
                      value["round"] == .int(Int64(round)), value["list"]?.arrayValue?.count == 3 else {
                    failedThreads.wrappingAdd(1, ordering: .relaxed)
                    return
                }
            }
        }
        #expect(failedThreads.load(ordering: .relaxed) == 0)
    }

    /// parseMessage finds params.arguments as it lies in the bytes, and only there.
    @Test func findsTheArgumentsOfAMessageAsTheyLie() throws {
        func found(_ text: String) throws -> String? {
            let bytes = Array(text.utf8)
            let (value, range) = try JSONValue.parseMessage(bytes)
            guard let range else { return nil }
            // Whatever is found reads back as the tree's own arguments.
            #expect(try JSONValue.parse(Array(bytes[range])) == value["params"]?["arguments"])
            return String(decoding: bytes[range], as: UTF8.self)
        }
        #expect(try found(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}"#)
            == #"{"message":"hi"}"#)
        #expect(try found(#" { "params" : { "arguments" :  {"a": [1, {"b": "\u00e9"}]}  , "name":"t"} } "#)
            == #"{"a": [1, {"b": "\u00e9"}]}"#)
        #expect(try found(#"{"params":{"_meta":{"arguments":{"x":1}},"arguments":{"y":2}}}"#) == #"{"y":2}"#)
        #expect(try found(#"{"params":{"arguments":{"arguments":{"z":3}}}}"#) == #"{"arguments":{"z":3}}"#)
        #expect(try found(#"{"params":{"argu\u006dents":{"k":true}}}"#) == #"{"k":true}"#)
        #expect(try found(#"{"params":{"arguments":7}}"#) == "7")
        // Not params.arguments, or not one unambiguous value: nothing is found.
        #expect(try found(#"{"arguments":{"x":1},"params":{"name":"echo"}}"#) == nil)
        #expect(try found(#"{"result":{"arguments":{"x":1}}}"#) == nil)
        #expect(try found(#"[{"params":{"arguments":{"x":1}}}]"#) == nil)
        #expect(try found(#"{"params":{"arguments":{"x":1}},"params":{"name":"echo"}}"#) == nil)
        #expect(try found(#"{"params":{"arguments":{"x":1}},"params":5}"#) == nil)
        #expect(try found(#"{"params":{"arguments":{"x":1},"arguments":{"x":2}}}"#) == nil)
        #expect(try found(#"{"params":{"arguments":{"x":1,"x":2}}}"#) == nil)
        #expect(try found(#"{"id":1,"id":2,"params":{"arguments":{"x":1}}}"#) == nil)
        #expect(try found(#"{"params":{}}"#) == nil)
        #expect(throws: JSONParseError.self) { try JSONValue.parseMessage(Array(#"{"params":{"arguments":{"x":}}}"#.utf8)) }
    }
}
