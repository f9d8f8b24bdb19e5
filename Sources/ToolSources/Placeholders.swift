// `{{name}}` placeholders in curl tools: each one becomes a required string input, and the worker
// substitutes the caller's value at run time (Connectors' HTTPConnector follows the same rule).

enum Placeholders {
    /// The names of the `{{name}}` placeholders in `text`, in order, repeats included.
    ///
    /// A name is `[A-Za-z_][A-Za-z0-9_]*` with nothing else between the braces: `{{ name }}` or
    /// `{{a-b}}` are left as literal text, exactly as the worker will leave them.
    static func names(in text: String) -> [String] {
        var names: [String] = []
        let bytes = Array(text.utf8)
        var index = 0
        while index + 4 < bytes.count {
            guard bytes[index] == UInt8(ascii: "{"), bytes[index + 1] == UInt8(ascii: "{") else {
                index += 1
                continue
            }
            var end = index + 2
            while end < bytes.count, isNameByte(bytes[end], first: end == index + 2) { end += 1 }
            if end > index + 2, end + 1 < bytes.count,
               bytes[end] == UInt8(ascii: "}"), bytes[end + 1] == UInt8(ascii: "}") {
                names.append(String(decoding: bytes[(index + 2)..<end], as: UTF8.self))
                index = end + 2
            } else {
                index += 1
            }
        }
        return names
    }

    /// `lists` flattened with repeats removed, first appearance first.
    static func distinct(_ lists: [[String]]) -> [String] {
        var seen = Set<String>()
        var result: [String] = []
        for name in lists.joined() where seen.insert(name).inserted {
            result.append(name)
        }
        return result
    }

    static func isNameByte(_ byte: UInt8, first: Bool) -> Bool {
        let isLetter = (byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z")
        let isDigit = byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
        return isLetter || byte == UInt8(ascii: "_") || (isDigit && !first)
    }
}
