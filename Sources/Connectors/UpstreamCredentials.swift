// The contract's auth object as request headers: {"strategy": "none"|"bearer"|"api_key"|"basic",
// "token"?, "header"? (default X-API-Key), "key"?, "username"?, "password"?}. The values are
// secrets: they go on the wire and nowhere else (never into a message or a result).
import JSON

enum UpstreamCredentials {
    struct Problem: Error { let message: String }

    static func headers(_ auth: JSONValue?) -> Result<[(String, String)], Problem> {
        guard let auth, !auth.isNull else { return .success([]) }
        guard case .object = auth else { return .failure(Problem(message: "spec.auth must be an object")) }
        func field(_ name: String) -> String { auth[name]?.stringValue ?? "" }
        switch auth["strategy"]?.stringValue ?? "none" {
        case "none":
            return .success([])
        case "bearer":
            guard !field("token").isEmpty else { return .failure(Problem(message: "bearer auth needs a token")) }
            return .success([("Authorization", "Bearer \(field("token"))")])
        case "api_key":
            guard !field("key").isEmpty else { return .failure(Problem(message: "api_key auth needs a key")) }
            let header = field("header").isEmpty ? "X-API-Key" : field("header")
            return .success([(header, field("key"))])
        case "basic":
            let pair = Array("\(field("username")):\(field("password"))".utf8)
            return .success([("Authorization", "Basic \(Base64.encode(pair))")])
        case let other:
            return .failure(Problem(message: "unknown auth strategy '\(other)'"))
        }
    }
}
