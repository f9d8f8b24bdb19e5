import EventLoop
import Glibc
import SystemCalls
import WorkerProtocol

/// One mcp-worker process, as the supervisor sees it: its pid, the supervisor's non-blocking end of
/// the socketpair, and where it is in its life.
final class Worker: EventHandler {
    enum State: Equatable {
        /// Spawned; has not said `ready` yet.
        case starting
        case idle
        case busy
        /// Told to cancel its call; may not take another until it acknowledges (or is killed).
        case cancelling(untilMs: Int64)
        /// Asked to exit (socket closed); waiting to be reaped.
        case retiring
        /// SIGKILLed; waiting to be reaped.
        case killed
    }

    let pid: Int32
    let fd: Int32
    let tableSlot: Int
    /// Calls after which this worker is recycled (jittered so that workers do not recycle together).
    let callBudget: Int
    var state = State.starting
    var call: PoolCall?
    /// The call number this worker was told to cancel, until it acknowledges.
    var abandonedCallNumber: UInt64?
    var callsServed = 0
    var idleSinceMs: Int64 = 0
    var lastHeardMs: Int64
    private var assembler = MessageAssembler()
    private var pendingDatagrams: [[UInt8]] = []
    private var pendingOffset = 0
    private var channelOpen = true
    private unowned let pool: WorkerPool

    init(pid: Int32, fd: Int32, tableSlot: Int, callBudget: Int, pool: WorkerPool) {
        self.pid = pid
        self.fd = fd
        self.tableSlot = tableSlot
        self.callBudget = callBudget
        self.pool = pool
        self.lastHeardMs = Clock.monotonicMillis()
    }

    // MARK: channel

    func send(_ message: WorkerMessage) {
        guard channelOpen else { return }
        pendingDatagrams.append(contentsOf: message.datagrams())
        flush()
    }

    private func flush() {
        while pendingOffset < pendingDatagrams.count {
            let result = pendingDatagrams[pendingOffset].withUnsafeBytes { Descriptor.send(fd, $0) }
            switch result {
            case .transferred:
                pendingOffset += 1
            case .wouldBlock:
                pool.loop.modify(fd, for: [.readable, .writable])
                return
            case .endOfFile, .failed:
                channelClosed()
                return
            }
        }
        pendingDatagrams.removeAll(keepingCapacity: true)
        pendingOffset = 0
        pool.loop.modify(fd, for: [.readable])
    }

    func handleEvents(_ events: EventMask) {
        if events.contains(.writable) { flush() }
        guard channelOpen else { return }
        withUnsafeTemporaryAllocation(byteCount: WorkerMessage.headerSize + WorkerMessage.maxFragmentPayload,
                                      alignment: 16) { buffer in
            while channelOpen {
                let n = recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
                if n > 0 {
                    lastHeardMs = Clock.monotonicMillis()
                    switch assembler.add(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) {
                    case .message(let message): pool.received(message, from: self)
                    case .incomplete: continue
                    case .malformed: pool.protocolViolation(by: self, "malformed datagram")
                    }
                } else if n == 0 {
                    channelClosed()
                } else if errno == EINTR {
                    continue
                } else if errno == EAGAIN {
                    return
                } else {
                    channelClosed()
                }
            }
        }
    }

    /// Closes the supervisor's end. The worker reads end-of-file and exits.
    func closeChannel() {
        guard channelOpen else { return }
        channelOpen = false
        pool.loop.unregister(fd)
        Descriptor.close(fd)
        pendingDatagrams.removeAll()
    }

    private func channelClosed() {
        closeChannel()
        pool.workerChannelClosed(self)
    }
}
