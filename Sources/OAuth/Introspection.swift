import HTTPClient
import JSON

/// What the authorization server said about a token (RFC 7662 §2.2), reduced to what mcpd checks.
public struct TokenClaims: Sendable, Equatable {
    public var scopes: [String] = []
    public var audiences: [String] = []
    /// Seconds since the epoch.
    public var expiresAt: Int64?
    public var issuer: String?
    public var subject: String?
    public var clientId: String?
    public var username: String?
}

public enum IntrospectionAnswer: Sendable, Equatable {
    case active(TokenClaims)
    /// Unknown, revoked, expired or otherwise unusable: the server need not say which.
    case inactive
    /// No answer to trust (unreachable, refused our credentials, malformed): says nothing about
    /// the token, so it is never cached.
    case failed(String)
}

/// One RFC 7662 exchange: POST token=… as a form, authenticated as mcpd's client
/// (client_secret_basic, RFC 6749 §2.3.1). Blocking: run it off the event loop.
struct TokenIntrospector: Sendable {
    let clientId: String
    let clientSecret: String
    let timeoutMs: Int
    let verifyCertificates: Bool

    func introspect(_ token: String, at endpoint: String) -> IntrospectionAnswer {
        let body = "token=\(FormEncoding.encode(token))&token_type_hint=access_token"
        // RFC 6749 §2.3.1: id and secret are form-encoded before they are joined and base64'd.
        let credentials = Base64.encode(Array("\(FormEncoding.encode(clientId)):\(FormEncoding.encode(clientSecret))".utf8))
        let request = HTTPClientRequest(method: "POST", url: endpoint,
                                        headers: [("Authorization", "Basic \(credentials)"),
                                                  ("Content-Type", "application/x-www-form-urlencoded"),
                                                  ("Accept", "application/json")],
                                        body: Array(body.utf8), timeoutMs: timeoutMs,
                                        verifyCertificates: verifyCertificates)
        let response: HTTPClientResponse
        do {
            response = try HTTPClient.fetch(request, maxBody: 256 * 1024)
        } catch {
            return .failed("introspection request failed: \(error)")
        }
        guard response.status == 200 else {
            if response.status == 401 || response.status == 403 {
                return .failed("the introspection endpoint refused mcpd's client credentials (HTTP \(response.status))")
            }
            return .failed("the introspection endpoint answered HTTP \(response.status)")
        }
        guard let object = (try? JSONValue.parse(response.body))?.objectValue else {
            return .failed("the introspection endpoint's answer is not a JSON object")
        }
        return TokenIntrospector.interpret(object)
    }

    /// RFC 7662 §2.2: `active` is required; everything else is optional. `aud` may be one string
    /// or an array (RFC 7519 §4.1.3); `scope` is space-separated.
    static func interpret(_ object: JSONObject) -> IntrospectionAnswer {
        guard let active = object["active"]?.boolValue else {
            return .failed("the introspection answer has no boolean 'active'")
        }
        guard active else { return .inactive }
        var claims = TokenClaims()
        claims.scopes = object["scope"]?.stringValue.map { $0.split(separator: " ").map(String.init) } ?? []
        switch object["aud"] {
        case .string(let one)?: claims.audiences = [one]
        case .array(let many)?: claims.audiences = many.compactMap(\.stringValue)
        default: break
        }
        claims.expiresAt = object["exp"]?.intValue ?? object["exp"]?.doubleValue.map { Int64($0) }
        claims.issuer = object["iss"]?.stringValue
        claims.subject = object["sub"]?.stringValue
        claims.clientId = object["client_id"]?.stringValue
        claims.username = object["username"]?.stringValue
        return .active(claims)
    }
}

/// RFC 9728's other half: the authorization server's own metadata (RFC 8414), fetched once to
/// learn its endpoints (for seed 003's 401 and, unless configured, for introspection).
struct AuthorizationServerMetadata: Sendable, Equatable {
    var issuer: String
    var authorizationEndpoint: String?
    var tokenEndpoint: String?
    var registrationEndpoint: String?
    var introspectionEndpoint: String?

    static func fetch(from url: String, expectedIssuer: String, timeoutMs: Int, verifyCertificates: Bool) -> Result<AuthorizationServerMetadata, MetadataError> {
        let request = HTTPClientRequest(method: "GET", url: url, headers: [("Accept", "application/json")],
                                        timeoutMs: timeoutMs, verifyCertificates: verifyCertificates)
        let response: HTTPClientResponse
        do {
            response = try HTTPClient.fetch(request, maxBody: 256 * 1024)
        } catch {
            return .failure(MetadataError(message: "cannot fetch \(url): \(error)"))
        }
        guard response.status == 200, let object = (try? JSONValue.parse(response.body))?.objectValue else {
            return .failure(MetadataError(message: "\(url) answered HTTP \(response.status) without a JSON object"))
        }
        // RFC 8414 §3.3: the issuer in the document must be the one we asked about, or the
        // document is not to be used (it could send clients to an impostor's endpoints).
        guard let issuer = object["issuer"]?.stringValue, sameURL(issuer, expectedIssuer) else {
            return .failure(MetadataError(message: "\(url) names issuer '\(object["issuer"]?.stringValue ?? "")', not '\(expectedIssuer)'"))
        }
        return .success(AuthorizationServerMetadata(issuer: issuer,
                                                    authorizationEndpoint: object["authorization_endpoint"]?.stringValue,
                                                    tokenEndpoint: object["token_endpoint"]?.stringValue,
                                                    registrationEndpoint: object["registration_endpoint"]?.stringValue,
                                                    introspectionEndpoint: object["introspection_endpoint"]?.stringValue))
    }

    struct MetadataError: Error, Sendable, Equatable { let message: String }
}

/// Two identifiers that differ only by a trailing slash name the same thing (issuers and resource
/// identifiers are compared as strings otherwise, RFC 8414 §3.3 and RFC 8707 §2).
func sameURL(_ a: String, _ b: String) -> Bool {
    func trimmed(_ s: String) -> Substring {
        var s = Substring(s)
        while s.hasSuffix("/") { s = s.dropLast() }
        return s
    }
    return trimmed(a) == trimmed(b)
}

/// application/x-www-form-urlencoded for one value: everything but the unreserved characters is
/// percent-encoded (so a token or secret can hold any byte).
enum FormEncoding {
    static func encode(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                out.unicodeScalars.append("%")
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(byte >> 4)]))
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(byte & 15)]))
            }
        }
        return out
    }
}
