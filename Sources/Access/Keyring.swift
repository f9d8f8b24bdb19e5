import SystemCalls

/// API keys created at run time. A key's secret is shown once, when it is made; mcpd keeps only its
/// SHA-256 digest (the secret is 256 random bits, so a fast hash is enough: there is nothing to
/// guess). A presented key is hashed once and compared, in constant time, with every stored digest.
/// Revoking removes the digest, so the key stops working on the very next request.
/// Lives on the event-loop thread, like everything in the supervisor that changes.
public final class Keyring {
    public struct Key: Sendable {
        public let id: String
        public let name: String
        public let tenant: String
        public let role: Role
        public let createdAtMs: Int64
        public var lastUsedAtMs: Int64?
        /// SHA-256 of the secret.
        public let digest: [UInt8]

        public init(id: String, name: String, tenant: String, role: Role, createdAtMs: Int64, lastUsedAtMs: Int64?, digest: [UInt8]) {
            self.id = id
            self.name = name
            self.tenant = tenant
            self.role = role
            self.createdAtMs = createdAtMs
            self.lastUsedAtMs = lastUsedAtMs
            self.digest = digest
        }

        public var identity: Identity { Identity(name: id, tenant: tenant, role: role, keyId: id) }
    }

    public private(set) var keys: [Key]
    /// Called after every creation and revocation (the owner persists the keys).
    public var onChange: (() -> Void)?
    /// True when a key was used since the keys were last saved (last_used_at is saved with the
    /// next change or flush, not on every request).
    public private(set) var usedSinceSave = false

    public init(keys: [Key] = []) {
        self.keys = keys
    }

    /// The secrets' prefix, so a leaked one is recognisable by secret scanners and people.
    public static let secretPrefix = "mcpd_"

    /// Makes a key; the returned secret exists nowhere else afterwards.
    public func create(name: String, tenant: String, role: Role) -> (key: Key, secret: String) {
        let secret = Keyring.secretPrefix + Random.hexToken(byteCount: 32)
        var id: String
        repeat { id = "key_" + Random.hexToken(byteCount: 8) } while keys.contains { $0.id == id }
        let key = Key(id: id, name: name, tenant: tenant, role: role, createdAtMs: Clock.wallMillis(),
                      lastUsedAtMs: nil, digest: SHA256.digest(Array(secret.utf8)))
        keys.append(key)
        onChange?()
        return (key, secret)
    }

    @discardableResult
    public func revoke(id: String) -> Key? {
        guard let index = keys.firstIndex(where: { $0.id == id }) else { return nil }
        let key = keys.remove(at: index)
        onChange?()
        return key
    }

    public func key(id: String) -> Key? { keys.first { $0.id == id } }

    /// The key whose secret this is, if any; stamps its last use.
    public func match(secret: some Collection<UInt8>) -> Key? {
        guard !keys.isEmpty else { return nil }
        let digest = SHA256.digest(secret)
        var found: Int? = nil
        // Every digest is compared, whatever matched, so timing says nothing about which.
        for index in keys.indices where constantTimeEqual(keys[index].digest, digest) { found = index }
        guard let found else { return nil }
        keys[found].lastUsedAtMs = Clock.wallMillis()
        usedSinceSave = true
        return keys[found]
    }

    public func markSaved() { usedSinceSave = false }
}
