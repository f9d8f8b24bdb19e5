import Glibc

// Reading just enough of a document to pass part of it on as it came, without building a JSONValue.
//
// Building a tree for a 20-byte worker result and writing it out again cost a tools/call ~10k
// instructions in the supervisor (callgrind). A token copied from input that was checked as the
// parser checks it is as valid as the parser's own output, and means the same to any reader.

public enum JSONSplice {
    /// The byte range of the string token (quotes included) when `bytes` is a JSON object whose one
    /// member is `name` with a string value — `{"text": "…"}`, the result most tools return.
    ///
    /// The token is checked as `JSONValue.parse` checks strings (UTF-8, control characters,
    /// escapes), so it is valid JSON to copy as it is. nil for any other document, and for a
    /// `\u` escape of a surrogate, which this check does not pair up: the caller parses those.
    public static func soleStringMember(_ name: StaticString, in bytes: [UInt8]) -> Range<Int>? {
        bytes.withUnsafeBytes { raw in
            var scanner = Scanner(bytes: raw)
            guard scanner.skip(UInt8(ascii: "{")), scanner.skipName(name), scanner.skip(UInt8(ascii: ":")),
                  let token = scanner.stringToken(), scanner.skip(UInt8(ascii: "}")) else { return nil }
            scanner.skipWhitespace()
            return scanner.atEnd ? token : nil
        }
    }

    private struct Scanner {
        let bytes: UnsafeRawBufferPointer
        var position = 0

        var atEnd: Bool { position == bytes.count }

        mutating func skipWhitespace() {
            while position < bytes.count {
                switch bytes[position] {
                case 0x20, 0x0A, 0x0D, 0x09: position += 1
                default: return
                }
            }
        }

        /// Whitespace, then `byte`.
        mutating func skip(_ byte: UInt8) -> Bool {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == byte else { return false }
            position += 1
            return true
        }

        /// Whitespace, then `name` as a string written without escapes.
        mutating func skipName(_ name: StaticString) -> Bool {
            let count = name.utf8CodeUnitCount
            guard skip(UInt8(ascii: "\"")), position + count < bytes.count,
                  memcmp(bytes.baseAddress! + position, name.utf8Start, count) == 0,
                  bytes[position + count] == UInt8(ascii: "\"") else { return false }
            position += count + 1
            return true
        }

        /// Whitespace, then a string; returns its range, quotes included.
        mutating func stringToken() -> Range<Int>? {
            guard skip(UInt8(ascii: "\"")) else { return nil }
            let start = position - 1
            while position < bytes.count {
                let byte = bytes[position]
                switch byte {
                case UInt8(ascii: "\""):
                    position += 1
                    return start..<position
                case UInt8(ascii: "\\"):
                    guard skipEscape() else { return nil }
                case 0x80...:
                    let sequence = scanUTF8Sequence(bytes, at: position)
                    guard sequence.isValid else { return nil }
                    position += sequence.length
                case ..<0x20:
                    return nil
                default:
                    position += 1
                }
            }
            return nil
        }

        /// The escape whose backslash is at `position`.
        private mutating func skipEscape() -> Bool {
            guard position + 1 < bytes.count else { return false }
            switch bytes[position + 1] {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                 UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                position += 2
                return true
            case UInt8(ascii: "u"):
                guard position + 6 <= bytes.count else { return false }
                var unit: UInt32 = 0
                for offset in position + 2..<position + 6 {
                    guard let digit = hexDigitValue(bytes[offset]) else { return false }
                    unit = unit << 4 | digit
                }
                guard !(0xD800...0xDFFF).contains(unit) else { return false }
                position += 6
                return true
            default:
                return false
            }
        }
    }
}
