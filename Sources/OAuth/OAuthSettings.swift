// OAuth: mcpd as an OAuth 2.1 resource server, as the MCP specification's authorization section
// asks of an HTTP MCP server (revisions 2025-06-18 on): protected resource metadata (RFC 9728),
// bearer-token challenges (RFC 6750), access tokens checked by introspection at the authorization
// server (RFC 7662) and bound to this resource by audience (RFC 8707).
//
// Invariants: a token is never logged, never put in a response, never sent anywhere but to the
// configured introspection endpoint; introspection (a blocking HTTP exchange) never runs on the
// event loop's thread; a verdict is cached no longer than the configured seconds nor past the
// token's expiry.
import HTTPClient

/// How mcpd checks OAuth access tokens. Built from the command line (--oauth-*).
public struct OAuthSettings: Sendable {
    /// The authorization server's issuer identifier (RFC 8414), listed in our metadata.
    public var issuer: String
    /// Our canonical resource identifier (RFC 8707 / RFC 9728): tokens must name it in `aud`.
    public var resource: String
    /// RFC 7662 endpoint; when nil, the authorization server's metadata names it.
    public var introspectionURL: String?
    /// Credentials of mcpd as a client of the introspection endpoint (client_secret_basic).
    public var clientId: String
    public var clientSecret: String
    /// Scopes every request needs; a token missing one gets 403 insufficient_scope.
    public var requiredScopes: [String]
    /// How long an introspection answer is reused (0: not at all); never past the token's `exp`.
    public var cacheSeconds: Int
    public var timeoutMs = 5000
    public var verifyCertificates = true
    /// Bounds: remembered tokens, introspections running at once, distinct tokens waiting.
    public var maxCachedTokens = 4096
    public var maxConcurrentIntrospections = 8
    public var maxWaitingTokens = 1024
    /// Longer tokens are refused unasked: real ones (JWTs included) are a few kB at most, and the
    /// cache keeps tokens whole, so this bounds its memory (4096 × 4 KiB).
    public var maxTokenBytes = 4096

    public static let maximumCacheSeconds = 60

    public init(issuer: String, resource: String, introspectionURL: String?, clientId: String, clientSecret: String,
                requiredScopes: [String], cacheSeconds: Int = 60) {
        self.issuer = issuer
        self.resource = resource
        self.introspectionURL = introspectionURL
        self.clientId = clientId
        self.clientSecret = clientSecret
        self.requiredScopes = requiredScopes
        self.cacheSeconds = min(max(cacheSeconds, 0), OAuthSettings.maximumCacheSeconds)
    }

    /// What is wrong with these settings, for the command line's error message; nil when fine.
    public func problem() -> String? {
        var urls = [("--oauth-issuer", issuer), ("--oauth-resource", resource)]
        if let introspectionURL { urls.append(("--oauth-introspection-url", introspectionURL)) }
        for (option, url) in urls {
            guard let parts = URLParts.parse(url), parts.scheme == "http" || parts.scheme == "https" else {
                return "\(option) needs an absolute http(s) URL, got '\(url)'"
            }
            if url.contains("#") { return "\(option) must not have a fragment" }
        }
        if resource.contains("?") { return "--oauth-resource must not have a query" }
        if clientId.isEmpty { return "--oauth-client-id is required with --oauth-issuer (introspection needs client authentication)" }
        if clientSecret.isEmpty { return "--oauth-client-secret-file must name a non-empty file" }
        if let bad = requiredScopes.first(where: { !OAuthSettings.isScopeToken($0) }) {
            return "--oauth-scopes: '\(bad)' is not a valid scope token"
        }
        return nil
    }

    /// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
    static func isScopeToken(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { $0 == 0x21 || (0x23...0x5B).contains($0) || (0x5D...0x7E).contains($0) }
    }

    /// The resource's path as RFC 9728 §3.1 inserts it after the well-known prefix: "" for a
    /// host-only resource, "/mcp" for https://host/mcp.
    var resourcePath: String {
        guard let parts = URLParts.parse(resource) else { return "" }
        var path = parts.target
        while path.hasSuffix("/") { path.removeLast() }
        return path
    }

    /// Where our protected resource metadata lives (RFC 9728 §3.1), as clients are told in the
    /// WWW-Authenticate challenge: the well-known prefix inserted between host and path.
    public var resourceMetadataURL: String {
        guard let parts = URLParts.parse(resource) else { return resource }
        return "\(parts.scheme)://\(parts.authority)\(ProtectedResourceMetadata.wellKnownPrefix)\(resourcePath)"
    }

    /// The authorization server's metadata (RFC 8414 §3.1, path inserted the same way).
    public var authorizationServerMetadataURL: String {
        guard let parts = URLParts.parse(issuer) else { return issuer }
        var path = parts.target
        while path.hasSuffix("/") { path.removeLast() }
        return "\(parts.scheme)://\(parts.authority)/.well-known/oauth-authorization-server\(path)"
    }
}
