import SystemCalls

/// One request and its response on its own connection: writes the request, reads the head, then
/// hands out the body through a `BodyDecoder`.
struct Exchange {
    private(set) var status = 0
    private(set) var reason = ""
    private(set) var headers: [(String, String)] = []
    private var connection: Connection?
    private var decoder = BodyDecoder(framing: .empty)
    /// Bytes received but not yet decoded; `pendingStart` saves shifting the array on every read.
    private var pending: [UInt8] = []
    private var pendingStart = 0
    private var sawEndOfStream = false

    /// A response head longer than this is not one a tool should trust.
    static let maxHead = 64 * 1024

    static func start(_ request: HTTPClientRequest, interrupt: () -> Bool) throws(HTTPClientError) -> Exchange {
        guard let url = URLParts.parse(request.url) else { throw .invalidURL(request.url) }
        let deadline = Clock.monotonicMillis() + Int64(max(request.timeoutMs, 1))
        let connection = try Connection.open(to: url, deadline: deadline, verifyCertificates: request.verifyCertificates,
                                             interrupt: interrupt)
        var exchange = Exchange()
        exchange.connection = connection
        do {
            try connection.send(serialize(request, url: url), interrupt: interrupt)
            try exchange.readHead(isHead: request.method.equalsIgnoringASCIICase("HEAD"), interrupt: interrupt)
        } catch {
            exchange.close()
            throw error
        }
        return exchange
    }

    mutating func close() {
        connection?.close()
        connection = nil
    }

    /// The request bytes. CR and LF inside names and values become spaces: header values often come
    /// from tool input, and must never be able to start a header or request of their own.
    static func serialize(_ request: HTTPClientRequest, url: URLParts) -> [UInt8] {
        func clean(_ text: String) -> String {
            String(text.map { $0 == "\r" || $0 == "\n" || $0 == "\r\n" ? " " : $0 })
        }
        let method = clean(request.method).uppercased()
        let given = request.headers.map { (clean($0.0), clean($0.1)) }
            .filter { !$0.0.equalsIgnoringASCIICase("Connection") && !$0.0.equalsIgnoringASCIICase("Transfer-Encoding") }
        var text = "\(method) \(url.target) HTTP/1.1\r\n"
        if given.value(of: "Host") == nil { text += "Host: \(url.authority)\r\n" }
        if given.value(of: "User-Agent") == nil { text += "User-Agent: mcpd\r\n" }
        for (name, value) in given where !name.equalsIgnoringASCIICase("Content-Length") {
            text += "\(name): \(value)\r\n"
        }
        if let body = request.body {
            text += "Content-Length: \(body.count)\r\n"
        } else if ["POST", "PUT", "PATCH"].contains(method) {
            text += "Content-Length: 0\r\n"
        }
        text += "Connection: close\r\n\r\n"
        var bytes = Array(text.utf8)
        if let body = request.body { bytes.append(contentsOf: body) }
        return bytes
    }

    private mutating func readHead(isHead: Bool, interrupt: () -> Bool) throws(HTTPClientError) {
        while true {
            let head = try receiveHead(interrupt: interrupt)
            try parseHead(head)
            // Interim responses (100 Continue, 103 Early Hints) precede the real one.
            if (100...199).contains(status) && status != 101 { continue }
            break
        }
        decoder = BodyDecoder(framing: try framing(isHead: isHead))
    }

    /// Reads until the blank line ending a head; returns the head's bytes and keeps the rest pending.
    private mutating func receiveHead(interrupt: () -> Bool) throws(HTTPClientError) -> ArraySlice<UInt8> {
        var searchFrom = pendingStart
        while true {
            if let end = Self.headEnd(in: pending, from: searchFrom, start: pendingStart) {
                let head = pending[pendingStart..<end.headEnd]
                pendingStart = end.bodyStart
                return head
            }
            if pending.count - pendingStart > Self.maxHead { throw .malformedResponse("response head too large") }
            searchFrom = max(pendingStart, pending.count - 3)
            guard let connection else { throw .connectionFailed("connection closed") }
            if try !connection.receive(into: &pending, interrupt: interrupt) {
                throw pending.count == pendingStart
                    ? .connectionFailed("the server closed the connection without a response")
                    : .malformedResponse("the connection closed inside the response head")
            }
        }
    }

    /// Where the head ends: at CR LF CR LF, or LF LF from lenient servers.
    private static func headEnd(in bytes: [UInt8], from: Int, start: Int) -> (headEnd: Int, bodyStart: Int)? {
        var index = max(from, start)
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "\n") {
                if index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "\n") { return (index, index + 2) }
                if index + 2 < bytes.count && bytes[index + 1] == UInt8(ascii: "\r") && bytes[index + 2] == UInt8(ascii: "\n") {
                    return (index, index + 3)
                }
            }
            index += 1
        }
        return nil
    }

    private mutating func parseHead(_ head: ArraySlice<UInt8>) throws(HTTPClientError) {
        var lines = head.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { line -> ArraySlice<UInt8> in
            line.last == UInt8(ascii: "\r") ? line.dropLast() : line
        }
        while lines.first?.isEmpty == true { lines.removeFirst() }  // stray CRLF before the status line
        guard let statusLine = lines.first.map({ String(decoding: $0, as: UTF8.self) }) else {
            throw .malformedResponse("empty response head")
        }
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), parts[1].count == 3, let code = Int(parts[1]), (100...999).contains(code) else {
            throw .malformedResponse("bad status line '\(statusLine.prefix(100))'")
        }
        status = code
        reason = parts.count > 2 ? String(parts[2]) : ""
        headers = []
        for line in lines.dropFirst() where !line.isEmpty {
            let text = String(decoding: line, as: UTF8.self)
            if let first = line.first, first == 0x20 || first == 0x09, !headers.isEmpty {
                // obs-fold: a continuation of the previous field's value.
                headers[headers.count - 1].1 += " " + text.trimmingSpaces()
                continue
            }
            guard let colon = text.firstIndex(of: ":") else { continue }
            headers.append((String(text[..<colon]).trimmingSpaces(), String(text[text.index(after: colon)...]).trimmingSpaces()))
        }
    }

    private func framing(isHead: Bool) throws(HTTPClientError) -> BodyDecoder.Framing {
        if isHead || (100...199).contains(status) || status == 204 || status == 304 { return .empty }
        if let encoding = headers.value(of: "Transfer-Encoding") {
            let last = encoding.split(separator: ",").last.map { String($0).trimmingSpaces() } ?? ""
            return last.equalsIgnoringASCIICase("chunked") ? .chunked : .untilClose
        }
        let lengths = headers.filter { $0.0.equalsIgnoringASCIICase("Content-Length") }
            .flatMap { $0.1.split(separator: ",").map { String($0).trimmingSpaces() } }
        guard let first = lengths.first else { return .untilClose }
        guard lengths.allSatisfy({ $0 == first }), first.allSatisfy(\.isASCIIDigitCharacter), first.count <= 15,
              let length = Int(first) else {
            throw .malformedResponse("bad Content-Length '\(first)'")
        }
        return .length(length)
    }

    mutating func readChunk(interrupt: () -> Bool) throws(HTTPClientError) -> [UInt8]? {
        while true {
            if pendingStart < pending.count && !decoder.isComplete {
                var output: [UInt8] = []
                let used = try decoder.decode(pending[pendingStart...], into: &output)
                pendingStart += used
                if pendingStart == pending.count {
                    pending.removeAll(keepingCapacity: true)
                    pendingStart = 0
                }
                if !output.isEmpty { return output }
                if used > 0 { continue }
            }
            if decoder.isComplete {
                // One request per connection: done with it as soon as the body is.
                close()
                return nil
            }
            if sawEndOfStream {
                close()
                try decoder.endOfInput()
                return nil
            }
            guard let connection else { throw .connectionFailed("connection closed") }
            if pendingStart > 0 {
                pending.removeFirst(pendingStart)
                pendingStart = 0
            }
            if try !connection.receive(into: &pending, interrupt: interrupt) { sawEndOfStream = true }
        }
    }

    mutating func readAll(maxBody: Int, interrupt: () -> Bool) throws(HTTPClientError) -> [UInt8] {
        if case .length(let length) = decoder.framing, length > maxBody { throw .tooLarge }
        var body: [UInt8] = []
        while let chunk = try readChunk(interrupt: interrupt) {
            body.append(contentsOf: chunk)
            if body.count > maxBody { throw .tooLarge }
        }
        return body
    }
}
