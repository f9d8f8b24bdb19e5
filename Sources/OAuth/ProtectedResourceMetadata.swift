import Access
import HTTP
import JSON

/// RFC 9728 protected resource metadata: the document an MCP client reads (after our 401, or by
/// probing the well-known paths) to learn which authorization server issues tokens for us and
/// which scopes to ask for. Public: it is served without authentication.
public struct ProtectedResourceMetadata {
    public static let wellKnownPrefix = "/.well-known/oauth-protected-resource"
    let settings: OAuthSettings

    public init(settings: OAuthSettings) { self.settings = settings }

    /// The root form and the path-inserted form for our resource (for https://host/mcp:
    /// /.well-known/oauth-protected-resource and …/oauth-protected-resource/mcp). MCP clients try
    /// the path-inserted one first (2025-11-25), older ones the root.
    public func serves(_ path: Substring) -> Bool {
        path == ProtectedResourceMetadata.wellKnownPrefix || path == ProtectedResourceMetadata.wellKnownPrefix + settings.resourcePath
    }

    public var document: JSONObject {
        JSONObject([("resource", .string(settings.resource)),
                    ("authorization_servers", .array([.string(settings.issuer)])),
                    ("scopes_supported", .array(settings.requiredScopes.map { .string($0) })),
                    // Tokens only in the Authorization header: never in a query string (logged
                    // by proxies) or a form body (MCP bodies are JSON-RPC).
                    ("bearer_methods_supported", .array(["header"])),
                    ("resource_name", "mcpd")])
    }

    public func handle(_ request: HTTPRequest, on connection: HTTPConnection) {
        guard request.method == "GET" || request.method == "HEAD" else {
            return connection.respond(status: 405, headers: [("Allow", "GET, HEAD"), ("Content-Type", "application/json")],
                                      body: Array(#"{"error":"method_not_allowed"}"#.utf8))
        }
        var body: [UInt8] = []
        JSONValue.object(document).write(into: &body)
        // Browser-based MCP clients read it cross-origin; it holds nothing secret.
        connection.respond(status: 200, headers: [("Content-Type", "application/json"),
                                                  ("Cache-Control", "public, max-age=300"),
                                                  ("Access-Control-Allow-Origin", "*")], body: body)
    }
}

/// RFC 6750 §3 challenges, with RFC 9728 §5.1's resource_metadata and the MCP specification's
/// scope hint (2025-11-25): what goes in WWW-Authenticate.
public enum BearerChallenge {
    /// No usable credentials were sent: no error code (RFC 6750 §3.1), just where to start.
    public static func authenticationRequired(_ settings: OAuthSettings) -> String {
        challenge(settings, error: nil, description: nil)
    }

    public static func invalidToken(_ settings: OAuthSettings, _ description: String) -> String {
        challenge(settings, error: "invalid_token", description: description)
    }

    public static func invalidRequest(_ settings: OAuthSettings, _ description: String) -> String {
        challenge(settings, error: "invalid_request", description: description)
    }

    public static func insufficientScope(_ settings: OAuthSettings) -> String {
        challenge(settings, error: "insufficient_scope", description: "the access token lacks a required scope")
    }

    private static func challenge(_ settings: OAuthSettings, error: String?, description: String?) -> String {
        var parameters: [String] = []
        if let error { parameters.append("error=\(quoted(error))") }
        if let description { parameters.append("error_description=\(quoted(description))") }
        if !settings.requiredScopes.isEmpty { parameters.append("scope=\(quoted(settings.requiredScopes.joined(separator: " ")))") }
        parameters.append("resource_metadata=\(quoted(settings.resourceMetadataURL))")
        return "Bearer " + parameters.joined(separator: ", ")
    }

    /// A quoted-string; our values never hold quotes or backslashes, but escape them anyway.
    private static func quoted(_ text: String) -> String {
        var out = "\""
        for character in text {
            if character == "\"" || character == "\\" { out.append("\\") }
            out.append(character)
        }
        return out + "\""
    }
}

/// The token of an `Authorization: Bearer …` header (RFC 6750 §2.1).
public enum BearerToken {
    public enum Parsed: Equatable { case token(String), missing, malformed }

    public static func parse(_ authorization: String?) -> Parsed {
        guard var authorization else { return .missing }
        let presented = authorization.withUTF8 { field in BearerCredential.tokenRange(in: field).map { Array(field[$0]) } }
        guard let token = presented else { return .malformed }
        // b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
        var sawPadding = false
        for byte in token {
            let isPadding = byte == UInt8(ascii: "=")
            if sawPadding && !isPadding { return .malformed }
            sawPadding = sawPadding || isPadding
            let allowed = isPadding || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte)
                || [UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "+"), UInt8(ascii: "/")].contains(byte)
            if !allowed { return .malformed }
        }
        guard !token.isEmpty, token.first != UInt8(ascii: "=") else { return .malformed }
        return .token(String(decoding: token, as: UTF8.self))
    }
}
