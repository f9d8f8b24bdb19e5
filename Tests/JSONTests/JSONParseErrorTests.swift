// Rejected input: each error names the byte offset where the input stopped being JSON.
import JSON
import Testing

@Suite("Rejecting invalid JSON")
struct JSONParseErrorTests {
    struct Rejection: Sendable, CustomTestStringConvertible {
        let input: String
        let offset: Int
        let message: String
        var testDescription: String { input.debugDescription }
    }

    static let rejections: [Rejection] = [
        // Structure
        Rejection(input: "", offset: 0, message: "expected a value, found end of input"),
        Rejection(input: "   ", offset: 3, message: "expected a value, found end of input"),
        Rejection(input: "[1,2,]", offset: 5, message: "trailing comma before ']'"),
        Rejection(input: "[1, ]", offset: 4, message: "trailing comma before ']'"),
        Rejection(input: #"{"a":1,}"#, offset: 7, message: "trailing comma before '}'"),
        Rejection(input: "[1 2]", offset: 3, message: "expected ',' or ']', found '2'"),
        Rejection(input: "[1,2", offset: 4, message: "expected ',' or ']', found end of input"),
        Rejection(input: #"{"a" 1}"#, offset: 5, message: "expected ':', found '1'"),
        Rejection(input: #"{"a":1 "b":2}"#, offset: 7, message: "expected ',' or '}', found '\"'"),
        Rejection(input: "{1:2}", offset: 1, message: "expected a member name, found '1'"),
        Rejection(input: "{'a':1}", offset: 1, message: "expected a member name, found '''"),
        Rejection(input: "[1] x", offset: 4, message: "unexpected 'x' after the JSON value"),
        Rejection(input: "{} {}", offset: 3, message: "unexpected '{' after the JSON value"),
        Rejection(input: "1 2", offset: 2, message: "unexpected '2' after the JSON value"),
        Rejection(input: "// note\n1", offset: 0, message: "expected a value, found '/'"),
        Rejection(input: "\u{FEFF}1", offset: 0, message: "expected a value, found byte 0xEF"),
        Rejection(input: "]", offset: 0, message: "expected a value, found ']'"),
        // Literals
        Rejection(input: "tru", offset: 3, message: "expected 'true', found end of input"),
        Rejection(input: "trux", offset: 3, message: "invalid literal, expected 'true'"),
        Rejection(input: "nul", offset: 3, message: "expected 'null', found end of input"),
        Rejection(input: "False", offset: 0, message: "expected a value, found 'F'"),
        Rejection(input: "NaN", offset: 0, message: "expected a value, found 'N'"),
        Rejection(input: "Infinity", offset: 0, message: "expected a value, found 'I'"),
        // Numbers
        Rejection(input: "01", offset: 1, message: "leading zeros are not allowed"),
        Rejection(input: "-012", offset: 2, message: "leading zeros are not allowed"),
        Rejection(input: "[00]", offset: 2, message: "leading zeros are not allowed"),
        Rejection(input: "+1", offset: 0, message: "expected a value, found '+'"),
        Rejection(input: ".5", offset: 0, message: "expected a value, found '.'"),
        Rejection(input: "-", offset: 1, message: "expected a digit, found end of input"),
        Rejection(input: "-x", offset: 1, message: "expected a digit, found 'x'"),
        Rejection(input: "1.", offset: 2, message: "expected a digit after '.', found end of input"),
        Rejection(input: "1.e5", offset: 2, message: "expected a digit after '.', found 'e'"),
        Rejection(input: "1e", offset: 2, message: "expected a digit in the exponent, found end of input"),
        Rejection(input: "1e+", offset: 3, message: "expected a digit in the exponent, found end of input"),
        Rejection(input: "[1e400]", offset: 1, message: "number out of range"),
        Rejection(input: "-1e400", offset: 0, message: "number out of range"),
        // Strings
        Rejection(input: "\"abc", offset: 4, message: "unterminated string"),
        Rejection(input: #"["a\"]"#, offset: 6, message: "unterminated string"),
        Rejection(input: "\"a\u{01}b\"", offset: 2, message: "unescaped control character in string"),
        Rejection(input: "\"tab\there\"", offset: 4, message: "unescaped control character in string"),
        Rejection(input: "\"line\nbreak\"", offset: 5, message: "unescaped control character in string"),
        Rejection(input: #""esc\nthen\u001"#, offset: 15, message: "unterminated string"),
        Rejection(input: #""\x""#, offset: 1, message: "invalid escape sequence"),
        Rejection(input: #""ok\'""#, offset: 3, message: "invalid escape sequence"),
        Rejection(input: #""\u12G4""#, offset: 1, message: "invalid \\u escape, expected 4 hex digits"),
        Rejection(input: #""\ud800""#, offset: 1, message: "unpaired surrogate in \\u escape"),
        Rejection(input: #""\ud800x""#, offset: 1, message: "unpaired surrogate in \\u escape"),
        Rejection(input: #""\udc00""#, offset: 1, message: "unpaired surrogate in \\u escape"),
        Rejection(input: #""ab\ud83d\u0041""#, offset: 3, message: "unpaired surrogate in \\u escape"),
        Rejection(input: #""\ude00\ud83d""#, offset: 1, message: "unpaired surrogate in \\u escape"),
    ]

    @Test(arguments: rejections)
    func rejectsWithOffsetAndReason(_ rejection: Rejection) {
        #expect(throws: JSONParseError(offset: rejection.offset, message: rejection.message)) {
            try JSONValue.parse(rejection.input)
        }
    }

    @Test func rejectsNestingBeyondTheDefaultDepthLimit() {
        let text = String(repeating: "[", count: 257) + String(repeating: "]", count: 257)
        #expect(throws: JSONParseError(offset: 256, message: "nesting deeper than 256 levels")) {
            try JSONValue.parse(text)
        }
        let objects = String(repeating: "{\"a\":", count: 257) + "1" + String(repeating: "}", count: 257)
        #expect(throws: JSONParseError(offset: 256 * 5, message: "nesting deeper than 256 levels")) {
            try JSONValue.parse(objects)
        }
    }

    struct InvalidUTF8: Sendable, CustomTestStringConvertible {
        let bytes: [UInt8]
        let offset: Int
        let what: String
        var testDescription: String { what }
    }

    static let invalidUTF8: [InvalidUTF8] = [
        InvalidUTF8(bytes: [0x22, 0x61, 0xC3, 0x28, 0x22], offset: 2, what: "lead byte without continuation"),
        InvalidUTF8(bytes: [0x22, 0x80, 0x22], offset: 1, what: "lone continuation byte"),
        InvalidUTF8(bytes: [0x22, 0xC0, 0xAF, 0x22], offset: 1, what: "overlong two-byte form"),
        InvalidUTF8(bytes: [0x22, 0xE0, 0x80, 0xAF, 0x22], offset: 1, what: "overlong three-byte form"),
        InvalidUTF8(bytes: [0x22, 0x61, 0x62, 0xED, 0xA0, 0x80, 0x22], offset: 3, what: "encoded surrogate"),
        InvalidUTF8(bytes: [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], offset: 1, what: "above U+10FFFF"),
        InvalidUTF8(bytes: [0x22, 0xF5, 0x80, 0x80, 0x80, 0x22], offset: 1, what: "invalid lead byte"),
        InvalidUTF8(bytes: [0x22, 0xFF, 0x22], offset: 1, what: "byte 0xFF"),
        InvalidUTF8(bytes: [0x22, 0xE2, 0x82], offset: 1, what: "truncated at end of input"),
        InvalidUTF8(bytes: [0x22, 0x5C, 0x6E, 0xE2, 0x82, 0x22], offset: 3, what: "after an escape"),
    ]

    @Test(arguments: invalidUTF8)
    func rejectsInvalidUTF8InStrings(_ sample: InvalidUTF8) {
        #expect(throws: JSONParseError(offset: sample.offset, message: "invalid UTF-8 in string")) {
            try JSONValue.parse(sample.bytes)
        }
    }

    @Test func rejectsNonASCIIBytesOutsideStrings() {
        #expect(throws: JSONParseError(offset: 1, message: "expected a value, found byte 0xC3")) {
            try JSONValue.parse([0x5B, 0xC3, 0xA9, 0x5D])
        }
    }

    @Test func describesTheErrorWithOffsetAndReason() {
        let error = JSONParseError(offset: 12, message: "expected ':'")
        #expect(error.description == "invalid JSON at byte 12: expected ':'")
        do {
            _ = try JSONValue.parse(#"{"message" "hi"}"#)
            Issue.record("parse should have failed")
        } catch {
            #expect(error.offset == 11)
            #expect(error.description == "invalid JSON at byte 11: expected ':', found '\"'")
        }
    }

    @Test func rejectsAnEmptyBuffer() {
        #expect(throws: JSONParseError(offset: 0, message: "expected a value, found end of input")) {
            try JSONValue.parse(UnsafeRawBufferPointer(start: nil, count: 0))
        }
    }
}
