// Output: compact serialization, string escaping, number forms, and serialize → parse round trips.
import JSON
import Testing

@Suite("Writing JSON")
struct JSONWriterTests {
    private func written(_ body: (inout [UInt8]) -> Void) -> String {
        var buffer: [UInt8] = []
        body(&buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    // MARK: Serialization

    @Test func serializesCompactlyInMemberOrder() {
        let value: JSONValue = ["b": 1, "a": [true, false, .null], "c": "x", "d": ["e": 2.5]]
        #expect(value.serialized() == #"{"b":1,"a":[true,false,null],"c":"x","d":{"e":2.5}}"#)
    }

    @Test func serializesEmptyContainers() {
        #expect(JSONValue.array([]).serialized() == "[]")
        #expect(JSONValue.object(JSONObject()).serialized() == "{}")
        #expect(JSONValue.string("").serialized() == #""""#)
    }

    @Test func serializesIntegersExactly() {
        #expect(JSONValue.int(0).serialized() == "0")
        #expect(JSONValue.int(-42).serialized() == "-42")
        #expect(JSONValue.int(.max).serialized() == "9223372036854775807")
        #expect(JSONValue.int(.min).serialized() == "-9223372036854775808")
    }

    @Test func serializesIntegralDoublesWithAFraction() {
        #expect(JSONValue.double(1).serialized() == "1.0")
        #expect(JSONValue.double(-0.0).serialized() == "-0.0")
        #expect(JSONValue.double(100).serialized() == "100.0")
    }

    @Test func serializesDoublesInShortestRoundTrippingForm() {
        #expect(JSONValue.double(0.1).serialized() == "0.1")
        #expect(JSONValue.double(2.5).serialized() == "2.5")
        #expect(JSONValue.double(1e300).serialized() == "1e+300")
        #expect(JSONValue.double(1.5e-7).serialized() == "1.5e-07")
    }

    @Test func serializesNonFiniteDoublesAsNull() {
        #expect(JSONValue.double(.infinity).serialized() == "null")
        #expect(JSONValue.double(-.infinity).serialized() == "null")
        #expect(JSONValue.double(.nan).serialized() == "null")
        #expect(JSONValue.array([.double(.nan), 1]).serialized() == "[null,1]")
    }

    @Test func writeAppendsToExistingBytes() {
        var buffer = Array("data: ".utf8)
        let event: JSONValue = ["type": "final", "text": "done"]
        event.write(into: &buffer)
        buffer.append(UInt8(ascii: "\n"))
        #expect(String(decoding: buffer, as: UTF8.self) == "data: {\"type\":\"final\",\"text\":\"done\"}\n")
    }

    @Test func descriptionIsCompactJSON() {
        let value: JSONValue = ["a": [1, "b"]]
        #expect("\(value)" == #"{"a":[1,"b"]}"#)
    }

    // MARK: Round trips

    @Test func serializedValuesParseBackToEqualValues() throws {
        let value: JSONValue = [
            "ints": [0, -1, .int(.max), .int(.min)],
            "doubles": [0.1, -2.5e-8, 1e300, .double(.leastNonzeroMagnitude), .double(.greatestFiniteMagnitude), 1.0, .double(-0.0)],
            "strings": ["", "plain", "quote \" backslash \\ slash /", "\u{0}\u{1}\u{8}\u{9}\u{A}\u{C}\u{D}\u{1F}\u{7F}",
                        "é 日本 😀 \u{10FFFF}"],
            "nested": ["empty": [], "object": ["k": .null, "flag": true]],
            "key with \"quotes\"\n": "odd key",
        ]
        let text = value.serialized()
        let reparsed = try JSONValue.parse(text)
        #expect(reparsed == value)
        #expect(reparsed.serialized() == text)
    }

    @Test func compactDocumentsSurviveParseAndSerialize() throws {
        let documents = [
            #"{"call_id":"b1c2","status":"started"}"#,
            #"[1,-2,3.5,"x",[],{},null,true,false]"#,
            #"{"z":{"y":{"x":[1.0,2e-05]}},"a":"\u0001\n"}"#,
        ]
        for document in documents {
            #expect(try JSONValue.parse(document).serialized() == document)
        }
    }

    @Test func doublesRoundTripBitForBit() throws {
        let samples: [Double] = [0.1, 1.0 / 3.0, 123456.789, 9_007_199_254_740_991, .leastNonzeroMagnitude, 2.2250738585072014e-308, -1e-300, 6.02214076e23]
        for sample in samples {
            let reparsed = try JSONValue.parse(JSONValue.double(sample).serialized())
            #expect(reparsed.doubleValue?.bitPattern == sample.bitPattern)
        }
    }

    // MARK: JSONWriter

    @Test func escapesQuotesBackslashesAndControlCharacters() {
        let text = written { JSONWriter.appendString("a\"b\\c\n\t\r\u{08}\u{0C}\u{01}\u{1F}\u{0}", to: &$0) }
        #expect(text == #""a\"b\\c\n\t\r\b\f\u0001\u001f\u0000""#)
    }

    @Test func leavesSlashDeleteAndNonASCIIUnescaped() {
        #expect(JSONWriter.quoted("a/b\u{7F}é😀") == "\"a/b\u{7F}é😀\"")
        #expect(JSONWriter.quoted("") == #""""#)
    }

    @Test func rawBytesAreEscapedLikeStrings() {
        let source = "tab\there \"q\" é 😀\u{1}"
        let fromBytes = written { buffer in
            Array(source.utf8).withUnsafeBytes { JSONWriter.appendString($0, to: &buffer) }
        }
        #expect(fromBytes == JSONWriter.quoted(source))
        #expect(fromBytes == #""tab\there \"q\" é 😀\u0001""#)
    }

    @Test func rawBytesReplaceIllFormedUTF8WithReplacementCharacters() throws {
        func quoted(_ bytes: [UInt8]) -> String {
            written { buffer in bytes.withUnsafeBytes { JSONWriter.appendString($0, to: &buffer) } }
        }
        #expect(quoted([0x61, 0xFF, 0x62]) == "\"a\u{FFFD}b\"")
        #expect(quoted([0xE2, 0x82]) == "\"\u{FFFD}\"")
        #expect(quoted([0xE2, 0x82, 0x41]) == "\"\u{FFFD}A\"")
        #expect(quoted([0xED, 0xA0, 0x80]) == "\"\u{FFFD}\u{FFFD}\u{FFFD}\"")
        // Whatever the input, the output is JSON that parses.
        let reparsed = try JSONValue.parse(Array(quoted([0x22, 0xC0, 0x0A, 0xF0, 0x9F, 0x98, 0x80]).utf8))
        #expect(reparsed == .string("\"\u{FFFD}\n😀"))
    }

    @Test func appendStringAddsToTheEndOfTheBuffer() {
        var buffer = Array("{\"text\":".utf8)
        JSONWriter.appendString("hi", to: &buffer)
        buffer.append(UInt8(ascii: "}"))
        #expect(String(decoding: buffer, as: UTF8.self) == #"{"text":"hi"}"#)
    }

    @Test func appendsNumbers() {
        #expect(written { JSONWriter.appendInteger(-9_223_372_036_854_775_808, to: &$0) } == "-9223372036854775808")
        #expect(written { JSONWriter.appendInteger(7, to: &$0) } == "7")
        #expect(written { JSONWriter.appendDouble(0.25, to: &$0) } == "0.25")
        #expect(written { JSONWriter.appendDouble(.nan, to: &$0) } == "null")
    }
}
