// EventLoop: one epoll instance driving every descriptor of the supervisor on one thread.
//
// Invariants: handlers run on the loop's thread only, one at a time, so nothing they touch
// needs a lock. Registration is level-triggered: a handler that leaves bytes unread is called
// again. Periodic work (timeouts, deadlines, pool upkeep) runs from `every(_:)` ticks; callers
// compare monotonic clocks themselves, which keeps timers to one sweep instead of a heap.
import CMcpd
import Glibc
import SystemCalls

/// Something the loop calls when its descriptor is ready.
public protocol EventHandler: AnyObject {
    func handleEvents(_ events: EventMask)
}

/// epoll event bits, named.
public struct EventMask: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let readable = EventMask(rawValue: 0x001)       // EPOLLIN
    public static let writable = EventMask(rawValue: 0x004)       // EPOLLOUT
    public static let error = EventMask(rawValue: 0x008)          // EPOLLERR
    public static let hangup = EventMask(rawValue: 0x010)         // EPOLLHUP
    public static let peerClosed = EventMask(rawValue: 0x2000)    // EPOLLRDHUP
}

/// Names a periodic action, to cancel it.
public struct TimerID: Hashable, Sendable {
    let value: Int
}

public final class EventLoop {
    private let epollFD: Int32
    /// Handlers indexed by descriptor number: descriptors are small dense integers.
    private var handlers: [(any EventHandler)?] = []
    private var periodic: [(id: Int, intervalMs: Int64, nextAt: Int64, action: () -> Void)] = []
    private var nextTimerId = 1
    /// Timers cancelled since the last sweep; removed after the ticks run (never during).
    private var cancelledTimers: Set<Int> = []
    private var deferred: [() -> Void] = []
    private var stopped = false

    /// When set, a busy loop gives up the CPU (sched_yield) at most this often: after a turn that
    /// handled events, once this many microseconds have passed since it last did. The supervisor's
    /// tool processes run in SCHED_BATCH and never preempt the loop that woke them; under steady
    /// load the loop never blocks, so a woken worker waited for the loop's whole time slice (a p99
    /// of ~4 ms in row 3). Yielding once a millisecond bounds that wait at no cost in calls/s:
    /// 0.5 ms cost throughput, 2 ms left p99 at ~2.4 ms (bench, 2-core VM).
    public var yieldIntervalMicros: Int64?
    private var lastYieldMicros: Int64 = 0
    /// How many times the loop has yielded, for tests and diagnostics.
    public private(set) var yields = 0

    public init() throws(SystemError) {
        let fd = mcpd_epoll_create()
        guard fd >= 0 else { throw SystemError("epoll_create1", errno: -fd) }
        epollFD = fd
    }

    deinit { Descriptor.close(epollFD) }

    public func register(_ fd: Int32, for events: EventMask, handler: any EventHandler) throws(SystemError) {
        let rc = mcpd_epoll_ctl(epollFD, Int32(MCPD_EPOLL_ADD), fd, events.rawValue, UInt64(UInt32(bitPattern: fd)))
        guard rc == 0 else { throw SystemError("epoll_ctl(ADD)", errno: -rc) }
        if Int(fd) >= handlers.count { handlers.append(contentsOf: repeatElement(nil, count: Int(fd) - handlers.count + 64)) }
        handlers[Int(fd)] = handler
    }

    public func modify(_ fd: Int32, for events: EventMask) {
        _ = mcpd_epoll_ctl(epollFD, Int32(MCPD_EPOLL_MOD), fd, events.rawValue, UInt64(UInt32(bitPattern: fd)))
    }

    /// Forgets a descriptor; call before closing it.
    public func unregister(_ fd: Int32) {
        _ = mcpd_epoll_ctl(epollFD, Int32(MCPD_EPOLL_DEL), fd, 0, 0)
        if Int(fd) < handlers.count { handlers[Int(fd)] = nil }
    }

    /// Runs `action` every `intervalMs` milliseconds (first run one interval from now).
    @discardableResult
    public func every(milliseconds intervalMs: Int64, _ action: @escaping () -> Void) -> TimerID {
        let id = nextTimerId
        nextTimerId += 1
        periodic.append((id, intervalMs, Clock.monotonicMillis() + intervalMs, action))
        return TimerID(value: id)
    }

    /// Stops a periodic action; it does not run again (even later in the current sweep).
    public func cancel(_ timer: TimerID) { cancelledTimers.insert(timer.value) }

    /// Runs `action` after the current batch of events, outside any handler's stack.
    public func runSoon(_ action: @escaping () -> Void) { deferred.append(action) }

    public func stop() { stopped = true }

    /// Dispatches events until `stop()`.
    public func run() {
        var events = [mcpd_epoll_event](repeating: mcpd_epoll_event(), count: 256)
        while !stopped { turn(&events, maxWaitMs: Int.max) }
    }

    /// One turn of the loop: waits at most `maxWaitMs` (and never past the next tick) for events,
    /// dispatches them, then runs deferred work and due ticks. For tests that drive a loop until
    /// a condition holds.
    public func runOnce(maxWaitMs: Int) {
        var events = [mcpd_epoll_event](repeating: mcpd_epoll_event(), count: 64)
        turn(&events, maxWaitMs: maxWaitMs)
    }

    private func turn(_ events: inout [mcpd_epoll_event], maxWaitMs: Int) {
        let timeout = min(maxWaitMs, timeUntilNextTick())
        let count = events.withUnsafeMutableBufferPointer { buffer in
            mcpd_epoll_wait(epollFD, buffer.baseAddress, Int32(buffer.count), Int32(timeout))
        }
        if count < 0 { fatalError("epoll_wait failed: \(SystemError("epoll_wait", errno: -count))") }
        for index in 0..<Int(count) {
            let fd = Int(UInt32(truncatingIfNeeded: events[index].data))
            // A handler earlier in this batch may have closed this descriptor.
            guard fd < handlers.count, let handler = handlers[fd] else { continue }
            handler.handleEvents(EventMask(rawValue: events[index].events))
        }
        runDeferred()
        runDueTicks()
        if count > 0, let interval = yieldIntervalMicros {
            let now = Clock.monotonicMicros()
            if now - lastYieldMicros >= interval {
                lastYieldMicros = now
                yields += 1
                sched_yield()
            }
        }
    }

    private func runDeferred() {
        while !deferred.isEmpty {
            let batch = deferred
            deferred.removeAll(keepingCapacity: true)
            for action in batch { action() }
        }
    }

    private func timeUntilNextTick() -> Int {
        if !deferred.isEmpty { return 0 }
        guard let next = periodic.map(\.nextAt).min() else { return 1000 }
        return Int(max(0, min(1000, next - Clock.monotonicMillis())))
    }

    private func runDueTicks() {
        let now = Clock.monotonicMillis()
        for index in periodic.indices where periodic[index].nextAt <= now {
            if !cancelledTimers.isEmpty && cancelledTimers.contains(periodic[index].id) { continue }
            periodic[index].nextAt = now + periodic[index].intervalMs
            periodic[index].action()
        }
        if !cancelledTimers.isEmpty {
            periodic.removeAll { cancelledTimers.contains($0.id) }
            cancelledTimers.removeAll()
        }
        runDeferred()
    }
}
