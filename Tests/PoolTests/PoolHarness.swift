// Drives a WorkerPool on its own EventLoop, in the test's thread, against the Python test server:
// no signals (children are reaped by polling), every wait bounded.
import CallTable
import EventLoop
import Glibc
import JSON
import Logging
import Pool
import Sandbox
import SystemCalls
import TestSupport

/// mcp-worker next to the test bundle (built with the tests), used as the exec shim; "" if absent.
func builtShim() -> String {
    let executable = Process.executablePath()
    let directory = executable.lastIndex(of: "/").map { String(executable[..<$0]) } ?? "."
    let candidate = directory + "/mcp-worker"
    return access(candidate, X_OK) == 0 ? candidate : ""
}

/// Everything one call reported, in order.
final class CallRecorder {
    var events: [CallEvent] = []
    var call: PoolCall?
    var submitError: SubmitError?

    var terminal: CallEvent? { events.last.flatMap { $0.isTerminal ? $0 : nil } }
    var hasEnded: Bool { terminal != nil }

    var dispatchedPid: Int32? {
        for event in events { if case .dispatched(let pid) = event { return pid } }
        return nil
    }

    /// The finished result as JSON, or nil.
    var result: JSONValue? {
        guard case .finished(let bytes)? = terminal else { return nil }
        return try? JSONValue.parse(bytes)
    }

    var failure: (kind: String, message: String)? {
        guard case .failed(let kind, let message)? = terminal else { return nil }
        return (kind, message)
    }

    var isCancelled: Bool {
        if case .cancelled? = terminal { return true }
        return false
    }

    func payloads(_ pick: (CallEvent) -> [UInt8]?) -> [JSONValue] {
        events.compactMap(pick).compactMap { try? JSONValue.parse($0) }
    }
}

final class PoolHarness {
    let directory: TemporaryDirectory
    let loop: EventLoop
    let table: CallTable
    let pool: WorkerPool
    var marker: String { directory.file("marker.txt") }
    var discoveries: [[JSONValue]] = []
    private var nextCallId = 1

    /// A pool of the test server; `environment` is added to the server's.
    convenience init(environment: [String: String] = [:], command: String = "python3", shim: String = builtShim(),
                     configure: (inout PoolConfiguration) -> Void = { _ in }) throws {
        let directory = TemporaryDirectory()
        let script = directory.file("server.py")
        writeFile(script, testServerSource)
        var env = environment
        env["MARKER"] = directory.file("marker.txt")
        // `process`: these tests are about the pool; the server writes its marker in a test directory
        // that a strict sandbox would not show it (test_sandbox.py covers strict).
        let launch = StdioLaunch(serverId: "test", command: command, arguments: ["-u", script], environment: env,
                                 workingDirectory: directory.path, sandbox: SandboxPolicy(level: .process))
        var configuration = PoolConfiguration(stdio: launch, shim: shim)
        configuration.cancelGraceMs = 300
        configure(&configuration)
        try self.init(directory: directory, configuration: configuration)
    }

    /// A pool as configured, its call table in `directory`.
    init(directory: TemporaryDirectory, configuration: PoolConfiguration) throws {
        Log.level = .warn
        self.directory = directory
        loop = try EventLoop()
        table = try CallTable.create(path: directory.file("calltable"), callSlots: 64, workerSlots: 16, rateBuckets: 0)
        pool = WorkerPool(configuration: configuration, loop: loop, table: table)
        pool.onToolsDiscovered = { [unowned self] tools in self.discoveries.append(tools) }
        pool.maintainPool()
    }

    deinit { stop() }

    /// Turns the loop (reaping children as SIGCHLD would) until `condition` holds or `timeout` passes.
    @discardableResult
    func run(timeout: Double = 5, until condition: () -> Bool) -> Bool {
        let deadline = Clock.monotonicMillis() + Int64(timeout * 1000)
        while !condition() {
            if Clock.monotonicMillis() >= deadline { return false }
            loop.runOnce(maxWaitMs: 10)
            pool.reapChildren()
        }
        return true
    }

    /// Turns the loop for a while whatever happens.
    func idle(_ seconds: Double) {
        let deadline = Clock.monotonicMillis() + Int64(seconds * 1000)
        run(timeout: seconds + 1) { Clock.monotonicMillis() >= deadline }
    }

    func waitUntilReady(timeout: Double = 5) -> Bool {
        run(timeout: timeout) { pool.counts.idle + pool.counts.busy > 0 }
    }

    func submit(_ tool: String, _ arguments: JSONValue = [:], spec: JSONValue? = nil, deadline: Double = 10) -> CallRecorder {
        let recorder = CallRecorder()
        var input: [UInt8] = []
        arguments.write(into: &input)
        var specBytes: [UInt8] = []
        spec?.write(into: &specBytes)
        let id = "call-\(nextCallId)"
        nextCallId += 1
        switch pool.submit(tool: tool, spec: specBytes, input: input, callId: id, owner: "tests", deadlineSeconds: deadline,
                           onEvent: { event in recorder.events.append(event) }) {
        case .success(let call): recorder.call = call
        case .failure(let error): recorder.submitError = error
        }
        return recorder
    }

    /// Submits and waits for the call to end.
    func call(_ tool: String, _ arguments: JSONValue = [:], spec: JSONValue? = nil, timeout: Double = 5) -> CallRecorder {
        let recorder = submit(tool, arguments, spec: spec)
        run(timeout: timeout) { recorder.hasEnded }
        return recorder
    }

    func markerLines() -> [String] {
        readFile(marker).split(separator: "\n").map(String.init)
    }

    /// The supervisor's shutdown: SIGTERM to every group, a short wait, then SIGKILL.
    func stop() {
        guard pool.hasWorkers else { return }
        pool.beginShutdown()
        run(timeout: 2) { !pool.hasWorkers }
        pool.killRemaining()
    }
}

/// Whether a process (not necessarily our child) is still running; waits up to `timeout` for it to go.
func processGone(_ pid: Int32, timeout: Double = 3) -> Bool {
    let deadline = Clock.monotonicMillis() + Int64(timeout * 1000)
    while Process.isRunning(pid) {
        if Clock.monotonicMillis() >= deadline { return false }
        usleep(20_000)
    }
    return true
}
