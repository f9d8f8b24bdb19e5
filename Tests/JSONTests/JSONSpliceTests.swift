// JSONSplice finds a string token to copy as it came: it must accept only what the parser accepts,
// and the token must mean what the parser reads.
import JSON
import Testing

@Suite("Splicing a sole string member")
struct JSONSpliceTests {
    private func token(_ text: String) -> String? {
        let bytes = Array(text.utf8)
        return JSONSplice.soleStringMember("text", in: bytes).map { String(decoding: bytes[$0], as: UTF8.self) }
    }

    @Test func findsTheStringTokenWhereverJSONAllowsWhitespace() {
        #expect(token(#"{"text":"hi"}"#) == #""hi""#)
        #expect(token(" \n{ \"text\" :\t\"hi there\" }\r\n") == #""hi there""#)
        #expect(token(#"{"text":""}"#) == #""""#)
        #expect(token(#"{"text":"a\"b\\c\/d\b\f\n\r\t\u00e9\u0000"}"#) == #""a\"b\\c\/d\b\f\n\r\t\u00e9\u0000""#)
        #expect(token("{\"text\":\"h\u{E9}llo \u{1F600}\"}") == "\"h\u{E9}llo \u{1F600}\"")
    }

    @Test func refusesEveryOtherShape() {
        for text in [#"{"text":1}"#, #"{"text":null}"#, #"{"text":["a"]}"#, #"{"texts":"a"}"#, #"{"tex":"a"}"#,
                     #"{"te\u0078t":"a"}"#, #"{"text":"a","b":1}"#, #"{"b":1,"text":"a"}"#, #"{"text":"a","text":"b"}"#,
                     #"{"text":"a"} x"#, #"{"text":"a"}}"#, #"["text"]"#, #""text""#, "", "{", #"{"text""#,
                     #"{"text" "a"}"#, #"{"text":"a""#, #"{"text":"a}"#, #"{text:"a"}"#] {
            #expect(token(text) == nil, "\(text)")
        }
    }

    @Test func refusesStringsTheParserRefusesAndSurrogateEscapes() {
        for text in ["{\"text\":\"a\u{1}b\"}", #"{"text":"\x"}"#, #"{"text":"\u12"}"#, #"{"text":"\u12g4"}"#, #"{"text":"\"#,
                     #"{"text":"\ud83d\ude00"}"#, #"{"text":"\udc00"}"#] {
            #expect(token(text) == nil, "\(text)")
        }
        for bytes: [UInt8] in [[0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0xFF]] {
            let document = Array(#"{"text":""#.utf8) + bytes + Array(#""}"#.utf8)
            #expect(JSONSplice.soleStringMember("text", in: document) == nil)
        }
    }

    /// Thousands of mutations of a few results: whatever the scanner accepts, the parser reads as an
    /// object with that one string, and reading the token alone gives the same string.
    @Test func acceptsOnlyWhatTheParserReadsTheSame() throws {
        var generator = SplitMix(seed: 0x5EED)
        let seeds = [#"{"text":"hello"}"#, #"{ "text" : "a\n\u00e9\"q\" \/ z" }"#, "{\"text\":\"\u{E9}\u{1F600}\"}"]
        let alphabet = Array(#"{}[]":,\ "text u0123abcdefABCDEF/nrtbf"#.utf8) + [0x00, 0x1F, 0x7F, 0x80, 0xC3, 0xA9, 0xED, 0xF0, 0x9F, 0xFF]
        var accepted = 0
        for _ in 0..<20_000 {
            var bytes = Array(seeds[Int(generator.next() % UInt64(seeds.count))].utf8)
            for _ in 0...(generator.next() % 3) {
                let at = Int(generator.next() % UInt64(bytes.count))
                switch generator.next() % 3 {
                case 0: bytes[at] = alphabet[Int(generator.next() % UInt64(alphabet.count))]
                case 1: bytes.insert(alphabet[Int(generator.next() % UInt64(alphabet.count))], at: at)
                default: if bytes.count > 1 { bytes.remove(at: at) }
                }
            }
            guard let range = JSONSplice.soleStringMember("text", in: bytes) else {
                // Refused: then not a sole "text" string, unless it was written with a \u escape.
                if let document = try? JSONValue.parse(bytes), document.objectValue?.count == 1,
                   document["text"]?.stringValue != nil {
                    #expect(String(decoding: bytes, as: UTF8.self).contains(#"\u"#), "\(bytes)")
                }
                continue
            }
            accepted += 1
            let document = try JSONValue.parse(bytes)
            #expect(document.objectValue?.count == 1)
            #expect(document["text"] == (try JSONValue.parse(Array(bytes[range]))))
        }
        #expect(accepted > 1_000)
    }
}

/// A small deterministic generator, so that a failure can be replayed.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E9B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
