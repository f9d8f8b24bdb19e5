import Access
import Dispatch
import EventLoop
import JSON
import Logging
import SystemCalls

/// Who an accepted OAuth token speaks for: a member (reads and calls tools, manages nothing) of
/// tenant `default` (the single-tenant deployment: it sees what the operator registered).
public struct OAuthIdentity: Sendable, Equatable {
    /// "oauth:" and the token's subject (or username, or client id): stable across token
    /// refreshes, so sessions survive them; safe to log and to show in the call table.
    public let name: String
    public let scopes: [String]

    /// The owner string calls and sessions are kept under (Access.Identity.owner for tenant
    /// `default` is the name alone).
    public var owner: String { name }
    public static let role = Role.member
}

/// The answer to "may this bearer token use MCP here?".
public enum Verdict: Sendable, Equatable {
    case accepted(OAuthIdentity)
    /// 401 invalid_token: unknown, revoked, expired, for another audience or issuer.
    case invalid(String)
    /// 403 insufficient_scope: a valid token without every required scope.
    case insufficientScope
    /// 503: the authorization server could not be asked; says nothing about the token.
    case unavailable(String)
}

/// Checks access tokens on the event loop's thread without ever blocking it: answers from a
/// bounded cache at once, and otherwise introspects on a background queue and resumes the
/// request when the answer is posted back (LoopInbox). Concurrent requests with the same token
/// wait for one introspection together.
///
/// Invariants: every completion is called exactly once, on the loop's thread; at most
/// `maxConcurrentIntrospections` exchanges run at once and at most `maxWaitingTokens` distinct
/// tokens wait (beyond: `unavailable`, never an unbounded queue); failed exchanges are not cached.
public final class TokenVerifier {
    public let settings: OAuthSettings
    private let introspector: TokenIntrospector
    private enum Message: Sendable {
        case introspected(token: String, answer: IntrospectionAnswer)
        case metadata(Result<AuthorizationServerMetadata, AuthorizationServerMetadata.MetadataError>)
    }
    private var inbox: LoopInbox<Message>!
    private unowned let loop: EventLoop

    private struct Remembered {
        let answer: IntrospectionAnswer
        let untilMs: Int64
    }
    private var cache: [String: Remembered] = [:]
    private var waiting: [String: [(Verdict) -> Void]] = [:]
    private var notStarted: [String] = []
    private var running = 0

    /// The authorization server's metadata, once fetched.
    public private(set) var serverMetadata: (authorization: String?, token: String?, registration: String?)?
    private var introspectionEndpoint: String?
    private var metadataTimer: TimerID?
    private var fetchingMetadata = false
    private var lastMetadataProblem: String?
    /// Introspection failures are logged once per reason and at most every 10 s otherwise: an
    /// unreachable server must not turn every request into a log line.
    private var lastFailureLog: (reason: String, atMs: Int64, suppressed: Int)?

    /// Owners of recently accepted tokens. Every request is verified before its role is asked
    /// for, which records its owner again, so forgetting them all when the map is full is safe.
    private var acceptedOwners: Set<String> = []

    /// Introspections started, for tests and status (a cache hit starts none).
    public private(set) var introspectionCount = 0

    public init(settings: OAuthSettings, loop: EventLoop) throws(SystemError) {
        self.settings = settings
        self.loop = loop
        introspector = TokenIntrospector(clientId: settings.clientId, clientSecret: settings.clientSecret,
                                         timeoutMs: settings.timeoutMs, verifyCertificates: settings.verifyCertificates)
        introspectionEndpoint = settings.introspectionURL
        // Weak: an introspection may still report back after the verifier is gone (at exit).
        inbox = try LoopInbox(loop: loop) { [weak self] message in self?.receive(message) }
    }

    /// Fetches the authorization server's metadata in the background, retrying every 5 s until
    /// it has it (the server may start after mcpd).
    public func start() {
        fetchMetadata()
        metadataTimer = loop.every(milliseconds: 5000) { [weak self] in self?.fetchMetadata() }
    }

    private func fetchMetadata() {
        guard !fetchingMetadata else { return }
        fetchingMetadata = true
        let url = settings.authorizationServerMetadataURL, issuer = settings.issuer
        let timeoutMs = settings.timeoutMs, verify = settings.verifyCertificates
        let sender = inbox.sender
        DispatchQueue.global().async {
            sender.post(.metadata(AuthorizationServerMetadata.fetch(from: url, expectedIssuer: issuer,
                                                                    timeoutMs: timeoutMs, verifyCertificates: verify)))
        }
    }

    // MARK: verifying

    public func verify(_ token: String, completion: @escaping (Verdict) -> Void) {
        guard token.utf8.count <= settings.maxTokenBytes else {
            return completion(.invalid("the access token is longer than \(settings.maxTokenBytes) bytes"))
        }
        let now = Clock.monotonicMillis()
        if let remembered = cache[token] {
            if remembered.untilMs > now { return deliver(verdict(remembered.answer), to: completion) }
            cache[token] = nil
        }
        if waiting[token] != nil {
            waiting[token]!.append(completion)
            return
        }
        guard waiting.count < settings.maxWaitingTokens else {
            return completion(.unavailable("too many tokens are being checked at once"))
        }
        waiting[token] = [completion]
        notStarted.append(token)
        startIntrospections()
    }

    private func startIntrospections() {
        while running < settings.maxConcurrentIntrospections, !notStarted.isEmpty {
            let token = notStarted.removeFirst()
            guard let endpoint = introspectionEndpoint else {
                finish(token, .unavailable("the authorization server's introspection endpoint is not known yet"))
                continue
            }
            running += 1
            introspectionCount += 1
            let introspector = self.introspector, sender = inbox.sender
            DispatchQueue.global().async {
                sender.post(.introspected(token: token, answer: introspector.introspect(token, at: endpoint)))
            }
        }
    }

    private func receive(_ message: Message) {
        switch message {
        case .introspected(let token, let answer):
            running -= 1
            if case .failed(let why) = answer {
                logFailure(why)
                finish(token, .unavailable(why))
            } else {
                remember(token, answer)
                finish(token, verdict(answer))
            }
            startIntrospections()
        case .metadata(.success(let metadata)):
            fetchingMetadata = false
            if let timer = metadataTimer { loop.cancel(timer); metadataTimer = nil }
            serverMetadata = (metadata.authorizationEndpoint, metadata.tokenEndpoint, metadata.registrationEndpoint)
            if settings.introspectionURL == nil { introspectionEndpoint = metadata.introspectionEndpoint }
            Log.info("authorization server metadata loaded", ["issuer": metadata.issuer,
                                                              "introspection": introspectionEndpoint ?? "none"])
            if introspectionEndpoint == nil {
                Log.error("the authorization server names no introspection_endpoint and --oauth-introspection-url is not set: OAuth tokens cannot be checked")
            }
        case .metadata(.failure(let error)):
            fetchingMetadata = false
            // One line per distinct problem, not one every 5 s.
            if error.message != lastMetadataProblem {
                Log.warn("cannot load the authorization server's metadata; retrying every 5 s", ["reason": error.message])
                lastMetadataProblem = error.message
            }
        }
    }

    private func logFailure(_ reason: String) {
        let now = Clock.monotonicMillis()
        if let last = lastFailureLog, last.reason == reason, now - last.atMs < 10_000 {
            lastFailureLog?.suppressed += 1
            return
        }
        let suppressed = lastFailureLog?.suppressed ?? 0
        Log.warn("token introspection failed; such requests are answered 503", ["reason": reason, "similar_failures_not_logged": String(suppressed)])
        lastFailureLog = (reason, now, 0)
    }

    private func finish(_ token: String, _ verdict: Verdict) {
        for completion in waiting.removeValue(forKey: token) ?? [] { deliver(verdict, to: completion) }
    }

    private func deliver(_ verdict: Verdict, to completion: (Verdict) -> Void) {
        if case .accepted(let identity) = verdict {
            if acceptedOwners.count >= settings.maxCachedTokens { acceptedOwners.removeAll(keepingCapacity: true) }
            acceptedOwners.insert(identity.owner)
        }
        completion(verdict)
    }

    /// The role of an owner this verifier accepted a token for; nil for anyone else.
    public func role(of owner: String) -> Role? {
        acceptedOwners.contains(owner) ? OAuthIdentity.role : nil
    }

    private func remember(_ token: String, _ answer: IntrospectionAnswer) {
        guard settings.cacheSeconds > 0 else { return }
        let now = Clock.monotonicMillis()
        var lifetimeMs = Int64(settings.cacheSeconds) * 1000
        if case .active(let claims) = answer, let expiresAt = claims.expiresAt {
            lifetimeMs = min(lifetimeMs, expiresAt * 1000 - Clock.wallMillis())
        }
        guard lifetimeMs > 0 else { return }
        if cache.count >= settings.maxCachedTokens {
            cache = cache.filter { $0.value.untilMs > now }
            // Still full of live entries: forget the ones closest to expiry (a quarter at once,
            // so a flood of distinct tokens costs one sweep per thousand, not one per token).
            if cache.count >= settings.maxCachedTokens {
                for (key, _) in cache.sorted(by: { $0.value.untilMs < $1.value.untilMs }).prefix(max(1, cache.count / 4)) {
                    cache[key] = nil
                }
            }
        }
        cache[token] = Remembered(answer: answer, untilMs: now + lifetimeMs)
    }

    /// The checks RFC 7662 leaves to the resource server, in the order that tells a client the
    /// most useful thing: usable at all (active, not expired, our issuer, our audience), then
    /// permitted (scopes).
    func verdict(_ answer: IntrospectionAnswer) -> Verdict {
        switch answer {
        case .failed(let why): return .unavailable(why)
        case .inactive: return .invalid("the access token is not active")
        case .active(let claims):
            if let expiresAt = claims.expiresAt, expiresAt * 1000 <= Clock.wallMillis() {
                return .invalid("the access token has expired")
            }
            if let issuer = claims.issuer, !sameURL(issuer, settings.issuer) {
                return .invalid("the access token was issued by another authorization server")
            }
            // RFC 8707 / MCP: a token must have been issued for this resource; one without an
            // audience could be replayed here from anywhere, so it is refused too.
            guard claims.audiences.contains(where: { sameURL($0, settings.resource) }) else {
                return .invalid("the access token was not issued for this resource")
            }
            guard settings.requiredScopes.allSatisfy(claims.scopes.contains) else { return .insufficientScope }
            return .accepted(OAuthIdentity(name: TokenVerifier.identityName(claims), scopes: claims.scopes))
        }
    }

    /// "oauth:" + subject, or username, or client id; only characters safe in a log line or a
    /// header, at most 128 of them.
    static func identityName(_ claims: TokenClaims) -> String {
        let raw = claims.subject ?? claims.username ?? claims.clientId ?? "unknown"
        let safe = String(String.UnicodeScalarView(raw.unicodeScalars.filter {
            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "._@:-+".unicodeScalars.contains($0))
        }).prefix(128))
        return "oauth:" + (safe.isEmpty ? "unknown" : safe)
    }
}
