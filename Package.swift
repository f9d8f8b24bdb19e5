// swift-tools-version: 6.0
// mcpd: a Model Context Protocol tool host. No package dependencies: toolchain modules only.
import PackageDescription

// The executables bind every symbol at load (full RELRO: the GOT is read-only before main runs, so a
// memory bug cannot redirect a library call through it). It also means a fork server's children
// never resolve a symbol lazily, each on its own copy of the pages. ~1 ms more at mcpd's start.
let bindNow = ["-Xlinker", "-z", "-Xlinker", "now"]

let package = Package(
    name: "mcpd",
    targets: [
        // Syscalls Swift cannot call directly: variadic prctl, CMSG macros, atomics on shared memory.
        .target(name: "CMcpd"),
        // One thin layer over the kernel: descriptors, errno, sockets, clocks, processes.
        .target(name: "SystemCalls", dependencies: ["CMcpd"]),
        // JSON values, a streaming writer and a JSON Schema validator, without Foundation.
        .target(name: "JSON"),
        // The shared-memory call table mapped by mcpd, mcp-worker and mcpctl.
        .target(name: "CallTable", dependencies: ["CMcpd", "SystemCalls"]),
        // The framing spoken between mcpd and mcp-worker over a SOCK_SEQPACKET socketpair.
        .target(name: "WorkerProtocol", dependencies: ["SystemCalls"]),
        // Tool definitions (names, schemas, deadlines) and the built-in implementations.
        .target(name: "Tools", dependencies: ["JSON"]),
        // A blocking HTTP/1.1 client for workers; TLS through libssl loaded at run time.
        .target(name: "HTTPClient", dependencies: ["SystemCalls", "CMcpd"]),
        // How mcp-worker runs configured tools from their specs: files, HTTP, OpenAPI, chat, remote MCP.
        .target(name: "Connectors", dependencies: ["HTTPClient", "JSON", "Tools", "SystemCalls"]),
        // Curl command lines, OpenAPI documents and settings turned into tools (supervisor side).
        .target(name: "ToolSources", dependencies: ["JSON", "Tools"]),
        // Structured JSON-lines logging to stderr, journald-aware.
        .target(name: "Logging", dependencies: ["JSON"]),
        // The epoll event loop, timers and signals.
        .target(name: "EventLoop", dependencies: ["CMcpd", "SystemCalls"]),
        // HTTP/1.1: a sans-I/O request parser with limits, and the connection server on the loop.
        .target(name: "HTTP", dependencies: ["SystemCalls", "EventLoop", "JSON"]),
        // systemd's socket-activation and notify protocols, implemented natively.
        .target(name: "Systemd", dependencies: ["CMcpd", "SystemCalls"]),
        // Sandbox levels: the policy model and the child's entry into it (layers in CMcpd/sandbox.c).
        .target(name: "Sandbox", dependencies: ["CMcpd", "JSON", "SystemCalls"]),
        // The worker pool: spawning, scheduling, deadlines, cancellation, recycling.
        .target(name: "Pool", dependencies: ["SystemCalls", "EventLoop", "CallTable", "WorkerProtocol", "JSON", "Logging", "Sandbox"]),
        // Who is calling: tokens and API keys to identities (tenant, role), compared in constant time.
        .target(name: "Access", dependencies: ["SystemCalls"]),
        // Rate limits: the policy (per key, per IP, per tenant, per tool) over the call table's buckets.
        .target(name: "RateLimit", dependencies: ["CallTable", "JSON", "Logging", "SystemCalls"]),
        // mcpd as an OAuth 2.1 resource server: protected resource metadata, bearer challenges,
        // token introspection off the event loop with a short cache, audience and scope checks.
        .target(name: "OAuth", dependencies: ["Access", "HTTP", "HTTPClient", "JSON", "EventLoop", "SystemCalls", "Logging"]),
        // Starting, tracking and cancelling calls for every surface, through the one pool.
        .target(name: "Calls", dependencies: ["HTTP", "Pool", "JSON", "Tools", "SystemCalls", "RateLimit"]),
        // The seed-000 execute/stream API and health probes.
        .target(name: "ExecuteAPI", dependencies: ["Access", "Calls", "HTTP", "Pool", "JSON", "Tools", "SystemCalls", "EventLoop", "Logging", "RateLimit"]),
        // MCP for every revision: Streamable HTTP and stateless /mcp, legacy /sse, seed 003's tenant endpoint.
        .target(name: "MCP", dependencies: ["Access", "OAuth", "Calls", "HTTP", "Pool", "JSON", "Tools", "SystemCalls", "EventLoop", "Logging", "RateLimit"]),
        // The one registry of member servers, configured tools and prompts, persisted; the composer
        // (seed 001) and registry (seed 002) APIs over it.
        .target(name: "Management", dependencies: ["Access", "Calls", "HTTP", "Pool", "JSON", "Tools", "ToolSources", "SystemCalls", "EventLoop", "Logging", "RateLimit", "Sandbox"]),
        // Counters, histograms and gauges in the Prometheus text format (GET /metrics).
        .target(name: "Metrics"),
        .executableTarget(
            name: "mcpd",
            dependencies: ["Access", "OAuth", "Calls", "ExecuteAPI", "MCP", "Management", "ToolSources", "HTTP", "Pool", "Systemd", "EventLoop", "CallTable", "SystemCalls", "Tools", "Logging", "Metrics", "CMcpd", "RateLimit", "JSON", "Sandbox"],
            linkerSettings: [.unsafeFlags(bindNow)]),
        .executableTarget(
            name: "mcp-worker",
            dependencies: ["WorkerProtocol", "CallTable", "Tools", "Connectors", "JSON", "SystemCalls", "CMcpd", "Logging", "Sandbox"],
            // Spawn cost: a Swift hello takes ~4 ms dynamic, ~1.9 ms with the static stdlib (DESIGN.md).
            linkerSettings: [.unsafeFlags(["-static-stdlib"] + bindNow)]),
        .executableTarget(
            name: "mcpctl",
            dependencies: ["CallTable", "SystemCalls", "JSON", "HTTPClient"],
            linkerSettings: [.unsafeFlags(bindNow)]),
        // What several test targets share: scratch directories and whole-file reads and writes.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "JSONTests", dependencies: ["JSON"]),
        .testTarget(name: "ConnectorsTests", dependencies: ["Connectors", "HTTPClient", "ToolSources", "JSON", "Tools", "TestSupport"]),
        .testTarget(name: "CallTableTests", dependencies: ["CallTable", "SystemCalls", "TestSupport"]),
        .testTarget(name: "RateLimitTests", dependencies: ["RateLimit", "CallTable", "JSON"]),
        // A second process for the rate bucket tests: takes tokens from a table it attaches to by path.
        .executableTarget(name: "rate-bucket-driver", dependencies: ["CallTable", "SystemCalls"], path: "Tests/RateBucketDriver"),
        .testTarget(name: "MCPTests", dependencies: ["MCP", "JSON", "HTTP"]),
        .testTarget(name: "PoolTests", dependencies: ["Pool", "EventLoop", "CallTable", "SystemCalls", "JSON", "Logging", "Sandbox", "TestSupport", "WorkerProtocol"]),
        .testTarget(name: "OAuthTests", dependencies: ["OAuth", "EventLoop", "JSON", "SystemCalls"]),
        .testTarget(name: "MetricsTests", dependencies: ["Metrics"]),
        .testTarget(name: "CallsTests", dependencies: ["Calls", "Pool"]),
        .testTarget(name: "SystemCallsTests", dependencies: ["SystemCalls"]),
        .testTarget(name: "AccessTests", dependencies: ["Access"]),
        .testTarget(name: "SandboxTests", dependencies: ["Sandbox", "JSON"]),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "WorkerProtocol", "Systemd", "SystemCalls"]),
    ]
)

// Release builds of our Swift code skip the run-time exclusivity checks: under callgrind they were
// ~7 % of the supervisor's instructions per tool call (swift_beginAccess and its thread-local
// access set). The compile-time checks stay, and debug builds (the test suite) keep the run-time ones.
for target in package.targets where target.type != .test && target.name != "CMcpd" {
    target.swiftSettings = (target.swiftSettings ?? []) + [
        .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
    ]
}
