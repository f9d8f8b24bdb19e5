import Access
import HTTP
import JSON
import OAuth

/// Who may use MCP: a static token (compared locally, in constant time), or, when OAuth is
/// configured, an OAuth access token that the authorization server vouches for. Static tokens
/// stay valid beside OAuth so that operators and scripts keep working; OAuth tokens are accepted
/// on the MCP endpoints only (the management APIs are not MCP and keep static tokens).
extension MCPService {
    /// Calls `proceed` with the caller's owner name, now or once the token is checked; answers
    /// every refusal itself (401 with a Bearer challenge, 403 insufficient_scope, 503).
    func authorize(_ request: HTTPRequest, _ connection: HTTPConnection, isTenant: Bool,
                   proceed: @escaping (String) -> Void) {
        let authorization = request.header("authorization")
        let outcome = authenticator.authenticate(authorization: authorization, apiKey: request.header("x-api-key"))
        if case .identity(let identity) = outcome { return proceed(identity.owner) }
        guard let oauth else {
            if isTenant { return tenantUnauthorized(request, connection) }
            let error = RPCError(code: RPCError.authenticationRequired, message: "Authentication required: send Authorization: Bearer <token>")
            return connection.respondRPCError(401, error, headers: [("WWW-Authenticate", "Bearer realm=\"mcpd\"")])
        }
        let settings = oauth.settings
        switch BearerToken.parse(authorization) {
        case .missing:
            unauthorized(request, connection, isTenant: isTenant, challenge: BearerChallenge.authenticationRequired(settings),
                         message: "send an OAuth access token for \(settings.resource) in Authorization: Bearer")
        case .malformed:
            // RFC 6750 §3.1: a malformed request is 400 invalid_request.
            connection.respondRPCError(400, RPCError(code: RPCError.authenticationRequired,
                                                     message: "Authentication required: the Authorization header is not 'Bearer <token>'"),
                                       headers: [("WWW-Authenticate", BearerChallenge.invalidRequest(settings, "the Authorization header is not a bearer token"))])
        case .token(let token):
            oauth.verify(token) { [weak self, weak connection] verdict in
                // The client may have gone while the token was checked: start nothing for it.
                guard let self, let connection, connection.isOpen else { return }
                switch verdict {
                case .accepted(let identity):
                    proceed(identity.owner)
                case .invalid(let why):
                    self.unauthorized(request, connection, isTenant: isTenant,
                                      challenge: BearerChallenge.invalidToken(settings, why), message: why)
                case .insufficientScope:
                    let required = settings.requiredScopes.joined(separator: " ")
                    let error = RPCError(code: RPCError.authenticationRequired,
                                         message: "Forbidden: the access token lacks a required scope (needs: \(required))",
                                         data: .object(JSONObject([("required_scopes", .array(settings.requiredScopes.map { .string($0) }))])))
                    connection.respondRPCError(403, error, headers: [("WWW-Authenticate", BearerChallenge.insufficientScope(settings))])
                case .unavailable:
                    // Our fault, not the token's: a 401 would make clients throw the token away.
                    let error = RPCError.internal("the authorization server could not check the access token; retry later")
                    connection.respondRPCError(503, error, headers: [("Retry-After", "5")])
                }
            }
        }
    }

    private func unauthorized(_ request: HTTPRequest, _ connection: HTTPConnection, isTenant: Bool, challenge: String, message: String) {
        if isTenant { return tenantUnauthorized(request, connection, challenge: challenge) }
        let error = RPCError(code: RPCError.authenticationRequired, message: "Authentication required: \(message)")
        connection.respondRPCError(401, error, headers: [("WWW-Authenticate", challenge)])
    }

    /// Seed 003's 401: JSON-RPC -32000 "Authentication required" with the OAuth endpoints in
    /// `data.oauth`. With OAuth configured they are the authorization server's own (from its
    /// RFC 8414 metadata), along with where our protected resource metadata is.
    func tenantUnauthorized(_ request: HTTPRequest, _ connection: HTTPConnection, challenge: String? = nil) {
        guard let oauth else { return tenant.respondUnauthorized(request, connection) }
        var endpoints: [(String, JSONValue)] = []
        if let metadata = oauth.serverMetadata {
            if let url = metadata.authorization { endpoints.append(("authorization_endpoint", .string(url))) }
            if let url = metadata.token { endpoints.append(("token_endpoint", .string(url))) }
            if let url = metadata.registration { endpoints.append(("registration_endpoint", .string(url))) }
        }
        endpoints.append(("issuer", .string(oauth.settings.issuer)))
        endpoints.append(("resource_metadata", .string(oauth.settings.resourceMetadataURL)))
        let error = RPCError(code: RPCError.authenticationRequired, message: "Authentication required",
                             data: .object(JSONObject([("oauth", .object(JSONObject(endpoints)))])))
        connection.respondRPCError(401, error, headers: [("WWW-Authenticate", challenge ?? BearerChallenge.authenticationRequired(oauth.settings))])
    }
}
