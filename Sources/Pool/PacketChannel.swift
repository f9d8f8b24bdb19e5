import EventLoop
import Glibc
import SystemCalls
import WorkerProtocol

/// The channel to an mcp-worker: WorkerProtocol datagrams over the supervisor's non-blocking end
/// of a SOCK_SEQPACKET socketpair.
final class PacketChannel: WorkerChannel, EventHandler {
    let fd: Int32
    private unowned let worker: Worker
    private unowned let pool: WorkerPool
    private var assembler = MessageAssembler()
    private var pendingDatagrams: [[UInt8]] = []
    private var pendingOffset = 0
    private var isOpen = true
    /// Whether the loop watches for writability: only while datagrams wait for room, so that a
    /// call whose datagram goes out at once costs no epoll_ctl.
    private var writeInterest = false

    init(fd: Int32, worker: Worker, pool: WorkerPool) {
        self.fd = fd
        self.worker = worker
        self.pool = pool
    }

    func open() throws(SystemError) {
        try Descriptor.setNonBlocking(fd)
        try pool.loop.register(fd, for: .readable, handler: self)
    }

    func send(_ message: WorkerMessage) {
        guard isOpen else { return }
        // The usual case, a call or an answer in one datagram with none waiting before it: sent
        // from the message's own bytes, header and payload gathered, nothing built or queued.
        if pendingDatagrams.isEmpty && message.isOneDatagram {
            switch message.withOneDatagram({ Descriptor.send(fd, $0, $1) }) {
            case .transferred: return
            case .wouldBlock: break  // queued below, sent when the socket has room
            case .endOfFile, .failed: return channelClosed()
            }
        }
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
                setWriteInterest(true)
                return
            case .endOfFile, .failed:
                channelClosed()
                return
            }
        }
        pendingDatagrams.removeAll(keepingCapacity: true)
        pendingOffset = 0
        setWriteInterest(false)
    }

    private func setWriteInterest(_ wanted: Bool) {
        guard wanted != writeInterest else { return }
        writeInterest = wanted
        pool.loop.modify(fd, for: wanted ? [.readable, .writable] : [.readable])
    }

    func handleEvents(_ events: EventMask) {
        if events.contains(.writable) { flush() }
        guard isOpen else { return }
        withUnsafeTemporaryAllocation(byteCount: WorkerMessage.headerSize + WorkerMessage.maxFragmentPayload,
                                      alignment: 16) { buffer in
            while isOpen {
                let n = recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
                if n > 0 {
                    worker.lastHeardMs = Clock.monotonicMillis()
                    switch assembler.add(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) {
                    case .message(let message):
                        pool.received(message, from: worker)
                        // A worker with no call has nothing more to say: skip the recv that would
                        // only answer EAGAIN (the loop is level-triggered, so anything that does
                        // arrive is reported again). One system call less per tool call.
                        if worker.isQuiet { return }
                    case .incomplete: continue
                    case .malformed: pool.protocolViolation(by: worker, "malformed datagram")
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
    func close() {
        guard isOpen else { return }
        isOpen = false
        pool.loop.unregister(fd)
        Descriptor.close(fd)
        pendingDatagrams.removeAll()
    }

    private func channelClosed() {
        close()
        pool.workerChannelClosed(worker)
    }
}
