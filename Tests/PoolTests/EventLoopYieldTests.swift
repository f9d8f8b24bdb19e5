// The event loop's yield policy: a loop that keeps handling events gives up the CPU at most once
// per interval, and never when it has nothing to do or no interval is set.
import EventLoop
import SystemCalls
import Testing

@Suite struct EventLoopYieldTests {
    /// Counts the readiness reports of a pipe that is never drained, so every turn has an event.
    final class AlwaysReadable: EventHandler {
        var reports = 0
        func handleEvents(_ events: EventMask) { reports += 1 }
    }

    /// A loop whose every turn has an event: a pipe with a byte in it, never drained. The pipe is
    /// closed when `body` returns.
    private func withBusyLoop(_ body: (EventLoop, AlwaysReadable) throws -> Void) throws {
        let loop = try EventLoop()
        let pipe = try Descriptor.pipe()
        defer { Descriptor.close(pipe.read); Descriptor.close(pipe.write) }
        Descriptor.writeAll(pipe.write, "x")
        let handler = AlwaysReadable()
        try loop.register(pipe.read, for: .readable, handler: handler)
        try body(loop, handler)
    }

    /// Runs turns for `milliseconds`, each waiting at most 0 ms; returns how many turns ran.
    private func spin(_ loop: EventLoop, milliseconds: Int64) -> Int {
        let end = Clock.monotonicMicros() + milliseconds * 1_000
        var turns = 0
        while Clock.monotonicMicros() < end {
            loop.runOnce(maxWaitMs: 0)
            turns += 1
        }
        return turns
    }

    @Test func aBusyLoopYieldsAtMostOncePerInterval() throws {
        try withBusyLoop { loop, handler in
            loop.yieldIntervalMicros = 2_000
            let started = Clock.monotonicMicros()
            let turns = spin(loop, milliseconds: 30)
            let elapsedMs = (Clock.monotonicMicros() - started) / 1_000
            #expect(handler.reports == turns)
            // The first turn yields (none before it); then one per 2 ms at most. A busy loop meets
            // most intervals; the lower bound leaves room for a loaded machine's scheduling.
            #expect(loop.yields >= 2 && loop.yields <= Int(elapsedMs / 2) + 1, "\(loop.yields) yields in \(elapsedMs) ms")
            #expect(turns > loop.yields)
        }
    }

    @Test func anIdleOrUnconfiguredLoopNeverYields() throws {
        let idle = try EventLoop()
        idle.yieldIntervalMicros = 0
        _ = spin(idle, milliseconds: 5)
        #expect(idle.yields == 0)

        try withBusyLoop { unconfigured, handler in
            _ = spin(unconfigured, milliseconds: 5)
            #expect(handler.reports > 0 && unconfigured.yields == 0)
        }
    }
}
