// A WorkerPool whose workers are the processes of a stdio MCP server (the Python test server):
// discovery, calls, progress, concurrency, cancellation, crashes, stderr, refreshes, shutdown.
import Glibc
import JSON
import Pool
import SystemCalls
import Testing

@Suite(.serialized) struct StdioPoolTests {
    @Test func discoversToolsAcrossPagesAndRunsACall() throws {
        let harness = try PoolHarness()
        #expect(harness.waitUntilReady())
        let names = harness.pool.tools?.compactMap { $0["name"]?.stringValue } ?? []
        #expect(names.count == 12)  // three pages of five
        #expect(names.first == "echo" && names.contains("twice"))
        #expect(harness.discoveries.count == 1)
        #expect(harness.pool.protocolVersion == "2025-06-18")
        #expect(harness.pool.serverInfo?["name"]?.stringValue == "test-server")
        #expect(harness.markerLines().prefix(2) == ["initialize 2025-06-18 mcpd", "initialized"])

        let echo = harness.call("echo", ["message": "hello"])
        let result = try #require(echo.result)
        #expect(result["text"]?.stringValue == "hello")
        #expect(result["structuredContent"]?["echoed"]?.stringValue == "hello")
        #expect(result["content"]?.arrayValue?.count == 1)
        #expect(echo.dispatchedPid == harness.pool.workerPids.first)
    }

    @Test func progressAndLogMessagesReachTheCall() throws {
        let harness = try PoolHarness()
        #expect(harness.waitUntilReady())
        let slow = harness.call("slow", ["steps": 3, "interval": 0.02])
        #expect(slow.result?["text"]?.stringValue == "done after 3 steps")
        let progress = slow.payloads { if case .progress(let bytes) = $0 { return bytes } else { return nil } }
        #expect(progress.map { $0["progress"]?.intValue } == [1, 2, 3])
        #expect(progress.first?["total"]?.intValue == 3)
        #expect(progress.first?["message"]?.stringValue == "step")
        let logs = slow.payloads { if case .log(let bytes) = $0 { return bytes } else { return nil } }
        #expect(logs.count == 1)
        #expect(logs.first?["level"]?.stringValue == "info")
        #expect(logs.first?["data"]?.stringValue == "starting")
        #expect(logs.first?["logger"]?.stringValue == "slow")
    }

    @Test func aConcurrentServerRunsSeveralCallsInOneProcess() throws {
        let harness = try PoolHarness { configuration in
            configuration.maxConcurrentCallsPerWorker = 3
            configuration.maxWorkers = 1
        }
        #expect(harness.waitUntilReady())
        let started = Clock.monotonicMillis()
        let calls = (0..<3).map { _ in harness.submit("slow", ["steps": 5, "interval": 0.1]) }
        #expect(harness.run(timeout: 5) { calls.allSatisfy(\.hasEnded) })
        let elapsed = Clock.monotonicMillis() - started
        #expect(calls.allSatisfy { $0.result?["text"]?.stringValue == "done after 5 steps" })
        #expect(Set(calls.compactMap(\.dispatchedPid)).count == 1)
        #expect(elapsed < 1400, "three 500 ms calls at once took \(elapsed) ms")
        #expect(harness.pool.workerPids.count == 1)
    }

    @Test func callsQueueForAOneCallServerAndASecondProcessStarts() throws {
        let harness = try PoolHarness()
        #expect(harness.waitUntilReady())
        let calls = (0..<2).map { _ in harness.submit("slow", ["steps": 3, "interval": 0.1]) }
        #expect(harness.run(timeout: 5) { calls.allSatisfy(\.hasEnded) })
        #expect(calls.allSatisfy { $0.result != nil })
        #expect(Set(calls.compactMap(\.dispatchedPid)).count == 2)
    }

    @Test func cancelEndsTheCallAtOnceAndTellsTheServer() throws {
        let harness = try PoolHarness()
        #expect(harness.waitUntilReady())
        let slow = harness.submit("slow", ["steps": 100, "interval": 0.02])
        #expect(harness.run { slow.events.contains { if case .progress = $0 { return true } else { return false } } })
        let pid = try #require(slow.dispatchedPid)
        harness.pool.cancel(try #require(slow.call), reason: "the client gave up")
        #expect(slow.isCancelled)
        let number = try #require(slow.call?.number)
        #expect(harness.run { harness.markerLines().contains("cancelled \(number) the client gave up") })
        // The server answered the cancelled request: the process is reused, not killed.
        #expect(harness.run { harness.pool.counts.idle == 1 })
        let echo = harness.call("echo", ["message": "again"])
        #expect(echo.result?["text"]?.stringValue == "again")
        #expect(echo.dispatchedPid == pid)
    }

    @Test func aServerIgnoringCancelAndSIGTERMIsKilled() throws {
        let harness = try PoolHarness(environment: ["IGNORE_TERM": "1"])
        #expect(harness.waitUntilReady())
        let stubborn = harness.submit("stubborn")
        #expect(harness.run { stubborn.dispatchedPid != nil })
        let pid = try #require(stubborn.dispatchedPid)
        harness.idle(0.2)
        harness.pool.cancel(try #require(stubborn.call), reason: "stop")
        #expect(stubborn.isCancelled)
        // Grace 300 ms, SIGTERM (ignored), another 300 ms, SIGKILL; then a replacement starts.
        #expect(harness.run(timeout: 5) { !harness.pool.workerPids.contains(pid) })
        #expect(harness.run(timeout: 5) { harness.pool.counts.idle == 1 })
        let echo = harness.call("echo", ["message": "replaced"])
        #expect(echo.result?["text"]?.stringValue == "replaced")
        #expect(echo.dispatchedPid != pid)
    }

    @Test func aCrashMidCallFailsTheCallAndTheProcessIsReplaced() throws {
        let harness = try PoolHarness()
        #expect(harness.waitUntilReady())
        let crash = harness.call("crash")
        #expect(crash.failure?.kind == "worker_crashed")
        let crashedPid = try #require(crash.dispatchedPid)
        #expect(harness.run { !harness.pool.workerPids.contains(crashedPid) && harness.pool.counts.idle == 1 })
        let echo = harness.call("echo", ["message": "after"])
        #expect(echo.result?["text"]?.stringValue == "after")
        #expect(echo.dispatchedPid != crashedPid)
    }

    @Test func aStderrFloodBlocksNeitherTheServerNorTheLoop() throws {
        let harness = try PoolHarness(environment: ["BANNER": "1"])
        #expect(harness.waitUntilReady())
        let started = Clock.monotonicMillis()
        let flood = harness.call("flood", ["lines": 3000], timeout: 10)  // 9 MB of stderr
        #expect(flood.result?["text"]?.stringValue == "flooded")
        #expect(Clock.monotonicMillis() - started < 5000)
        let echo = harness.call("echo", ["message": "still here"])
        #expect(echo.result?["text"]?.stringValue == "still here")
    }

    @Test func listChangedRefreshesTheTools() throws {
        let harness = try PoolHarness()
        #expect(harness.waitUntilReady())
        let added = harness.call("add_tool", ["name": "brand_new"])
        #expect(added.result?["text"]?.stringValue == "added")
        #expect(harness.run { harness.discoveries.count == 2 })
        #expect(harness.discoveries.last?.contains { $0["name"]?.stringValue == "brand_new" } == true)
        #expect(harness.pool.tools?.count == 13)
    }

    @Test func shutdownKillsTheWholeProcessGroup() throws {
        let harness = try PoolHarness()
        #expect(harness.waitUntilReady())
        let spawned = harness.call("grandchild")
        let grandchild = try #require(spawned.result?["text"]?.stringValue.flatMap { Int32($0) })
        #expect(Process.isRunning(grandchild))
        harness.stop()
        #expect(!harness.pool.hasWorkers)
        #expect(processGone(grandchild))
    }

    @Test func aCrashedServersLeftoversAreKilled() throws {
        let harness = try PoolHarness()
        #expect(harness.waitUntilReady())
        let spawned = harness.call("grandchild")
        let grandchild = try #require(spawned.result?["text"]?.stringValue.flatMap { Int32($0) })
        let crash = harness.call("crash")
        #expect(crash.failure?.kind == "worker_crashed")
        #expect(processGone(grandchild))
    }

    @Test func requestsFromTheServerAreAnswered() throws {
        let harness = try PoolHarness()
        #expect(harness.waitUntilReady())
        let asked = harness.call("ask_client")
        let text = try #require(asked.result?["text"]?.stringValue)
        let answers = try JSONValue.parse(text)
        #expect(answers["ping"] == .object(JSONObject()))
        #expect(answers["roots"]?["code"]?.intValue == -32601)
    }

    @Test func probeAndResourceRequestsPassThrough() throws {
        let harness = try PoolHarness()
        #expect(harness.waitUntilReady())
        let probe = harness.call("", spec: ["method": "probe"])
        let result = try #require(probe.result)
        #expect(result["protocol_version"]?.stringValue == "2025-06-18")
        #expect(result["server_info"]?["name"]?.stringValue == "test-server")
        #expect(result["tools_count"]?.intValue == 12)
        #expect(result["tools"]?.arrayValue?.count == 12)
        #expect(result["resources_count"]?.intValue == 2)
        #expect(result["latency_ms"]?.intValue != nil)

        let read = harness.call("", ["uri": "test://a"], spec: ["method": "resources/read"])
        #expect(read.result?["contents"]?.arrayValue?.first?["text"]?.stringValue == "content of test://a")
        let list = harness.call("", spec: ["method": "resources/list"])
        #expect(list.result?["resources"]?.arrayValue?.count == 2)
    }

    @Test func aJSONRPCErrorIsAnMCPError() throws {
        let harness = try PoolHarness()
        #expect(harness.waitUntilReady())
        let failed = harness.call("fail")
        #expect(failed.failure?.kind == "mcp_error")
        #expect(failed.failure?.message == "tool exploded")
        let unknown = harness.call("no_such_tool")
        #expect(unknown.failure?.kind == "mcp_error")
        // The process is still good.
        #expect(harness.call("echo", ["message": "ok"]).result != nil)
    }

    @Test func aDeadlineEndsTheCallAndCancelsItOnTheServer() throws {
        let harness = try PoolHarness()
        #expect(harness.waitUntilReady())
        let slow = harness.submit("slow", ["steps": 100, "interval": 0.02], deadline: 0.3)
        #expect(harness.run { slow.hasEnded })
        #expect(slow.failure?.kind == "deadline_exceeded")
        let number = try #require(slow.call?.number)
        #expect(harness.run { harness.markerLines().contains("cancelled \(number) deadline exceeded") })
    }

    @Test func anOversizedMessageIsAProtocolViolation() throws {
        let harness = try PoolHarness { $0.maxMessageBytes = 4096 }
        #expect(harness.waitUntilReady())
        let huge = harness.call("huge", ["bytes": 20_000])
        #expect(huge.failure?.kind == "worker_protocol")
        let pid = try #require(huge.dispatchedPid)
        #expect(harness.run { !harness.pool.workerPids.contains(pid) && harness.pool.counts.idle == 1 })
    }

    @Test func aSecondAnswerToOneRequestIsIgnored() throws {
        let harness = try PoolHarness()
        #expect(harness.waitUntilReady())
        let twice = harness.call("twice")
        #expect(twice.result?["text"]?.stringValue == "first")
        let echo = harness.call("echo", ["message": "next"])
        #expect(echo.result?["text"]?.stringValue == "next")
        #expect(echo.dispatchedPid == twice.dispatchedPid)
    }

    @Test func theServerGetsItsEnvironmentDirectoryAndNothingElse() throws {
        let harness = try PoolHarness(environment: ["GREETING": "hi", "PATH": "/usr/bin:/bin"])
        #expect(harness.waitUntilReady())
        let who = harness.call("whoami")
        let info = try #require(who.result?["structuredContent"])
        let pid = try #require(info["pid"]?.intValue)
        #expect(info["pgid"]?.intValue == pid)  // its own process group
        #expect(info["cwd"]?.stringValue == harness.directory.path)
        let environment = try #require(info["env"]?.objectValue)
        #expect(environment["GREETING"]?.stringValue == "hi")
        #expect(environment["PATH"]?.stringValue == "/usr/bin:/bin")
        let allowed: Set<String> = ["GREETING", "PATH", "HOME", "LANG", "MARKER", "LC_CTYPE"]
        #expect(Set(environment.keys).isSubset(of: allowed), "unexpected variables: \(environment.keys)")
        // stdin, stdout, stderr, and the descriptor listing /proc/self/fd.
        #expect(info["fds"]?.arrayValue?.compactMap(\.intValue) == [0, 1, 2, 3])
        if !builtShim().isEmpty { #expect(info["pdeathsig"]?.intValue == Int64(SIGKILL)) }
    }

    @Test func withoutTheShimTheServerIsSpawnedDirectly() throws {
        let harness = try PoolHarness(shim: "")
        #expect(harness.waitUntilReady())
        let who = harness.call("whoami")
        #expect(who.result?["structuredContent"]?["pdeathsig"]?.intValue == 0)
    }

    @Test func aPoolCanBeStoppedAndDroppedWhileTheLoopRunsOn() throws {
        let harness = try PoolHarness()
        var second: WorkerPool? = WorkerPool(configuration: harness.pool.configuration, loop: harness.loop, table: harness.table)
        second?.maintainPool()
        #expect(harness.run { (second?.counts.idle ?? 0) == 1 })
        let pids = second?.workerPids ?? []
        second?.cancelEverything(reason: "removed")
        second?.beginShutdown()
        #expect(harness.run { second?.reapChildren(); return second?.hasWorkers == false })
        second = nil
        harness.idle(0.3)  // its tick is gone with it
        #expect(pids.allSatisfy { !Process.isRunning($0) })
        #expect(harness.waitUntilReady())
    }

    @Test func aMissingCommandBacksOffAndQueuedCallsMeetTheirDeadline() throws {
        let harness = try PoolHarness(command: "no-such-mcp-server-command")
        let call = harness.submit("echo", ["message": "never"], deadline: 0.5)
        #expect(harness.run(timeout: 3) { call.hasEnded })
        #expect(call.failure?.kind == "deadline_exceeded")
        #expect(!harness.pool.hasWorkers)
    }
}
