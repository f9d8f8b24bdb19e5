import Testing
import SystemCalls

@Suite struct ByteSearchTests {
    @Test func findsTheFirstByteInStringsAndSubstrings() {
        #expect("/mcp?x=1?y".utf8Offset(of: UInt8(ascii: "?")) == 4)
        #expect("/mcp".utf8Offset(of: UInt8(ascii: "?")) == nil)
        #expect("".utf8Offset(of: UInt8(ascii: "?")) == nil)
        // Offsets count UTF-8 bytes: "é" is two.
        #expect("/é/t?q".utf8Offset(of: UInt8(ascii: "?")) == 5)
        // A substring's offsets start at its own first byte, not its base string's.
        let text = "tenant/alice?x"
        let tail = text[text.index(text.startIndex, offsetBy: 7)...]
        #expect(tail.utf8Offset(of: UInt8(ascii: "?")) == 5)
        #expect(tail.utf8Offset(of: UInt8(ascii: "/")) == nil)
        // A long string, past any small-string representation.
        let long = String(repeating: "a", count: 300) + "/" + "b"
        #expect(long.utf8Offset(of: UInt8(ascii: "/")) == 300)
    }

    @Test func comparesPrefixesByteForByte() {
        #expect("/v1/keys/abc"[...].hasUTF8Prefix("/v1/keys/"))
        #expect("/v1/keys"[...].hasUTF8Prefix("/v1/keys"))
        #expect(!"/v1/key"[...].hasUTF8Prefix("/v1/keys"))
        #expect(!"/V1/keys/"[...].hasUTF8Prefix("/v1/keys/"))
        #expect("anything".hasUTF8Prefix(""))
        #expect("".hasUTF8Prefix(""))
        #expect(!"".hasUTF8Prefix("/"))
        let text = "xx/mcp/tools/echo"
        #expect(text[text.index(text.startIndex, offsetBy: 2)...].hasUTF8Prefix("/mcp/tools/"))
    }

    @Test func cutsAtAByteOffset() {
        #expect("/é/t?q".prefix(utf8Offset: 5) == "/é/t")
        #expect("tenant/alice".prefix(utf8Offset: 6) == "tenant")
        #expect("abc".prefix(utf8Offset: 0) == "")
    }
}
