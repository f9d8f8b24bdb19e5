// A tiny TCP server for tests: each accepted connection runs the handler on its own thread.
import Glibc

/// The request as the test server saw it.
struct ReceivedRequest: Sendable {
    var method: String
    var target: String
    var headers: [(String, String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
    var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// A connected client socket the handler answers on.
struct Peer: Sendable {
    let fd: Int32

    func send(_ text: String) { send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            offset += n
        }
    }

    /// Head with Content-Length, then the body.
    func respond(status: Int = 200, reason: String = "OK", headers: [(String, String)] = [], body: String = "") {
        var head = "HTTP/1.1 \(status) \(reason)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "Content-Length: \(body.utf8.count)\r\n\r\n"
        send(head + body)
    }

    /// Reads one request (head and Content-Length body); nil when the client went away.
    func readRequest() -> ReceivedRequest? {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        func more() -> Bool {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, 4096, 0) }
            if n <= 0 { return false }
            bytes.append(contentsOf: buffer[0..<n])
            return true
        }
        var headEnd: Int?
        while headEnd == nil {
            if bytes.count >= 4 {
                for i in 0...(bytes.count - 4) where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
                    headEnd = i
                    break
                }
            }
            if headEnd == nil && !more() { return nil }
        }
        let head = String(decoding: bytes[0..<headEnd!], as: UTF8.self)
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        let requestLine = lines.removeFirst().split(separator: " ").map(String.init)
        let headers: [(String, String)] = lines.compactMap { line in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), String(line[line.index(after: colon)...].drop { $0 == " " }))
        }
        let length = headers.first { $0.0.lowercased() == "content-length" }.flatMap { Int($0.1) } ?? 0
        while bytes.count - (headEnd! + 4) < length { if !more() { return nil } }
        let body = Array(bytes[(headEnd! + 4)..<(headEnd! + 4 + length)])
        return ReceivedRequest(method: requestLine[0], target: requestLine.count > 1 ? requestLine[1] : "", headers: headers, body: body)
    }
}

final class TestServer: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    var url: String { "http://127.0.0.1:\(port)" }

    /// `handler` runs once per connection, on its own thread; the connection closes when it returns.
    init(_ handler: @escaping @Sendable (Peer) -> Void) {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        listen(listener, 16)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        self.listener = listener
        let listening = listener
        // The accept thread owns the listener and closes it on its way out: closing it from stop()
        // could hand the number to another test's listener while this thread still calls accept.
        spawnThread {
            while true {
                let fd = accept(listening, nil, nil)
                if fd < 0 {
                    if errno == EINTR { continue }
                    close(listening)
                    return
                }
                spawnThread {
                    handler(Peer(fd: fd))
                    close(fd)
                }
            }
        }
    }

    private let stopped = Locked(false)

    func stop() {
        guard !stopped.withLock({ let was = $0; $0 = true; return was }) else { return }
        shutdown(listener, Int32(SHUT_RDWR))  // wakes accept with EINVAL; the accept thread closes it
    }

    deinit { stop() }
}

func spawnThread(_ body: @escaping @Sendable () -> Void) {
    final class Box { let body: @Sendable () -> Void; init(_ body: @escaping @Sendable () -> Void) { self.body = body } }
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(&thread, nil, { raw in
        Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
        return nil
    }, box)
    precondition(rc == 0, "pthread_create failed")
    pthread_detach(thread)
}

func sleepMs(_ ms: Int) { usleep(UInt32(ms * 1000)) }

/// A port nothing listens on: bound and closed again.
func closedPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 ? getsockname(fd, $0, &length) : -1 }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A lock for state shared between a test and its server threads.
final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private var mutex = pthread_mutex_t()
    init(_ value: Value) { self.value = value; pthread_mutex_init(&mutex, nil) }
    func withLock<R>(_ body: (inout Value) -> R) -> R {
        pthread_mutex_lock(&mutex); defer { pthread_mutex_unlock(&mutex) }
        return body(&value)
    }
    var current: Value { withLock { $0 } }
}
