// The pre-exec step of a stdio MCP server: `mcp-worker --exec-stdio --supervisor-pid PID -- PATH
// ARGV0 [ARGS...]`. The supervisor spawns this with the server's descriptors, environment and
// working directory already in place; it arranges for the server to die with the supervisor
// (PR_SET_PDEATHSIG survives execve for programs that are not set-user-ID, and a foreign program
// cannot be asked to set it), closes any stray descriptor, and becomes the server with execv.
import CMcpd
import Glibc
import SystemCalls

enum ExecShim {
    static let flag = "--exec-stdio"

    /// Runs the shim when the command line asks for it; returns otherwise.
    static func runIfRequested(_ arguments: [String]) {
        guard arguments.count > 1, arguments[1] == flag else { return }
        let rest = Array(arguments.dropFirst(2))
        guard rest.count >= 5, rest[0] == "--supervisor-pid", let supervisor = Int32(rest[1]), rest[2] == "--" else {
            fail("usage: mcp-worker --exec-stdio --supervisor-pid PID -- PATH ARGV0 [ARGS...]", code: 2)
        }
        let path = rest[3]
        let argv = Array(rest[4...])
        // Die with the supervisor; and if it is already gone, do not start the server at all.
        _ = mcpd_set_parent_death_signal(SIGKILL)
        if getppid() != supervisor { exit(1) }
        // posix_spawn already closed these when it could; this covers an older C library.
        _ = mcpd_close_from(3)
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
