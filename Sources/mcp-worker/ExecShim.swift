// The pre-exec step of a stdio MCP server: `mcp-worker --exec-stdio --supervisor-pid PID
// [--sandbox POLICY-JSON] [--hide PATH]... [--cgroup DIR] -- PATH ARGV0 [ARGS...]`. The supervisor spawns this
// with the server's descriptors, environment (an allow-list) and working directory already in
// place; it arranges for the server to die with the supervisor (PR_SET_PDEATHSIG survives execve
// for programs that are not set-user-ID, and a foreign program cannot be asked to set it), puts
// itself into the server's sandbox (see the Sandbox module), and becomes the server with execv.
import CMcpd
import Glibc
import JSON
import Sandbox
import SystemCalls

enum ExecShim {
    static let flag = "--exec-stdio"
    static let usage = "usage: mcp-worker --exec-stdio --supervisor-pid PID [--sandbox POLICY] [--hide PATH]... [--cgroup DIR] -- PATH ARGV0 [ARGS...]"

    /// Runs the shim when the command line asks for it; returns otherwise.
    static func runIfRequested(_ arguments: [String]) {
        guard arguments.count > 1, arguments[1] == flag else { return }
        var rest = Array(arguments.dropFirst(2))[...]
        var supervisor: Int32?
        var policy = SandboxPolicy(level: .none)
        var hidden: [String] = []
        var cgroup: String?
        while let option = rest.first, option != "--" {
            guard rest.count >= 2 else { fail(usage, code: 2) }
            let value = rest[rest.startIndex + 1]
            rest = rest.dropFirst(2)
            switch option {
            case "--supervisor-pid": supervisor = Int32(value)
            case "--sandbox":
                guard let json = try? JSONValue.parse(Array(value.utf8)),
                      case .success(let parsed) = SandboxPolicy.parse(json, base: SandboxPolicy(level: .none)) else {
                    fail("mcpd: the sandbox policy is malformed", code: 2)
                }
                policy = parsed
            case "--hide": hidden.append(value)
            case "--cgroup": cgroup = value
            default: fail(usage, code: 2)
            }
        }
        rest = rest.dropFirst()  // "--"
        guard let supervisor, rest.count >= 2 else { fail(usage, code: 2) }
        let path = rest[rest.startIndex]
        let argv = Array(rest.dropFirst())
        // Die with the supervisor; and if it is already gone, do not start the server at all.
        _ = mcpd_set_parent_death_signal(SIGKILL)
        if getppid() != supervisor { exit(1) }
        // posix_spawn already closed the others when it could; this covers an older C library.
        _ = mcpd_close_from(3)
        do {
            // Into the worker's cgroup first: everything the server starts is counted there.
            if let cgroup { try CgroupDelegation.join(cgroup) }
        } catch {
            fail("mcpd: cannot join the worker cgroup: \(error.description)", code: 126)
        }
        do {
            // The server keeps exactly its stdin, stdout and stderr.
            _ = try SandboxEntry.enter(policy, hidden: hidden, closeFrom: 3)
        } catch {
            fail("mcpd: cannot enter the \(policy.level.rawValue) sandbox: \(error.description)", code: 126)
        }
        withCStrings(argv) { pointers in
            _ = execv(path, pointers)
        }
        let reason = String(cString: strerror(errno))
        fail("mcpd: cannot execute \(path): \(reason)", code: 127)
    }

    private static func fail(_ message: String, code: Int32) -> Never {
        // fd 2 is the pipe the supervisor logs as the server's stderr.
        Descriptor.writeAll(2, message + "\n")
        exit(code)
    }
}
