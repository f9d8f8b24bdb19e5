import Access
import HTTP
import JSON
import Logging
import SystemCalls

/// The API keys' file, keys.json in the state directory (0600, written atomically like state.json):
/// each key's id, name, tenant, role, times and the SHA-256 of its secret, never the secret.
public struct KeyFile {
    let store: StateStore

    public init(directory: String) {
        store = StateStore(directory: directory, fileName: "keys.json")
    }

    public func load() throws(StateError) -> [Keyring.Key] {
        try store.prepare()
        guard let value = try store.load() else { return [] }
        var keys: [Keyring.Key] = []
        for item in value["keys"]?.arrayValue ?? [] {
            guard let id = item["id"]?.stringValue, let tenant = item["tenant"]?.stringValue, Tenant.isValid(tenant),
                  let role = item["role"]?.stringValue.flatMap(Role.init(rawValue:)),
                  let digest = item["sha256"]?.stringValue.flatMap(KeyFile.bytes(hex:)), digest.count == 32 else {
                Log.error("keys.json: an entry is malformed and was skipped")
                continue
            }
            keys.append(Keyring.Key(id: id, name: item["name"]?.stringValue ?? "", tenant: tenant, role: role,
                                    createdAtMs: item["created_at_ms"]?.intValue ?? 0,
                                    lastUsedAtMs: item["last_used_at_ms"]?.intValue, digest: digest))
        }
        return keys
    }

    public func save(_ keyring: Keyring) {
        let items: [JSONValue] = keyring.keys.map { key in
            var item = JSONObject([("id", .string(key.id)), ("name", .string(key.name)), ("tenant", .string(key.tenant)),
                                   ("role", .string(key.role.rawValue)), ("created_at_ms", .int(key.createdAtMs)),
                                   ("sha256", .string(KeyFile.hex(key.digest)))])
            if let used = key.lastUsedAtMs { item["last_used_at_ms"] = .int(used) }
            return .object(item)
        }
        do {
            try store.save(.object(JSONObject([("format", 1), ("keys", .array(items))])))
            keyring.markSaved()
        } catch {
            Log.error("cannot write the keys file", ["error": error.description])
        }
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }, as: UTF8.self)
    }

    static func bytes(hex: String) -> [UInt8]? {
        let text = Array(hex.utf8)
        guard text.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: c - 48
            case 97...102: c - 87
            case 65...70: c - 55
            default: nil
            }
        }
        var out: [UInt8] = []
        for index in stride(from: 0, to: text.count, by: 2) {
            guard let high = nibble(text[index]), let low = nibble(text[index + 1]) else { return nil }
            out.append(high << 4 | low)
        }
        return out
    }
}

/// The key admin API, in the /v1 registry's shape (`{"success", "data", "error"}`):
///   POST   /v1/keys        {"name", "role"?, "tenant"?} → 201, the key with its secret (`key`), once
///   GET    /v1/keys        the caller's tenant's keys (`?tenant=` for the default tenant's owner)
///   GET    /v1/keys/{id}   one key
///   DELETE /v1/keys/{id}   revokes it; the next request with it is 401
/// Owners and admins manage their own tenant's keys, never granting or revoking a role above their
/// own; an owner of tenant `default` (the operator) may name any tenant. Another tenant's key is
/// answered like one that does not exist.
public final class KeysAPI {
    let keyring: Keyring
    let authenticator: Authenticator

    public init(keyring: Keyring, authenticator: Authenticator) {
        self.keyring = keyring
        self.authenticator = authenticator
    }

    static let maxKeysPerTenant = 1000
    static let maxKeys = 10_000

    public static func serves(_ path: Substring) -> Bool { path == "/v1/keys" || path.hasUTF8Prefix("/v1/keys/") }

    public func handle(_ request: HTTPRequest, on connection: HTTPConnection) {
        let id = request.path == "/v1/keys" ? nil : String(request.path.dropFirst("/v1/keys/".count))
        if let id, id.isEmpty || id.contains("/") { return fail(connection, 404, "not_found", "no route for \(request.path)") }
        let allowed = id == nil ? ["GET", "POST"] : ["GET", "DELETE"]
        guard allowed.contains(request.method) else {
            return fail(connection, 405, "method_not_allowed", "\(request.method) is not allowed here; use \(allowed.joined(separator: ", "))",
                        headers: [("Allow", allowed.joined(separator: ", "))])
        }
        let identity: Identity
        switch ManagementHTTP.identify(request, authenticator) {
        case .identity(let found): identity = found
        case .missing:
            return fail(connection, 401, "unauthorized", "missing Authorization: Bearer <token>", headers: [("WWW-Authenticate", "Bearer")])
        case .malformed, .unknown:
            return fail(connection, 401, "unauthorized", "the credentials are not recognised", headers: [("WWW-Authenticate", "Bearer")])
        }
        guard identity.role.mayManage else {
            return fail(connection, 403, "forbidden", "managing keys needs an owner or admin role; yours is \(identity.role.rawValue)")
        }
        switch (request.method, id) {
        case ("POST", nil): create(request, identity, connection)
        case ("GET", nil): list(request, identity, connection)
        case ("GET", let id?):
            guard let key = visibleKey(id, identity) else { return notFound(connection) }
            succeed(connection, .object(view(key)))
        case ("DELETE", let id?): revoke(id, identity, connection)
        default: notFound(connection)
        }
    }

    /// The operator: an owner of tenant `default`, who may act on any tenant's keys.
    private func isOperator(_ identity: Identity) -> Bool { identity.tenant == Tenant.defaultId && identity.role == .owner }

    private func visibleKey(_ id: String, _ identity: Identity) -> Keyring.Key? {
        guard let key = keyring.key(id: id), key.tenant == identity.tenant || isOperator(identity) else { return nil }
        return key
    }

    private func create(_ request: HTTPRequest, _ identity: Identity, _ connection: HTTPConnection) {
        guard let body = ManagementHTTP.bodyObject(request) else {
            return fail(connection, 400, "validation_error", "the request body must be a JSON object")
        }
        guard let name = body["name"]?.stringValue, (1...128).contains(name.utf8.count),
              name.utf8.allSatisfy({ $0 >= 32 && $0 != 127 }) else {
            return fail(connection, 400, "validation_error", "name must be a string of 1-128 printable characters")
        }
        var role = Role.member
        if let value = body["role"] {
            guard let parsed = value.stringValue.flatMap(Role.init(rawValue:)) else {
                return fail(connection, 400, "validation_error", "role must be owner, admin, member or viewer")
            }
            role = parsed
        }
        var tenant = identity.tenant
        if let value = body["tenant"] {
            guard let requested = value.stringValue, Tenant.isValid(requested) else {
                return fail(connection, 400, "validation_error", "tenant must be 1-64 letters, digits, '.', '_' or '-' (or a UUID)")
            }
            guard requested == identity.tenant || isOperator(identity) else {
                return fail(connection, 403, "forbidden", "only an owner of the default tenant may create keys for another tenant")
            }
            tenant = requested
        }
        guard role.rank <= identity.role.rank else {
            return fail(connection, 403, "forbidden", "a \(identity.role.rawValue) may not create a key with the \(role.rawValue) role")
        }
        // Every request with an unknown credential is compared with every key: keep that bounded.
        guard keyring.keys.filter({ $0.tenant == tenant }).count < KeysAPI.maxKeysPerTenant,
              keyring.keys.count < KeysAPI.maxKeys else {
            return fail(connection, 409, "limit_exceeded", "too many keys (at most \(KeysAPI.maxKeysPerTenant) per tenant, \(KeysAPI.maxKeys) in all); revoke some first")
        }
        let (key, secret) = keyring.create(name: name, tenant: tenant, role: role)
        Log.info("API key created", ["key_id": key.id, "tenant": tenant, "role": role.rawValue, "by": identity.owner])
        var data = view(key)
        data["key"] = .string(secret)
        succeed(connection, .object(data), status: 201)
    }

    private func list(_ request: HTTPRequest, _ identity: Identity, _ connection: HTTPConnection) {
        let query = ManagementHTTP.query(request.target)
        var tenant = identity.tenant
        if let requested = query["tenant"], requested != identity.tenant {
            guard isOperator(identity) else {
                return fail(connection, 403, "forbidden", "only an owner of the default tenant may list another tenant's keys")
            }
            tenant = requested
        }
        let items = keyring.keys.filter { $0.tenant == tenant }.map { JSONValue.object(view($0)) }
        succeed(connection, .array(items))
    }

    private func revoke(_ id: String, _ identity: Identity, _ connection: HTTPConnection) {
        guard let key = visibleKey(id, identity) else { return notFound(connection) }
        guard key.role.rank <= identity.role.rank else {
            return fail(connection, 403, "forbidden", "a \(identity.role.rawValue) may not revoke a key with the \(key.role.rawValue) role")
        }
        keyring.revoke(id: id)
        Log.info("API key revoked", ["key_id": id, "tenant": key.tenant, "by": identity.owner])
        succeed(connection, .object(JSONObject([("id", .string(id)), ("revoked", true)])))
    }

    /// A key as any answer shows it: never its secret or its digest.
    private func view(_ key: Keyring.Key) -> JSONObject {
        JSONObject([
            ("id", .string(key.id)), ("name", .string(key.name)), ("tenant", .string(key.tenant)), ("role", .string(key.role.rawValue)),
            ("created_at", .string(Clock.iso8601(millis: key.createdAtMs))),
            ("last_used_at", key.lastUsedAtMs.map { .string(Clock.iso8601(millis: $0)) } ?? .null),
        ])
    }

    private func notFound(_ connection: HTTPConnection) { fail(connection, 404, "not_found", "Key not found") }

    private func succeed(_ connection: HTTPConnection, _ data: JSONValue, status: Int = 200) {
        ManagementHTTP.succeedV1(connection, data, status: status)
    }

    private func fail(_ connection: HTTPConnection, _ status: Int, _ code: String, _ message: String, headers: [(String, String)] = []) {
        ManagementHTTP.failV1(connection, status, code, message, headers: headers)
    }
}
