// Upstream credentials as operators give them (seed 001: "auth_strategy" beside an "auth" object)
// turned into the auth object workers use (contract: {"strategy", "token"?, "header"?, "key"?,
// "username"?, "password"?}). The values are secrets: they go into specs, never into messages.
import JSON

public enum UpstreamAuth {
    /// The auth object for `config`'s "auth_strategy" and "auth" members, or nil for no credentials
    /// (no config, no strategy, or "none"). Works on add_tools_from_openapi's `auth_config` and on
    /// register_mcp_server's arguments alike, since both hold the two members side by side.
    ///
    /// - bearer: auth.token.
    /// - api_key: auth.key (also accepted as "api_key" or "value"), sent in auth.header
    ///   (default `defaultAPIKeyHeader`, else X-API-Key).
    /// - basic: auth.username and auth.password (password may be empty).
    public static func authObject(from config: JSONObject?, defaultAPIKeyHeader: String? = nil) throws(ToolSourceError) -> JSONObject? {
        guard let config else { return nil }
        let strategyValue = config["auth_strategy"] ?? .null
        if strategyValue.isNull { return nil }
        guard let strategy = strategyValue.stringValue else {
            throw ToolSourceError("auth_strategy must be a string: none, bearer, api_key or basic")
        }
        let authValue = config["auth"] ?? .null
        if !authValue.isNull && authValue.objectValue == nil {
            throw ToolSourceError("auth must be an object")
        }
        let auth = authValue.objectValue ?? JSONObject()
        switch strategy.lowercased() {
        case "none", "":
            return nil
        case "bearer":
            let token = try requiredString(auth, ["token"], strategy: "bearer")
            return ["strategy": "bearer", "token": .string(token)]
        case "api_key", "apikey", "api-key":
            let key = try requiredString(auth, ["key", "api_key", "value"], strategy: "api_key")
            let header = try optionalString(auth, "header") ?? defaultAPIKeyHeader ?? "X-API-Key"
            guard !header.isEmpty, header.utf8.allSatisfy(HTTPSyntax.isTokenByte) else {
                throw ToolSourceError("auth.header '\(header)' is not a valid header name")
            }
            return ["strategy": "api_key", "header": .string(header), "key": .string(key)]
        case "basic":
            let username = try requiredString(auth, ["username"], strategy: "basic")
            let password = try optionalString(auth, "password") ?? ""
            return ["strategy": "basic", "username": .string(username), "password": .string(password)]
        default:
            throw ToolSourceError("auth_strategy '\(strategy)' is not supported: use none, bearer, api_key or basic")
        }
    }

    private static func requiredString(_ auth: JSONObject, _ names: [String], strategy: String) throws(ToolSourceError) -> String {
        for name in names {
            if let value = try optionalString(auth, name), !value.isEmpty { return value }
        }
        throw ToolSourceError("auth_strategy '\(strategy)' needs auth.\(names[0]) (a non-empty string)")
    }

    private static func optionalString(_ auth: JSONObject, _ name: String) throws(ToolSourceError) -> String? {
        guard let value = auth[name], !value.isNull else { return nil }
        guard let string = value.stringValue else { throw ToolSourceError("auth.\(name) must be a string") }
        guard !string.contains(where: { $0 == "\r" || $0 == "\n" }) else {
            throw ToolSourceError("auth.\(name) cannot contain a line break")
        }
        return string
    }
}
