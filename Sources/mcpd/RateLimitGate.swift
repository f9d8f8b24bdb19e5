import Access
import Calls
import ExecuteAPI
import HTTP
import Management
import MCP
import RateLimit
import SystemCalls
import Tools

/// The rate limit in front of the router: every request counts against its client's bucket, and
/// every response carries X-RateLimit-Limit, -Remaining and -Reset (seconds until the bucket is full
/// again). Over the limit, the request is answered 429 with Retry-After in the error shape of the
/// surface it was sent to, and never reaches that surface.
///
/// Probes are not limited (a load balancer or kubelet polling /readyz must never be refused, nor
/// use up a client's requests): /healthz, /readyz, /health, /metrics and /.well-known/… show the
/// client's standing without taking from it.
final class RateLimitGate {
    let limiter: RateLimiter
    private let authenticator: Authenticator
    /// Hears each request answered 429, with its surface (execute, mcp, composer, registry).
    var onRejected: ((String) -> Void)?

    init(limiter: RateLimiter, authenticator: Authenticator) {
        self.limiter = limiter
        self.authenticator = authenticator
    }

    static func isProbe(_ path: Substring) -> Bool {
        // By length first: this runs on every request, and most paths (/mcp…) are ruled out without
        // a string comparison.
        switch path.utf8.count {
        case ..<7: return false
        case 7: return path == "/readyz" || path == "/health"
        case 8: return path == "/healthz" || path == "/metrics"
        default: return path.hasUTF8Prefix("/.well-known/")
        }
    }

    /// Who a request counts against: its credential when it presents one this server knows
    /// (Authorization: Bearer, or seed 001's X-API-Key), else the address it comes from. The one place
    /// that decides it, so that keys with ids and tenants change only this function.
    func client(of request: HTTPRequest, on connection: HTTPConnection) -> RateClient {
        let outcome = authenticator.authenticate(authorization: request.header("authorization"), apiKey: request.header("x-api-key"))
        if case .identity(let identity) = outcome { return RateClient.credential(identity.owner, tenant: identity.tenant) }
        return RateClient.address(connection.peerHost)
    }

    /// The bucket key of a caller known only by its owner name (a tool call that has started).
    static func client(ofOwner owner: String) -> RateClient {
        RateClient.credential(owner, tenant: Tenant.of(owner: owner))
    }

    /// Counts the request; true when it may go on (its response will carry the rate limit fields),
    /// false when it was answered 429 here.
    func admit(_ request: HTTPRequest, on connection: HTTPConnection, router: Router) -> Bool {
        let client = client(of: request, on: connection)
        let path = request.path
        if RateLimitGate.isProbe(path) {
            connection.pendingResponseFields = limiter.peekRequest(client).map(RateLimitGate.standing) ?? HTTPFieldBlock()
            return true
        }
        guard let outcome = limiter.admitRequest(client) else {
            connection.pendingResponseFields = HTTPFieldBlock()
            return true
        }
        guard !outcome.allowed else {
            connection.pendingResponseFields = RateLimitGate.standing(outcome)
            return true
        }
        connection.pendingResponseFields = HTTPFieldBlock()
        if ComposerAPI.serves(path) {
            onRejected?("composer")
            router.composer.respondRateLimited(outcome, on: connection)
        } else if RegistryAPI.serves(path) {
            onRejected?("registry")
            router.registryAPI.respondRateLimited(outcome, on: connection)
        } else if MCPService.serves(path) {
            onRejected?("mcp")
            MCPService.respondRateLimited(outcome, on: connection)
        } else {
            onRejected?("execute")
            ExecuteAPI.respondRateLimited(outcome, on: connection)
        }
        return false
    }

    /// The X-RateLimit fields of `outcome.headers` that every admitted request's response carries,
    /// serialized once here rather than as strings to be written out later.
    static func standing(_ outcome: RateLimitOutcome) -> HTTPFieldBlock {
        var lines: [UInt8] = []
        lines.reserveCapacity(96)
        HTTPResponseHead.appendField(RateLimitOutcome.limitHeader, outcome.limit, to: &lines)
        HTTPResponseHead.appendField(RateLimitOutcome.remainingHeader, outcome.remaining, to: &lines)
        HTTPResponseHead.appendField(RateLimitOutcome.resetHeader, outcome.resetSeconds, to: &lines)
        return HTTPFieldBlock(firstName: RateLimitOutcome.limitHeader, lines: lines)
    }

    /// A tool's own limit, checked as a call of it starts (every surface starts calls through the
    /// CallService): nil when the tool has none.
    func admitCall(of tool: ToolDefinition, owner: String) -> RateLimitOutcome? {
        limiter.admitToolCall(tool.name, clientKey: RateLimitGate.client(ofOwner: owner).key)
    }
}
