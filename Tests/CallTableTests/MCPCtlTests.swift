// mcpctl run as a real process against tables this test writes: the reader is in another process,
// as it is in production. Skipped when the mcpctl binary was not built beside the tests.
import Glibc
import SystemCalls
import TestSupport
import Testing
import CallTable

enum MCPCtlBinary {
    /// mcpctl sits beside the test bundle in SwiftPM's build directory.
    static let path: String = {
        let bundle = Process.executablePath()
        let directory = bundle.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        return directory + "/mcpctl"
    }()

    static var exists: Bool { access(path, X_OK) == 0 }

    struct Outcome {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    static func run(_ arguments: [String], scratch: TemporaryDirectory) -> Outcome {
        let errorFile = scratch.file("stderr-\(UInt32.random(in: 0...UInt32.max))")
        let command = ([path] + arguments).map(quoted).joined(separator: " ") + " 2>" + quoted(errorFile)
        guard let pipe = popen(command, "r") else { fatalError("popen failed: \(errno)") }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, pipe) }
            if n == 0 { break }
            output += chunk[..<n]
        }
        let status = pclose(pipe)
        let errors = access(errorFile, F_OK) == 0 ? readBytes(errorFile) : []
        return Outcome(status: (status >> 8) & 0xff, stdout: String(decoding: output, as: UTF8.self),
                       stderr: String(decoding: errors, as: UTF8.self))
    }

    private static func quoted(_ argument: String) -> String {
        "'" + argument.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
    }
}

@Suite(.enabled(if: MCPCtlBinary.exists, "mcpctl is built beside the tests"))
struct MCPCtlTests {
    let directory = TemporaryDirectory()

    func mcpctl(_ arguments: String...) -> MCPCtlBinary.Outcome {
        MCPCtlBinary.run(arguments, scratch: directory)
    }

    @Test func statusJSONReportsWhatTheSupervisorWrote() throws {
        let populated = try PopulatedTable(in: directory)
        let result = mcpctl("--table", populated.path, "status", "--json")
        #expect(result.status == 0)
        #expect(result.stderr == "")
        let json = result.stdout
        #expect(json.hasPrefix("{\"supervisor\":{\"pid\":\(getpid()),\"state\":\"ready\",\"started_at_ms\":\(populated.table.startedAtMs),"))
        #expect(json.contains("\"alive\":true}"))
        #expect(json.contains("\"queue\":{\"depth\":3,\"capacity\":16}"))
        #expect(json.contains("\"counters\":{\"calls_accepted\":2,\"calls_finished\":0,\"calls_failed\":0,\"calls_cancelled\":0,"
            + "\"workers_spawned\":2,\"workers_crashed\":0,\"workers_recycled\":0,\"workers_killed\":0}"))
        #expect(json.contains("{\"slot\":0,\"pid\":4242,\"state\":\"idle\",\"calls_served\":1,\"heartbeat_age_ms\":"))
        #expect(json.contains("\"current_call_id\":null}"))
        #expect(json.contains("{\"slot\":1,\"pid\":4243,\"state\":\"busy\",\"calls_served\":2,"))
        #expect(json.contains("\"current_call_id\":\"\(populated.runningCallId)\"}"))
        #expect(json.contains("{\"call_id\":\"\(populated.queuedCallId)\",\"tool\":\"echo\",\"owner\":\"token-1\",\"state\":\"pending\",\"worker_pid\":null,\"age_ms\":"))
        #expect(json.contains("{\"call_id\":\"\(populated.runningCallId)\",\"tool\":\"countdown\",\"owner\":\"dev\",\"state\":\"running\",\"worker_pid\":4243,\"age_ms\":"))
        #expect(json.contains("\"cancel_requested\":true}"))
        #expect(json.hasSuffix("],\"cancel_epoch\":1}\n"))
    }

    @Test func statusJSONEscapesStrings() throws {
        let path = directory.file("calltable")
        let table = try CallTable.create(path: path, callSlots: 2, workerSlots: 1, rateBuckets: 0)
        let slot = try #require(table.claimCallSlot())
        table.publishCall(slot: slot, callId: "quote\"back\\slash", tool: "tab\there", owner: "line\nfeed", state: .pending,
                          startedAtMs: 1, deadlineAtMs: 0)
        let json = mcpctl("--table", path, "status", "--json").stdout
        #expect(json.contains("\"call_id\":\"quote\\\"back\\\\slash\",\"tool\":\"tab\\there\",\"owner\":\"line\\nfeed\""))
        #expect(json.contains("\"deadline_in_ms\":null"))
    }

    @Test func statusTextAnswersTheOperatorsQuestions() throws {
        let populated = try PopulatedTable(in: directory)
        let result = mcpctl("--table", populated.path, "status")
        #expect(result.status == 0)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        // The summary is "label:" then the value, aligned in one column.
        var fields: [String: String] = [:]
        var valueColumns = Set<Int>()
        for line in lines {
            guard let colon = line.firstIndex(of: ":"), line[line.index(after: colon)...].hasPrefix("  ") else { continue }
            let value = line[line.index(after: colon)...].drop(while: { $0 == " " })
            fields[String(line[..<colon])] = String(value)
            valueColumns.insert(line.count - value.count)
        }
        #expect(valueColumns.count == 1)
        #expect(fields["call table"] == populated.path)
        #expect(fields["supervisor pid"] == "\(getpid()) (running)")
        #expect(fields["state"] == "ready")
        #expect(fields["listen queue"] == "3 of 16")
        #expect(fields["workers"] == "2 total: 1 idle, 1 busy")
        #expect(fields["calls in flight"] == "2: 1 pending, 1 running")
        #expect(fields["cancel epoch"] == "1")
        #expect(fields["calls accepted"] == "2")
        #expect(fields["workers spawned"] == "2")
        #expect(fields["calls failed"] == "0")
        #expect(fields["heartbeat"]?.hasSuffix(" ago") == true)
        #expect(lines.contains("WORKERS (2 of 4 slots)"))
        #expect(lines.contains("CALLS (2 of 16 slots)"))
        let running = try #require(lines.first { $0.hasPrefix(populated.runningCallId) })
        #expect(running.contains("countdown"))
        #expect(running.contains("4243"))
        #expect(running.contains("1m 05s"))
        #expect(running.contains("in 3m 5"))
        #expect(running.hasSuffix("requested"))
        let busy = try #require(lines.first { $0.hasPrefix("1 ") && $0.contains("4243") })
        #expect(busy.hasSuffix(populated.runningCallId))
    }

    @Test func healthyWhenSupervisorAndAWorkerAreLive() throws {
        let populated = try PopulatedTable(in: directory)
        let result = mcpctl("--table", populated.path, "health")
        #expect(result.status == 0)
        #expect(result.stdout == "healthy: 2 workers (1 idle), 2 calls in flight\n")
    }

    @Test func unhealthyWhileDraining() throws {
        let populated = try PopulatedTable(in: directory)
        populated.table.setSupervisorState(.draining)
        let result = mcpctl("--table", populated.path, "health")
        #expect(result.status == 1)
        #expect(result.stdout == "unhealthy: supervisor is draining\n")
    }

    @Test func unhealthyWhenTheSupervisorIsGone() throws {
        let populated = try PopulatedTable(in: directory)
        let gone = deadPid()
        poke(populated.path, offset: 72, gone)
        let result = mcpctl("--table", populated.path, "health")
        #expect(result.status == 1)
        #expect(result.stdout == "unhealthy: supervisor \(gone) is not running\n")
        #expect(mcpctl("--table", populated.path, "status", "--json").stdout.contains("\"alive\":false"))
    }

    @Test func anExitedButUnreapedSupervisorIsNotRunning() throws {
        let populated = try PopulatedTable(in: directory)
        let zombie = try Process.spawn(path: "/bin/true", arguments: [], environment: [], keepDescriptors: [])
        defer { _ = Process.wait(zombie) }
        let deadline = Clock.monotonicMillis() + 5_000
        while !readBytes("/proc/\(zombie)/stat").contains(where: { $0 == UInt8(ascii: "Z") }) && Clock.monotonicMillis() < deadline {
            Clock.sleep(millis: 5)
        }
        #expect(Process.isAlive(zombie), "kill(pid, 0) still succeeds on a zombie")
        poke(populated.path, offset: 72, zombie)
        let result = mcpctl("--table", populated.path, "health")
        #expect(result.status == 1)
        #expect(result.stdout == "unhealthy: supervisor \(zombie) is not running\n")
    }

    @Test func unhealthyWhenTheSupervisorHeartbeatIsStale() throws {
        let populated = try PopulatedTable(in: directory)
        poke(populated.path, offset: 88, Clock.wallMillis() - 12_000)
        let result = mcpctl("--table", populated.path, "health")
        #expect(result.status == 1)
        #expect(result.stdout.hasPrefix("unhealthy: supervisor heartbeat is 12 s old (limit 5.0 s)")
            || result.stdout.hasPrefix("unhealthy: supervisor heartbeat is 13 s old (limit 5.0 s)"))
    }

    @Test func unhealthyWithoutWorkers() throws {
        let path = directory.file("calltable")
        let table = try CallTable.create(path: path, callSlots: 4, workerSlots: 2, rateBuckets: 0)
        table.setSupervisorState(.ready)
        let result = mcpctl("--table", path, "health")
        #expect(result.status == 1)
        #expect(result.stdout == "unhealthy: no live worker\n")
    }

    @Test func unhealthyWhenEveryWorkerHeartbeatIsStale() throws {
        let populated = try PopulatedTable(in: directory)
        let workersOffset = Int(peek(readBytes(populated.path), offset: 48, as: UInt64.self))
        for slot in 0..<2 { poke(populated.path, offset: workersOffset + slot * 128 + 8, Clock.wallMillis() - 6_000) }
        let result = mcpctl("--table", populated.path, "health")
        #expect(result.status == 1)
        #expect(result.stdout == "unhealthy: no live worker (2 workers, none idle or busy with a heartbeat younger than 5.0 s)\n")
    }

    @Test func unhealthyWhenTheTableIsMissingOrUnknown() throws {
        let missing = directory.file("absent")
        let result = mcpctl("--table", missing, "health")
        #expect(result.status == 1)
        #expect(result.stdout == "unhealthy: no call table at \(missing) (is mcpd running, with this runtime directory?)\n")

        let populated = try PopulatedTable(in: directory)
        poke(populated.path, offset: 8, UInt32(7))
        let future = mcpctl("--table", populated.path, "health")
        #expect(future.status == 1)
        #expect(future.stdout == "unhealthy: \(populated.path): layout version 7 is not supported (this mcpctl reads version 1)\n")
    }

    @Test func runtimeDirOptionFindsTheTable() throws {
        let populated = try PopulatedTable(in: directory)
        let result = mcpctl("--runtime-dir", directory.path, "health")
        #expect(result.status == 0)
        #expect(result.stdout.hasPrefix("healthy: "))
        // Global options are accepted after the command too.
        #expect(mcpctl("health", "--table", populated.path).status == 0)
    }

    @Test func statusOfAMissingTableFailsOnStderr() {
        let missing = directory.file("absent")
        let result = mcpctl("--table", missing, "status")
        #expect(result.status == 1)
        #expect(result.stdout == "")
        #expect(result.stderr == "mcpctl: no call table at \(missing) (is mcpd running, with this runtime directory?)\n")
    }

    @Test func versionAndHelp() {
        #expect(mcpctl("--version").stdout == "mcpctl 0.1.0\n")
        let help = mcpctl("--help")
        #expect(help.status == 0)
        #expect(help.stdout.hasPrefix("OVERVIEW: "))
        #expect(help.stdout.contains("USAGE: mcpctl [--runtime-dir <dir> | --table <path>] <subcommand>"))
        #expect(help.stdout.contains("\n  status  "))
        #expect(help.stdout.contains("\n  health  "))
        let statusHelp = mcpctl("status", "-h")
        #expect(statusHelp.status == 0)
        #expect(statusHelp.stdout.contains("USAGE: mcpctl [--runtime-dir <dir> | --table <path>] status [--json]"))
        #expect(statusHelp.stdout.contains("  --json  "))
        #expect(mcpctl("help", "health").stdout == mcpctl("health", "--help").stdout)
        #expect(mcpctl("help", "health").stdout.contains("exec probe"))
    }

    @Test func commandLineMistakesExitWithStatus2AndUsage() {
        let unknownCommand = mcpctl("frobnicate")
        #expect(unknownCommand.status == 2)
        #expect(unknownCommand.stdout == "")
        #expect(unknownCommand.stderr.hasPrefix("Error: Unknown subcommand 'frobnicate'.\nUsage: mcpctl "))

        let unknownOption = mcpctl("status", "--yaml")
        #expect(unknownOption.status == 2)
        #expect(unknownOption.stderr.hasPrefix("Error: Unknown option '--yaml'.\nUsage: mcpctl [--runtime-dir <dir> | --table <path>] status [--json]"))

        let missingValue = mcpctl("--table")
        #expect(missingValue.status == 2)
        #expect(missingValue.stderr.hasPrefix("Error: Missing value for '--table <path>'."))

        let both = mcpctl("--table", "/x", "--runtime-dir", "/y", "health")
        #expect(both.status == 2)
        #expect(both.stderr.hasPrefix("Error: --runtime-dir and --table cannot be used together."))

        #expect(mcpctl().status == 2)
    }
}
