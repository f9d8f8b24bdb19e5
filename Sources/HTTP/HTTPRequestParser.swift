/// What the parser has for the connection.
public enum HTTPParserEvent: Sendable {
    case request(HTTPRequest)
    /// The head of a request that sent `Expect: 100-continue` is complete and its body is awaited.
    case expectsContinue
    case needMoreData
    case error(HTTPError)
}

/// Parses pipelined HTTP/1.1 requests from a byte stream.
///
/// Limits: the header block (request line and fields) may not exceed `maxHeaderBytes` (431); a body
/// may not exceed `maxBodyBytes` (413), checked from Content-Length before any byte of it is read and
/// while de-chunking. Framing follows RFC 9112 §6: Content-Length together with Transfer-Encoding is
/// refused (400, a request-smuggling vector); a transfer coding other than `chunked` is 501.
/// After an error the parser stays failed: the connection must be closed.
public struct HTTPRequestParser {
    private enum State {
        case head
        case fixedBody(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers(seen: Int)
        case failed
    }

    public let limits: HTTPLimits
    private var buffer: [UInt8] = []
    private var start = 0
    private var state = State.head
    private var pending: HTTPRequest?
    private var continueAnnounced = false

    public init(limits: HTTPLimits) {
        self.limits = limits
    }

    /// Bytes received but not yet consumed by a complete request.
    public var bufferedByteCount: Int { buffer.count - start }

    /// Whether a request has started arriving and is not complete yet.
    public var isMidRequest: Bool { pending != nil || bufferedByteCount > 0 }

    /// Whether the head of the current request is complete (its body may still be arriving).
    public var hasCompleteHead: Bool { pending != nil }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeSubrange(0..<start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    public mutating func nextEvent() -> HTTPParserEvent {
        while true {
            switch state {
            case .failed:
                return .needMoreData
            case .head:
                switch parseHead() {
                case .some(.success(let outcome)):
                    if let event = outcome { return event }
                case .some(.failure(let error)):
                    state = .failed
                    return .error(error)
                case .none:
                    return .needMoreData
                }
            case .fixedBody(let remaining):
                let available = buffer.count - start
                if available < remaining { return announceContinueOrWait() }
                pending!.body.append(contentsOf: buffer[start..<(start + remaining)])
                start += remaining
                return finishRequest()
            case .chunkSize:
                guard let lineEnd = findCRLF(from: start) else {
                    if buffer.count - start > 1024 { return fail(.badRequest("chunk size line too long")) }
                    return announceContinueOrWait()
                }
                guard let size = parseChunkSize(buffer[start..<lineEnd]) else {
                    return fail(.badRequest("malformed chunk size"))
                }
                start = lineEnd + 2
                if size == 0 {
                    state = .trailers(seen: 0)
                } else {
                    if pending!.body.count + size > limits.maxBodyBytes { return fail(.bodyTooLarge(limits.maxBodyBytes)) }
                    state = .chunkData(remaining: size)
                }
            case .chunkData(let remaining):
                let take = min(remaining, buffer.count - start)
                if take == 0 { return announceContinueOrWait() }
                pending!.body.append(contentsOf: buffer[start..<(start + take)])
                start += take
                state = take == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - take)
            case .chunkDataEnd:
                if buffer.count - start < 2 { return .needMoreData }
                guard buffer[start] == 13, buffer[start + 1] == 10 else { return fail(.badRequest("chunk data not followed by CRLF")) }
                start += 2
                state = .chunkSize
            case .trailers(let seen):
                guard let lineEnd = findCRLF(from: start) else {
                    if seen + buffer.count - start > limits.maxHeaderBytes { return fail(.headersTooLarge) }
                    return .needMoreData
                }
                let length = lineEnd - start
                start = lineEnd + 2
                if length == 0 { return finishRequest() }  // trailer fields are read and ignored
                if seen + length > limits.maxHeaderBytes { return fail(.headersTooLarge) }
                state = .trailers(seen: seen + length + 2)
            }
        }
    }

    private mutating func fail(_ error: HTTPError) -> HTTPParserEvent {
        state = .failed
        return .error(error)
    }

    private mutating func announceContinueOrWait() -> HTTPParserEvent {
        if !continueAnnounced, pending?.header("expect")?.lowercased() == "100-continue" {
            continueAnnounced = true
            return .expectsContinue
        }
        return .needMoreData
    }

    private mutating func finishRequest() -> HTTPParserEvent {
        let request = pending!
        pending = nil
        continueAnnounced = false
        state = .head
        return .request(request)
    }

    // MARK: head

    /// nil when the head is incomplete; success(nil) when a head was parsed and the body state set.
    private mutating func parseHead() -> Result<HTTPParserEvent?, HTTPError>? {
        // RFC 9112 §2.2: ignore empty lines before a request line.
        while buffer.count - start >= 2, buffer[start] == 13, buffer[start + 1] == 10 { start += 2 }
        guard let end = findHeadEnd() else {
            if buffer.count - start > limits.maxHeaderBytes { return .failure(.headersTooLarge) }
            return nil
        }
        if end - start > limits.maxHeaderBytes { return .failure(.headersTooLarge) }
        let head = buffer[start..<(end + 2)]  // every line keeps its CRLF
        start = end + 4
        switch parseRequestHead(head) {
        case .failure(let error):
            return .failure(error)
        case .success(var request):
            switch bodyFraming(of: request) {
            case .failure(let error):
                return .failure(error)
            case .success(let framing):
                switch framing {
                case .none:
                    request.body = []
                    pending = request
                    return .success(finishRequest())
                case .length(let length):
                    request.body.reserveCapacity(length)
                    pending = request
                    state = .fixedBody(remaining: length)
                case .chunked:
                    pending = request
                    state = .chunkSize
                }
                return .success(nil)
            }
        }
    }

    private enum Framing { case none, length(Int), chunked }

    private func bodyFraming(of request: HTTPRequest) -> Result<Framing, HTTPError> {
        var lengths: [Substring] = []
        var codings: [String] = []
        for header in request.headers {
            if header.name == "content-length" {
                lengths.append(contentsOf: header.value.split(separator: ",").map { trimmed($0) })
            } else if header.name == "transfer-encoding" {
                codings.append(contentsOf: header.value.split(separator: ",").map { trimmed($0).lowercased() })
            }
        }
        if !codings.isEmpty {
            if !lengths.isEmpty {
                return .failure(.badRequest("both Content-Length and Transfer-Encoding are present"))
            }
            if let unknown = codings.first(where: { $0 != "chunked" }) {
                return .failure(HTTPError(status: 501, code: "NOT_IMPLEMENTED",
                                          message: "transfer coding '\(unknown)' is not supported"))
            }
            if codings.count != 1 { return .failure(.badRequest("chunked applied more than once")) }
            return .success(.chunked)
        }
        guard let first = lengths.first else { return .success(.none) }
        guard lengths.allSatisfy({ $0 == first }), let length = parseDecimal(first) else {
            return .failure(.badRequest("invalid Content-Length"))
        }
        if length > limits.maxBodyBytes { return .failure(.bodyTooLarge(limits.maxBodyBytes)) }
        return .success(length == 0 ? .none : .length(length))
    }

    /// Parses the request line and header fields of `head` (every line ends with CRLF). A byte scan,
    /// no per-line arrays: this runs for every request.
    private func parseRequestHead(_ head: ArraySlice<UInt8>) -> Result<HTTPRequest, HTTPError> {
        head.withUnsafeBufferPointer { bytes -> Result<HTTPRequest, HTTPError> in
            let count = bytes.count
            // Request line: METHOD SP target SP HTTP/1.x CRLF
            var lineEnd = 0
            while lineEnd < count && bytes[lineEnd] != 10 { lineEnd += 1 }
            guard lineEnd < count, lineEnd > 0, bytes[lineEnd - 1] == 13 else {
                return .failure(.badRequest("request line must end with CRLF"))
            }
            let requestLineEnd = lineEnd - 1
            var methodEnd = 0
            while methodEnd < requestLineEnd && bytes[methodEnd] != 32 { methodEnd += 1 }
            var targetEnd = methodEnd + 1
            while targetEnd < requestLineEnd && bytes[targetEnd] != 32 { targetEnd += 1 }
            guard methodEnd > 0, targetEnd > methodEnd + 1, targetEnd < requestLineEnd,
                  (0..<methodEnd).allSatisfy({ isTokenByte(bytes[$0]) }),
                  ((methodEnd + 1)..<targetEnd).allSatisfy({ bytes[$0] > 32 && bytes[$0] < 127 }) else {
                return .failure(.badRequest("malformed request line"))
            }
            let version = UnsafeBufferPointer(rebasing: bytes[(targetEnd + 1)..<requestLineEnd])
            guard version.count == 8, version.starts(with: "HTTP/1.".utf8) else {
                if version.starts(with: "HTTP/".utf8) && !version.contains(32) {
                    return .failure(HTTPError(status: 505, code: "HTTP_VERSION_NOT_SUPPORTED", message: "only HTTP/1.x is served"))
                }
                return .failure(.badRequest("malformed HTTP version"))
            }
            let minor = version[7]
            guard minor == UInt8(ascii: "0") || minor == UInt8(ascii: "1") else {
                return .failure(HTTPError(status: 505, code: "HTTP_VERSION_NOT_SUPPORTED", message: "only HTTP/1.0 and 1.1 are served"))
            }
            // Header fields.
            var headers: [(name: String, value: String)] = []
            var lineStart = lineEnd + 1
            while lineStart < count {
                lineEnd = lineStart
                while lineEnd < count && bytes[lineEnd] != 10 { lineEnd += 1 }
                guard lineEnd < count, lineEnd > lineStart, bytes[lineEnd - 1] == 13 else {
                    return .failure(.badRequest("header line must end with CRLF"))
                }
                let contentEnd = lineEnd - 1
                defer { lineStart = lineEnd + 1 }
                if contentEnd == lineStart { continue }
                let first = bytes[lineStart]
                guard first != 32, first != 9 else { return .failure(.badRequest("obsolete header line folding")) }
                var colon = lineStart
                while colon < contentEnd && bytes[colon] != 58 { colon += 1 }
                guard colon < contentEnd else { return .failure(.badRequest("header line without ':'")) }
                guard colon > lineStart, (lineStart..<colon).allSatisfy({ isTokenByte(bytes[$0]) }) else {
                    return .failure(.badRequest("malformed header name"))
                }
                var valueStart = colon + 1
                var valueEnd = contentEnd
                while valueStart < valueEnd && (bytes[valueStart] == 32 || bytes[valueStart] == 9) { valueStart += 1 }
                while valueEnd > valueStart && (bytes[valueEnd - 1] == 32 || bytes[valueEnd - 1] == 9) { valueEnd -= 1 }
                for index in valueStart..<valueEnd where (bytes[index] < 32 && bytes[index] != 9) || bytes[index] == 127 {
                    return .failure(.badRequest("control character in header value"))
                }
                let name = String(unsafeUninitializedCapacity: colon - lineStart) { out in
                    for index in lineStart..<colon {
                        let byte = bytes[index]
                        out[index - lineStart] = byte >= 65 && byte <= 90 ? byte + 32 : byte
                    }
                    return colon - lineStart
                }
                headers.append((name, String(decoding: UnsafeBufferPointer(rebasing: bytes[valueStart..<valueEnd]), as: UTF8.self)))
            }
            let minorVersion = minor == UInt8(ascii: "1") ? 1 : 0
            var request = HTTPRequest(method: String(decoding: UnsafeBufferPointer(rebasing: bytes[0..<methodEnd]), as: UTF8.self),
                                      target: String(decoding: UnsafeBufferPointer(rebasing: bytes[(methodEnd + 1)..<targetEnd]), as: UTF8.self),
                                      minorVersion: minorVersion, headers: headers)
            if let connection = request.header("connection") {
                let lowered = connection.lowercased()
                request.keepAlive = minorVersion == 1 ? !lowered.contains("close") : lowered.contains("keep-alive")
            } else {
                request.keepAlive = minorVersion == 1
            }
            return .success(request)
        }
    }

    // MARK: scanning helpers

    private func findHeadEnd() -> Int? {
        guard buffer.count - start >= 4 else { return nil }
        return buffer.withUnsafeBufferPointer { bytes -> Int? in
            var index = start
            let last = bytes.count - 4
            while index <= last {
                if bytes[index + 3] != 10 { index += bytes[index + 3] == 13 ? 1 : 4; continue }
                if bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 { return index }
                index += 1
            }
            return nil
        }
    }

    private func findCRLF(from index: Int) -> Int? {
        var index = index
        while index + 1 < buffer.count {
            if buffer[index] == 13 && buffer[index + 1] == 10 { return index }
            index += 1
        }
        return nil
    }

    private func parseChunkSize(_ line: ArraySlice<UInt8>) -> Int? {
        var size = 0
        var digits = 0
        for byte in line {
            let value: Int
            switch byte {
            case 48...57: value = Int(byte) - 48
            case 65...70: value = Int(byte) - 55
            case 97...102: value = Int(byte) - 87
            case 59, 32, 9:  // chunk extensions (ignored) or whitespace before them
                return digits > 0 ? size : nil
            default: return nil
            }
            digits += 1
            if digits > 15 { return nil }
            size = size * 16 + value
        }
        return digits > 0 ? size : nil
    }
}

private func isTokenByte(_ byte: UInt8) -> Bool {
    switch byte {
    case 48...57, 65...90, 97...122: return true
    case 33, 35, 36, 37, 38, 39, 42, 43, 45, 46, 94, 95, 96, 124, 126: return true  // !#$%&'*+-.^_`|~
    default: return false
    }
}

private func trimmed(_ text: Substring) -> Substring {
    var text = text
    while let first = text.utf8.first, first == 32 || first == 9 { text = text.dropFirst() }
    while let last = text.utf8.last, last == 32 || last == 9 { text = text.dropLast() }
    return text
}

private func parseDecimal(_ text: Substring) -> Int? {
    guard !text.isEmpty, text.utf8.count <= 18 else { return nil }
    var value = 0
    for byte in text.utf8 {
        guard byte >= 48 && byte <= 57 else { return nil }
        value = value * 10 + Int(byte - 48)
    }
    return value
}
