import Glibc
import OAuth
import Sandbox
import SystemCalls

/// mcpd's command line. Every option has a default that serves on loopback safely.
struct Configuration {
    var listen: [(host: String, port: Int)] = []
    var tokens: [String] = []
    var tokensFile: String?
    var workersMin = 2
    var workersMax = 8
    var workersSpare = 1
    var workerMaxCalls = 10_000
    var queueMax = 1024
    var maxBody = 4 * 1024 * 1024
    var callDeadline = 300.0
    var toolDeadlines: [String: Double] = [:]
    var cancelGrace = 2.0
    var workerStuckTimeout = 30.0
    var drainTimeout = 10.0
    var idleTimeout = 60.0
    var headerTimeout = 10.0
    var streamTimeout = 300.0
    var keepAliveInterval = 15.0
    var runtimeDirectory: String?
    var workerPath: String?
    var logLevel = "info"
    var resourceDirectory: String?
    var allowedOrigins: [String] = []
    var allowedHosts: [String] = []
    var instanceId: String?
    var sessionIdleTimeout = 1800.0
    var pageSize = 100
    var conformanceFixtures = false
    var configFile: String?
    var stateDirectory: String?
    var filesRoot: String?
    var openAIBaseURL: String?
    var openAIModel: String?
    var openAIKeyFile: String?
    var healthInterval = 10.0
    /// Requests per minute per credential and per client address; nil keeps the config file's or
    /// the default (seed 001: 1000 and 100); 0 turns the limit off.
    var rateLimitPerKey: Int?
    var rateLimitPerIp: Int?
    /// A call table shared with other supervisors (their rate limits add up), instead of this one's own.
    var callTablePath: String?
    var oauthIssuer: String?
    var oauthResource: String?
    var oauthIntrospectionURL: String?
    var oauthClientId: String?
    var oauthClientSecretFile: String?
    var oauthScopes: [String] = []
    var oauthCacheSeconds = 60
    var sandbox = SandboxPolicy.builtinDefault

    static let version = "0.1.0"
    static let devToken = "super-secret-token"

    static let usage = """
    USAGE: mcpd [options]

    mcpd hosts Model Context Protocol tools: a supervisor that accepts HTTP, and a pool of isolated
    mcp-worker processes that run the tool calls. Under systemd it takes its sockets from socket
    activation and reports readiness with sd_notify.

    LISTENING
      --listen HOST:PORT          Address to serve (repeatable; default 127.0.0.1:8000). Ignored when
                                  systemd passes sockets (LISTEN_FDS): those are served instead.
    AUTHENTICATION
      --token TOKEN               Accept this bearer token (repeatable); owners token-1, token-2, ...
                                  of tenant "default"
      --tokens-file PATH          One token per line, "NAME TOKEN [ROLE [TENANT]]" or "TOKEN"; ROLE is
                                  owner (default), admin, member or viewer; TENANT is an id of
                                  letters, digits, '.', '_', '-' (or a UUID), default "default";
                                  '#' starts a comment. API keys made at run time (/v1/keys,
                                  mcpctl keys) are kept hashed in the state directory's keys.json.
                                  MCPD_TOKENS (comma-separated) adds more. With no token at all, the
                                  development token super-secret-token is used, on loopback only.
    WORKERS
      --workers-min N             Workers always running (default 2).
      --workers-max N             Upper bound on workers (default 8).
      --workers-spare N           Idle workers kept warm beyond the busy ones (default 1).
      --worker-max-calls N        Recycle a worker after this many calls, ±10 % so that workers do
                                  not all restart at once (default 10000; 0: never).
      --queue-max N               Calls that may wait for a worker; beyond, 503 (default 1024).
      --worker-path PATH          The worker executable (default: mcp-worker beside mcpd).
      --sandbox LEVEL             Sandbox of the built-in worker pool: none, process (default),
                                  strict or per-call. stdio servers set theirs with "sandbox" in
                                  their entry (default strict; README "Sandbox levels").
    LIMITS AND TIMEOUTS (seconds may have fractions)
      --max-body BYTES            Largest request body (default 4194304).
      --call-deadline SECONDS     Deadline of a call (default 300).
      --tool-deadline TOOL=SECONDS  Deadline for one tool (repeatable).
      --cancel-grace SECONDS      Time a cancelled worker gets before SIGKILL (default 2).
      --worker-stuck-timeout SECONDS  A worker with no heartbeat for this long is killed and
                                  replaced; its call ends worker_stuck (default 30; 0: never).
      --drain-timeout SECONDS     On SIGTERM, time in-flight calls get to finish (default 10).
      --idle-timeout SECONDS      Idle keep-alive connections are closed after (default 60).
      --header-timeout SECONDS    A request head must arrive within (default 10; else 408).
      --stream-timeout SECONDS    An SSE stream is closed after (default 300).
      --keepalive-interval SECONDS  SSE keep-alive comment interval (default 15).
    MCP
      --resource-dir DIR          Serve the files in DIR as file://{path} resources (default: none).
      --allowed-origin ORIGIN     Accept browser requests from ORIGIN besides loopback ones
                                  (repeatable; '*' accepts any). Others get 403.
      --allowed-host HOST         Accept this Host header on loopback listeners besides loopback
                                  names (repeatable; '*' accepts any): DNS-rebinding protection.
      --session-idle-timeout SECONDS  An idle MCP session expires after (default 1800).
      --page-size N               Items per page of MCP list results (default 100).
      --instance-id ID            Begin every MCP session id with "ID." so that a proxy in front of
                                  several instances can send a session to the one that holds it
                                  (letters, digits, '-'; deploy/nginx).
      --conformance-fixtures      Also serve the tools, prompts and resources the official MCP
                                  conformance suite's server scenarios call (for testing).
    TOOLS AND SERVERS
      --config FILE               Initial servers, tools and prompts: mcpd's format, or as is a file in
                                  the {"mcpServers": {...}} format of MCP clients (README, deploy/).
      --state-dir DIR             Where servers, tools and prompts registered at run time are kept
                                  (default $STATE_DIRECTORY, else ./.mcpd-state).
      --files-root DIR            Offer read_file, write_file and list_directory, confined to DIR.
      --openai-base-url URL       OpenAI-compatible API for openai_chat (default $OPENAI_BASE_URL,
                                  else https://api.openai.com/v1).
      --openai-api-key-file PATH  File holding the API key (default: $OPENAI_API_KEY).
      --openai-model MODEL        Default model of openai_chat (default gpt-4o-mini).
      --health-interval SECONDS   How often remote member servers are checked (default 10).
    RATE LIMITS (requests per minute; 0 = no limit; "rateLimits" in --config sets per-tenant and
    per-tool limits, see README)
      --rate-limit-per-key N      Per credential (default 1000).
      --rate-limit-per-ip N       Per client address, for requests without a known credential (default 100).
      --call-table PATH           Share the call table at PATH with other supervisors on this host:
                                  the first creates it, the others attach, and rate limits hold for
                                  all of them together (default: a table of our own in --runtime-dir).
    OAUTH (MCP authorization; the MCP endpoints then also accept OAuth access tokens)
      --oauth-issuer URL          The authorization server (its issuer identifier); turns OAuth on.
      --oauth-resource URL        This server's canonical resource URI, e.g. https://mcp.example.com/mcp;
                                  tokens must carry it in their audience. Required with --oauth-issuer.
      --oauth-introspection-url URL  RFC 7662 endpoint (default: the server's metadata names it).
      --oauth-client-id ID        mcpd's client id at the introspection endpoint.
      --oauth-client-secret-file PATH  File holding that client's secret (default: the systemd
                                  credential oauth-client-secret, $CREDENTIALS_DIRECTORY).
      --oauth-scopes SCOPES       Scopes every MCP request needs (space- or comma-separated;
                                  repeatable). A token without them gets 403 insufficient_scope.
      --oauth-cache-seconds N     Reuse an introspection answer for up to N seconds, never past the
                                  token's expiry (default 60, at most 60; 0 disables the cache).
    OPERATIONS
      --runtime-dir DIR           Where the shared call table lives (default $RUNTIME_DIRECTORY,
                                  /run/mcpd as root, else $XDG_RUNTIME_DIR/mcpd or /tmp/mcpd-UID).
      --log-level LEVEL           debug, info, warn or error (default info).
      -h, --help                  Show this help.
      --version                   Show the version.

    """

    enum ParseOutcome { case run(Configuration), help, version }

    struct UsageError: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    static func parse(_ arguments: [String]) throws(UsageError) -> ParseOutcome {
        var configuration = Configuration()
        var index = 0
        func value(_ option: String, _ inline: String?) throws(UsageError) -> String {
            if let inline { return inline }
            index += 1
            guard index < arguments.count else { throw UsageError(message: "\(option) needs a value") }
            return arguments[index]
        }
        func integer(_ option: String, _ text: String, minimum: Int) throws(UsageError) -> Int {
            guard let number = Int(text), number >= minimum else {
                throw UsageError(message: "\(option) needs an integer >= \(minimum), got '\(text)'")
            }
            return number
        }
        func instanceId(_ option: String, _ text: String) throws(UsageError) -> String {
            let allowed = text.utf8.allSatisfy { $0 == UInt8(ascii: "-") || (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) }
            guard !text.isEmpty, text.utf8.count <= 63, allowed else {
                throw UsageError(message: "\(option) needs 1 to 63 letters, digits or '-', got '\(text)'")
            }
            return text
        }
        func secondsOrZero(_ option: String, _ text: String) throws(UsageError) -> Double {
            guard let number = Double(text), number >= 0, number.isFinite else {
                throw UsageError(message: "\(option) needs a number of seconds >= 0, got '\(text)'")
            }
            return number
        }
        func seconds(_ option: String, _ text: String) throws(UsageError) -> Double {
            guard let number = Double(text), number > 0, number.isFinite else {
                throw UsageError(message: "\(option) needs a positive number of seconds, got '\(text)'")
            }
            return number
        }
        while index < arguments.count {
            let argument = arguments[index]
            var option = argument
            var inline: String? = nil
            if argument.hasPrefix("--"), let equals = argument.firstIndex(of: "=") {
                option = String(argument[..<equals])
                inline = String(argument[argument.index(after: equals)...])
            }
            switch option {
            case "-h", "--help": return .help
            case "--version": return .version
            case "--listen": configuration.listen.append(try parseAddress(try value(option, inline)))
            case "--token":
                let token = try value(option, inline)
                guard !token.isEmpty, !token.contains(where: { $0 == " " || $0 == "," }) else {
                    throw UsageError(message: "--token needs a non-empty token without spaces or commas")
                }
                configuration.tokens.append(token)
            case "--tokens-file": configuration.tokensFile = try value(option, inline)
            case "--workers-min": configuration.workersMin = try integer(option, try value(option, inline), minimum: 1)
            case "--workers-max": configuration.workersMax = try integer(option, try value(option, inline), minimum: 1)
            case "--workers-spare": configuration.workersSpare = try integer(option, try value(option, inline), minimum: 0)
            case "--worker-max-calls": configuration.workerMaxCalls = try integer(option, try value(option, inline), minimum: 0)
            case "--queue-max": configuration.queueMax = try integer(option, try value(option, inline), minimum: 0)
            case "--max-body": configuration.maxBody = try integer(option, try value(option, inline), minimum: 1)
            case "--call-deadline": configuration.callDeadline = try seconds(option, try value(option, inline))
            case "--tool-deadline":
                let text = try value(option, inline)
                let parts = text.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { throw UsageError(message: "--tool-deadline needs TOOL=SECONDS, got '\(text)'") }
                configuration.toolDeadlines[String(parts[0])] = try seconds(option, String(parts[1]))
            case "--cancel-grace": configuration.cancelGrace = try seconds(option, try value(option, inline))
            case "--worker-stuck-timeout": configuration.workerStuckTimeout = try secondsOrZero(option, try value(option, inline))
            case "--drain-timeout": configuration.drainTimeout = try seconds(option, try value(option, inline))
            case "--idle-timeout": configuration.idleTimeout = try seconds(option, try value(option, inline))
            case "--header-timeout": configuration.headerTimeout = try seconds(option, try value(option, inline))
            case "--stream-timeout": configuration.streamTimeout = try seconds(option, try value(option, inline))
            case "--keepalive-interval": configuration.keepAliveInterval = try seconds(option, try value(option, inline))
            case "--conformance-fixtures": configuration.conformanceFixtures = true
            case "--resource-dir": configuration.resourceDirectory = try value(option, inline)
            case "--allowed-origin": configuration.allowedOrigins.append(try value(option, inline))
            case "--allowed-host": configuration.allowedHosts.append(try value(option, inline).lowercased())
            case "--session-idle-timeout": configuration.sessionIdleTimeout = try seconds(option, try value(option, inline))
            case "--page-size": configuration.pageSize = try integer(option, try value(option, inline), minimum: 1)
            case "--instance-id": configuration.instanceId = try instanceId(option, try value(option, inline))
            case "--config": configuration.configFile = try value(option, inline)
            case "--state-dir": configuration.stateDirectory = try value(option, inline)
            case "--files-root": configuration.filesRoot = try value(option, inline)
            case "--openai-base-url": configuration.openAIBaseURL = try value(option, inline)
            case "--openai-model": configuration.openAIModel = try value(option, inline)
            case "--openai-api-key-file": configuration.openAIKeyFile = try value(option, inline)
            case "--health-interval": configuration.healthInterval = try seconds(option, try value(option, inline))
            case "--oauth-issuer": configuration.oauthIssuer = try value(option, inline)
            case "--oauth-resource": configuration.oauthResource = try value(option, inline)
            case "--oauth-introspection-url": configuration.oauthIntrospectionURL = try value(option, inline)
            case "--oauth-client-id": configuration.oauthClientId = try value(option, inline)
            case "--oauth-client-secret-file": configuration.oauthClientSecretFile = try value(option, inline)
            case "--oauth-scopes":
                configuration.oauthScopes += try value(option, inline).split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init)
            case "--oauth-cache-seconds":
                let seconds = try integer(option, try value(option, inline), minimum: 0)
                guard seconds <= 60 else { throw UsageError(message: "--oauth-cache-seconds must be at most 60, got \(seconds)") }
                configuration.oauthCacheSeconds = seconds
            case "--runtime-dir": configuration.runtimeDirectory = try value(option, inline)
            case "--rate-limit-per-key": configuration.rateLimitPerKey = try integer(option, try value(option, inline), minimum: 0)
            case "--rate-limit-per-ip": configuration.rateLimitPerIp = try integer(option, try value(option, inline), minimum: 0)
            case "--call-table": configuration.callTablePath = try value(option, inline)
            case "--worker-path": configuration.workerPath = try value(option, inline)
            case "--sandbox":
                let name = try value(option, inline)
                guard let level = SandboxLevel(rawValue: name) else {
                    throw UsageError(message: "--sandbox must be one of \(SandboxLevel.names), got '\(name)'")
                }
                configuration.sandbox.level = level
            case "--log-level":
                let level = try value(option, inline)
                guard ["debug", "info", "warn", "error"].contains(level) else {
                    throw UsageError(message: "--log-level must be debug, info, warn or error")
                }
                configuration.logLevel = level
            default:
                throw UsageError(message: "unknown option '\(argument)'")
            }
            index += 1
        }
        if configuration.workersMin > configuration.workersMax {
            throw UsageError(message: "--workers-min (\(configuration.workersMin)) exceeds --workers-max (\(configuration.workersMax))")
        }
        let oauthFlagGiven = configuration.oauthResource != nil || configuration.oauthIntrospectionURL != nil
            || configuration.oauthClientId != nil || configuration.oauthClientSecretFile != nil || !configuration.oauthScopes.isEmpty
        if configuration.oauthIssuer == nil && oauthFlagGiven {
            throw UsageError(message: "the --oauth-* options need --oauth-issuer")
        }
        if configuration.oauthIssuer != nil && configuration.oauthResource == nil {
            throw UsageError(message: "--oauth-issuer needs --oauth-resource (this server's canonical URI, e.g. https://mcp.example.com/mcp)")
        }
        if configuration.oauthIssuer != nil && configuration.oauthClientSecretFile == nil,
           let credentials = Process.environment("CREDENTIALS_DIRECTORY"),
           access(credentials + "/oauth-client-secret", R_OK) == 0 {
            // systemd's LoadCredential=oauth-client-secret:… (the unit shows how): a root-only
            // file the dynamic user could not read otherwise.
            configuration.oauthClientSecretFile = credentials + "/oauth-client-secret"
        }
        if let issuer = configuration.oauthIssuer, let resource = configuration.oauthResource {
            // Everything but the secret itself, which is read from its file at start-up.
            let settings = OAuthSettings(issuer: issuer, resource: resource, introspectionURL: configuration.oauthIntrospectionURL,
                                         clientId: configuration.oauthClientId ?? "",
                                         clientSecret: configuration.oauthClientSecretFile == nil ? "" : "(read later)",
                                         requiredScopes: configuration.oauthScopes)
            if let problem = settings.problem() { throw UsageError(message: problem) }
        }
        if configuration.listen.isEmpty { configuration.listen = [("127.0.0.1", 8000)] }
        return .run(configuration)
    }

    static func parseAddress(_ text: String) throws(UsageError) -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw UsageError(message: "--listen needs HOST:PORT, got '\(text)'")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw UsageError(message: "--listen needs a host, got '\(text)'") }
        return (host, port)
    }
}
