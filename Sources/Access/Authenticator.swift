// Access: who is calling. Configured tokens and run-time API keys, each of one tenant with one
// role, answered as an Identity. Every surface authenticates through here.

/// Maps presented credentials to identities. Configured tokens are compared in constant time;
/// API keys through their digests (Keyring). Secrets are never logged: an identity carries the
/// credential's name only.
public final class Authenticator {
    public struct Credential: Sendable {
        public let token: String
        public let name: String
        public let role: Role
        public let tenant: String
        public init(token: String, name: String, role: Role = .owner, tenant: String = Tenant.defaultId) {
            self.token = token
            self.name = name
            self.role = role
            self.tenant = tenant
        }
    }

    private let credentials: [(bytes: [UInt8], identity: Identity)]
    /// Keys made at run time (nil when mcpd keeps none).
    public let keyring: Keyring?

    public init(_ credentials: [Credential], keyring: Keyring? = nil) {
        self.credentials = credentials.map { (Array($0.token.utf8), Identity(name: $0.name, tenant: $0.tenant, role: $0.role)) }
        self.keyring = keyring
    }

    /// The role of an authenticated owner (an `Identity.owner` string).
    public func role(of owner: String) -> Role {
        if let configured = credentials.first(where: { $0.identity.owner == owner }) { return configured.identity.role }
        let name = owner.split(separator: "/").last.map(String.init) ?? owner
        if let key = keyring?.key(id: name), key.identity.owner == owner { return key.role }
        return .viewer
    }

    /// A credential presented as seed 001's `X-API-Key: <key>` (tokens and keys alike).
    public func authenticate(apiKey: String) -> Outcome {
        authenticate(authorization: "Bearer " + apiKey)
    }

    /// A request's credential: its Authorization header, or else its X-API-Key header.
    public func authenticate(authorization: String?, apiKey: String?) -> Outcome {
        if authorization == nil, let apiKey { return authenticate(apiKey: apiKey) }
        return authenticate(authorization: authorization)
    }

    public enum Outcome: Equatable { case identity(Identity), missing, malformed, unknown }

    public func authenticate(authorization: String?) -> Outcome {
        guard var authorization else { return .missing }
        // The token is compared where it lies in the header's bytes: no copy of the secret is made.
        return authorization.withUTF8 { field -> Outcome in
            guard let range = BearerCredential.tokenRange(in: field) else { return .malformed }
            let presented = UnsafeBufferPointer(rebasing: field[range])
            guard !presented.contains(32) else { return .malformed }
            var match: Identity? = nil
            // Every credential is compared, whatever matched, so timing says nothing about which.
            for credential in credentials where constantTimeEqual(credential.bytes, presented) {
                match = credential.identity
            }
            if let match { return .identity(match) }
            if let key = keyring?.match(secret: presented) { return .identity(key.identity) }
            return .unknown
        }
    }
}

/// The credential of an `Authorization: Bearer <token>` field (RFC 6750 section 2.1), shared by API
/// keys, configured tokens and OAuth access tokens: the scheme in any case, a space, then the token
/// with the spaces and tabs around it trimmed. Read as bytes, in place: this runs on every request.
public enum BearerCredential {
    /// Where the token lies in `field`; nil when the field is not the Bearer scheme or has no token.
    public static func tokenRange(in field: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        // Indexed loops over the bytes: zip and prefix over the buffer cost ~700 instructions here.
        let scheme: StaticString = "bearer"
        let schemeLength = scheme.utf8CodeUnitCount
        guard field.count > schemeLength, field[schemeLength] == 32 else { return nil }
        for index in 0..<schemeLength where field[index] | 0x20 != scheme.utf8Start[index] { return nil }
        var start = schemeLength, end = field.count
        while start < end && (field[start] == 32 || field[start] == 9) { start += 1 }
        while end > start && (field[end - 1] == 32 || field[end - 1] == 9) { end -= 1 }
        return start < end ? start..<end : nil
    }
}
