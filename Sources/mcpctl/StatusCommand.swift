// `mcpctl status`: the questions PHP-FPM's status page answers (who is up, since when, how busy,
// how deep is the queue, what went wrong how often), then one row per worker and per call.
import CallTable
import SystemCalls

enum StatusCommand: Subcommand {
    static let name = "status"
    static let abstract = "Show the supervisor, workers, queue, counters and calls in flight."
    static let discussion = """
        Reads the call table and prints a summary (supervisor pid, state, uptime and heartbeat age; \
        workers by state; calls by state; queue depth and capacity; counters since start), then a \
        table of workers and a table of calls. Ages are measured against this host's wall clock.

        With --json, prints one JSON object instead, for scripts and monitoring.
        """
    static let jsonOption = OptionSpec("--json", help: "Print the status as one JSON object.")
    static let options = [jsonOption]

    static func run(_ options: ParsedOptions, _ context: Context) -> Int32 {
        guard let table = context.openTable() else { return 1 }
        let reading = TableReading(table, path: context.tablePath)
        Descriptor.writeAll(1, options.isSet(jsonOption) ? json(reading) + "\n" : text(reading))
        return 0
    }

    // MARK: human form

    static func text(_ reading: TableReading) -> String {
        let snapshot = reading.snapshot
        let supervisorLiveness = reading.supervisorAlive ? "running" : "not running"
        var fields: [(String, String)] = [
            ("call table", reading.path),
            ("supervisor pid", "\(snapshot.supervisorPid) (\(supervisorLiveness))"),
            ("state", snapshot.supervisorState.name),
            ("start time", snapshot.startedAtMs == 0 ? "-" : Format.timestamp(ms: snapshot.startedAtMs)),
            ("uptime", reading.age(of: snapshot.startedAtMs).map { Format.duration(ms: $0) } ?? "-"),
            ("heartbeat", Format.age(of: snapshot.supervisorHeartbeatMs, now: reading.now)),
            ("listen queue", "\(snapshot.queueDepth) of \(snapshot.queueCapacity)"),
            ("workers", workerSummary(reading)),
            ("calls in flight", callSummary(reading, states: [.pending, .running, .reserved])),
        ]
        let ended = callSummary(reading, states: [.finished, .error, .cancelled])
        if ended != "0" { fields.append(("calls ended", ended)) }
        fields.append(("cancel epoch", "\(snapshot.cancelEpoch)"))
        for counter in CallTableCounter.allCases {
            fields.append((counter.name.replacingUnderscores(), "\(snapshot.counters[counter] ?? 0)"))
        }

        var out = Format.fields(fields)
        out += "\nWORKERS (\(snapshot.workers.count) of \(snapshot.workerSlotCount) slots)\n"
        if snapshot.workers.isEmpty {
            out += "  none\n"
        } else {
            out += Format.table(
                ["SLOT", "PID", "STATE", "CALLS SERVED", "HEARTBEAT", "CURRENT CALL"],
                snapshot.workers.map { worker in
                    [
                        "\(worker.slot)", worker.pid == 0 ? "-" : "\(worker.pid)", worker.state.name,
                        "\(worker.callsServed)", Format.age(of: worker.heartbeatMs, now: reading.now),
                        reading.callId(inSlot: worker.currentCallSlot) ?? "-",
                    ]
                })
        }
        out += "\nCALLS (\(snapshot.calls.count) of \(snapshot.callSlotCount) slots)\n"
        out += callsTable(reading, snapshot.calls)
        return out
    }

    /// One row per call, or "  none"; shared with `mcpctl calls` and `mcpctl top`.
    static func callsTable(_ reading: TableReading, _ calls: [CallRecord]) -> String {
        guard !calls.isEmpty else { return "  none\n" }
        return Format.table(
            ["CALL ID", "TOOL", "OWNER", "STATE", "WORKER", "AGE", "DEADLINE", "CANCEL"],
            calls.map { call in
                [
                    call.callId.isEmpty ? "-" : call.callId, call.tool.isEmpty ? "-" : call.tool,
                    call.owner.isEmpty ? "-" : call.owner, call.state.name,
                    call.workerPid == 0 ? "-" : "\(call.workerPid)",
                    reading.age(of: call.startedAtMs).map { Format.duration(ms: $0) } ?? "-",
                    deadline(call, now: reading.now),
                    call.cancelRequested ? "requested" : "-",
                ]
            })
    }

    /// "4 total: 2 idle, 1 busy, 1 starting", listing only the states that occur.
    private static func workerSummary(_ reading: TableReading) -> String {
        let parts = [WorkerState.idle, .busy, .starting, .stopping].compactMap { state -> String? in
            let count = reading.workers(in: state)
            return count == 0 ? nil : "\(count) \(state.name)"
        }
        let total = "\(reading.snapshot.workers.count) total"
        return parts.isEmpty ? total : total + ": " + parts.joined(separator: ", ")
    }

    /// "3: 1 pending, 2 running", or "0".
    private static func callSummary(_ reading: TableReading, states: [CallState]) -> String {
        let counts = states.map { ($0, reading.calls(in: $0)) }.filter { $0.1 > 0 }
        let total = counts.reduce(0) { $0 + $1.1 }
        if total == 0 { return "0" }
        return "\(total): " + counts.map { "\($0.1) \($0.0.name)" }.joined(separator: ", ")
    }

    static func deadline(_ call: CallRecord, now: Int64) -> String {
        // An ended call has no deadline left to meet.
        guard call.deadlineAtMs != 0, call.state.isInFlight else { return "-" }
        let remaining = call.deadlineAtMs - now
        return remaining >= 0 ? "in " + Format.duration(ms: remaining) : "overdue " + Format.duration(ms: -remaining)
    }

    // MARK: JSON form

    static func json(_ reading: TableReading) -> String {
        let snapshot = reading.snapshot
        let supervisor = JSONText.object([
            ("pid", JSONText.number(snapshot.supervisorPid)),
            ("state", JSONText.string(snapshot.supervisorState.name)),
            ("started_at_ms", JSONText.number(snapshot.startedAtMs)),
            ("heartbeat_age_ms", JSONText.number(reading.supervisorHeartbeatAge)),
            ("alive", JSONText.bool(reading.supervisorAlive)),
        ])
        let queue = JSONText.object([
            ("depth", JSONText.number(snapshot.queueDepth)),
            ("capacity", JSONText.number(snapshot.queueCapacity)),
        ])
        let counters = JSONText.object(CallTableCounter.allCases.map { ($0.name, JSONText.number(snapshot.counters[$0] ?? 0)) })
        let workers = snapshot.workers.map { worker in
            JSONText.object([
                ("slot", JSONText.number(worker.slot)),
                ("pid", JSONText.number(worker.pid)),
                ("state", JSONText.string(worker.state.name)),
                ("calls_served", JSONText.number(worker.callsServed)),
                ("heartbeat_age_ms", JSONText.number(reading.age(of: worker.heartbeatMs))),
                ("current_call_id", reading.callId(inSlot: worker.currentCallSlot).map(JSONText.string) ?? "null"),
            ])
        }
        let calls = snapshot.calls.map { callJSON($0, reading) }
        return JSONText.object([
            ("supervisor", supervisor),
            ("queue", queue),
            ("counters", counters),
            ("workers", JSONText.array(workers)),
            ("calls", JSONText.array(calls)),
            ("cancel_epoch", JSONText.number(snapshot.cancelEpoch)),
        ])
    }

    /// One call as JSON; shared with `mcpctl calls --json`.
    static func callJSON(_ call: CallRecord, _ reading: TableReading) -> String {
        JSONText.object([
            ("call_id", JSONText.string(call.callId)),
            ("tool", JSONText.string(call.tool)),
            ("owner", JSONText.string(call.owner)),
            ("state", JSONText.string(call.state.name)),
            ("worker_pid", JSONText.number(call.workerPid == 0 ? nil : call.workerPid)),
            ("age_ms", JSONText.number(reading.age(of: call.startedAtMs))),
            ("deadline_in_ms", JSONText.number(call.deadlineAtMs == 0 ? nil : call.deadlineAtMs - reading.now)),
            ("cancel_requested", JSONText.bool(call.cancelRequested)),
        ])
    }
}

private extension String {
    /// "calls_accepted" → "calls accepted", for the human form's labels.
    func replacingUnderscores() -> String { String(map { $0 == "_" ? " " : $0 }) }
}
