// UTF-8 well-formedness, shared by the parser (which rejects ill-formed input) and the writer (which
// replaces it with U+FFFD so that its output is always valid UTF-8).

/// The multi-byte sequence that starts at `index` (whose byte is >= 0x80), checked against the
/// well-formed byte sequences of Unicode (no overlong forms, no surrogates, nothing above U+10FFFF).
///
/// Returns the sequence length when it is well formed; otherwise `isValid` is false and `length` is
/// the maximal ill-formed prefix (at least 1), which is what one U+FFFD should replace.
@inline(__always)
func scanUTF8Sequence(_ bytes: UnsafeRawBufferPointer, at index: Int) -> (length: Int, isValid: Bool) {
    let lead = bytes[index]
    let continuationCount: Int
    // The first continuation byte carries the range limits that rule out overlongs and surrogates.
    var low: UInt8 = 0x80
    var high: UInt8 = 0xBF
    switch lead {
    case 0xC2...0xDF:
        continuationCount = 1
    case 0xE0:
        continuationCount = 2
        low = 0xA0
    case 0xE1...0xEC, 0xEE...0xEF:
        continuationCount = 2
    case 0xED:
        continuationCount = 2
        high = 0x9F
    case 0xF0:
        continuationCount = 3
        low = 0x90
    case 0xF1...0xF3:
        continuationCount = 3
    case 0xF4:
        continuationCount = 3
        high = 0x8F
    default:
        return (1, false)
    }
    var position = index + 1
    for continuation in 0..<continuationCount {
        guard position < bytes.count else { return (position - index, false) }
        let byte = bytes[position]
        let fits = continuation == 0 ? (byte >= low && byte <= high) : (byte & 0xC0 == 0x80)
        guard fits else { return (position - index, false) }
        position += 1
    }
    return (continuationCount + 1, true)
}
