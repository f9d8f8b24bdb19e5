// Access: who is calling. Bearer tokens to owners today; tenants, keys and roles arrive with the
// security work. Every surface authenticates through here.
/// Maps bearer tokens to their owners. Tokens are compared in constant time and never logged;
/// an owner is a name ("token-1", "dev"), safe to show in the call table and in logs.
public struct Authenticator: Sendable {
    public struct Credential: Sendable {
        public let token: String
        public let owner: String
        public let role: Role
        public init(token: String, owner: String, role: Role = .owner) {
            self.token = token
            self.owner = owner
            self.role = role
        }
    }

    private let credentials: [(bytes: [UInt8], owner: String)]
    private let roles: [String: Role]

    public init(_ credentials: [Credential]) {
        self.credentials = credentials.map { (Array($0.token.utf8), $0.owner) }
        self.roles = Dictionary(credentials.map { ($0.owner, $0.role) }, uniquingKeysWith: { first, _ in first })
    }

    /// The role of an authenticated owner.
    public func role(of owner: String) -> Role { roles[owner] ?? .viewer }

    /// A token presented as seed 001's `X-API-Key: <key>` (same tokens, same comparison).
    public func authenticate(apiKey: String) -> Outcome {
        authenticate(authorization: "Bearer " + apiKey)
    }

    public enum Outcome: Equatable { case owner(String), missing, malformed, unknown }

    public func authenticate(authorization: String?) -> Outcome {
        guard let authorization else { return .missing }
        // "Bearer" (any case), one or more spaces, the token; read as bytes, once per request.
        var bytes = Array(authorization.utf8)[...]
        let scheme = Array("bearer".utf8)
        guard bytes.count > scheme.count,
              zip(bytes.prefix(scheme.count), scheme).allSatisfy({ ($0 | 0x20) == $1 }),
              bytes[bytes.startIndex + scheme.count] == 32 else { return .malformed }
        bytes = bytes.dropFirst(scheme.count)
        while let first = bytes.first, first == 32 || first == 9 { bytes = bytes.dropFirst() }
        while let last = bytes.last, last == 32 || last == 9 { bytes = bytes.dropLast() }
        guard !bytes.isEmpty, !bytes.contains(32) else { return .malformed }
        let presented = Array(bytes)
        var match: String? = nil
        // Every credential is compared, whatever matched, so timing says nothing about which.
        for credential in credentials where constantTimeEqual(credential.bytes, presented) {
            match = credential.owner
        }
        return match.map { .owner($0) } ?? .unknown
    }

    private func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0
    }
}

/// What a credential may do. Seed 002: mutations need an owner or admin; a member reads and calls;
/// a viewer only reads.
public enum Role: String, Sendable, CaseIterable {
    case owner, admin, member, viewer

    public var mayManage: Bool { self == .owner || self == .admin }
    public var mayCall: Bool { self != .viewer }
}
