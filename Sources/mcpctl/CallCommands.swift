// `mcpctl calls`, `mcpctl cancel CALL_ID`, `mcpctl cancel-all`: the calls in flight, and stopping
// them through the call table alone — no HTTP, no token, and the same path whether the call runs in
// an mcp-worker, waits in the queue or runs in a stdio server. The supervisor reads the flags on
// its next tick (every 100 ms) and ends each call `cancelled`, as an API cancel would.
import CallTable
import Glibc
import SystemCalls

enum CallsCommand: Subcommand {
    static let name = "calls"
    static let abstract = "List the calls in flight (pending or running)."
    static let discussion = """
        One row per call that is pending or running: id, tool, owner, state, worker pid, age, \
        time left before its deadline, and whether a cancel was asked for. With --json, a JSON \
        array of the same, for scripts.
        """
    static let jsonOption = OptionSpec("--json", help: "Print the calls as a JSON array.")
    static let options = [jsonOption]

    static func run(_ options: ParsedOptions, _ context: Context) -> Int32 {
        guard let table = context.openTable() else { return 1 }
        let reading = TableReading(table, path: context.tablePath)
        let calls = reading.snapshot.calls.filter { $0.state.isInFlight }
        if options.isSet(jsonOption) {
            Descriptor.writeAll(1, JSONText.array(calls.map { StatusCommand.callJSON($0, reading) }) + "\n")
        } else {
            Descriptor.writeAll(1, StatusCommand.callsTable(reading, calls))
        }
        return 0
    }
}

enum CancelCommand: Subcommand {
    static let name = "cancel"
    static let abstract = "Cancel one call by its id."
    static let discussion = """
        Usage: mcpctl cancel --call CALL_ID (or: mcpctl cancel CALL_ID). Sets the call's cancel \
        flag in the call table; mcpd ends the call with a `cancelled` event (reason "cancelled by \
        the operator") and stops its worker's work. Waits up to --wait seconds (default 5) for the \
        call to end and says whether it did. Needs write access to the table (the mcpd user).

        Exit status: 0 the call was cancelled (or ended meanwhile), 1 no such call in flight or it \
        did not end in time.
        """
    static let callOption = OptionSpec("--call", value: "call-id", help: "The call to cancel (as `mcpctl calls` lists it).")
    static let waitOption = OptionSpec("--wait", value: "seconds", help: "How long to wait for the call to end (default 5; 0: do not wait).")
    static let options = [callOption, waitOption]
    static let takesPositional = true

    static func run(_ options: ParsedOptions, _ context: Context) -> Int32 {
        guard let callId = options.value(of: callOption) ?? options.positional.first else {
            return MCPCtl.usageError("Missing the call id.", usage: MCPCtl.usage(of: self), helpCommand: "mcpctl cancel --help")
        }
        guard let waitMs = CallWaiting.waitMilliseconds(options.value(of: waitOption)) else {
            return MCPCtl.usageError("--wait needs a number of seconds >= 0.", usage: MCPCtl.usage(of: self), helpCommand: "mcpctl cancel --help")
        }
        guard let table = context.openTable(writable: true) else { return 1 }
        guard table.requestCancel(callId: callId) else {
            Descriptor.writeAll(1, "no call \(callId) in flight\n")
            return 1
        }
        if waitMs == 0 {
            Descriptor.writeAll(1, "cancel requested for \(callId)\n")
            return 0
        }
        if CallWaiting.until(waitMs, { !inFlight(table, callId) }) {
            Descriptor.writeAll(1, "cancelled \(callId)\n")
            return 0
        }
        Descriptor.writeAll(1, "cancel requested for \(callId), but it is still in flight after \(waitMs) ms (is mcpd running?)\n")
        return 1
    }

    private static func inFlight(_ table: CallTable, _ callId: String) -> Bool {
        table.snapshot().calls.contains { $0.callId == callId && $0.state.isInFlight }
    }
}

enum CancelAllCommand: Subcommand {
    static let name = "cancel-all"
    static let abstract = "Cancel every call in flight, of every owner."
    static let discussion = """
        Starts a new cancel epoch in the call table: mcpd ends every call that is pending or \
        running (reason "cancelled by the operator (cancel-all)"), whoever started it; calls \
        started afterwards are not affected. Waits up to --wait seconds (default 5) for the calls \
        to end and prints how many did. Needs write access to the table (the mcpd user).
        """
    static let waitOption = CancelCommand.waitOption
    static let options = [waitOption]

    static func run(_ options: ParsedOptions, _ context: Context) -> Int32 {
        guard let waitMs = CallWaiting.waitMilliseconds(options.value(of: waitOption)) else {
            return MCPCtl.usageError("--wait needs a number of seconds >= 0.", usage: MCPCtl.usage(of: self), helpCommand: "mcpctl cancel-all --help")
        }
        guard let table = context.openTable(writable: true) else { return 1 }
        let before = Set(table.snapshot().calls.filter { $0.state.isInFlight }.map(\.callId))
        let epoch = table.bumpCancelEpoch()
        if waitMs == 0 || before.isEmpty {
            Descriptor.writeAll(1, "cancel epoch \(epoch): \(counted(before.count, "call")) in flight\n")
            return 0
        }
        let ended = CallWaiting.until(waitMs) {
            !table.snapshot().calls.contains { $0.state.isInFlight && before.contains($0.callId) }
        }
        let left = table.snapshot().calls.filter { $0.state.isInFlight && before.contains($0.callId) }.count
        Descriptor.writeAll(1, "cancel epoch \(epoch): \(counted(before.count - left, "call")) cancelled"
                            + (left == 0 ? "\n" : ", \(left) still in flight after \(waitMs) ms\n"))
        return ended ? 0 : 1
    }
}

/// Waiting for calls to end, by polling the table.
enum CallWaiting {
    static func waitMilliseconds(_ text: String?) -> Int64? {
        guard let text else { return 5000 }
        guard let seconds = Double(text), seconds >= 0, seconds.isFinite else { return nil }
        return Int64(seconds * 1000)
    }

    /// Polls `done` every 20 ms for up to `milliseconds`; whether it became true.
    static func until(_ milliseconds: Int64, _ done: () -> Bool) -> Bool {
        let giveUpAt = Clock.monotonicMillis() + milliseconds
        while true {
            if done() { return true }
            if Clock.monotonicMillis() >= giveUpAt { return false }
            usleep(20_000)
        }
    }
}
