// A per-call pool of mcp-worker forks its workers from a fork server: each call still gets a fresh
// process of its own, which is the supervisor's (here: the test's) child. When the server cannot
// fork, the pool spawns its workers itself and no call notices.
import Glibc
import JSON
import Pool
import Sandbox
import SystemCalls
import TestSupport
import Testing

@Suite(.serialized) struct ForkServerTests {
    private func perCallPool(_ executable: String, in directory: TemporaryDirectory) throws -> PoolHarness {
        var configuration = PoolConfiguration(workerExecutable: executable)
        configuration.sandbox = SandboxPolicy(level: .perCall)
        configuration.minWorkers = 1
        configuration.maxWorkers = 4
        configuration.spareWorkers = 1
        configuration.maxCallsPerWorker = 1
        configuration.logLevel = "error"
        return try PoolHarness(directory: directory, configuration: configuration)
    }

    /// Runs three echo calls; returns the pids they ran in.
    private func echoThrice(_ harness: PoolHarness) -> Set<Int32> {
        var pids: Set<Int32> = []
        for i in 0..<3 {
            let call = harness.call("echo", .object(JSONObject([("message", .string("call \(i)"))])))
            #expect(call.result?["text"]?.stringValue == "call \(i)", "\(call.events)")
            if let pid = call.dispatchedPid { pids.insert(pid) }
        }
        return pids
    }

    @Test func perCallWorkersAreForkedByOneServerAndAreOurChildren() throws {
        let worker = builtShim()
        try #require(!worker.isEmpty, "mcp-worker is built with the tests")
        let harness = try perCallPool(worker, in: TemporaryDirectory())
        defer { harness.stop() }
        #expect(echoThrice(harness).count == 3, "a fresh process for every call")
        // The third call's worker retires after it (one call each) and is reaped a moment later:
        // wait for the pool to hold only the warm worker that replaced it.
        #expect(harness.run { harness.pool.counts.idle == 1 && harness.pool.workerPids.count == 1 })
        // A child just forked carries the server's name until it renames itself: the pool's
        // workers (registered before the server's answer is read on) are not the server.
        let workers = harness.pool.workerPids
        let servers = childProcesses().filter { $0.name == "mcp-fork-server" && !workers.contains($0.pid) }
        #expect(servers.count == 1, "\(childProcesses())")
        // The warm worker waiting for the next call: forked (it carries the server's command line),
        // our child, in a process group of its own.
        #expect(workers.count == 1)
        for pid in workers {
            #expect(commandLine(pid).contains("--fork-server"))
            #expect(harness.run { childProcesses().contains { $0.pid == pid && $0.name == "mcp-worker" } })
            #expect(getpgid(pid) == pid)
        }
    }

    @Test func workersAreSpawnedWhenTheServerCannotFork() throws {
        let worker = builtShim()
        try #require(!worker.isEmpty, "mcp-worker is built with the tests")
        let directory = TemporaryDirectory()
        // A server that dies at once, as one would where the kernel cannot fork the way it needs.
        let attempts = directory.file("attempts")
        let wrapper = directory.file("mcp-worker-without-fork-server")
        writeFile(wrapper, """
            #!/bin/sh
            if [ "$1" = --fork-server ]; then echo attempt >> \(attempts); exit 3; fi
            exec \(worker) "$@"

            """, mode: 0o755)
        let harness = try perCallPool(wrapper, in: directory)
        defer { harness.stop() }
        #expect(echoThrice(harness).count == 3, "a fresh process for every call")
        #expect(echoThrice(harness).count == 3)
        // Three servers tried, then no more: every worker since was spawned.
        #expect(readFile(attempts).split(separator: "\n").count == 3)
        #expect(!childProcesses().contains { $0.name == "mcp-fork-server" })
        for pid in harness.pool.workerPids { #expect(!commandLine(pid).contains("--fork-server")) }
    }
}

/// This process's children that have not exited, whichever of its threads started them: pid and
/// name (/proc/PID/comm).
private func childProcesses() -> [(pid: Int32, name: String)] {
    var listed: [Int32] = []
    if let tasks = opendir("/proc/self/task") {
        while let entry = readdir(tasks) {
            let tid = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            guard Int32(tid) != nil else { continue }
            listed += readFile("/proc/self/task/\(tid)/children").split(separator: " ").compactMap { Int32($0) }
        }
        closedir(tasks)
    }
    return listed.compactMap { pid in
        let status = readFile("/proc/\(pid)/stat")
        guard let close = status.lastIndex(of: ")") else { return nil }
        let state = status[status.index(close, offsetBy: 2)...].prefix(1)
        if state == "Z" || state == "X" { return nil }
        return (pid, String(readFile("/proc/\(pid)/comm").prefix { $0 != "\n" }))
    }
}

private func commandLine(_ pid: Int32) -> [String] {
    readFile("/proc/\(pid)/cmdline").split(separator: "\0").map(String.init)
}
