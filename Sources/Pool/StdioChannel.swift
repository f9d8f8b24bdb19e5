import EventLoop
import Glibc
import JSON
import Logging
import SystemCalls
import WorkerProtocol

/// The channel to a stdio MCP server: newline-delimited JSON-RPC over the supervisor's
/// non-blocking end of a SOCK_STREAM socketpair (the server's stdin and stdout). Framing and I/O
/// live here; what the messages mean lives in `StdioSession`.
final class StdioChannel: WorkerChannel, EventHandler {
    private static let chunkBytes = 64 * 1024
    /// Reads per wake-up before yielding to the other descriptors (level-triggered: more comes next turn).
    private static let chunksPerWake = 16
    /// A silent server is pinged after this long, so that its heartbeat stays fresh.
    static let pingAfterSilenceMs: Int64 = 2000

    let fd: Int32
    private unowned let worker: Worker
    private unowned let pool: WorkerPool
    private let serverId: String
    private var session = StdioSession()
    private var strayOutput: ServerOutputLog
    /// Bytes read and not yet consumed: the start of a line whose newline has not come.
    private var inbox: [UInt8] = []
    /// How much of `inbox` is known to hold no newline (long lines arrive in many reads).
    private var scanned = 0
    private var watchingWritable = false
    private var outbox: [UInt8] = []
    private var outboxOffset = 0
    private var isOpen = true

    init(fd: Int32, serverId: String, worker: Worker, pool: WorkerPool) {
        self.fd = fd
        self.serverId = serverId
        self.worker = worker
        self.pool = pool
        self.strayOutput = ServerOutputLog(serverId: serverId, pid: worker.pid, stream: "stdout")
    }

    func open() throws(SystemError) {
        try Descriptor.setNonBlocking(fd)
        try pool.loop.register(fd, for: .readable, handler: self)
        apply(session.start())
    }

    func send(_ message: WorkerMessage) {
        guard isOpen else { return }
        switch message.kind {
        case .call:
            guard let request = CallRequest(decoding: message.payload) else { return }
            // A call answered without asking the server (a probe of a server without resources, a
            // bad spec) must not end inside the pool's dispatch: its answer waits for the loop.
            apply(session.call(number: message.callNumber, tool: request.tool, spec: request.spec, input: request.input),
                  deferDeliveries: true)
        case .cancel:
            let reason = message.payload.isEmpty ? "cancelled" : String(decoding: message.payload, as: UTF8.self)
            apply(session.cancel(number: message.callNumber, reason: reason))
        default:
            break  // answers: a stdio server is never let ask the client anything
        }
    }

    /// Pings the server when it has been silent for a while: stdio servers cannot stamp their own
    /// heartbeat, so the answer is what keeps theirs fresh in the call table.
    func keepAlive(nowMs: Int64) {
        guard isOpen, nowMs - worker.lastHeardMs >= Self.pingAfterSilenceMs else { return }
        apply(session.ping())
    }

    func close() {
        guard isOpen else { return }
        isOpen = false
        pool.loop.unregister(fd)
        Descriptor.close(fd)
        inbox = []
        outbox = []
        strayOutput.reportDropped()
    }

    // MARK: reading

    func handleEvents(_ events: EventMask) {
        if events.contains(.writable) { flush() }
        guard isOpen else { return }
        var heard = false
        withUnsafeTemporaryAllocation(byteCount: Self.chunkBytes, alignment: 16) { buffer in
            for _ in 0..<Self.chunksPerWake where isOpen {
                switch Descriptor.read(fd, into: buffer.baseAddress!, count: buffer.count) {
                case .transferred(let n):
                    heard = true
                    inbox.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                    consumeLines()
                case .wouldBlock:
                    return
                case .endOfFile, .failed:
                    close()
                    pool.workerChannelClosed(worker)
                    return
                }
            }
        }
        if heard && isOpen {
            worker.lastHeardMs = Clock.monotonicMillis()
            pool.table.stampWorkerHeartbeat(slot: worker.tableSlot)
        }
    }

    private func consumeLines() {
        var start = 0
        var searchFrom = scanned
        while isOpen, let newline = inbox[searchFrom...].firstIndex(of: 10) {
            var line = inbox[start..<newline]
            start = newline + 1
            searchFrom = start
            if line.last == 13 { line = line.dropLast() }
            guard line.count <= pool.configuration.maxMessageBytes else {
                return pool.protocolViolation(by: worker, "a message of \(line.count) bytes, over the limit")
            }
            receive(Array(line))
        }
        guard isOpen else { return }
        inbox.removeFirst(start)
        scanned = inbox.count
        if inbox.count > pool.configuration.maxMessageBytes {
            pool.protocolViolation(by: worker, "a line of more than \(pool.configuration.maxMessageBytes) bytes")
        }
    }

    private func receive(_ line: [UInt8]) {
        if line.allSatisfy({ $0 == 32 || $0 == 9 }) { return }
        // Many servers print a banner or stray text on stdout: logged, not fatal.
        guard let message = try? JSONValue.parse(line) else { return strayOutput.log(line[...]) }
        let outputs = session.receive(message)
        if outputs.contains(.unrecognized) { strayOutput.log(line[...]) }
        apply(outputs)
    }

    // MARK: outputs

    private func apply(_ outputs: [StdioSession.Output], deferDeliveries: Bool = false) {
        for output in outputs {
            guard isOpen else { return }
            switch output {
            case .send(let message):
                outbox.append(contentsOf: message)
                outbox.append(10)
            case .deliver(let message):
                if deferDeliveries {
                    pool.loop.runSoon { [self] in
                        if isOpen { pool.received(message, from: worker) }
                    }
                } else {
                    pool.received(message, from: worker)
                }
            case .described(let version, let serverInfo):
                pool.serverDescribed(protocolVersion: version, serverInfo: serverInfo)
            case .toolsDiscovered(let tools):
                pool.toolsDiscovered(tools)
            case .note(let text):
                Log.info("stdio server", ["server": serverId, "pid": String(worker.pid), "note": text])
            case .unrecognized:
                break
            case .violation(let what):
                pool.protocolViolation(by: worker, what)
            }
        }
        flush()
    }

    private func flush() {
        guard isOpen else { return }
        while outboxOffset < outbox.count {
            let result = outbox[outboxOffset...].withUnsafeBytes { Descriptor.send(fd, $0) }
            switch result {
            case .transferred(let n):
                outboxOffset += n
            case .wouldBlock:
                if !watchingWritable {
                    watchingWritable = true
                    pool.loop.modify(fd, for: [.readable, .writable])
                }
                return
            case .endOfFile, .failed:
                // The server closed its stdin or died; reading will tell the pool.
                outbox = []
                outboxOffset = 0
                return
            }
        }
        outbox.removeAll(keepingCapacity: true)
        outboxOffset = 0
        if watchingWritable {
            watchingWritable = false
            pool.loop.modify(fd, for: [.readable])
        }
    }
}
