// The contract's auth object as request headers: {"strategy": "none"|"bearer"|"api_key"|"basic",
// "token"?, "header"? (default X-API-Key), "key"?, "username"?, "password"?}. The values are
// secrets: they go on the wire and nowhere else (never into a message or a result).
import JSON

enum UpstreamCredentials {
    static func headers(for auth: JSONValue?) -> [(String, String)] {
        guard let auth = auth?.objectValue else { return [] }
        switch auth["strategy"]?.stringValue {
        case "bearer":
            return [("Authorization", "Bearer " + (auth["token"]?.stringValue ?? ""))]
        case "api_key":
            let header = auth["header"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? "X-API-Key"
            return [(header, auth["key"]?.stringValue ?? "")]
        case "basic":
            let pair = (auth["username"]?.stringValue ?? "") + ":" + (auth["password"]?.stringValue ?? "")
            return [("Authorization", "Basic " + base64(Array(pair.utf8)))]
        default:
            return []
        }
    }

    /// RFC 4648 base64, for Basic credentials.
    static func base64(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let remaining = bytes.count - index
            let group = UInt32(bytes[index]) << 16
                | (remaining > 1 ? UInt32(bytes[index + 1]) << 8 : 0)
                | (remaining > 2 ? UInt32(bytes[index + 2]) : 0)
            out.append(alphabet[Int(group >> 18 & 63)])
            out.append(alphabet[Int(group >> 12 & 63)])
            out.append(remaining > 1 ? alphabet[Int(group >> 6 & 63)] : UInt8(ascii: "="))
            out.append(remaining > 2 ? alphabet[Int(group & 63)] : UInt8(ascii: "="))
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}
