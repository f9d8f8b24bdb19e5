// What every sourced tool shares: a name clients can call, and behaviour hints from its HTTP method.
import JSON

enum ToolNaming {
    /// MCP's advice for tool names: 1 to 128 of ASCII letters, digits, '_', '-' and '.'.
    static func isValid(_ name: String) -> Bool {
        (1...128).contains(name.utf8.count) && name.utf8.allSatisfy(isNameByte)
    }

    static func isNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."):
            true
        default:
            false
        }
    }

    static func validate(_ name: String) throws(ToolSourceError) {
        guard isValid(name) else {
            throw ToolSourceError("tool name '\(name)' is invalid: use 1 to 128 letters, digits, '_', '-' or '.'")
        }
    }

    /// `text` made into a valid name: other characters become '_', runs of '_' collapse, at most
    /// 128 bytes; "tool" when nothing is left.
    static func sanitized(_ text: String) -> String {
        var bytes: [UInt8] = []
        for byte in text.utf8 {
            let mapped = isNameByte(byte) ? byte : UInt8(ascii: "_")
            if mapped == UInt8(ascii: "_"), bytes.last == UInt8(ascii: "_") { continue }
            bytes.append(mapped)
        }
        while bytes.first == UInt8(ascii: "_") { bytes.removeFirst() }
        while bytes.last == UInt8(ascii: "_") { bytes.removeLast() }
        if bytes.count > 128 { bytes.removeLast(bytes.count - 128) }
        return bytes.isEmpty ? "tool" : String(decoding: bytes, as: UTF8.self)
    }

    /// MCP hints for a tool that sends one request with `method` to somebody else's server:
    /// GET-like methods only read, DELETE destroys, and the world is open either way.
    static func annotations(forMethod method: String) -> JSONObject {
        let upper = method.uppercased()
        let readOnly = ["GET", "HEAD", "OPTIONS"].contains(upper)
        var hints: JSONObject = ["readOnlyHint": .bool(readOnly)]
        if !readOnly {
            hints["destructiveHint"] = .bool(upper == "DELETE" || upper == "PUT")
        }
        hints["idempotentHint"] = .bool(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"].contains(upper))
        hints["openWorldHint"] = true
        return hints
    }
}
