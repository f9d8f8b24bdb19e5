// Compact JSON output into a byte buffer.
//
// Invariant: whatever is appended is valid JSON text and valid UTF-8, even when the caller hands over
// raw bytes that are not (ill-formed sequences become U+FFFD). Non-finite doubles, which JSON cannot
// express, are written as null.

/// Appends pieces of JSON to a byte buffer, for hot paths that build output without a `JSONValue`.
public enum JSONWriter {
    /// Appends `s` as a quoted JSON string: `"` and `\` are escaped, as are control characters
    /// (`\n`, `\t`, ... where JSON has a short form, `\u00XX` otherwise).
    public static func appendString(_ s: String, to buffer: inout [UInt8]) {
        var s = s
        s.withUTF8 { utf8 in
            appendQuoted(UnsafeRawBufferPointer(utf8), isKnownValid: true, to: &buffer)
        }
    }

    /// Appends raw UTF-8 bytes as a quoted JSON string, escaping as `appendString(_:to:)` does and
    /// replacing ill-formed UTF-8 with U+FFFD.
    public static func appendString(_ utf8: UnsafeRawBufferPointer, to buffer: inout [UInt8]) {
        appendQuoted(utf8, isKnownValid: false, to: &buffer)
    }

    /// `s` as a quoted, escaped JSON string.
    public static func quoted(_ s: String) -> String {
        var buffer: [UInt8] = []
        appendString(s, to: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    /// Appends a fixed piece of JSON text (its bytes as they are; the caller makes it valid JSON).
    /// One copy: appending a literal's `String.UTF8View` goes through a generic per-byte path
    /// (callgrind: ~170 instructions for the 20-odd bytes of a response's opening).
    @inline(__always)
    public static func appendLiteral(_ text: StaticString, to buffer: inout [UInt8]) {
        buffer.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// Appends the decimal form of `value`.
    public static func appendInteger(_ value: Int64, to buffer: inout [UInt8]) {
        if value < 0 { buffer.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        let firstDigit = buffer.count
        // Digits come out least significant first; write them and reverse in place, allocating nothing.
        // (Not `buffer[firstDigit...].reverse()`: mutating through the range subscript copies the
        // slice into a new allocation, which cost ~600 instructions an integer.)
        repeat {
            buffer.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: magnitude % 10))
            magnitude /= 10
        } while magnitude > 0
        buffer.withUnsafeMutableBufferPointer { bytes in
            var low = firstDigit
            var high = bytes.count - 1
            while low < high {
                bytes.swapAt(low, high)
                low += 1
                high -= 1
            }
        }
    }

    /// Appends `value` in the shortest form that parses back to the same double (`1.0` keeps its
    /// fraction so that it stays a double); NaN and infinities become `null`.
    public static func appendDouble(_ value: Double, to buffer: inout [UInt8]) {
        guard value.isFinite else {
            buffer.append(contentsOf: "null".utf8)
            return
        }
        // Swift's description is the shortest round-tripping form and is always valid JSON syntax.
        buffer.append(contentsOf: value.description.utf8)
    }

    private static func appendQuoted(_ utf8: UnsafeRawBufferPointer, isKnownValid: Bool, to buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "\""))
        // Bytes that need no escaping are copied in runs rather than one at a time.
        var runStart = 0
        var index = 0
        while index < utf8.count {
            let byte = utf8[index]
            if byte >= 0x80 {
                if isKnownValid {
                    index += 1
                    continue
                }
                let sequence = scanUTF8Sequence(utf8, at: index)
                if sequence.isValid {
                    index += sequence.length
                    continue
                }
                buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: utf8[runStart..<index]))
                // U+FFFD REPLACEMENT CHARACTER
                buffer.append(0xEF)
                buffer.append(0xBF)
                buffer.append(0xBD)
                index += sequence.length
                runStart = index
                continue
            }
            if byte >= 0x20 && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\") {
                index += 1
                continue
            }
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: utf8[runStart..<index]))
            appendEscape(for: byte, to: &buffer)
            index += 1
            runStart = index
        }
        buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: utf8[runStart..<index]))
        buffer.append(UInt8(ascii: "\""))
    }

    private static func appendEscape(for byte: UInt8, to buffer: inout [UInt8]) {
        let shortForm: UInt8?
        switch byte {
        case UInt8(ascii: "\""): shortForm = UInt8(ascii: "\"")
        case UInt8(ascii: "\\"): shortForm = UInt8(ascii: "\\")
        case 0x08: shortForm = UInt8(ascii: "b")
        case 0x0C: shortForm = UInt8(ascii: "f")
        case 0x0A: shortForm = UInt8(ascii: "n")
        case 0x0D: shortForm = UInt8(ascii: "r")
        case 0x09: shortForm = UInt8(ascii: "t")
        default: shortForm = nil
        }
        buffer.append(UInt8(ascii: "\\"))
        if let shortForm {
            buffer.append(shortForm)
            return
        }
        let hexDigits: StaticString = "0123456789abcdef"
        buffer.append(contentsOf: "u00".utf8)
        buffer.append(hexDigits.utf8Start[Int(byte >> 4)])
        buffer.append(hexDigits.utf8Start[Int(byte & 0x0F)])
    }
}

extension JSONValue {
    /// The value as compact JSON text.
    public func serialized() -> String {
        var buffer: [UInt8] = []
        write(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    /// Appends the value as compact JSON, members of objects in their stored order.
    public func write(into buffer: inout [UInt8]) {
        switch self {
        case .null:
            buffer.append(contentsOf: "null".utf8)
        case .bool(let bool):
            buffer.append(contentsOf: bool ? "true".utf8 : "false".utf8)
        case .int(let int):
            JSONWriter.appendInteger(int, to: &buffer)
        case .double(let double):
            JSONWriter.appendDouble(double, to: &buffer)
        case .string(let string):
            JSONWriter.appendString(string, to: &buffer)
        case .array(let elements):
            buffer.append(UInt8(ascii: "["))
            // Through the storage: iterating copied (retained and released) every element.
            elements.withUnsafeBufferPointer { elements in
                for index in elements.indices {
                    if index > 0 { buffer.append(UInt8(ascii: ",")) }
                    elements[index].write(into: &buffer)
                }
            }
            buffer.append(UInt8(ascii: "]"))
        case .object(let object):
            buffer.append(UInt8(ascii: "{"))
            object.members.withUnsafeBufferPointer { members in
                for index in members.indices {
                    if index > 0 { buffer.append(UInt8(ascii: ",")) }
                    JSONWriter.appendString(members[index].key, to: &buffer)
                    buffer.append(UInt8(ascii: ":"))
                    members[index].value.write(into: &buffer)
                }
            }
            buffer.append(UInt8(ascii: "}"))
        }
    }
}
