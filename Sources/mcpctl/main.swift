// mcpctl: the operator's tool and the probe that systemd, Kubernetes or a load balancer runs.
// Its probes read mcpd's shared-memory call table read-only and never speak HTTP, so they answer
// even when the supervisor's event loop is stuck, and need no token. `keys` is the exception: API
// keys are mcpd's to change, so those commands ask it over HTTP with an admin credential.
//
// Exit status: 0 success (or healthy), 1 the table says something is wrong or cannot be read,
// 2 the command line is wrong.
import Glibc

exit(MCPCtl.main(Array(CommandLine.arguments.dropFirst())))
