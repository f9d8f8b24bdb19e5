import CMcpd
import Glibc
import SystemCalls

/// Delivers process signals through a signalfd on the loop, so that a signal is just another event
/// and no async-signal-safe handler code exists. The signals are blocked for the process; children
/// spawned by `Process.spawn` get a clean mask.
public final class SignalSource: EventHandler {
    private let fd: Int32
    private let onSignal: (Int32) -> Void

    public init(signals: [Int32], loop: EventLoop, onSignal: @escaping (Int32) -> Void) throws(SystemError) {
        let fd = signals.withUnsafeBufferPointer { mcpd_signalfd($0.baseAddress, Int32($0.count)) }
        guard fd >= 0 else { throw SystemError("signalfd", errno: -fd) }
        self.fd = fd
        self.onSignal = onSignal
        try loop.register(fd, for: .readable, handler: self)
    }

    public func handleEvents(_ events: EventMask) {
        while true {
            let signal = mcpd_signalfd_read(fd)
            if signal <= 0 { return }
            onSignal(signal)
        }
    }
}
