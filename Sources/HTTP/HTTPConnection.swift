import EventLoop
import Glibc
import SystemCalls

/// The application behind the server. It must answer every request exactly once, now or later,
/// with `respond` or with `beginStream` … `endStream`.
public protocol HTTPHandler: AnyObject {
    func handle(_ request: HTTPRequest, on connection: HTTPConnection)
}

/// One client connection: reads and parses requests, answers them strictly in order (pipelining),
/// and streams chunked responses. A request is handed to the application only when the previous
/// response is complete, so responses can never interleave.
public final class HTTPConnection: EventHandler {
    public let fd: Int32
    private unowned let server: HTTPServer
    private var parser: HTTPRequestParser
    private var output: [UInt8] = []
    private var outputOffset = 0
    private var awaitingResponse = false
    private var keepAliveAfterResponse = true
    /// A HEAD request is answered with the head a GET would get, and no body.
    private var answeringHead = false
    private var closeWhenFlushed = false
    private var processing = false
    /// Output produced while handling requests is sent once, when the batch is handled: one
    /// send(2) for a response (or for several pipelined ones) instead of one per piece.
    private var flushPending = false
    /// A response completed outside `processRequests`: the scheduled flush serves the next request.
    private var resumeAfterFlush = false
    /// A flush is queued to run after the loop's current batch of events.
    private var flushScheduled = false
    private var writeInterest = false
    private var readPaused = false
    public private(set) var isOpen = true
    public private(set) var isStreaming = false
    /// Called once when the connection closes, for the application to drop its references.
    public var onClose: (() -> Void)?
    /// Header fields for the current request's response, set before the application answers (the
    /// rate limit's standing), already serialized as header lines. A response that carries a field
    /// named like the block's first one gives its own standing and leaves the block out. Used by
    /// the next response head, then cleared.
    public var pendingResponseFields = HTTPFieldBlock()
    /// The current request's id: its X-Request-Id when that is a sane one (1-64 visible ASCII
    /// characters), else one made here. Echoed in every response's X-Request-Id, carried into the
    /// calls the request starts and from there into the workers' log lines.
    public private(set) var requestId = ""
    /// Monotonic ms of the last byte read or written; drives idle and slow-request timeouts.
    var lastActivityMs: Int64
    /// Monotonic ms when the current, incomplete request head began to arrive (0 when none).
    var requestStartedMs: Int64 = 0
    /// Monotonic ms of the accept, and how many requests have arrived since: a drain waits a little
    /// for a new connection's first request (`closeWhenIdle`).
    private let acceptedMs: Int64
    private var requestsReceived = 0

    init(fd: Int32, server: HTTPServer, limits: HTTPLimits) {
        self.fd = fd
        self.server = server
        self.parser = HTTPRequestParser(limits: limits)
        self.lastActivityMs = Clock.monotonicMillis()
        self.acceptedMs = lastActivityMs
    }

    public var peerHost: String { Socket.peerHost(fd) }

    // MARK: events

    public func handleEvents(_ events: EventMask) {
        if events.contains(.writable) { flush() }
        if !isOpen { return }
        if events.contains(.readable) || events.contains(.hangup) || events.contains(.error) { readAvailable() }
    }

    private func readAvailable() {
        var sawEnd = false
        withUnsafeTemporaryAllocation(byteCount: 65536, alignment: 16) { scratch in
            while true {
                switch Descriptor.read(fd, into: scratch.baseAddress!, count: scratch.count) {
                case .transferred(let count):
                    if !parser.isMidRequest { requestStartedMs = Clock.monotonicMillis() }
                    parser.append(UnsafeRawBufferPointer(rebasing: scratch[0..<count]))
                    lastActivityMs = Clock.monotonicMillis()
                    if count < scratch.count { return }
                    // Hold back a client that floods us while a response is still being produced.
                    if awaitingResponse && parser.bufferedByteCount > 4 * 1024 * 1024 { pauseReading(); return }
                case .wouldBlock:
                    return
                case .endOfFile, .failed:
                    sawEnd = true
                    return
                }
            }
        }
        processRequests()
        if sawEnd && isOpen {
            // The client is gone (or half-closed): answer nothing more.
            if outputOffset < output.count && !isStreaming { closeWhenFlushed = true; flush() } else { close() }
        }
    }

    private func pauseReading() {
        readPaused = true
        server.loop.modify(fd, for: writeInterest ? [.writable] : [])
    }

    private func resumeReading() {
        guard readPaused else { return }
        readPaused = false
        server.loop.modify(fd, for: writeInterest ? [.readable, .writable] : [.readable])
    }

    /// Hands complete requests to the application one at a time.
    func processRequests() {
        guard !processing else { return }
        processing = true
        defer {
            processing = false
            if flushPending { flushPending = false; flush() }
        }
        while isOpen && !awaitingResponse && !closeWhenFlushed {
            switch parser.nextEvent() {
            case .request(let request):
                requestStartedMs = parser.isMidRequest ? Clock.monotonicMillis() : 0
                awaitingResponse = true
                requestsReceived += 1
                keepAliveAfterResponse = request.keepAlive && !server.isDraining
                answeringHead = request.method == "HEAD"
                requestId = RequestIds.of(request)
                server.handler.handle(request, on: self)
            case .expectsContinue:
                queue(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
                flush()
            case .needMoreData:
                return
            case .error(let error):
                fail(with: error)
                return
            }
        }
        if isOpen && !awaitingResponse { resumeReading() }
    }

    /// Answers a protocol error and closes the connection once the answer is written.
    func fail(with error: HTTPError) {
        guard isOpen else { return }
        let body = HTTPResponseHead.errorBody(error)
        var bytes: [UInt8] = []
        HTTPResponseHead.append(status: error.status, headers: [("Content-Type", "application/json")],
                                contentLength: body.count, close: true, to: &bytes)
        bytes.append(contentsOf: body)
        awaitingResponse = false
        isStreaming = false
        closeWhenFlushed = true
        queue(bytes)
        flush()
    }

    // MARK: responses

    /// Sends a complete response to the current request.
    public func respond(status: Int, headers: [(String, String)] = [], body: [UInt8]) {
        guard isOpen, awaitingResponse, !isStreaming else { return }
        HTTPResponseHead.append(status: status, headers: headers, requestId: requestId, fields: takePendingFields(),
                                contentLength: body.count, close: !keepAliveAfterResponse, to: &output)
        if !answeringHead { output.append(contentsOf: body) }
        completeResponse()
    }

    /// Starts a chunked response (an SSE stream, for instance) to the current request.
    public func beginStream(status: Int, headers: [(String, String)]) {
        guard isOpen, awaitingResponse, !isStreaming else { return }
        isStreaming = true
        HTTPResponseHead.append(status: status, headers: headers, requestId: requestId, fields: takePendingFields(),
                                contentLength: nil, close: !keepAliveAfterResponse, to: &output)
        flushSoon()
    }

    /// Sends one chunk of a streamed response.
    public func sendChunk(_ bytes: [UInt8]) {
        guard isOpen, isStreaming, !bytes.isEmpty else { return }
        output.append(contentsOf: String(bytes.count, radix: 16).utf8)
        output.append(13); output.append(10)
        output.append(contentsOf: bytes)
        output.append(13); output.append(10)
        flushSoon()
    }

    /// Ends a streamed response; the connection then serves the next pipelined request.
    public func endStream() {
        guard isOpen, isStreaming else { return }
        isStreaming = false
        output.append(contentsOf: "0\r\n\r\n".utf8)
        completeResponse()
    }

    private func completeResponse() {
        awaitingResponse = false
        if !keepAliveAfterResponse { closeWhenFlushed = true }
        // A response given later than its request (from a worker event) resumes the pipeline
        // after its flush, in the same deferred step; one given from inside `handle` is picked up
        // by the loop in processRequests.
        if isOpen && !processing && !closeWhenFlushed { resumeAfterFlush = true }
        flushSoon()
    }

    private func queue(_ bytes: [UInt8]) { output.append(contentsOf: bytes) }

    private func takePendingFields() -> HTTPFieldBlock {
        let fields = pendingResponseFields
        pendingResponseFields = HTTPFieldBlock()
        return fields
    }

    /// Output made while handling a request goes out when the handler returns. Output made by
    /// another event (a worker's result, a stream's event) goes out once the loop has dispatched
    /// its whole batch of ready events, so that a batch's responses are written together rather
    /// than one between each worker message.
    private func flushSoon() {
        if processing { flushPending = true; return }
        guard !flushScheduled else { return }
        flushScheduled = true
        server.loop.runSoon { [weak self] in
            guard let self else { return }
            self.flushScheduled = false
            self.flush()
            if self.resumeAfterFlush {
                self.resumeAfterFlush = false
                self.processRequests()
            }
        }
    }

    private func flush() {
        guard isOpen else { return }
        while outputOffset < output.count {
            let result = output.withUnsafeBytes { raw in
                Descriptor.send(fd, UnsafeRawBufferPointer(rebasing: raw[outputOffset...]))
            }
            switch result {
            case .transferred(let count):
                outputOffset += count
                lastActivityMs = Clock.monotonicMillis()
            case .wouldBlock:
                setWriteInterest(true)
                return
            case .endOfFile, .failed:
                close()
                return
            }
        }
        output.removeAll(keepingCapacity: output.capacity <= 65536)
        outputOffset = 0
        setWriteInterest(false)
        if closeWhenFlushed { close() }
    }

    private func setWriteInterest(_ wanted: Bool) {
        guard wanted != writeInterest, isOpen else { return }
        writeInterest = wanted
        var mask: EventMask = readPaused ? [] : [.readable]
        if wanted { mask.insert(.writable) }
        server.loop.modify(fd, for: mask)
    }

    // MARK: lifecycle

    /// Closes now, discarding unsent output.
    public func close() {
        guard isOpen else { return }
        isOpen = false
        server.loop.unregister(fd)
        Descriptor.close(fd)
        server.connectionClosed(self)
        let callback = onClose
        onClose = nil
        callback?()
    }

    /// Applies the idle and slow-request timeouts.
    func checkTimeouts(now: Int64, settings: HTTPServerSettings) {
        guard isOpen, !awaitingResponse, !isStreaming, !closeWhenFlushed else { return }
        if parser.isMidRequest {
            let limit = parser.hasCompleteHead ? settings.idleTimeoutMs : settings.headerTimeoutMs
            let since = parser.hasCompleteHead ? lastActivityMs : requestStartedMs
            if now - since >= limit { fail(with: .requestTimeout) }
        } else if now - lastActivityMs >= settings.idleTimeoutMs {
            close()
        }
    }

    /// While the server drains: closes the connection once nothing is in progress on it. It reads
    /// first, so that a request already in the socket is answered (with Connection: close) instead of
    /// being reset by the close. A connection that has not sent a request yet gets `freshGraceMs` to
    /// send its first (as Go's Server.Shutdown gives new connections): its client connected just
    /// before the drain began and is waiting for an answer.
    func closeWhenIdle(now: Int64, freshGraceMs: Int64) {
        guard isOpen, !isStreaming else { return }
        if !awaitingResponse && !readPaused { readAvailable() }
        guard isOpen, !hasRequestInProgress, !mayStillSendFirstRequest(now: now, graceMs: freshGraceMs) else { return }
        close()
    }

    /// Whether the connection holds up a drain (streams do not: they end with their calls, or are
    /// closed at the very end).
    func holdsUpDrain(now: Int64, freshGraceMs: Int64) -> Bool {
        isOpen && !isStreaming && (hasRequestInProgress || mayStillSendFirstRequest(now: now, graceMs: freshGraceMs))
    }

    /// A request is being received or answered, or its response is not all sent.
    private var hasRequestInProgress: Bool { awaitingResponse || parser.isMidRequest || outputOffset < output.count }

    private func mayStillSendFirstRequest(now: Int64, graceMs: Int64) -> Bool {
        requestsReceived == 0 && now - acceptedMs < graceMs
    }
}
