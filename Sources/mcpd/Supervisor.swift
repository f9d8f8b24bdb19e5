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
import Pool
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

    init(api: ExecuteAPI, mcp: MCPService, composer: ComposerAPI, registryAPI: RegistryAPI) {
        self.api = api
        self.mcp = mcp
        self.composer = composer
        self.registryAPI = registryAPI
    }

    func handle(_ request: HTTPRequest, on connection: HTTPConnection) {
        let path = request.path
        if ComposerAPI.serves(path) {
            composer.handle(request, on: connection)
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
    /// Pools of stdio servers deleted or deactivated, until their last process is reaped.
    /// Pools of stdio servers deleted or deactivated, with when whatever is left of them is killed.
    private var retiredPools: [(pool: WorkerPool, killAtMs: Int64)] = []
    /// Every pool: mcp-worker's, the stdio servers', and the retiring ones.
    private var allPools: [WorkerPool] { [pool] + Array(calls.serverPools.values) + retiredPools.map(\.pool) }
    private let api: ExecuteAPI
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
         notifier: ServiceNotifier) throws {
        self.configuration = configuration
        self.notifier = notifier
        loop = try EventLoop()

        let directory = RuntimeDirectory.resolve(explicit: configuration.runtimeDirectory)
        try RuntimeDirectory.ensureExists(directory)
        // A slot for every call that can be admitted (queued or running), and for workers still
        // being reaped after their replacements started.
        table = try CallTable.create(path: RuntimeDirectory.tablePath(in: directory),
                                     callSlots: configuration.queueMax + configuration.workersMax * 2 + 16,
                                     // Room for stdio servers' processes too (each has a worker slot).
                                     workerSlots: configuration.workersMax * 2 + 136, rateBuckets: 1024)

        var poolConfiguration = PoolConfiguration(workerExecutable: configuration.workerPath ?? Supervisor.defaultWorkerPath())
        poolConfiguration.minWorkers = configuration.workersMin
        poolConfiguration.maxWorkers = configuration.workersMax
        poolConfiguration.spareWorkers = configuration.workersSpare
        poolConfiguration.maxCallsPerWorker = configuration.workerMaxCalls
        poolConfiguration.queueCapacity = configuration.queueMax
        poolConfiguration.cancelGraceMs = Int64(configuration.cancelGrace * 1000)
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
        let authenticator = Authenticator(credentials)
        var apiConfiguration = ExecuteAPIConfiguration(authenticator: authenticator)
        apiConfiguration.streamTimeoutMs = Int64(configuration.streamTimeout * 1000)
        apiConfiguration.keepAliveIntervalMs = Int64(configuration.keepAliveInterval * 1000)
        api = ExecuteAPI(configuration: apiConfiguration, calls: calls, loop: loop)

        var mcpSettings = MCPSettings()
        mcpSettings.serverVersion = Configuration.version
        mcpSettings.resourceRoot = configuration.resourceDirectory
        mcpSettings.allowedOrigins = configuration.allowedOrigins
        mcpSettings.allowedHosts = configuration.allowedHosts
        mcpSettings.sessionIdleTimeoutMs = Int64(configuration.sessionIdleTimeout * 1000)
        mcpSettings.pageSize = configuration.pageSize
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
                        registryAPI: RegistryAPI(registry: registry, authenticator: authenticator))

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

    private static func routed(_ tool: ToolDefinition, _ spec: JSONObject) -> ToolDefinition {
        var routed = tool
        routed.route.spec = Array(JSONValue.object(spec).serialized().utf8)
        return routed
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
    private func retire(_ serverPool: WorkerPool) {
        serverPool.cancelEverything(reason: "the server was deactivated or deleted")
        serverPool.beginShutdown()
        retiredPools.append((serverPool, Clock.monotonicMillis() + 3000))
    }

    private func reapRetiredPools() {
        let now = Clock.monotonicMillis()
        for (retired, killAt) in retiredPools where now >= killAt { retired.killRemaining() }
        retiredPools.removeAll { !$0.pool.hasWorkers }
    }

    func run() throws {
        registry.stopStdioPool = { [unowned self] serverPool in self.retire(serverPool) }
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
        calls.onCallEnded = { [unowned self] tool, event, latency in self.registry.record(tool: tool, event: event, latencyMs: latency) }
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
        pool.maintainPool()
        loop.run()
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

    private func received(_ signal: Int32) {
        switch signal {
        case SIGCHLD:
            for each in allPools { each.reapChildren() }
            reapRetiredPools()
        case SIGTERM, SIGINT:
            beginShutdown(signal == SIGTERM ? "SIGTERM" : "SIGINT")
        case SIGHUP:
            Log.info("SIGHUP received; configuration reload is not supported yet, nothing changed")
        default:
            break
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
            let quiet = allPools.allSatisfy(\.isQuiet)
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
            guard !allPools.contains(where: \.hasWorkers) || now >= workersGoneDeadlineMs else { return }
            for each in allPools { each.killRemaining() }
            server.closeAll()
            stage = .stopped
            loop.stop()
        }
    }
}
