import SystemCalls

/// Who an authenticated request comes from: the credential's name (safe to log: a tokens-file name
/// or an API key's id, never the secret), its tenant and its role.
public struct Identity: Sendable, Equatable {
    public let name: String
    public let tenant: String
    public let role: Role
    /// The API key's id when the credential is a key created at run time; nil for configured tokens.
    public let keyId: String?

    public init(name: String, tenant: String = Tenant.defaultId, role: Role, keyId: String? = nil) {
        self.name = name
        self.tenant = tenant
        self.role = role
        self.keyId = keyId
    }

    /// The owner string calls and sessions are kept under (and `mcpctl status` shows): the name
    /// alone in tenant `default`, so a single-tenant deployment reads as before, and
    /// "tenant/name" elsewhere. Names never contain '/', so the string is never ambiguous.
    public var owner: String { tenant == Tenant.defaultId ? name : tenant + "/" + name }
}

/// Tenants are ids: `[A-Za-z0-9._-]{1,64}` or a UUID (which that alphabet already covers).
public enum Tenant {
    /// The tenant of every credential that names none: the single-tenant deployment, and the
    /// operator's own tenant in a multi-tenant one.
    public static let defaultId = "default"

    public static func isValid(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        return (1...64).contains(bytes.count) && bytes.allSatisfy(isIdByte)
    }

    /// The tenant of an owner string made by `Identity.owner`.
    public static func of(owner: String) -> String {
        guard let slash = owner.utf8Offset(of: UInt8(ascii: "/")) else { return defaultId }
        return String(owner.prefix(utf8Offset: slash))
    }

    static func isIdByte(_ byte: UInt8) -> Bool {
        (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || byte == 46 || byte == 95 || byte == 45
    }
}

/// What a credential may do. Seed 002: mutations need an owner or admin; a member reads and calls;
/// a viewer only reads.
public enum Role: String, Sendable, CaseIterable {
    case owner, admin, member, viewer

    public var mayManage: Bool { self == .owner || self == .admin }
    public var mayCall: Bool { self != .viewer }

    /// Higher grants more. A manager creates and revokes keys up to its own rank, never above.
    public var rank: Int {
        switch self {
        case .owner: 3
        case .admin: 2
        case .member: 1
        case .viewer: 0
        }
    }
}
