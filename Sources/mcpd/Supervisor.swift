import Access
import Calls
import CallTable
import EventLoop
import ExecuteAPI
import Glibc
import HTTP
import JSON
import Logging
import Management
import MCP
import Metrics
import OAuth
import Pool
import RateLimit
import Sandbox
import SystemCalls
import Systemd
import ToolSources
import Tools

/// Sends MCP's paths to MCP and everything else to the execute API (which answers 404 for what
/// it does not know).
final class Router: HTTPHandler {
    let api: ExecuteAPI
    let mcp: MCPService
    let composer: ComposerAPI
    let registryAPI: RegistryAPI
    let keysAPI: KeysAPI
    /// Counts every request against its client's rate limit before it is routed (nil: no limits).
    var rateLimit: RateLimitGate?
    /// RFC 9728 metadata at /.well-known/oauth-protected-resource[/path], when OAuth is on.
    var resourceMetadata: ProtectedResourceMetadata?

    init(api: ExecuteAPI, mcp: MCPService, composer: ComposerAPI, registryAPI: RegistryAPI, keysAPI: KeysAPI) {
        self.api = api
        self.mcp = mcp
        self.composer = composer
        self.registryAPI = registryAPI
        self.keysAPI = keysAPI
    }

    func handle(_ request: HTTPRequest, on connection: HTTPConnection) {
        if let rateLimit, !rateLimit.admit(request, on: connection, router: self) { return }
        let path = request.path
        if let metadata = resourceMetadata, metadata.serves(path) {
            metadata.handle(request, on: connection)
        } else if ComposerAPI.serves(path) {
            composer.handle(request, on: connection)
        } else if KeysAPI.serves(path) {
            keysAPI.handle(request, on: connection)
        } else if RegistryAPI.serves(path) {
            registryAPI.handle(request, on: connection)
        } else if MCPService.serves(path) {
            mcp.handle(request, on: connection)
        } else {
            api.handle(request, on: connection)
        }
    }
}

/// The supervisor's life: start, serve, drain, stop. Everything runs on one event loop thread.
final class Supervisor {
    private let configuration: Configuration
    private let loop: EventLoop
    private let table: CallTable
    private let pool: WorkerPool
    private let calls: CallService
    private let registry: Registry
    private let keyring: Keyring
    private let keyFile: KeyFile
    /// Pools of stdio servers deleted or deactivated, until their last process is reaped.
    /// Pools of stdio servers deleted or deactivated, with when whatever is left of them is killed.
    private var retiredPools: [(pool: WorkerPool, killAtMs: Int64)] = []
    /// Every pool: mcp-worker's, the stdio servers', and the retiring ones.
    /// Pools of stdio servers replaced by a reload: they take no new call, and are retired once
    /// their calls have finished (or at the drain timeout).
    private var drainingPools: [(pool: WorkerPool, untilMs: Int64)] = []
    private var allPools: [WorkerPool] {
        [pool] + Array(calls.serverPools.values) + drainingPools.map(\.pool) + retiredPools.map(\.pool)
    }
    private let api: ExecuteAPI
    private let metrics = Metrics()
    private let mcp: MCPService
    private let router: Router
    private let server: HTTPServer
    private let notifier: ServiceNotifier
    private var signals: SignalSource?
    private var drainDeadlineMs: Int64 = 0
    private var workersGoneDeadlineMs: Int64 = 0
    private enum Stage { case serving, draining, stoppingWorkers, stopped }
    private var stage = Stage.serving

    init(configuration: Configuration, credentials: [Authenticator.Credential], listeners: [Int32],
         notifier: ServiceNotifier, keptCallTable: Int32? = nil) throws {
        self.configuration = configuration
        self.notifier = notifier
        // Before any child starts (they inherit it): what is orphaned below us, such as pid 1 of a
        // killed sandbox's namespaces, is ours to reap. The host's init may reap it late (this
        // benchmark VM's did, until the sandboxes' uid ran into RLIMIT_NPROC), and in a container
        // mcpd is that init.
        if !Process.becomeSubreaper() { Log.warn("cannot become a child subreaper; orphaned sandbox processes go to init") }
        loop = try EventLoop()
        // Workers run in SCHED_BATCH (mcp-worker's main.swift) and wait for this loop to give way.
        loop.yieldIntervalMicros = 1_000

        table = try CallTableSetup.open(configuration, kept: keptCallTable, notifier: notifier)

        var poolConfiguration = PoolConfiguration(workerExecutable: configuration.workerPath ?? Supervisor.defaultWorkerPath())
        poolConfiguration.minWorkers = configuration.workersMin
        poolConfiguration.maxWorkers = configuration.workersMax
        poolConfiguration.spareWorkers = configuration.workersSpare
        poolConfiguration.maxCallsPerWorker = configuration.workerMaxCalls
        poolConfiguration.queueCapacity = configuration.queueMax
        poolConfiguration.cancelGraceMs = Int64(configuration.cancelGrace * 1000)
        poolConfiguration.stuckTimeoutMs = Int64(configuration.workerStuckTimeout * 1000)
        poolConfiguration.logLevel = configuration.logLevel
        poolConfiguration.sandbox = configuration.sandbox
        // A strict sandbox never sees the supervisor's state (credentials of member servers).
        let stateDirectory = configuration.stateDirectory ?? Process.environment("STATE_DIRECTORY").map {
            // systemd may pass several, colon-separated: ours is the first.
            String($0.split(separator: ":").first ?? "")
        } ?? ".mcpd-state"
        let hiddenPaths = [SandboxReport.absolutePath(stateDirectory)]
        poolConfiguration.hiddenPaths = hiddenPaths
        let cgroupRoot = SandboxReport.logCapabilities()
        poolConfiguration.cgroupRoot = cgroupRoot
        if configuration.sandbox.isPerCall {
            poolConfiguration.maxCallsPerWorker = 1
            poolConfiguration.spareWorkers = max(1, poolConfiguration.spareWorkers)
        }
        pool = WorkerPool(configuration: poolConfiguration, loop: loop, table: table)

        calls = CallService(pool: pool, directory: Directory(), defaultDeadlineSeconds: configuration.callDeadline,
                            toolDeadlines: configuration.toolDeadlines)
        // Generated tools (curl, OpenAPI) are code mcpd wrote from a document it was given: they run in
        // mcp-workers of their own, `strict` with the network they exist to reach. Started at the first
        // such call and kept warm while they are used.
        var generatedConfiguration = poolConfiguration
        generatedConfiguration.sandbox = SandboxPolicy.serverDefault
        generatedConfiguration.sandbox.network = true
        generatedConfiguration.minWorkers = 0
        generatedConfiguration.spareWorkers = 0
        generatedConfiguration.maxCallsPerWorker = configuration.workerMaxCalls
        generatedConfiguration.idleRetireMs = 60_000
        generatedConfiguration.publishesQueueDepth = false
        calls.serverPools[ToolRoute.generatedToolsPool] = WorkerPool(configuration: generatedConfiguration, loop: loop, table: table)
        var registrySettings = RegistrySettings()
        registrySettings.builtinTools = try Supervisor.builtinTools(configuration)
        registrySettings.stateDirectory = stateDirectory
        registrySettings.healthIntervalMs = Int64(configuration.healthInterval * 1000)
        registry = Registry(settings: registrySettings, calls: calls)
        let workerPath = poolConfiguration.workerExecutable
        registry.startStdioPool = { [unowned loop, unowned table] server in
            let launch = StdioLaunch(serverId: server.id, command: server.command ?? "", arguments: server.arguments,
                                     environment: Dictionary(server.environment, uniquingKeysWith: { _, last in last }),
                                     workingDirectory: server.workingDirectory, sandbox: server.sandbox)
            var settings = PoolConfiguration(stdio: launch, shim: workerPath)
            settings.hiddenPaths = hiddenPaths
            settings.cgroupRoot = cgroupRoot
            settings.minWorkers = server.minInstances
            settings.maxWorkers = server.maxInstances
            if server.concurrent { settings.maxConcurrentCallsPerWorker = 8 }
            settings.queueCapacity = configuration.queueMax
            settings.cancelGraceMs = Int64(configuration.cancelGrace * 1000)
            settings.logLevel = configuration.logLevel
            let pool = WorkerPool(configuration: settings, loop: loop, table: table)
            pool.maintainPool()
            return pool
        }
        keyFile = KeyFile(directory: registrySettings.stateDirectory ?? ".mcpd-state")
        do {
            keyring = Keyring(keys: try keyFile.load())
        } catch {
            throw Configuration.UsageError(message: "cannot read the API keys: \(error.description)")
        }
        keyring.onChange = { [keyFile, unowned keyring] in keyFile.save(keyring) }
        let authenticator = Authenticator(credentials, keyring: keyring)
        var apiConfiguration = ExecuteAPIConfiguration(authenticator: authenticator)
        apiConfiguration.streamTimeoutMs = Int64(configuration.streamTimeout * 1000)
        apiConfiguration.keepAliveIntervalMs = Int64(configuration.keepAliveInterval * 1000)
        api = ExecuteAPI(configuration: apiConfiguration, calls: calls, loop: loop)
        api.metricsText = { [metrics] in metrics.render() }

        var mcpSettings = MCPSettings()
        mcpSettings.serverVersion = Configuration.version
        mcpSettings.resourceRoot = configuration.resourceDirectory
        mcpSettings.allowedOrigins = configuration.allowedOrigins
        mcpSettings.allowedHosts = configuration.allowedHosts
        mcpSettings.sessionIdleTimeoutMs = Int64(configuration.sessionIdleTimeout * 1000)
        mcpSettings.pageSize = configuration.pageSize
        mcpSettings.sessionIdPrefix = configuration.instanceId.map { $0 + "." } ?? ""
        mcpSettings.conformanceFixtures = configuration.conformanceFixtures
        mcpSettings.keepAliveIntervalMs = Int64(configuration.keepAliveInterval * 1000)
        mcp = MCPService(calls: calls, settings: mcpSettings, authenticator: authenticator, loop: loop)
        let composer = ComposerAPI(registry: registry, authenticator: authenticator, version: Configuration.version)
        mcp.adminTools = AdminTools(definitions: ComposerAPI.toolDefinitions,
                                    mayUse: { authenticator.role(of: $0).mayManage },
                                    run: { [unowned composer] name, arguments, owner, completion in
                                        composer.runAsTool(name, arguments: arguments, owner: owner, completion: completion)
                                    })
        router = Router(api: api, mcp: mcp,
                        composer: composer,
                        registryAPI: RegistryAPI(registry: registry, authenticator: authenticator),
                        keysAPI: KeysAPI(keyring: keyring, authenticator: authenticator))
        let rateLimits = try Supervisor.rateLimitPolicy(configuration)
        if rateLimits != RateLimitPolicy.off {
            let gate = RateLimitGate(limiter: RateLimiter(table: table, policy: rateLimits), authenticator: authenticator)
            router.rateLimit = gate
            calls.admitCall = { [unowned gate] tool, owner in gate.admitCall(of: tool, owner: owner) }
            gate.onRejected = { [metrics] surface in metrics.rateLimitRejected(surface: surface, limit: "request") }
            calls.onCallRateLimited = { [metrics] surface in metrics.rateLimitRejected(surface: surface.rawValue, limit: "tool") }
        }
        if let settings = try Supervisor.oauthSettings(configuration) {
            mcp.oauth = try TokenVerifier(settings: settings, loop: loop)
            router.resourceMetadata = ProtectedResourceMetadata(settings: settings)
        }

        let settings = HTTPServerSettings(limits: HTTPLimits(maxHeaderBytes: 16 * 1024, maxBodyBytes: configuration.maxBody),
                                          headerTimeoutMs: Int64(configuration.headerTimeout * 1000),
                                          idleTimeoutMs: Int64(configuration.idleTimeout * 1000))
        server = HTTPServer(loop: loop, handler: router, settings: settings)
        for fd in listeners { try server.addListener(fd) }
    }

    /// The tools every mcpd serves: echo and countdown, openai_chat, the file tools when a root is
    /// configured, and the conformance fixtures on request.
    static func builtinTools(_ configuration: Configuration) throws -> [ToolDefinition] {
        var tools = BuiltinTools.all + (configuration.conformanceFixtures ? ConformanceTools.all : [])
        var apiKey = Process.environment("OPENAI_API_KEY") ?? ""
        if let path = configuration.openAIKeyFile {
            guard let text = readTextFile(path) else { throw Configuration.UsageError(message: "cannot read the OpenAI key file \(path)") }
            apiKey = String(text.filter { !$0.isWhitespace })
        }
        let baseURL = configuration.openAIBaseURL ?? Process.environment("OPENAI_BASE_URL") ?? "https://api.openai.com/v1"
        let (chat, chatSpec) = OpenAIChatTool.definition(baseURL: baseURL, apiKey: apiKey, model: configuration.openAIModel ?? "gpt-4o-mini")
        tools.append(Supervisor.routed(chat, chatSpec))
        if let root = configuration.filesRoot {
            guard let resolved = realpath(root, nil) else { throw Configuration.UsageError(message: "--files-root \(root): no such directory") }
            let path = String(cString: resolved)
            free(resolved)
            tools += FileTools.definitions(root: path).map { Supervisor.routed($0.0, $0.1) }
        }
        return tools
    }

    /// --oauth-* as settings (nil when --oauth-issuer is not given); the client secret is read
    /// from its file here, once.
    static func oauthSettings(_ configuration: Configuration) throws -> OAuthSettings? {
        guard let issuer = configuration.oauthIssuer, let resource = configuration.oauthResource else { return nil }
        var secret = ""
        if let path = configuration.oauthClientSecretFile {
            guard let text = readTextFile(path) else { throw Configuration.UsageError(message: "cannot read the OAuth client secret file \(path)") }
            // Only the line break (and surrounding blanks) go: a secret may contain spaces.
            secret = String(text.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
        }
        let settings = OAuthSettings(issuer: issuer, resource: resource, introspectionURL: configuration.oauthIntrospectionURL,
                                     clientId: configuration.oauthClientId ?? "", clientSecret: secret,
                                     requiredScopes: configuration.oauthScopes, cacheSeconds: configuration.oauthCacheSeconds)
        if let problem = settings.problem() { throw Configuration.UsageError(message: problem) }
        return settings
    }

    private static func routed(_ tool: ToolDefinition, _ spec: JSONObject) -> ToolDefinition {
        var routed = tool
        routed.route.spec = Array(JSONValue.object(spec).serialized().utf8)
        return routed
    }

    /// The rate limits: the defaults, then the --config file's "rateLimits", then the flags.
    static func rateLimitPolicy(_ configuration: Configuration) throws -> RateLimitPolicy {
        try rateLimitPolicy(configuration, file: configuration.configFile.map(loadConfigurationFile))
    }

    /// The limits from the configuration file's "rateLimits" (defaults without one), with the
    /// command line's --rate-limit-per-key/-ip over them.
    static func rateLimitPolicy(_ configuration: Configuration, file: JSONObject?) throws -> RateLimitPolicy {
        var policy = RateLimitPolicy()
        if let path = configuration.configFile, let section = file?["rateLimits"] {
            switch RateLimitPolicy.parse(section) {
            case .success(let parsed): policy = parsed
            case .failure(let error): throw Configuration.UsageError(message: "\(path): \(error.message)")
            }
        }
        if let perKey = configuration.rateLimitPerKey { policy.perKey = perKey }
        if let perIp = configuration.rateLimitPerIp { policy.perIp = perIp }
        return policy
    }

    /// The configuration file as JSON (mcpd's format or seed 004's `mcpServers`).
    static func loadConfigurationFile(_ path: String) throws -> JSONObject {
        guard let text = readTextFile(path) else { throw Configuration.UsageError(message: "cannot read the configuration file \(path)") }
        do {
            guard let object = try JSONValue.parse(Array(text.utf8)).objectValue else {
                throw Configuration.UsageError(message: "\(path): the configuration must be a JSON object")
            }
            return object
        } catch let error as Configuration.UsageError {
            throw error
        } catch {
            throw Configuration.UsageError(message: "\(path): not valid JSON: \(error)")
        }
    }

    static func defaultWorkerPath() -> String {
        let executable = Process.executablePath()
        let directory = executable.lastIndex(of: "/").map { String(executable[..<$0]) } ?? "."
        return directory + "/mcp-worker"
    }

    /// A deleted or deactivated stdio server: its calls end, its processes are asked to exit and
    /// are reaped (and killed if they linger) like any worker.
    private func retire(_ serverPool: WorkerPool, reason: String = "the server was deactivated or deleted") {
        serverPool.cancelEverything(reason: reason)
        serverPool.beginShutdown()
        retiredPools.append((serverPool, Clock.monotonicMillis() + 3000))
    }

    private func drain(_ serverPool: WorkerPool) {
        drainingPools.append((serverPool, Clock.monotonicMillis() + Int64(configuration.drainTimeout * 1000)))
    }

    private func retireDrainedPools() {
        let now = Clock.monotonicMillis()
        let done = drainingPools.filter { $0.pool.isQuiet || now >= $0.untilMs }
        guard !done.isEmpty else { return }
        drainingPools.removeAll { entry in done.contains { $0.pool === entry.pool } }
        for entry in done { retire(entry.pool, reason: "the server's configuration changed and its old processes stopped") }
    }

    private func reapRetiredPools() {
        let now = Clock.monotonicMillis()
        for (retired, killAt) in retiredPools where now >= killAt { retired.killRemaining() }
        retiredPools.removeAll { !$0.pool.hasWorkers }
    }

    func run() throws {
        registry.stopStdioPool = { [unowned self] serverPool in self.retire(serverPool) }
        registry.drainStdioPool = { [unowned self] serverPool in self.drain(serverPool) }
        mcp.statusFigures = { [unowned self] in
            let counts = self.pool.counts
            return ["workers": ["idle": .int(Int64(counts.idle)), "busy": .int(Int64(counts.busy)), "total": .int(Int64(counts.total))],
                    "calls_in_flight": .int(Int64(self.calls.activeCount)), "queued": .int(Int64(counts.queued)),
                    "mcp_sessions": .int(Int64(self.mcp.sessionCount))]
        }
        signals = try SignalSource(signals: [SIGTERM, SIGINT, SIGCHLD, SIGHUP], loop: loop) { [unowned self] signal in
            self.received(signal)
        }
        pool.onCountsChanged = { [unowned self] in self.countsChanged() }
        calls.onCallEnded = { [unowned self] tool, event, micros, surface, owner in
            self.registry.record(tool: tool, event: event, latencyMs: micros / 1000, owner: owner)
            self.metrics.callEnded(tool: tool.name, surface: surface.rawValue, outcome: event.outcomeName, seconds: Double(micros) / 1e6)
        }
        MetricsGauges.register(on: metrics, table: table, calls: calls, server: server, api: api, mcp: mcp, registry: registry)
        // Keys' last use is kept to the minute, not written on every request.
        loop.every(milliseconds: 60_000) { [unowned self] in if self.keyring.usedSinceSave { self.keyFile.save(self.keyring) } }
        let problems = try registry.load(configuration: try configuration.configFile.map(Supervisor.loadConfigurationFile))
        // A wrong configuration file is the operator's to fix before mcpd serves; a state-file item
        // that no longer loads is logged and skipped, so a restart never fails on what it kept.
        if let path = configuration.configFile, let problem = problems.first(where: { !$0.hasPrefix("state:") }) {
            throw Configuration.UsageError(message: "\(path): \(problem)")
        }
        for problem in problems { Log.error("state problem; the item was skipped", ["problem": problem]) }
        loop.every(milliseconds: registry.settings.healthIntervalMs) { [unowned self] in self.registry.checkHealth() }
        loop.every(milliseconds: 1000) { [unowned self] in
            self.table.stampSupervisorHeartbeat()
            self.notifier.status(self.statusLine)
            self.retireDrainedPools()
            self.reapRetiredPools()
        }
        if let interval = notifier.watchdogIntervalMs {
            loop.every(milliseconds: interval) { [unowned self] in self.notifier.watchdog() }
        }
        loop.every(milliseconds: 50) { [unowned self] in self.advanceShutdown() }
        table.stampSupervisorHeartbeat()
        Log.info("mcpd starting", ["listen": server.listenerAddresses.joined(separator: " "),
                                   "workers_min": String(configuration.workersMin),
                                   "workers_max": String(configuration.workersMax), "pid": String(getpid())])
        mcp.oauth?.start()
        pool.maintainPool()
        loop.run()
        if keyring.usedSinceSave { keyFile.save(keyring) }
        table.setSupervisorState(.stopped)
        Log.info("mcpd stopped")
    }

    private var statusLine: String {
        let counts = pool.counts
        switch stage {
        case .serving:
            return "\(calls.phase == .ready ? "serving" : "starting"): workers \(counts.live)/\(counts.total) (\(counts.busy) busy), calls \(calls.activeCount), queued \(counts.queued), connections \(server.openConnections)"
        default:
            return "draining: calls \(calls.activeCount), workers \(counts.total)"
        }
    }

    /// READY=1 once listening with the pool's minimum up.
    private func countsChanged() {
        guard stage == .serving, calls.phase == .starting else { return }
        let counts = pool.counts
        if counts.live >= configuration.workersMin {
            calls.phase = .ready
            table.setSupervisorState(.ready)
            table.stampSupervisorHeartbeat()
            notifier.ready(status: statusLine)
            Log.info("mcpd ready", ["workers": String(counts.live)])
        }
    }

    /// Reaps the children no pool owns: descendants orphaned under this subreaper.
    private func reapOrphans() {
        let pools = allPools
        let reaped = Process.reapOrphans { pid in pools.contains { $0.owns(pid) } }
        if reaped > 0 { Log.debug("reaped orphaned processes", ["count": String(reaped)]) }
    }

    private func received(_ signal: Int32) {
        switch signal {
        case SIGCHLD:
            for each in allPools { each.reapChildren() }
            reapOrphans()
            reapRetiredPools()
        case SIGTERM, SIGINT:
            beginShutdown(signal == SIGTERM ? "SIGTERM" : "SIGINT")
        case SIGHUP:
            reload()
        default:
            break
        }
    }

    // MARK: reload

    /// SIGHUP (`systemctl reload`): the configuration file again, applied without closing a
    /// connection — servers added, removed or replaced (see Registry.reload), the file's tools and
    /// prompts, the rate limits. Announced to systemd with RELOADING=1 and ended with READY=1, so
    /// that `systemctl reload` returns when it is done. A wrong file changes nothing.
    private func reload() {
        guard stage == .serving else { return }
        notifier.reloading(status: "reloading the configuration")
        defer { notifier.ready(status: statusLine) }
        guard let path = configuration.configFile else {
            return Log.info("SIGHUP: mcpd runs without --config; nothing to reload")
        }
        let file: JSONObject
        let policy: RateLimitPolicy
        do {
            file = try Supervisor.loadConfigurationFile(path)
            policy = try Supervisor.rateLimitPolicy(configuration, file: file)
        } catch {
            return Log.error("reload refused; the configuration in use is unchanged", ["file": path, "problem": "\(error)"])
        }
        switch registry.reload(configuration: file) {
        case .failure(let refusal):
            Log.error("reload refused; the configuration in use is unchanged",
                      ["file": path, "problems": refusal.problems.joined(separator: "; ")])
        case .success(let summary):
            if let limiter = router.rateLimit?.limiter {
                limiter.policy = policy
            } else if policy != RateLimitPolicy.off {
                Log.warn("rate limits were off at start; turning them on takes a restart", ["file": path])
            }
            Log.info("configuration reloaded", ["file": path, "added": summary.added.joined(separator: ","),
                                                "removed": summary.removed.joined(separator: ","),
                                                "replaced": summary.replaced.joined(separator: ","),
                                                "unchanged": summary.unchanged.joined(separator: ",")])
        }
    }

    // MARK: shutdown

    /// Stop accepting; let in-flight calls finish within the drain timeout; then cancel the rest,
    /// stop every worker and exit.
    private func beginShutdown(_ why: String) {
        guard stage == .serving else {
            if stage == .draining { drainDeadlineMs = 0 }  // a second signal: stop waiting
            return
        }
        stage = .draining
        calls.phase = .draining
        table.setSupervisorState(.draining)
        notifier.stopping(status: "draining: \(calls.activeCount) calls in flight")
        Log.info("draining", ["signal": why, "calls": String(calls.activeCount),
                              "timeout_s": String(configuration.drainTimeout)])
        server.beginDraining()
        drainDeadlineMs = Clock.monotonicMillis() + Int64(configuration.drainTimeout * 1000)
        advanceShutdown()
    }

    private func advanceShutdown() {
        let now = Clock.monotonicMillis()
        switch stage {
        case .serving, .stopped:
            return
        case .draining:
            let quiet = allPools.allSatisfy(\.isQuiet) && !server.hasRequestsInProgress
            guard quiet || now >= drainDeadlineMs else { return }
            if !quiet {
                Log.warn("drain timeout reached; cancelling the remaining calls", ["calls": String(calls.activeCount)])
                for each in allPools { each.cancelEverything(reason: "shutdown") }
            }
            stage = .stoppingWorkers
            for each in allPools { each.beginShutdown() }
            workersGoneDeadlineMs = now + 2000
        case .stoppingWorkers:
            for each in allPools { each.reapChildren() }
            reapOrphans()
            guard !allPools.contains(where: \.hasWorkers) || now >= workersGoneDeadlineMs else { return }
            for each in allPools { each.killRemaining() }
            server.closeAll()
            stage = .stopped
            loop.stop()
        }
    }
}
