import EventLoop
import Glibc
import SystemCalls

public struct HTTPServerSettings: Sendable {
    public var limits: HTTPLimits
    /// A request head must be complete this long after its first byte (else 408).
    public var headerTimeoutMs: Int64
    /// A keep-alive connection with nothing in progress is closed after this long.
    public var idleTimeoutMs: Int64

    public init(limits: HTTPLimits = HTTPLimits(), headerTimeoutMs: Int64 = 10_000, idleTimeoutMs: Int64 = 60_000) {
        self.limits = limits
        self.headerTimeoutMs = headerTimeoutMs
        self.idleTimeoutMs = idleTimeoutMs
    }
}

/// Accepts connections on its listeners and owns them until they close.
public final class HTTPServer {
    let loop: EventLoop
    let handler: any HTTPHandler
    public let settings: HTTPServerSettings
    private var listeners: [Listener] = []
    private var connections: [Int32: HTTPConnection] = [:]
    public private(set) var isDraining = false
    public private(set) var acceptedConnections: UInt64 = 0
    /// Accepting stopped because the process is out of descriptors (or memory); see `accept`.
    private var acceptPaused = false

    public init(loop: EventLoop, handler: any HTTPHandler, settings: HTTPServerSettings) {
        self.loop = loop
        self.handler = handler
        self.settings = settings
        loop.every(milliseconds: 250) { [unowned self] in self.sweep() }
    }

    public var openConnections: Int { connections.count }
    public var listenerAddresses: [String] { listeners.map { Socket.localAddress($0.fd) } }

    /// Starts accepting on a listening socket (non-blocking), which the server then owns.
    public func addListener(_ fd: Int32) throws(SystemError) {
        try Descriptor.setNonBlocking(fd)
        let listener = Listener(fd: fd, server: self)
        try loop.register(fd, for: .readable, handler: listener)
        listeners.append(listener)
    }

    /// How long a drain waits for the first request of a connection accepted just before it began.
    static let freshConnectionGraceMs: Int64 = 1000

    /// Stops accepting, closes idle keep-alive connections, and answers the rest with Connection: close.
    /// Connections still waiting in the listen backlog stay there, for the next process when the
    /// socket is shared (systemd's socket activation).
    public func beginDraining() {
        isDraining = true
        for listener in listeners {
            loop.unregister(listener.fd)
            Descriptor.close(listener.fd)
        }
        listeners.removeAll()
        closeIdleConnections(now: Clock.monotonicMillis())
    }

    /// While draining: whether a connection still has a request coming in or being answered, which
    /// the drain waits for (up to its timeout). Streams do not count.
    public var hasRequestsInProgress: Bool {
        let now = Clock.monotonicMillis()
        return connections.values.contains { $0.holdsUpDrain(now: now, freshGraceMs: Self.freshConnectionGraceMs) }
    }

    private func closeIdleConnections(now: Int64) {
        for connection in Array(connections.values) {
            connection.closeWhenIdle(now: now, freshGraceMs: Self.freshConnectionGraceMs)
        }
    }

    /// Closes every connection, whatever it is doing (the very end of a shutdown).
    public func closeAll() {
        for connection in Array(connections.values) { connection.close() }
    }

    func accept(from listenerFD: Int32) {
        while true {
            switch Socket.accept(listenerFD) {
            case .success(let fd?):
                Socket.setNoDelay(fd)
                let connection = HTTPConnection(fd: fd, server: self, limits: settings.limits)
                do {
                    try loop.register(fd, for: .readable, handler: connection)
                    connections[fd] = connection
                    acceptedConnections += 1
                } catch {
                    Descriptor.close(fd)
                }
            case .success(nil):
                return
            case .failure:
                // EMFILE/ENFILE/ENOMEM: leave the connection in the backlog. The listener stays
                // readable, so with the level-triggered loop retrying at once would spin; stop
                // listening until the next sweep (250 ms), when a closed connection may have freed one.
                pauseAccepting()
                return
            }
        }
    }

    func connectionClosed(_ connection: HTTPConnection) {
        connections[connection.fd] = nil
    }

    private func pauseAccepting() {
        guard !acceptPaused else { return }
        acceptPaused = true
        for listener in listeners { loop.modify(listener.fd, for: []) }
    }

    private func sweep() {
        if acceptPaused {
            acceptPaused = false
            for listener in listeners { loop.modify(listener.fd, for: .readable) }
        }
        let now = Clock.monotonicMillis()
        for connection in Array(connections.values) {
            connection.checkTimeouts(now: now, settings: settings)
        }
        if isDraining { closeIdleConnections(now: now) }
    }
}

private final class Listener: EventHandler {
    let fd: Int32
    unowned let server: HTTPServer

    init(fd: Int32, server: HTTPServer) {
        self.fd = fd
        self.server = server
    }

    func handleEvents(_ events: EventMask) { server.accept(from: fd) }
}
