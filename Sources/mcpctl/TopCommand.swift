// `mcpctl top`: the call table as a live view, refreshed in place like top(1) — workers, calls in
// flight and the rates of calls accepted, finished, failed and cancelled since the last frame.
import CallTable
import Glibc
import SystemCalls

enum TopCommand: Subcommand {
    static let name = "top"
    static let abstract = "A live view of workers, calls and rates, refreshed in place."
    static let discussion = """
        Redraws every --interval seconds (default 1) until interrupted: the supervisor's state \
        and uptime, the queue, workers by state, the rates of calls accepted, finished, failed \
        and cancelled per second over the last interval, then the workers and the calls in \
        flight. On a terminal each frame replaces the last; otherwise frames follow each other, \
        separated by a blank line. --iterations N stops after N frames (for scripts).
        """
    static let intervalOption = OptionSpec("--interval", value: "seconds", help: "Time between frames (default 1).")
    static let iterationsOption = OptionSpec("--iterations", value: "n", help: "Stop after this many frames (default: until interrupted).")
    static let options = [intervalOption, iterationsOption]

    static func run(_ options: ParsedOptions, _ context: Context) -> Int32 {
        let usage = { (message: String) in
            MCPCtl.usageError(message, usage: MCPCtl.usage(of: self), helpCommand: "mcpctl top --help")
        }
        var intervalMs: Int64 = 1000
        if let text = options.value(of: intervalOption) {
            guard let seconds = Double(text), seconds >= 0.05, seconds.isFinite else { return usage("--interval needs a number of seconds >= 0.05.") }
            intervalMs = Int64(seconds * 1000)
        }
        var iterations: Int? = nil
        if let text = options.value(of: iterationsOption) {
            guard let count = Int(text), count >= 1 else { return usage("--iterations needs an integer >= 1.") }
            iterations = count
        }
        guard let table = context.openTable() else { return 1 }
        let onTerminal = isatty(1) == 1
        var previous: (counters: [CallTableCounter: UInt64], atMs: Int64)? = nil
        var frame = 0
        while iterations.map({ frame < $0 }) ?? true {
            if frame > 0 { usleep(useconds_t(intervalMs * 1000)) }
            let reading = TableReading(table, path: context.tablePath)
            let nowMs = Clock.monotonicMillis()
            let rates = previous.map { rateLine(from: $0.counters, to: reading.snapshot.counters, overMs: nowMs - $0.atMs) }
                ?? "rates: (after the first interval)"
            previous = (reading.snapshot.counters, nowMs)
            let text = render(reading, rates: rates)
            Descriptor.writeAll(1, onTerminal ? "\u{1B}[H\u{1B}[2J" + text : (frame > 0 ? "\n" : "") + text)
            frame += 1
        }
        return 0
    }

    static func render(_ reading: TableReading, rates: String) -> String {
        let snapshot = reading.snapshot
        let uptime = reading.age(of: snapshot.startedAtMs).map { Format.duration(ms: $0) } ?? "-"
        var out = "mcpd pid \(snapshot.supervisorPid) \(snapshot.supervisorState.name)"
            + (reading.supervisorAlive ? "" : " (not running)") + ", up \(uptime), "
            + "heartbeat \(Format.age(of: snapshot.supervisorHeartbeatMs, now: reading.now))\n"
        let workerStates = [WorkerState.idle, .busy, .starting, .stopping].map { "\(reading.workers(in: $0)) \($0.name)" }
        out += "workers: \(snapshot.workers.count) (" + workerStates.joined(separator: ", ") + ")   "
        out += "calls in flight: \(reading.callsInFlight) (\(reading.calls(in: .pending)) pending, \(reading.calls(in: .running)) running)   "
        out += "queue: \(snapshot.queueDepth)/\(snapshot.queueCapacity)\n"
        out += rates + "\n\n"
        out += Format.table(
            ["PID", "STATE", "CALLS SERVED", "HEARTBEAT", "CURRENT CALL"],
            snapshot.workers.map { worker in
                [worker.pid == 0 ? "-" : "\(worker.pid)", worker.state.name, "\(worker.callsServed)",
                 Format.age(of: worker.heartbeatMs, now: reading.now), reading.callId(inSlot: worker.currentCallSlot) ?? "-"]
            })
        out += "\nCALLS IN FLIGHT\n"
        out += StatusCommand.callsTable(reading, snapshot.calls.filter { $0.state.isInFlight })
        return out
    }

    /// "rates/s: 120.0 accepted, 119.5 finished, 0.0 failed, 0.5 cancelled".
    static func rateLine(from before: [CallTableCounter: UInt64], to after: [CallTableCounter: UInt64], overMs: Int64) -> String {
        let seconds = Double(max(overMs, 1)) / 1000
        let shown: [(CallTableCounter, String)] = [(.callsAccepted, "accepted"), (.callsFinished, "finished"),
                                                   (.callsFailed, "failed"), (.callsCancelled, "cancelled")]
        let parts = shown.map { counter, label -> String in
            let delta = (after[counter] ?? 0) &- (before[counter] ?? 0)
            let rate = (Double(delta) / seconds * 10).rounded() / 10
            return "\(rate) \(label)"
        }
        return "rates/s: " + parts.joined(separator: ", ")
    }
}
