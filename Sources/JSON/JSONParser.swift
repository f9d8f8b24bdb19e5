import Glibc

// A strict RFC 8259 parser that reads straight from a byte buffer.
//
// It accepts exactly one value surrounded by optional whitespace: no comments, no trailing commas,
// no leading zeros, no NaN or Infinity, no unescaped control characters, no ill-formed UTF-8 and no
// unpaired surrogates in \u escapes. Nesting is tracked on an explicit stack rather than by
// recursion, so the depth limit is a policy and never a stack overflow.

/// Why input is not acceptable JSON, and the byte offset where that became certain.
public struct JSONParseError: Error, Equatable, Sendable, CustomStringConvertible {
    public let offset: Int
    public let message: String

    public init(offset: Int, message: String) {
        self.offset = offset
        self.message = message
    }

    public var description: String { "invalid JSON at byte \(offset): \(message)" }
}

extension JSONValue {
    /// Parses one JSON document from UTF-8 bytes. Containers nested deeper than `maxDepth` are
    /// rejected.
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 256) throws(JSONParseError) -> JSONValue {
        let stacks = ParserStacks.ofThisThread
        var parser = JSONParser(bytes: bytes, maxDepth: maxDepth, stacks: stacks)
        defer { parser.returnStacks(to: stacks) }
        return try parser.parseDocument()
    }

    /// Parses a JSON-RPC message and finds where its `params.arguments` value lies in `bytes`, so
    /// that a tool call's arguments can travel to the worker as they arrived rather than be written
    /// out again (~1.5k instructions a call). The range is nil when there is no such member, when
    /// the message is not an object, and when any object in it repeated a key: the tree keeps the
    /// last of repeated members, and a reader of the raw bytes might keep the first.
    public static func parseMessage(_ bytes: [UInt8], maxDepth: Int = 256) throws(JSONParseError) -> (value: JSONValue, argumentsRange: Range<Int>?) {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(JSONParseError) -> (value: JSONValue, argumentsRange: Range<Int>?) in
                let stacks = ParserStacks.ofThisThread
                var parser = JSONParser(bytes: raw, maxDepth: maxDepth, stacks: stacks, findsArguments: true)
                defer { parser.returnStacks(to: stacks) }
                let value = try parser.parseDocument()
                return (value, parser.sawRepeatedKey ? nil : parser.argumentsRange)
            }
        }
        return try result.get()
    }

    public static func parse(_ bytes: [UInt8], maxDepth: Int = 256) throws(JSONParseError) -> JSONValue {
        // Result carries the typed error out of a closure whose caller only rethrows `any Error`.
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(JSONParseError) -> JSONValue in try parse(raw, maxDepth: maxDepth) }
        }
        return try result.get()
    }

    public static func parse(_ text: String, maxDepth: Int = 256) throws(JSONParseError) -> JSONValue {
        var text = text
        let result = text.withUTF8 { utf8 in
            Result { () throws(JSONParseError) -> JSONValue in
                try parse(UnsafeRawBufferPointer(utf8), maxDepth: maxDepth)
            }
        }
        return try result.get()
    }
}

/// The parser's stacks, kept between parses, one set per thread. Making and freeing three arrays
/// cost ~1.8k instructions a parse, a quarter of parsing a tools/call request (callgrind).
final class ParserStacks {
    var values: [JSONValue] = []
    var keys: [String] = []
    var containers: [JSONParser.OpenContainer] = []

    /// Stacks grown past this many entries are not kept.
    static let keptCapacity = 1024

    /// The thread's own set, made on its first parse and released when it exits.
    static var ofThisThread: ParserStacks {
        if let kept = pthread_getspecific(slot) { return Unmanaged<ParserStacks>.fromOpaque(kept).takeUnretainedValue() }
        let made = ParserStacks()
        pthread_setspecific(slot, Unmanaged.passRetained(made).toOpaque())
        return made
    }

    private static let slot: pthread_key_t = {
        var key = pthread_key_t()
        let created = pthread_key_create(&key) { kept in
            if let kept { Unmanaged<ParserStacks>.fromOpaque(kept).release() }
        }
        precondition(created == 0, "pthread_key_create failed: \(created)")
        return key
    }()
}

struct JSONParser {
    private let bytes: UnsafeRawBufferPointer
    private let maxDepth: Int
    private var position = 0

    /// Decoded bytes of a string that contains escapes; reused from string to string.
    private var scratch: [UInt8] = []

    /// Values (and, for objects, keys) of the containers still open, innermost last. A container
    /// takes its elements from these stacks when it closes, so no partially built array is ever
    /// copied on write.
    private var pendingValues: [JSONValue] = []
    private var pendingKeys: [String] = []
    /// How much of each stack is live. A closed container's entries are not removed but left to be
    /// overwritten: Array.removeLast(n) cost ~60 instructions a container (callgrind).
    private var valueCount = 0
    private var keyCount = 0
    private var openContainers: [OpenContainer] = []

    struct OpenContainer {
        let isObject: Bool
        let firstValue: Int
        let firstKey: Int
        /// The `params` object of a message whose arguments are being found.
        var isParams = false
    }

    /// `parseMessage`'s search: where the latest `params.arguments` value began and ended.
    private let findsArguments: Bool
    private var argumentsStart: Int?
    private(set) var argumentsRange: Range<Int>?
    private(set) var sawRepeatedKey = false

    /// Takes the thread's kept stacks (`stacks` is left with empty ones, so a parse inside this
    /// one, were there ever one, would simply make its own).
    init(bytes: UnsafeRawBufferPointer, maxDepth: Int, stacks: ParserStacks? = nil, findsArguments: Bool = false) {
        self.bytes = bytes
        self.maxDepth = maxDepth
        self.findsArguments = findsArguments
        if let stacks {
            swap(&pendingValues, &stacks.values)
            swap(&pendingKeys, &stacks.keys)
            swap(&openContainers, &stacks.containers)
        }
        // Room for a typical request up front: grown one append at a time, the three stacks
        // reallocated a dozen times per parse (callgrind, tools/call bodies).
        if bytes.count > 2 && pendingValues.capacity < 16 {
            pendingValues.reserveCapacity(16)
            pendingKeys.reserveCapacity(16)
            openContainers.reserveCapacity(8)
        }
    }

    /// Empties the stacks and gives them back to be used by the thread's next parse, unless a large
    /// document grew them: those are let go, so that one such document does not pin its memory.
    mutating func returnStacks(to stacks: ParserStacks) {
        guard pendingValues.capacity <= ParserStacks.keptCapacity, pendingKeys.capacity <= ParserStacks.keptCapacity,
              openContainers.capacity <= ParserStacks.keptCapacity else { return }
        pendingValues.removeAll(keepingCapacity: true)
        pendingKeys.removeAll(keepingCapacity: true)
        openContainers.removeAll(keepingCapacity: true)
        swap(&pendingValues, &stacks.values)
        swap(&pendingKeys, &stacks.keys)
        swap(&openContainers, &stacks.containers)
    }

    mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        let value = try parseValue()
        skipWhitespace()
        if position < bytes.count {
            throw JSONParseError(offset: position, message: "unexpected \(describe(bytes[position])) after the JSON value")
        }
        return value
    }

    private mutating func parseValue() throws(JSONParseError) -> JSONValue {
        nextValue: while true {
            skipWhitespace()
            guard position < bytes.count else { throw endOfInput("expected a value") }
            var value: JSONValue
            // A member of the message object or of its params: the only places findsArguments looks.
            let beginsParams = findsArguments && openContainers.count <= 2 && noteArgumentsMember()
            switch bytes[position] {
            case UInt8(ascii: "{"):
                try checkDepth()
                position += 1
                skipWhitespace()
                if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
                    position += 1
                    value = .object(JSONObject())
                } else {
                    openContainers.append(
                        OpenContainer(isObject: true, firstValue: valueCount, firstKey: keyCount, isParams: beginsParams))
                    try parseMemberName(afterComma: false)
                    continue nextValue
                }
            case UInt8(ascii: "["):
                try checkDepth()
                position += 1
                skipWhitespace()
                if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
                    position += 1
                    value = .array([])
                } else {
                    openContainers.append(
                        OpenContainer(isObject: false, firstValue: valueCount, firstKey: keyCount))
                    continue nextValue
                }
            case UInt8(ascii: "\""):
                if let common = commonValue() { value = .string(common) } else { value = .string(try parseString()) }
            case UInt8(ascii: "t"):
                try expectLiteral("true")
                value = .bool(true)
            case UInt8(ascii: "f"):
                try expectLiteral("false")
                value = .bool(false)
            case UInt8(ascii: "n"):
                try expectLiteral("null")
                value = .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                value = try parseNumber()
            default:
                throw JSONParseError(offset: position, message: "expected a value, found \(describe(bytes[position]))")
            }

            // A complete value: hand it to the innermost open container, closing every container
            // that ends right after it.
            while let container = openContainers.last {
                push(value)
                if container.isParams, let start = argumentsStart {
                    // The value just completed is the arguments member's: it ends here.
                    argumentsRange = start..<position
                    argumentsStart = nil
                }
                skipWhitespace()
                let closer = container.isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")
                guard position < bytes.count else {
                    throw endOfInput(container.isObject ? "expected ',' or '}'" : "expected ',' or ']'")
                }
                let byte = bytes[position]
                if byte == UInt8(ascii: ",") {
                    position += 1
                    if container.isObject {
                        try parseMemberName(afterComma: true)
                    } else {
                        skipWhitespace()
                        if position < bytes.count, bytes[position] == closer {
                            throw JSONParseError(offset: position, message: "trailing comma before ']'")
                        }
                    }
                    continue nextValue
                }
                guard byte == closer else {
                    let expected = container.isObject ? "expected ',' or '}'" : "expected ',' or ']'"
                    throw JSONParseError(offset: position, message: "\(expected), found \(describe(byte))")
                }
                position += 1
                value = closeContainer(container)
            }
            return value
        }
    }

    /// At the start of a value inside the message object or its params (findsArguments only):
    /// notes where an `arguments` member of params begins, forgets what an earlier `params` held
    /// when another begins, and says whether this value is the message's `params`.
    private mutating func noteArgumentsMember() -> Bool {
        guard let container = openContainers.last, container.isObject, keyCount > 0 else { return false }
        let key = pendingKeys[keyCount - 1]
        // Lengths first: == on two different strings takes Swift's slow path.
        if openContainers.count == 1 {
            guard key.utf8.count == 6, key == "params" else { return false }
            argumentsRange = nil
            argumentsStart = nil
            return true
        }
        if container.isParams && key.utf8.count == 9 && key == "arguments" { argumentsStart = position }
        return false
    }

    private mutating func push(_ value: JSONValue) {
        if valueCount < pendingValues.count { pendingValues[valueCount] = value } else { pendingValues.append(value) }
        valueCount += 1
    }

    private mutating func checkDepth() throws(JSONParseError) {
        if openContainers.count >= maxDepth {
            throw JSONParseError(offset: position, message: "nesting deeper than \(max(maxDepth, 0)) levels")
        }
    }

    /// Reads `"name" :` and leaves the position at the member's value.
    private mutating func parseMemberName(afterComma: Bool) throws(JSONParseError) {
        skipWhitespace()
        guard position < bytes.count else { throw endOfInput("expected a member name") }
        let byte = bytes[position]
        guard byte == UInt8(ascii: "\"") else {
            if afterComma, byte == UInt8(ascii: "}") {
                throw JSONParseError(offset: position, message: "trailing comma before '}'")
            }
            throw JSONParseError(offset: position, message: "expected a member name, found \(describe(byte))")
        }
        let key: String
        // "io." rules out every other key at once, before a call.
        if position + 3 < bytes.count, bytes[position + 1] == UInt8(ascii: "i"), bytes[position + 2] == UInt8(ascii: "o"),
           bytes[position + 3] == UInt8(ascii: "."), let reserved = reservedMetaKey() {
            key = reserved
        } else {
            if let common = commonKey() { key = common } else { key = try parseString() }
        }
        if keyCount < pendingKeys.count { pendingKeys[keyCount] = key } else { pendingKeys.append(key) }
        keyCount += 1
        skipWhitespace()
        guard position < bytes.count else { throw endOfInput("expected ':'") }
        guard bytes[position] == UInt8(ascii: ":") else {
            throw JSONParseError(offset: position, message: "expected ':', found \(describe(bytes[position]))")
        }
        position += 1
    }

    private mutating func closeContainer(_ container: OpenContainer) -> JSONValue {
        openContainers.removeLast()
        if container.isObject {
            let count = valueCount - container.firstValue
            var members: [JSONObject.Element] = []
            members.reserveCapacity(count)
            for offset in 0..<count {
                members.append((key: takeKey(at: container.firstKey + offset), value: takeValue(at: container.firstValue + offset)))
            }
            keyCount = container.firstKey
            valueCount = container.firstValue
            let unique = JSONObject.removingDuplicateKeys(members)
            if unique.count != members.count { sawRepeatedKey = true }
            return .object(JSONObject(uniqueMembers: unique))
        } else {
            var elements: [JSONValue] = []
            elements.reserveCapacity(valueCount - container.firstValue)
            for index in container.firstValue..<valueCount { elements.append(takeValue(at: index)) }
            valueCount = container.firstValue
            return .array(elements)
        }
    }

    /// A closed container's entries are moved out of the stacks, leaving empty placeholders: copied,
    /// each would be retained here and released again when its slot is reused or the stacks are
    /// emptied (callgrind: ~50 instructions a member).
    @inline(__always)
    private mutating func takeKey(at index: Int) -> String {
        var key = ""
        swap(&key, &pendingKeys[index])
        return key
    }

    @inline(__always)
    private mutating func takeValue(at index: Int) -> JSONValue {
        var value = JSONValue.null
        swap(&value, &pendingValues[index])
        return value
    }

    @inline(__always)
    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x0A, 0x0D, 0x09:
                position += 1
            default:
                return
            }
        }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let expected = UnsafeRawBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
        for index in 0..<expected.count {
            let offset = position + index
            guard offset < bytes.count else { throw endOfInput("expected '\(literal)'") }
            guard bytes[offset] == expected[index] else {
                throw JSONParseError(offset: offset, message: "invalid literal, expected '\(literal)'")
            }
        }
        position += expected.count
    }

    // MARK: Strings

    /// The reserved `_meta` key (`io.modelcontextprotocol/…`) whose quoted form starts at the
    /// current position, consumed; nil, and nothing consumed, for any other string. 2026-07-28
    /// requests and results carry these keys every time, and at 30-odd bytes each would be a
    /// heap-allocated String made from the input; these literals are shared instead.
    private mutating func reservedMetaKey() -> String? {
        let prefix: StaticString = "io.modelcontextprotocol/"
        let nameStart = position + 1 + prefix.utf8CodeUnitCount
        guard nameStart < bytes.count,
              memcmp(bytes.baseAddress! + position + 1, prefix.utf8Start, prefix.utf8CodeUnitCount) == 0 else { return nil }
        var nameEnd = nameStart
        while nameEnd < bytes.count, bytes[nameEnd] != UInt8(ascii: "\"") { nameEnd += 1 }
        let name = UnsafeRawBufferPointer(rebasing: bytes[nameStart..<nameEnd])
        // Compared as StaticStrings (reaching a String's bytes costs more than the comparison).
        func named(_ suffix: StaticString) -> Bool { memcmp(name.baseAddress!, suffix.utf8Start, name.count) == 0 }
        let key: String?
        switch name.count {
        case 15 where named("protocolVersion"): key = "io.modelcontextprotocol/protocolVersion"
        case 18 where named("clientCapabilities"): key = "io.modelcontextprotocol/clientCapabilities"
        case 10 where named("clientInfo"): key = "io.modelcontextprotocol/clientInfo"
        case 10 where named("serverInfo"): key = "io.modelcontextprotocol/serverInfo"
        case 8 where named("logLevel"): key = "io.modelcontextprotocol/logLevel"
        case 14 where named("subscriptionId"): key = "io.modelcontextprotocol/subscriptionId"
        default: key = nil
        }
        if key != nil { position = nameEnd + 1 }
        return key
    }

    /// The member names of every MCP message (`jsonrpc`, `id`, `method`, `params`, …) as shared
    /// literals, consumed; nil, and nothing consumed, for any other name. Making each from the
    /// input cost ~90 instructions more (callgrind, tools/call requests).
    private mutating func commonKey() -> String? {
        guard position + 1 < bytes.count else { return nil }
        switch bytes[position + 1] {
        case UInt8(ascii: "_"): return consume("_meta") ? "_meta" : nil
        case UInt8(ascii: "a"): return consume("arguments") ? "arguments" : nil
        case UInt8(ascii: "c"):
            return consume("capabilities") ? "capabilities" : consume("clientInfo") ? "clientInfo" : consume("cursor") ? "cursor" : nil
        case UInt8(ascii: "i"): return consume("id") ? "id" : nil
        case UInt8(ascii: "j"): return consume("jsonrpc") ? "jsonrpc" : nil
        case UInt8(ascii: "m"): return consume("method") ? "method" : consume("message") ? "message" : nil
        case UInt8(ascii: "n"): return consume("name") ? "name" : nil
        case UInt8(ascii: "p"):
            return consume("params") ? "params" : consume("progressToken") ? "progressToken"
                : consume("protocolVersion") ? "protocolVersion" : nil
        case UInt8(ascii: "r"): return consume("result") ? "result" : nil
        case UInt8(ascii: "t"): return consume("type") ? "type" : consume("text") ? "text" : nil
        case UInt8(ascii: "u"): return consume("uri") ? "uri" : nil
        case UInt8(ascii: "v"): return consume("version") ? "version" : nil
        default: return nil
        }
    }

    /// `commonKey` for the string values every MCP request has: the JSON-RPC version, the
    /// commonest methods and the protocol revisions.
    private mutating func commonValue() -> String? {
        guard position + 1 < bytes.count else { return nil }
        switch bytes[position + 1] {
        case UInt8(ascii: "2"):
            return consume("2.0") ? "2.0" : consume("2026-07-28") ? "2026-07-28" : consume("2025-11-25") ? "2025-11-25"
                : consume("2025-06-18") ? "2025-06-18" : consume("2025-03-26") ? "2025-03-26" : consume("2024-11-05") ? "2024-11-05" : nil
        case UInt8(ascii: "t"): return consume("tools/call") ? "tools/call" : consume("tools/list") ? "tools/list" : nil
        case UInt8(ascii: "i"): return consume("initialize") ? "initialize" : nil
        default: return nil
        }
    }

    /// Whether the string whose opening quote is at the current position is exactly `text` (which
    /// has no quote or backslash); consumed if so. Its callers return the same text as a String
    /// literal, which is shared storage.
    @inline(__always)
    private mutating func consume(_ text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        let start = position + 1
        guard start + count < bytes.count, bytes[start + count] == UInt8(ascii: "\""),
              memcmp(bytes.baseAddress! + start, text.utf8Start, count) == 0 else { return false }
        position = start + count + 1
        return true
    }

    /// Reads a string whose opening quote is at the current position.
    private mutating func parseString() throws(JSONParseError) -> String {
        let start = position + 1
        var index = start
        // Fast path: no escapes, so the string is a slice of the input once validated.
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                position = index + 1
                return makeString(start..<index)
            }
            if byte == UInt8(ascii: "\\") {
                return try parseEscapedString(contentStart: start, firstEscape: index)
            }
            index = try advanceOverStringByte(byte, at: index)
        }
        throw unterminatedString()
    }

    private mutating func parseEscapedString(contentStart: Int, firstEscape: Int) throws(JSONParseError) -> String {
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[contentStart..<firstEscape]))
        var index = firstEscape
        var runStart = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<index]))
                position = index + 1
                return String(decoding: scratch, as: UTF8.self)
            }
            if byte == UInt8(ascii: "\\") {
                scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<index]))
                index = try decodeEscape(at: index)
                runStart = index
                continue
            }
            index = try advanceOverStringByte(byte, at: index)
        }
        throw unterminatedString()
    }

    /// Checks one unescaped character of a string and returns the index after it.
    @inline(__always)
    private func advanceOverStringByte(_ byte: UInt8, at index: Int) throws(JSONParseError) -> Int {
        if byte >= 0x80 {
            let sequence = scanUTF8Sequence(bytes, at: index)
            guard sequence.isValid else { throw JSONParseError(offset: index, message: "invalid UTF-8 in string") }
            return index + sequence.length
        }
        if byte < 0x20 {
            throw JSONParseError(offset: index, message: "unescaped control character in string")
        }
        return index + 1
    }

    /// Decodes the escape whose backslash is at `index` into `scratch`; returns the index after it.
    private mutating func decodeEscape(at index: Int) throws(JSONParseError) -> Int {
        guard index + 1 < bytes.count else { throw unterminatedString() }
        let decoded: UInt8
        switch bytes[index + 1] {
        case UInt8(ascii: "\""): decoded = 0x22
        case UInt8(ascii: "\\"): decoded = 0x5C
        case UInt8(ascii: "/"): decoded = 0x2F
        case UInt8(ascii: "b"): decoded = 0x08
        case UInt8(ascii: "f"): decoded = 0x0C
        case UInt8(ascii: "n"): decoded = 0x0A
        case UInt8(ascii: "r"): decoded = 0x0D
        case UInt8(ascii: "t"): decoded = 0x09
        case UInt8(ascii: "u"):
            return try decodeUnicodeEscape(at: index)
        default:
            throw JSONParseError(offset: index, message: "invalid escape sequence")
        }
        scratch.append(decoded)
        return index + 2
    }

    /// Decodes `\uXXXX`, or a `\uD8xx\uDCxx` surrogate pair, starting at the backslash at `index`.
    private mutating func decodeUnicodeEscape(at index: Int) throws(JSONParseError) -> Int {
        let unit = try readHexQuad(escapeAt: index)
        switch unit {
        case 0xD800...0xDBFF:
            let next = index + 6
            guard next + 1 < bytes.count, bytes[next] == UInt8(ascii: "\\"), bytes[next + 1] == UInt8(ascii: "u")
            else {
                throw JSONParseError(offset: index, message: "unpaired surrogate in \\u escape")
            }
            let low = try readHexQuad(escapeAt: next)
            guard (0xDC00...0xDFFF).contains(low) else {
                throw JSONParseError(offset: index, message: "unpaired surrogate in \\u escape")
            }
            appendUTF8(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))
            return next + 6
        case 0xDC00...0xDFFF:
            throw JSONParseError(offset: index, message: "unpaired surrogate in \\u escape")
        default:
            appendUTF8(unit)
            return index + 6
        }
    }

    /// The four hex digits after the `\u` whose backslash is at `escapeAt`.
    private func readHexQuad(escapeAt: Int) throws(JSONParseError) -> UInt32 {
        var unit: UInt32 = 0
        for offset in escapeAt + 2..<escapeAt + 6 {
            guard offset < bytes.count else { throw unterminatedString() }
            guard let digit = hexDigitValue(bytes[offset]) else {
                throw JSONParseError(offset: escapeAt, message: "invalid \\u escape, expected 4 hex digits")
            }
            unit = unit << 4 | digit
        }
        return unit
    }

    private mutating func appendUTF8(_ scalar: UInt32) {
        switch scalar {
        case 0..<0x80:
            scratch.append(UInt8(scalar))
        case 0x80..<0x800:
            scratch.append(UInt8(0xC0 | scalar >> 6))
            scratch.append(UInt8(0x80 | scalar & 0x3F))
        case 0x800..<0x10000:
            scratch.append(UInt8(0xE0 | scalar >> 12))
            scratch.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            scratch.append(UInt8(0x80 | scalar & 0x3F))
        default:
            scratch.append(UInt8(0xF0 | scalar >> 18))
            scratch.append(UInt8(0x80 | scalar >> 12 & 0x3F))
            scratch.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            scratch.append(UInt8(0x80 | scalar & 0x3F))
        }
    }

    /// A String from input bytes already checked to be well-formed UTF-8.
    private func makeString(_ range: Range<Int>) -> String {
        let source = UnsafeRawBufferPointer(rebasing: bytes[range])
        return String(unsafeUninitializedCapacity: source.count) { destination in
            UnsafeMutableRawBufferPointer(destination).copyMemory(from: source)
            return source.count
        }
    }

    // MARK: Numbers

    private mutating func parseNumber() throws(JSONParseError) -> JSONValue {
        let start = position
        let negative = bytes[position] == UInt8(ascii: "-")
        if negative { position += 1 }
        let digitsStart = position
        guard position < bytes.count, isDigit(bytes[position]) else {
            if position < bytes.count {
                throw JSONParseError(offset: position, message: "expected a digit, found \(describe(bytes[position]))")
            }
            throw endOfInput("expected a digit")
        }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
            if position < bytes.count, isDigit(bytes[position]) {
                throw JSONParseError(offset: position, message: "leading zeros are not allowed")
            }
        } else {
            skipDigits()
        }
        let digitsEnd = position
        var isInteger = true
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            isInteger = false
            position += 1
            try expectDigit("expected a digit after '.'")
            skipDigits()
        }
        if position < bytes.count, bytes[position] | 0x20 == UInt8(ascii: "e") {
            isInteger = false
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                position += 1
            }
            try expectDigit("expected a digit in the exponent")
            skipDigits()
        }
        if isInteger, let integer = integerValue(digits: digitsStart..<digitsEnd, negative: negative) {
            return integer
        }
        guard let double = Double(makeString(start..<position)), double.isFinite else {
            throw JSONParseError(offset: start, message: "number out of range")
        }
        return .double(double)
    }

    /// The integer in `digits` when it fits in Int64; -0 stays a double so that its sign survives.
    private func integerValue(digits: Range<Int>, negative: Bool) -> JSONValue? {
        // 19 decimal digits always fit in UInt64, so the accumulation below cannot overflow.
        guard digits.count <= 19 else { return nil }
        var magnitude: UInt64 = 0
        for index in digits {
            magnitude = magnitude &* 10 &+ UInt64(bytes[index] &- UInt8(ascii: "0"))
        }
        if negative {
            if magnitude == 0 { return .double(-0.0) }
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return .int(Int64(bitPattern: 0 &- magnitude))
        }
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return .int(Int64(magnitude))
    }

    @inline(__always)
    private func isDigit(_ byte: UInt8) -> Bool {
        byte &- UInt8(ascii: "0") < 10
    }

    private mutating func skipDigits() {
        while position < bytes.count, isDigit(bytes[position]) {
            position += 1
        }
    }

    private func expectDigit(_ expectation: String) throws(JSONParseError) {
        guard position < bytes.count else { throw endOfInput(expectation) }
        guard isDigit(bytes[position]) else {
            throw JSONParseError(offset: position, message: "\(expectation), found \(describe(bytes[position]))")
        }
    }

    // MARK: Errors

    private func unterminatedString() -> JSONParseError {
        JSONParseError(offset: bytes.count, message: "unterminated string")
    }

    private func endOfInput(_ expectation: String) -> JSONParseError {
        JSONParseError(offset: bytes.count, message: "\(expectation), found end of input")
    }

    /// A byte as a reader wants to see it in a message: 'x' when printable ASCII, else its hex value.
    private func describe(_ byte: UInt8) -> String {
        if byte > 0x20 && byte < 0x7F {
            return "'\(Character(Unicode.Scalar(byte)))'"
        }
        let hex = String(byte, radix: 16, uppercase: true)
        return "byte 0x\(byte < 0x10 ? "0" : "")\(hex)"
    }
}

/// The value of one hexadecimal digit of a `\u` escape; nil for any other byte.
@inline(__always)
func hexDigitValue(_ byte: UInt8) -> UInt32? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte &- UInt8(ascii: "0"))
    case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte &- UInt8(ascii: "a") &+ 10)
    case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte &- UInt8(ascii: "A") &+ 10)
    default: nil
    }
}
