// mcpctl: the operator's tool and the probe that systemd, Kubernetes or a load balancer runs.
// It reads mcpd's shared-memory call table read-only and never speaks HTTP, so it answers even
// when the supervisor's event loop is stuck, and it needs no token.
//
// Exit status: 0 success (or healthy), 1 the table says something is wrong or cannot be read,
// 2 the command line is wrong.
import Glibc

exit(MCPCtl.main(Array(CommandLine.arguments.dropFirst())))
