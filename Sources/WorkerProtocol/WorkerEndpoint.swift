import Glibc
import SystemCalls

/// The worker's end of the socketpair: blocking sends, receives with a timeout.
/// (The supervisor's end is non-blocking and lives in the Pool module, on the event loop.)
public final class WorkerEndpoint {
    public let fd: Int32
    private var assembler = MessageAssembler()
    private var receiveBuffer = [UInt8](repeating: 0, count: WorkerMessage.headerSize + WorkerMessage.maxFragmentPayload)

    public init(fd: Int32) {
        self.fd = fd
        // Receives block (bounded by SO_RCVTIMEO): the descriptor must not be non-blocking.
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0 && flags & O_NONBLOCK != 0 { _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) }
    }

    public enum Received: Equatable {
        case message(WorkerMessage)
        case timedOut
        /// The supervisor closed its end (or died): the worker must exit.
        case closed
    }

    /// Sends a whole message, blocking while the socket buffer is full. Returns false when the peer is gone.
    @discardableResult
    public func send(_ message: WorkerMessage) -> Bool {
        for datagram in message.datagrams() {
            while true {
                let n = datagram.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n >= 0 { break }
                if errno == EINTR { continue }
                if errno == EAGAIN { _ = waitFor(events: Int16(POLLOUT), timeoutMs: 1000); continue }
                return false
            }
        }
        return true
    }

    /// Waits up to `timeoutMs` (-1: forever) for the next whole message.
    ///
    /// A blocking recv bounded by SO_RCVTIMEO, not poll then recv: one system call per message
    /// instead of two, on every call a worker serves. The option is set only when the wait changes.
    public func receive(timeoutMs: Int) -> Received {
        let deadline = timeoutMs < 0 ? Int64.max : Clock.monotonicMillis() + Int64(timeoutMs)
        while true {
            let remaining = deadline == Int64.max ? -1 : Int(max(0, deadline - Clock.monotonicMillis()))
            if remaining != 0 { setReceiveTimeout(remaining) }
            let flags = remaining == 0 ? Int32(MSG_DONTWAIT) : 0
            let n = receiveBuffer.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, flags) }
            if n == 0 { return .closed }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK {
                    if remaining == 0 || Clock.monotonicMillis() >= deadline { return .timedOut }
                    continue
                }
                return .closed
            }
            let outcome = receiveBuffer.withUnsafeBytes { assembler.add(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            switch outcome {
            case .message(let message): return .message(message)
            case .incomplete: continue
            case .malformed: return .closed
            }
        }
    }

    /// The SO_RCVTIMEO in force, in ms (0: none, wait forever); nil before the first receive.
    private var receiveTimeoutMs: Int?

    private func setReceiveTimeout(_ milliseconds: Int) {
        let wanted = max(milliseconds, 0)  // -1 (forever) is SO_RCVTIMEO's zero
        guard wanted != receiveTimeoutMs else { return }
        if Socket.setReceiveTimeout(fd, milliseconds: wanted) { receiveTimeoutMs = wanted }
    }

    /// poll(2) on the socket: 1 ready, 0 timeout, -1 hang-up or error.
    private func waitFor(events: Int16, timeoutMs: Int) -> Int {
        var descriptor = pollfd(fd: fd, events: events, revents: 0)
        while true {
            let rc = poll(&descriptor, 1, Int32(clamping: timeoutMs))
            if rc < 0 { if errno == EINTR { continue }; return -1 }
            if rc == 0 { return 0 }
            if descriptor.revents & events != 0 { return 1 }
            return -1  // POLLHUP / POLLERR without data
        }
    }
}
