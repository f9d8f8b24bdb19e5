import Glibc

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
/// may not exceed `maxBodyBytes` (413), checked from Content-Length or a chunk size before any byte of
/// it is read. Strict where RFC 9112 allows leniency, because every leniency is a way for a front-end
/// and mcpd to disagree about where a request ends (request smuggling):
/// - lines end with CRLF: a bare LF or bare CR is 400 (a head with a bare LF is refused as soon as
///   the LF arrives, not when the header timeout fires); obs-fold and whitespace before ':' are 400;
/// - HTTP/1.1 needs exactly one valid Host (400); an absolute-form target is accepted and turned into
///   origin form, its authority replacing Host (§3.2.2); `*` only with OPTIONS; CONNECT is 501;
/// - Content-Length with Transfer-Encoding, Transfer-Encoding in HTTP/1.0, chunked not the final (or
///   applied twice), differing or malformed Content-Length values: 400; an unknown coding: 501;
/// - chunk lines are checked against the grammar (chunk extensions included, at most 1 KiB a line
///   and `maxHeaderBytes` of extensions a request, else 400 / 413); trailer fields are checked like
///   header fields, limited to `maxHeaderBytes` (431), and discarded.
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
    /// How many bytes after `start` the search for the end of the head has already covered, so a
    /// head arriving in many reads is scanned once, not once per read.
    private var headScanned = 0
    /// Bytes of chunk extensions seen in the current request's body.
    private var chunkExtensionBytes = 0

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
                let lineEnd: Int
                switch findLineEnd(from: start, limit: maxChunkLine) {
                case .found(let end): lineEnd = end
                case .bareLineBreak: return fail(.badRequest("chunk size line not ended by CRLF"))
                case .tooLong: return fail(.badRequest("chunk size line longer than \(maxChunkLine) bytes"))
                case .incomplete: return announceContinueOrWait()
                }
                let size: Int
                switch parseChunkLine(buffer[start..<lineEnd]) {
                case .malformed: return fail(.badRequest("malformed chunk size or extension"))
                case .size(let value, let extensionBytes):
                    chunkExtensionBytes += extensionBytes
                    if chunkExtensionBytes > limits.maxHeaderBytes {
                        return fail(HTTPError(status: 413, code: "PAYLOAD_TOO_LARGE",
                                              message: "chunk extensions exceed \(limits.maxHeaderBytes) bytes"))
                    }
                    size = value
                }
                start = lineEnd + 2
                if size == 0 {
                    state = .trailers(seen: 0)
                } else {
                    // `size` saturates at Int.max, so the sum cannot wrap.
                    if size > limits.maxBodyBytes - pending!.body.count { return fail(.bodyTooLarge(limits.maxBodyBytes)) }
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
                let lineEnd: Int
                switch findLineEnd(from: start, limit: limits.maxHeaderBytes - seen) {
                case .found(let end): lineEnd = end
                case .bareLineBreak: return fail(.badRequest("trailer line not ended by CRLF"))
                case .tooLong: return fail(.headersTooLarge)
                case .incomplete: return .needMoreData
                }
                let length = lineEnd - start
                let valid = isValidFieldLine(buffer[start..<lineEnd])
                start = lineEnd + 2
                if length == 0 { return finishRequest() }  // trailer fields are checked, then ignored
                guard valid else { return fail(.badRequest("malformed trailer field")) }
                if seen + length + 2 > limits.maxHeaderBytes { return fail(.headersTooLarge) }
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
        chunkExtensionBytes = 0
        state = .head
        return .request(request)
    }

    // MARK: head

    /// nil when the head is incomplete; success(nil) when a head was parsed and the body state set.
    private mutating func parseHead() -> Result<HTTPParserEvent?, HTTPError>? {
        // RFC 9112 §2.2: ignore empty lines before a request line.
        while buffer.count - start >= 2, buffer[start] == 13, buffer[start + 1] == 10 { start += 2; headScanned = 0 }
        // The limit counts the whole head, its final CRLFCRLF included. An incomplete head of n bytes
        // will be at least n + 1: refusing it at n >= limit gives the same verdict however the bytes
        // are split across reads (a differential the fuzzer found).
        guard let end = findHeadEnd() else {
            if buffer.count - start >= limits.maxHeaderBytes { return .failure(.headersTooLarge) }
            if containsBareLF() { return .failure(.badRequest("header line not ended by CRLF")) }
            headScanned = buffer.count - start
            return nil
        }
        if end + 4 - start > limits.maxHeaderBytes { return .failure(.headersTooLarge) }
        let head = buffer[start..<(end + 2)]  // every line keeps its CRLF
        start = end + 4
        headScanned = 0
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
        var hasTransferEncoding = false
        for header in request.headers {
            // Lengths first: String == on two different names takes the slow, Unicode-aware path.
            let nameLength = header.name.utf8.count
            if nameLength == 14 && header.name == "content-length" {
                if header.value.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) {
                    lengths.append(header.value[...])  // the usual case: one plain number
                    continue
                }
                // Not a list, but RFC 9110 §8.6 lets "5, 5" stand for a duplicated field; an empty
                // element is malformed.
                lengths.append(contentsOf: header.value.split(separator: ",", omittingEmptySubsequences: false).map { trimmed($0) })
            } else if nameLength == 17 && header.name == "transfer-encoding" {
                hasTransferEncoding = true
                // A list: empty elements are allowed and ignored (RFC 9110 §5.6.1).
                codings.append(contentsOf: header.value.split(separator: ",").map { trimmed($0).lowercased() }.filter { !$0.isEmpty })
            }
        }
        if hasTransferEncoding {
            // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing.
            if request.minorVersion == 0 { return .failure(.badRequest("Transfer-Encoding in an HTTP/1.0 request")) }
            if !lengths.isEmpty {
                return .failure(.badRequest("both Content-Length and Transfer-Encoding are present"))
            }
            // §6.3: chunked must be the final coding, else the length cannot be known (400).
            if let chunked = codings.firstIndex(of: "chunked"), chunked != codings.count - 1 {
                return .failure(.badRequest("chunked is not the final transfer coding, or is applied more than once"))
            }
            if let unknown = codings.first(where: { $0 != "chunked" }) {
                return .failure(HTTPError(status: 501, code: "NOT_IMPLEMENTED",
                                          message: "transfer coding '\(unknown.prefix(64))' is not supported"))
            }
            if codings.isEmpty { return .failure(.badRequest("empty Transfer-Encoding")) }
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
            guard version.count == 8, memcmp(version.baseAddress!, ("HTTP/1." as StaticString).utf8Start, 7) == 0 else {
                if version.count == 8, version.starts(with: "HTTP/".utf8), isDigit(version[5]), version[6] == 46, isDigit(version[7]) {
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
            headers.reserveCapacity(12)  // a client's usual few, without regrowing
            var hostIndex: Int?
            var lineStart = lineEnd + 1
            while lineStart < count {
                // memchr: the line's end is found by the C library's word-at-a-time scan.
                let base = bytes.baseAddress!
                guard let newline = memchr(base + lineStart, 10, count - lineStart) else {
                    return .failure(.badRequest("header line must end with CRLF"))
                }
                lineEnd = base.distance(to: newline.assumingMemoryBound(to: UInt8.self))
                guard lineEnd > lineStart, bytes[lineEnd - 1] == 13 else {
                    return .failure(.badRequest("header line must end with CRLF"))
                }
                let contentEnd = lineEnd - 1
                defer { lineStart = lineEnd + 1 }
                if contentEnd == lineStart { continue }
                let first = bytes[lineStart]
                guard first != 32, first != 9 else { return .failure(.badRequest("obsolete header line folding")) }
                // The name is checked as the colon is sought, in one pass; a byte that is neither
                // makes the line malformed, or colon-less if no colon follows.
                var colon = lineStart
                while colon < contentEnd && isTokenByte(bytes[colon]) { colon += 1 }
                guard colon < contentEnd, bytes[colon] == 58, colon > lineStart else {
                    while colon < contentEnd && bytes[colon] != 58 { colon += 1 }
                    return .failure(.badRequest(colon < contentEnd ? "malformed header name" : "header line without ':'"))
                }
                var valueStart = colon + 1
                var valueEnd = contentEnd
                while valueStart < valueEnd && (bytes[valueStart] == 32 || bytes[valueStart] == 9) { valueStart += 1 }
                while valueEnd > valueStart && (bytes[valueEnd - 1] == 32 || bytes[valueEnd - 1] == 9) { valueEnd -= 1 }
                for index in valueStart..<valueEnd where (bytes[index] < 32 && bytes[index] != 9) || bytes[index] == 127 {
                    return .failure(.badRequest("control character in header value"))
                }
                let name = CommonFields.name(UnsafeBufferPointer(rebasing: bytes[lineStart..<colon]))
                    ?? String(unsafeUninitializedCapacity: colon - lineStart) { out in
                        for index in lineStart..<colon {
                            let byte = bytes[index]
                            out[index - lineStart] = byte >= 65 && byte <= 90 ? byte + 32 : byte
                        }
                        return colon - lineStart
                    }
                if colon - lineStart == 4 && name == "host" {
                    // RFC 9112 §3.2: more than one Host, or an invalid one, is 400.
                    guard hostIndex == nil else { return .failure(.badRequest("more than one Host header")) }
                    guard isValidAuthority(UnsafeBufferPointer(rebasing: bytes[valueStart..<valueEnd]), allowEmpty: true) else {
                        return .failure(.badRequest("invalid Host header"))
                    }
                    hostIndex = headers.count
                }
                let value = UnsafeBufferPointer(rebasing: bytes[valueStart..<valueEnd])
                headers.append((name, CommonFields.value(value) ?? String(decoding: value, as: UTF8.self)))
            }
            if minor == UInt8(ascii: "1") && hostIndex == nil { return .failure(.badRequest("an HTTP/1.1 request needs a Host header")) }
            // Request-target forms (RFC 9112 §3.2): origin form is the rule; the others are checked
            // against the method, and absolute form is reduced to origin form.
            let method = UnsafeBufferPointer(rebasing: bytes[0..<methodEnd])
            var target = String(decoding: UnsafeBufferPointer(rebasing: bytes[(methodEnd + 1)..<targetEnd]), as: UTF8.self)
            if bytes[methodEnd + 1] != UInt8(ascii: "/") {
                if method.elementsEqual("CONNECT".utf8) {
                    return .failure(HTTPError(status: 501, code: "NOT_IMPLEMENTED", message: "CONNECT is not supported"))
                }
                if targetEnd - methodEnd == 2 && bytes[methodEnd + 1] == UInt8(ascii: "*") {
                    guard method.elementsEqual("OPTIONS".utf8) else { return .failure(.badRequest("'*' is a target for OPTIONS only")) }
                } else {
                    guard let (authority, originForm) = splitAbsoluteForm(UnsafeBufferPointer(rebasing: bytes[(methodEnd + 1)..<targetEnd])) else {
                        return .failure(.badRequest("malformed request target"))
                    }
                    target = originForm
                    // §3.2.2: the target's authority overrides Host.
                    if let hostIndex { headers[hostIndex].value = authority } else { headers.append(("host", authority)) }
                }
            }
            let minorVersion = minor == UInt8(ascii: "1") ? 1 : 0
            var request = HTTPRequest(method: CommonFields.method(method) ?? String(decoding: method, as: UTF8.self), target: target,
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
            var index = start + max(0, headScanned - 3)
            let last = bytes.count - 4
            while index <= last {
                if bytes[index + 3] != 10 { index += bytes[index + 3] == 13 ? 1 : 4; continue }
                if bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 { return index }
                index += 1
            }
            return nil
        }
    }

    /// Whether the incomplete head has a LF without its CR among the bytes not checked before.
    private func containsBareLF() -> Bool {
        buffer.withUnsafeBufferPointer { bytes in
            var index = start + max(0, headScanned - 1)
            while index < bytes.count {
                if bytes[index] == 10 && (index == start || bytes[index - 1] != 13) { return true }
                index += 1
            }
            return false
        }
    }

    private enum LineEnd { case found(Int), incomplete, tooLong, bareLineBreak }

    /// Where the line starting at `from` ends (the index of its CR), for the short lines of a
    /// chunked body. A CR or LF anywhere else in the line is an error, as is a line over `limit`.
    private func findLineEnd(from: Int, limit: Int) -> LineEnd {
        var index = from
        while index < buffer.count {
            let byte = buffer[index]
            if byte == 10 { return .bareLineBreak }
            if byte == 13 {
                guard index + 1 < buffer.count else { break }
                guard buffer[index + 1] == 10 else { return .bareLineBreak }
                return index - from > limit ? .tooLong : .found(index)
            }
            index += 1
            if index - from > limit { return .tooLong }
        }
        return .incomplete
    }

    private enum ChunkLine { case size(Int, extensionBytes: Int), malformed }

    /// chunk-size [ chunk-ext ] (RFC 9112 §7.1), without the CRLF. The size saturates at Int.max
    /// (leading zeros are fine); extensions are checked against the grammar and ignored.
    private func parseChunkLine(_ line: ArraySlice<UInt8>) -> ChunkLine {
        var size = 0
        var index = line.startIndex
        while index < line.endIndex, let digit = hexValue(line[index]) {
            size = size > (Int.max - digit) / 16 ? Int.max : size * 16 + digit
            index += 1
        }
        guard index > line.startIndex else { return .malformed }
        let extensions = line[index...]
        return isValidChunkExtensions(extensions) ? .size(size, extensionBytes: extensions.count) : .malformed
    }
}

private let maxChunkLine = 1024

/// chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ),
/// chunk-ext-val = token / quoted-string.
private func isValidChunkExtensions(_ text: ArraySlice<UInt8>) -> Bool {
    var index = text.startIndex
    func skipWhitespace() { while index < text.endIndex && (text[index] == 32 || text[index] == 9) { index += 1 } }
    func skipToken() -> Bool {
        let begin = index
        while index < text.endIndex && isTokenByte(text[index]) { index += 1 }
        return index > begin
    }
    while true {
        skipWhitespace()
        if index == text.endIndex { return true }
        guard text[index] == 59 else { return false }  // ';'
        index += 1
        skipWhitespace()
        guard skipToken() else { return false }
        skipWhitespace()
        guard index < text.endIndex, text[index] == 61 else { continue }  // '='
        index += 1
        skipWhitespace()
        guard index < text.endIndex else { return false }
        if text[index] == 34 {  // quoted-string
            index += 1
            var closed = false
            while index < text.endIndex {
                let byte = text[index]
                if byte == 34 { closed = true; index += 1; break }
                if byte == 92 {  // quoted-pair
                    index += 1
                    guard index < text.endIndex, text[index] == 9 || text[index] >= 32 && text[index] != 127 else { return false }
                } else if !(byte == 9 || byte >= 32 && byte != 127) {
                    return false
                }
                index += 1
            }
            guard closed else { return false }
        } else if !skipToken() {
            return false
        }
    }
}

/// A trailer field line: field-name ":" OWS field-value OWS, the value without controls.
private func isValidFieldLine(_ line: ArraySlice<UInt8>) -> Bool {
    guard let colon = line.firstIndex(of: 58), colon > line.startIndex,
          line[line.startIndex..<colon].allSatisfy(isTokenByte) else { return false }
    return line[(colon + 1)...].allSatisfy { $0 == 9 || $0 >= 32 && $0 != 127 }
}

/// uri-host [ ":" port ] as Host and absolute-form targets carry it: reg-name characters,
/// percent-encoding, an IP literal in brackets. No userinfo, whitespace or controls.
private func isValidAuthority(_ text: UnsafeBufferPointer<UInt8>, allowEmpty: Bool) -> Bool {
    if text.isEmpty { return allowEmpty }
    for byte in text {
        switch byte {
        case 48...57, 65...90, 97...122: continue
        case 45, 46, 95, 126, 37, 33, 36, 38, 39, 40, 41, 42, 43, 44, 59, 61, 58, 91, 93: continue  // -._~ % sub-delims : [ ]
        default: return false
        }
    }
    return true
}

/// "http://authority/path?query" → (authority, "/path?query"); nil for anything else.
private func splitAbsoluteForm(_ target: UnsafeBufferPointer<UInt8>) -> (String, String)? {
    var schemeEnd = 0
    while schemeEnd < target.count && target[schemeEnd] != 58 { schemeEnd += 1 }
    let scheme = String(decoding: UnsafeBufferPointer(rebasing: target[0..<schemeEnd]), as: UTF8.self).lowercased()
    guard scheme == "http" || scheme == "https", target.count >= schemeEnd + 3,
          target[schemeEnd + 1] == 47, target[schemeEnd + 2] == 47 else { return nil }
    let authorityStart = schemeEnd + 3
    var authorityEnd = authorityStart
    while authorityEnd < target.count && target[authorityEnd] != 47 && target[authorityEnd] != 63 { authorityEnd += 1 }
    let authority = UnsafeBufferPointer(rebasing: target[authorityStart..<authorityEnd])
    guard isValidAuthority(authority, allowEmpty: false) else { return nil }
    let rest = String(decoding: UnsafeBufferPointer(rebasing: target[authorityEnd...]), as: UTF8.self)
    return (String(decoding: authority, as: UTF8.self), rest.hasPrefix("/") ? rest : "/" + rest)
}

private func hexValue(_ byte: UInt8) -> Int? {
    switch byte {
    case 48...57: return Int(byte) - 48
    case 65...70: return Int(byte) - 55
    case 97...102: return Int(byte) - 87
    default: return nil
    }
}

private func isDigit(_ byte: UInt8) -> Bool { byte >= 48 && byte <= 57 }

/// RFC 9110 tchar: digits, letters and !#$%&'*+-.^_`|~, as a bit mask over ASCII (bytes 0–63,
/// then 64–127): a shift and a test a byte, for the header names of every request.
private func isTokenByte(_ byte: UInt8) -> Bool {
    let below64: UInt64 = 0x03ff_6cfa_0000_0000
    let from64: UInt64 = 0x57ff_ffff_c7ff_fffe
    if byte < 64 { return (below64 >> UInt64(byte)) & 1 == 1 }
    return byte < 128 && (from64 >> UInt64(byte - 64)) & 1 == 1
}

private func trimmed(_ text: Substring) -> Substring {
    var text = text
    while let first = text.utf8.first, first == 32 || first == 9 { text = text.dropFirst() }
    while let last = text.utf8.last, last == 32 || last == 9 { text = text.dropLast() }
    return text
}

/// 1*DIGIT; saturates at Int.max so an absurd but well-formed length is "too large" (413).
private func parseDecimal(_ text: Substring) -> Int? {
    guard !text.isEmpty else { return nil }
    var value = 0
    for byte in text.utf8 {
        guard isDigit(byte) else { return nil }
        let digit = Int(byte - 48)
        value = value > (Int.max - digit) / 10 ? Int.max : value * 10 + digit
    }
    return value
}
