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
    public func receive(timeoutMs: Int) -> Received {
        let deadline = timeoutMs < 0 ? Int64.max : Clock.monotonicMillis() + Int64(timeoutMs)
        while true {
            let remaining = deadline == Int64.max ? -1 : Int(max(0, deadline - Clock.monotonicMillis()))
            let ready = waitFor(events: Int16(POLLIN), timeoutMs: remaining)
            if ready < 0 { return .closed }
            if ready == 0 { return .timedOut }
            let n = receiveBuffer.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n == 0 { return .closed }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
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
