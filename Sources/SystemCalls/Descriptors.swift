import CMcpd
import Glibc

/// Operations on raw file descriptors. Descriptors are plain `Int32` so that they can be stored in
/// epoll data and shared tables; ownership is documented where they are held.
public enum Descriptor {
    public static func close(_ fd: Int32) {
        // close(2) must not be retried on EINTR on Linux: the descriptor is already released.
        if fd >= 0 { _ = Glibc.close(fd) }
    }

    public static func setNonBlocking(_ fd: Int32) throws(SystemError) {
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0 else {
            throw SystemError("fcntl(O_NONBLOCK)", errno: errno)
        }
    }

    public static func setCloseOnExec(_ fd: Int32) throws(SystemError) {
        let flags = fcntl(fd, F_GETFD)
        guard flags >= 0, fcntl(fd, F_SETFD, flags | FD_CLOEXEC) == 0 else {
            throw SystemError("fcntl(FD_CLOEXEC)", errno: errno)
        }
    }

    /// A pipe, both ends close-on-exec: (read end, write end).
    public static func pipe() throws(SystemError) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        let rc = mcpd_pipe(&fds)
        guard rc == 0 else { throw SystemError("pipe2", errno: -rc) }
        return (fds[0], fds[1])
    }

    /// Reads what is available into `buffer` starting at `offset`, up to `count` bytes.
    public static func read(_ fd: Int32, into buffer: UnsafeMutableRawPointer, count: Int) -> IOResult {
        while true {
            let n = Glibc.read(fd, buffer, count)
            if n > 0 { return .transferred(n) }
            if n == 0 { return .endOfFile }
            switch errno {
            case EINTR: continue
            case EAGAIN: return .wouldBlock
            default: return .failed(errno)
            }
        }
    }

    /// Writes as much of the bytes as the kernel takes now (MSG_NOSIGNAL for sockets).
    public static func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> IOResult {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return .transferred(0) }
        let result = transfer { Glibc.send(fd, base, bytes.count, Int32(MSG_NOSIGNAL)) }
        if result == .failed(ENOTSOCK) { return write(fd, bytes) }
        return result
    }

    /// Sends `head` and `tail` as one message, gathered by sendmsg (MSG_NOSIGNAL): on a datagram
    /// socket, one datagram made of two buffers that need not be copied into one.
    public static func send(_ fd: Int32, _ head: UnsafeRawBufferPointer, _ tail: UnsafeRawBufferPointer) -> IOResult {
        var parts = (iovec(iov_base: UnsafeMutableRawPointer(mutating: head.baseAddress), iov_len: head.count),
                     iovec(iov_base: UnsafeMutableRawPointer(mutating: tail.baseAddress), iov_len: tail.count))
        return withUnsafeMutableBytes(of: &parts) { raw in
            var message = msghdr()
            message.msg_iov = raw.baseAddress!.assumingMemoryBound(to: iovec.self)
            message.msg_iovlen = 2
            return transfer { Glibc.sendmsg(fd, &message, Int32(MSG_NOSIGNAL)) }
        }
    }

    public static func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> IOResult {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return .transferred(0) }
        return transfer { Glibc.write(fd, base, bytes.count) }
    }

    /// Runs a non-blocking write-side system call again while a signal interrupts it, and says how
    /// it went: the bytes it took, no room now (EAGAIN), or its errno.
    @inline(__always)
    private static func transfer(_ call: () -> Int) -> IOResult {
        while true {
            let n = call()
            if n >= 0 { return .transferred(n) }
            switch errno {
            case EINTR: continue
            case EAGAIN: return .wouldBlock
            default: return .failed(errno)
            }
        }
    }

    /// Writes all bytes to a blocking descriptor (logs, CLI output).
    public static func writeAll(_ fd: Int32, _ text: String) {
        var text = text
        text.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                offset += n
            }
        }
    }
}

/// Sockets that the supervisor and its workers use.
public enum Socket {
    /// A connected AF_UNIX SOCK_SEQPACKET pair, both ends close-on-exec.
    public static func seqpacketPair() throws(SystemError) -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        let rc = socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds)
        guard rc == 0 else { throw SystemError("socketpair", errno: errno) }
        return (fds[0], fds[1])
    }

    /// A connected AF_UNIX SOCK_STREAM pair, both ends close-on-exec: a byte stream in both
    /// directions, for programs that read stdin and write stdout.
    public static func streamPair() throws(SystemError) -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        let rc = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds)
        guard rc == 0 else { throw SystemError("socketpair", errno: errno) }
        return (fds[0], fds[1])
    }

    /// Accepts one connection as a non-blocking, close-on-exec descriptor; nil when none is pending.
    public static func accept(_ listener: Int32) -> Result<Int32?, SystemError> {
        while true {
            let fd = mcpd_accept(listener)
            if fd >= 0 { return .success(fd) }
            switch -fd {
            case EINTR: continue
            case EAGAIN, ECONNABORTED, EPROTO: return .success(nil)
            default: return .failure(SystemError("accept4", errno: -fd))
            }
        }
    }

    /// Sends one message on a connected socket with `descriptor` attached (SCM_RIGHTS).
    public static func send(_ fd: Int32, _ bytes: [UInt8], passing descriptor: Int32) throws(SystemError) {
        let rc = bytes.withUnsafeBytes { mcpd_send_with_fd(fd, $0.baseAddress, $0.count, descriptor) }
        guard rc == 0 else { throw SystemError("sendmsg", errno: -rc) }
    }

    /// Receives one message of at most `capacity` bytes and the descriptor that came with it, if
    /// any (close-on-exec); nil at end of file. Blocks, or as long as SO_RCVTIMEO allows (EAGAIN).
    public static func receive(_ fd: Int32, capacity: Int) throws(SystemError) -> (bytes: [UInt8], descriptor: Int32?)? {
        var descriptor: Int32 = -1
        var bytes = [UInt8](repeating: 0, count: capacity)
        let n = bytes.withUnsafeMutableBytes { mcpd_receive_with_fd(fd, $0.baseAddress, $0.count, &descriptor) }
        guard n >= 0 else { throw SystemError("recvmsg", errno: Int32(-n)) }
        if n == 0 && descriptor < 0 { return nil }
        return (Array(bytes[0..<n]), descriptor >= 0 ? descriptor : nil)
    }

    /// SO_RCVTIMEO: how long a blocking receive waits before EAGAIN; 0 waits for ever.
    @discardableResult
    public static func setReceiveTimeout(_ fd: Int32, milliseconds: Int) -> Bool {
        var value = timeval(tv_sec: milliseconds / 1000, tv_usec: (milliseconds % 1000) * 1000)
        return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size)) == 0
    }

    public static func setNoDelay(_ fd: Int32) {
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    public static func setSendBuffer(_ fd: Int32, bytes: Int32) {
        var size = bytes
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }

    /// A TCP listener on host:port, non-blocking and close-on-exec.
    public static func listenTCP(host: String, port: Int, backlog: Int32 = 4096) throws(SystemError) -> Int32 {
        var detail: UnsafePointer<CChar>? = nil
        let fd = mcpd_listen_tcp(host, Int32(port), backlog, &detail)
        if fd < 0 {
            let what = detail.map { "listen \(host):\(port) (\(String(cString: $0)))" } ?? "listen \(host):\(port)"
            throw SystemError(what, errno: -fd)
        }
        return fd
    }

    public static func localAddress(_ fd: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 128)
        guard mcpd_local_address(fd, &buffer, buffer.count) == 0 else { return "?" }
        return String(nulTerminated: buffer)
    }

    public static func peerHost(_ fd: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 128)
        guard mcpd_peer_host(fd, &buffer, buffer.count) == 0 else { return "?" }
        return String(nulTerminated: buffer)
    }

    public static func isLoopback(_ fd: Int32) -> Bool { mcpd_socket_is_loopback(fd) == 1 }
    public static func isStreamListener(_ fd: Int32) -> Bool { mcpd_is_stream_listener(fd) == 1 }
}
