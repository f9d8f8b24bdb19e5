// mcpd: the supervisor. Parses the command line, takes its sockets (from systemd or its own
// listeners), refuses unsafe combinations, and runs the Supervisor until it has drained.
import CMcpd
import Access
import Glibc
import Logging
import SystemCalls
import Systemd

func fail(_ message: String, status: Int32 = 2) -> Never {
    Descriptor.writeAll(2, "mcpd: \(message)\n")
    exit(status)
}

let configuration: Configuration
do {
    switch try Configuration.parse(Array(CommandLine.arguments.dropFirst())) {
    case .run(let parsed): configuration = parsed
    case .help: Descriptor.writeAll(1, Configuration.usage); exit(0)
    case .version: Descriptor.writeAll(1, "mcpd \(Configuration.version)\n"); exit(0)
    }
} catch {
    Descriptor.writeAll(2, "mcpd: \(error.message)\nRun 'mcpd --help' for the options.\n")
    exit(2)
}
Log.level = LogLevel(name: configuration.logLevel) ?? .info
mcpd_ignore_sigpipe()
// A descriptor per client: a soft limit of 1024 would let 1,000 slow clients lock out the rest.
OpenFilesLimit.raiseToHardLimit()

let credentials: [Authenticator.Credential]
do {
    credentials = try loadCredentials(configuration)
} catch {
    fail(error.message)
}
let usingDevToken = credentials.count == 1 && credentials[0].name == "dev"

// Sockets: systemd's when it passed any, and then nothing else; our own otherwise.
let notifier = ServiceNotifier()
var listeners: [Int32] = []
var passed = SocketActivation.takeListeners() ?? []
// A call table kept in the fd store comes back among the sockets, named; it is not a listener.
let keptCallTable = passed.firstIndex(where: { $0.name == CallTableSetup.fdStoreName }).map { passed.remove(at: $0).fd }
if !passed.isEmpty {
    for socket in passed {
        guard Socket.isStreamListener(socket.fd) else {
            fail("descriptor \(socket.fd) (\(socket.name)) passed by systemd is not a listening stream socket")
        }
        listeners.append(socket.fd)
    }
} else {
    for address in configuration.listen {
        do {
            listeners.append(try Socket.listenTCP(host: address.host, port: address.port))
        } catch {
            fail("cannot listen on \(address.host):\(address.port): \(error)", status: 1)
        }
    }
}
if usingDevToken, let exposed = listeners.first(where: { !Socket.isLoopback($0) }) {
    fail("refusing to serve the development token 'super-secret-token' on non-loopback address \(Socket.localAddress(exposed)); configure --token, --tokens-file or MCPD_TOKENS")
}
if usingDevToken {
    Log.warn("no token configured: using the development token on loopback only")
}

do {
    let supervisor = try Supervisor(configuration: configuration, credentials: credentials,
                                    listeners: listeners, notifier: notifier, keptCallTable: keptCallTable)
    try supervisor.run()
} catch {
    fail("\(error)", status: 1)
}
exit(0)
