/// Turns the bytes after a response head into the body, whatever its framing. Sans I/O: the
/// stream feeds it what the socket delivered and it reports how much it consumed.
struct BodyDecoder {
    enum Framing: Equatable {
        /// HEAD responses, 1xx, 204 and 304.
        case empty
        case length(Int)
        case chunked
        /// No length and not chunked: the body ends when the server closes the connection.
        case untilClose
    }

    private enum ChunkState {
        case sizeLine
        case data(remaining: Int)
        case dataEnd
        case trailer
    }

    let framing: Framing
    private var remaining: Int
    private var chunkState = ChunkState.sizeLine
    private(set) var isComplete: Bool

    /// Lines of chunk framing are short; a longer one means the server is not speaking HTTP.
    private static let maxLine = 8 * 1024

    init(framing: Framing) {
        self.framing = framing
        switch framing {
        case .empty: remaining = 0; isComplete = true
        case .length(let count): remaining = count; isComplete = count == 0
        case .chunked, .untilClose: remaining = 0; isComplete = false
        }
    }

    /// Appends the body bytes found in `input` to `output`; returns how many input bytes it used.
    /// Leaves a partial framing line unconsumed until more bytes arrive.
    mutating func decode(_ input: ArraySlice<UInt8>, into output: inout [UInt8]) throws(HTTPClientError) -> Int {
        switch framing {
        case .empty:
            return 0
        case .untilClose:
            output.append(contentsOf: input)
            return input.count
        case .length:
            let take = min(remaining, input.count)
            output.append(contentsOf: input.prefix(take))
            remaining -= take
            if remaining == 0 { isComplete = true }
            return take
        case .chunked:
            return try decodeChunked(input, into: &output)
        }
    }

    /// The connection ended: fine for a close-delimited body, a truncated body otherwise.
    mutating func endOfInput() throws(HTTPClientError) {
        if isComplete { return }
        if framing == .untilClose {
            isComplete = true
            return
        }
        throw .malformedResponse("the connection closed before the end of the body")
    }

    private mutating func decodeChunked(_ input: ArraySlice<UInt8>, into output: inout [UInt8]) throws(HTTPClientError) -> Int {
        var index = input.startIndex
        while index < input.endIndex && !isComplete {
            switch chunkState {
            case .sizeLine:
                guard let line = try takeLine(input, from: &index) else { return index - input.startIndex }
                chunkState = try Self.chunkSize(line).map { $0 == 0 ? ChunkState.trailer : ChunkState.data(remaining: $0) } ?? .sizeLine
            case .data(let left):
                let take = min(left, input.endIndex - index)
                output.append(contentsOf: input[index..<(index + take)])
                index += take
                chunkState = left == take ? .dataEnd : .data(remaining: left - take)
            case .dataEnd:
                guard let line = try takeLine(input, from: &index) else { return index - input.startIndex }
                guard line.isEmpty else { throw .malformedResponse("chunk data longer than its size") }
                chunkState = .sizeLine
            case .trailer:
                // Trailer fields carry nothing a tool needs; the empty line ends the body.
                guard let line = try takeLine(input, from: &index) else { return index - input.startIndex }
                if line.isEmpty { isComplete = true }
            }
        }
        return index - input.startIndex
    }

    /// The next line without its CR LF (or bare LF), advancing `index`; nil when incomplete.
    private func takeLine(_ input: ArraySlice<UInt8>, from index: inout Int) throws(HTTPClientError) -> ArraySlice<UInt8>? {
        guard let newline = input[index...].firstIndex(of: UInt8(ascii: "\n")) else {
            if input.endIndex - index > Self.maxLine { throw .malformedResponse("chunk framing line too long") }
            return nil
        }
        var line = input[index..<newline]
        if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
        index = newline + 1
        return line
    }

    /// The size from a chunk-size line (hex, optional ";extensions"); nil for an empty line, which
    /// some servers send between chunks.
    private static func chunkSize(_ line: ArraySlice<UInt8>) throws(HTTPClientError) -> Int? {
        var digits = line.prefix { $0 != UInt8(ascii: ";") }
        while let last = digits.last, last == 0x20 || last == 0x09 { digits = digits.dropLast() }
        while let first = digits.first, first == 0x20 || first == 0x09 { digits = digits.dropFirst() }
        if digits.isEmpty { return nil }
        guard digits.count <= 15 else { throw .malformedResponse("chunk size too large") }
        var size = 0
        for byte in digits {
            let value: Int
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = Int(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = Int(byte - UInt8(ascii: "a")) + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): value = Int(byte - UInt8(ascii: "A")) + 10
            default: throw .malformedResponse("invalid chunk size '\(String(decoding: line, as: UTF8.self))'")
            }
            size = size * 16 + value
        }
        return size
    }
}
