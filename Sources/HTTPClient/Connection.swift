import CMcpd
import Glibc
import SystemCalls

/// One TCP connection, TLS-wrapped for https, with a deadline.
///
/// The socket is non-blocking and every wait is a poll(2) of at most `slice` milliseconds, so
/// that the caller's interrupt check runs at least that often while nothing arrives. Operations
/// take the interrupt check as a parameter instead of storing it, so that `HTTPClient.fetch` can
/// pass a non-escaping closure.
final class Connection {
    /// The longest single wait; the contract with workers is that cancellation is noticed this fast.
    static let slice: Int64 = 200

    private var fd: Int32
    private var tls: OpaquePointer?
    let deadline: Int64
    private var lastCheck: Int64

    private init(fd: Int32, deadline: Int64) {
        self.fd = fd
        self.deadline = deadline
        self.lastCheck = Clock.monotonicMillis()
    }

    deinit { close() }

    func close() {
        if let tls { mcpd_tls_free(tls) }
        tls = nil
        Descriptor.close(fd)
        fd = -1
    }

    /// Resolves, connects (trying each address in turn) and, for https, completes the TLS handshake.
    static func open(to url: URLParts, deadline: Int64, verifyCertificates: Bool = true,
                     interrupt: () -> Bool) throws(HTTPClientError) -> Connection {
        let secure: Bool
        switch url.scheme {
        case "http": secure = false
        case "https":
            guard mcpd_tls_available(nil) == 1 else { throw .unsupportedScheme("https needs libssl.so.3") }
            secure = true
        default: throw .unsupportedScheme(url.scheme)
        }
        if interrupt() { throw .interrupted }
        let connection = Connection(fd: try connectTCP(host: url.host, port: url.port, deadline: deadline, interrupt: interrupt),
                                    deadline: deadline)
        if secure { try connection.startTLS(host: url.host, verify: verifyCertificates, interrupt: interrupt) }
        return connection
    }

    private static func connectTCP(host: String, port: Int, deadline: Int64, interrupt: () -> Bool) throws(HTTPClientError) -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        // getaddrinfo blocks and cannot be interrupted; resolvers time out on their own (5 s × attempts).
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0 else {
            let why = rc == EAI_SYSTEM ? String(cString: strerror(errno)) : String(cString: gai_strerror(rc))
            throw .connectionFailed("resolve \(host): \(why)")
        }
        defer { freeaddrinfo(list) }

        var lastError = ECONNREFUSED
        var node = list
        while let info = node?.pointee {
            node = info.ai_next
            let fd = socket(info.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
                            info.ai_protocol)
            guard fd >= 0 else { lastError = errno; continue }
            if connect(fd, info.ai_addr, info.ai_addrlen) == 0 { return fd }
            guard errno == EINPROGRESS || errno == EINTR else {
                lastError = errno
                Descriptor.close(fd)
                continue
            }
            do {
                try wait(fd: fd, for: Int16(POLLOUT), deadline: deadline, interrupt: interrupt)
            } catch {
                Descriptor.close(fd)
                throw error
            }
            var status: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            if getsockopt(fd, SOL_SOCKET, SO_ERROR, &status, &length) != 0 { status = errno }
            if status == 0 {
                Socket.setNoDelay(fd)
                return fd
            }
            lastError = status
            Descriptor.close(fd)
        }
        throw .connectionFailed("connect to \(host):\(port): \(String(cString: strerror(lastError)))")
    }

    private func startTLS(host: String, verify: Bool, interrupt: () -> Bool) throws(HTTPClientError) {
        var error = [CChar](repeating: 0, count: 256)
        guard let session = mcpd_tls_new(fd, host, verify ? 1 : 0, &error, error.count) else {
            throw .connectionFailed("TLS with \(host): \(String(nulTerminated: error))")
        }
        tls = session
        while true {
            let rc = mcpd_tls_handshake(session)
            switch rc {
            case 1: return
            case Int32(MCPD_TLS_WANT_READ): try waitReady(Int16(POLLIN), interrupt: interrupt)
            case Int32(MCPD_TLS_WANT_WRITE): try waitReady(Int16(POLLOUT), interrupt: interrupt)
            default: throw .connectionFailed("TLS handshake with \(host): \(String(cString: mcpd_tls_error(session)))")
            }
        }
    }

    /// Sends every byte or throws.
    func send(_ bytes: [UInt8], interrupt: () -> Bool) throws(HTTPClientError) {
        var offset = 0
        while offset < bytes.count {
            try checkpoint(interrupt)
            let outcome: IOResult = bytes.withUnsafeBytes { raw in
                let rest = UnsafeRawBufferPointer(rebasing: raw[offset...])
                guard let tls else { return Descriptor.send(fd, rest) }
                let rc = mcpd_tls_write(tls, rest.baseAddress, rest.count)
                if rc > 0 { return .transferred(rc) }
                if rc == Int(MCPD_TLS_WANT_READ) { return .failed(-EAGAIN) }
                if rc == Int(MCPD_TLS_WANT_WRITE) { return .wouldBlock }
                return .failed(0)
            }
            switch outcome {
            case .transferred(let count): offset += count
            case .wouldBlock: try waitReady(Int16(POLLOUT), interrupt: interrupt)
            case .failed(let code) where code == -EAGAIN: try waitReady(Int16(POLLIN), interrupt: interrupt)
            case .failed(let code): throw .connectionFailed("send: \(describe(code))")
            case .endOfFile: throw .connectionFailed("send: the server closed the connection")
            }
        }
    }

    /// Appends what arrives next (waiting for it) to `buffer`; false at the end of the stream.
    func receive(into buffer: inout [UInt8], interrupt: () -> Bool) throws(HTTPClientError) -> Bool {
        let capacity = 16 * 1024
        while true {
            try checkpoint(interrupt)
            let start = buffer.count
            buffer.append(contentsOf: repeatElement(0, count: capacity))
            let outcome: IOResult = buffer.withUnsafeMutableBytes { raw in
                let target = raw.baseAddress! + start
                guard let tls else { return Descriptor.read(fd, into: target, count: capacity) }
                let rc = mcpd_tls_read(tls, target, capacity)
                if rc > 0 { return .transferred(rc) }
                if rc == 0 { return .endOfFile }
                if rc == Int(MCPD_TLS_WANT_READ) { return .wouldBlock }
                if rc == Int(MCPD_TLS_WANT_WRITE) { return .failed(-EAGAIN) }
                return .failed(0)
            }
            switch outcome {
            case .transferred(let count):
                buffer.removeLast(capacity - count)
                return true
            case .endOfFile:
                buffer.removeLast(capacity)
                return false
            case .wouldBlock:
                buffer.removeLast(capacity)
                try waitReady(Int16(POLLIN), interrupt: interrupt)
            case .failed(let code) where code == -EAGAIN:
                buffer.removeLast(capacity)
                try waitReady(Int16(POLLOUT), interrupt: interrupt)
            case .failed(let code):
                buffer.removeLast(capacity)
                throw .connectionFailed("receive: \(describe(code))")
            }
        }
    }

    /// A TLS failure carries no errno (code 0): its text comes from OpenSSL.
    private func describe(_ code: Int32) -> String {
        if code == 0, let tls { return "TLS: \(String(cString: mcpd_tls_error(tls)))" }
        return String(cString: strerror(code))
    }

    /// Checks the deadline and the interrupt even when data keeps flowing without any wait, but
    /// calls the interrupt check no more often than once a slice (it may send a heartbeat).
    private func checkpoint(_ interrupt: () -> Bool) throws(HTTPClientError) {
        let now = Clock.monotonicMillis()
        if now >= deadline { throw .timedOut }
        if now - lastCheck >= Connection.slice {
            lastCheck = now
            if interrupt() { throw .interrupted }
        }
    }

    private func waitReady(_ events: Int16, interrupt: () -> Bool) throws(HTTPClientError) {
        try Connection.wait(fd: fd, for: events, deadline: deadline, interrupt: interrupt)
        lastCheck = Clock.monotonicMillis()
    }

    /// Polls in slices until `fd` is ready (or in error: the next operation reports it).
    static func wait(fd: Int32, for events: Int16, deadline: Int64, interrupt: () -> Bool) throws(HTTPClientError) {
        while true {
            if interrupt() { throw .interrupted }
            let remaining = deadline - Clock.monotonicMillis()
            if remaining <= 0 { throw .timedOut }
            var entry = pollfd(fd: fd, events: events, revents: 0)
            let ready = poll(&entry, 1, Int32(min(remaining, slice)))
            if ready > 0 { return }
            if ready < 0 && errno != EINTR { throw .connectionFailed("poll: \(String(cString: strerror(errno)))") }
        }
    }
}
