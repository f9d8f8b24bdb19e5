// `mcpctl keys create|list|revoke`: API keys, through the running mcpd's /v1/keys over HTTP.
// Keys live in mcpd's memory and its keys.json; only mcpd changes them, so a revocation takes
// effect at once and a file is never written by two processes. The token is an owner's or
// admin's, read from a file or the environment (never the command line, which `ps` shows).
import Glibc
import HTTPClient
import JSON
import SystemCalls

/// What the three key commands share: where mcpd is, and the admin credential.
enum KeysClient {
    static let urlOption = OptionSpec("--url", value: "url",
                                      help: "mcpd's base URL. Default: $MCPD_URL, else http://127.0.0.1:8000.")
    static let tokenFileOption = OptionSpec("--token-file", value: "path",
                                            help: "A file whose first line is an owner's or admin's token or API key. Default: $MCPD_TOKEN.")
    static let jsonOption = OptionSpec("--json", help: "Print mcpd's answer (its `data`) as JSON.")
    static let common = [urlOption, tokenFileOption, jsonOption]

    static let credentialNote = """
        Talks to the running mcpd over HTTP (/v1/keys) with an owner's or admin's credential: \
        --token-file PATH, or MCPD_TOKEN in the environment. Owners and admins manage their own \
        tenant's keys; an owner of the default tenant may name any tenant with --tenant.
        """

    /// The answer's `data`, or a message saying why there is none.
    static func request(_ method: String, _ path: String, body: JSONValue? = nil, _ options: ParsedOptions) -> Result<JSONValue, UsageError> {
        var token = Process.environment("MCPD_TOKEN")
        if let file = options.value(of: tokenFileOption) {
            guard let text = readFile(file) else { return .failure(UsageError(message: "cannot read the token file \(file)")) }
            token = text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).first.map { String($0).trimmingWhitespace }
        }
        guard let token, !token.isEmpty else {
            return .failure(UsageError(message: "no credential: give --token-file PATH or set MCPD_TOKEN"))
        }
        var base = options.value(of: urlOption) ?? Process.environment("MCPD_URL") ?? "http://127.0.0.1:8000"
        while base.hasSuffix("/") { base.removeLast() }
        var headers = [("Authorization", "Bearer " + token), ("Accept", "application/json")]
        var bytes: [UInt8]? = nil
        if let body {
            headers.append(("Content-Type", "application/json"))
            bytes = Array(body.serialized().utf8)
        }
        let response: HTTPClientResponse
        do {
            response = try HTTPClient.fetch(HTTPClientRequest(method: method, url: base + path, headers: headers, body: bytes, timeoutMs: 15_000))
        } catch {
            return .failure(UsageError(message: "cannot reach mcpd at \(base): \(error.description)"))
        }
        let answer = try? JSONValue.parse(response.body)
        guard (200..<300).contains(response.status), let answer, answer["success"]?.boolValue == true else {
            let message = answer?["error"]?["message"]?.stringValue ?? "HTTP \(response.status) \(response.reason)"
            return .failure(UsageError(message: "mcpd refused: \(message) (HTTP \(response.status))"))
        }
        return .success(answer["data"] ?? .null)
    }

    static func fail(_ error: UsageError) -> Int32 {
        Descriptor.writeAll(2, "mcpctl: \(error.message)\n")
        return 1
    }

    static func readFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Descriptor.close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 65536 {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

enum KeysCreateCommand: Subcommand {
    static let name = "keys create"
    static let abstract = "Create an API key; its secret is printed once, on standard output."
    static let discussion = """
        Creates a key in mcpd and prints its secret alone on standard output (so KEY=$(mcpctl keys \
        create ...) keeps it) and what was made on standard error. mcpd keeps only the key's SHA-256: \
        the secret cannot be shown again. Present it as Authorization: Bearer <key> or X-API-Key: <key>.

        \(KeysClient.credentialNote)
        """
    static let nameOption = OptionSpec("--name", value: "name", help: "What the key is for (shown in lists and logs).")
    static let roleOption = OptionSpec("--role", value: "role", help: "owner, admin, member (default) or viewer; at most your own.")
    static let tenantOption = OptionSpec("--tenant", value: "tenant", help: "The key's tenant (default: yours).")
    static let options = [nameOption, roleOption, tenantOption] + KeysClient.common

    static func run(_ options: ParsedOptions, _ context: Context) -> Int32 {
        guard let name = options.value(of: nameOption) else { return KeysClient.fail(UsageError(message: "--name is required")) }
        var body = JSONObject([("name", .string(name))])
        if let role = options.value(of: roleOption) { body["role"] = .string(role) }
        if let tenant = options.value(of: tenantOption) { body["tenant"] = .string(tenant) }
        switch KeysClient.request("POST", "/v1/keys", body: .object(body), options) {
        case .failure(let error): return KeysClient.fail(error)
        case .success(let data):
            if options.isSet(KeysClient.jsonOption) {
                Descriptor.writeAll(1, data.serialized() + "\n")
                return 0
            }
            let id = data["id"]?.stringValue ?? "?", tenant = data["tenant"]?.stringValue ?? "?", role = data["role"]?.stringValue ?? "?"
            Descriptor.writeAll(2, "created \(id) (tenant \(tenant), role \(role)); the secret below is shown this once\n")
            Descriptor.writeAll(1, (data["key"]?.stringValue ?? "") + "\n")
            return 0
        }
    }
}

enum KeysListCommand: Subcommand {
    static let name = "keys list"
    static let abstract = "List API keys (never their secrets)."
    static let discussion = """
        Lists your tenant's keys (or --tenant's, for an owner of the default tenant): id, name, \
        tenant, role, when it was created and last used.

        \(KeysClient.credentialNote)
        """
    static let tenantOption = OptionSpec("--tenant", value: "tenant", help: "Whose keys (default: your tenant's).")
    static let options = [tenantOption] + KeysClient.common

    static func run(_ options: ParsedOptions, _ context: Context) -> Int32 {
        let path = "/v1/keys" + (options.value(of: tenantOption).map { "?tenant=" + $0 } ?? "")
        switch KeysClient.request("GET", path, options) {
        case .failure(let error): return KeysClient.fail(error)
        case .success(let data):
            if options.isSet(KeysClient.jsonOption) {
                Descriptor.writeAll(1, data.serialized() + "\n")
                return 0
            }
            let rows: [[String]] = (data.arrayValue ?? []).map { key in
                ["id", "name", "tenant", "role", "created_at", "last_used_at"].map { key[$0]?.stringValue ?? "-" }
            }
            Descriptor.writeAll(1, Format.table(["ID", "NAME", "TENANT", "ROLE", "CREATED", "LAST USED"], rows))
            return 0
        }
    }
}

enum KeysRevokeCommand: Subcommand {
    static let name = "keys revoke"
    static let abstract = "Revoke an API key; the next request with it is refused."
    static let discussion = """
        Usage: mcpctl keys revoke KEY_ID (or --id KEY_ID). The key stops working on mcpd's very \
        next request.

        \(KeysClient.credentialNote)
        """
    static let idOption = OptionSpec("--id", value: "key-id", help: "The key's id (key_…), as `keys list` shows it.")
    static let options = [idOption] + KeysClient.common
    static let takesPositional = true

    static func run(_ options: ParsedOptions, _ context: Context) -> Int32 {
        guard let id = options.value(of: idOption) ?? options.positional.first, options.positional.count <= 1,
              !id.contains("/"), !id.contains("?") else {
            return KeysClient.fail(UsageError(message: "give the key's id: mcpctl keys revoke KEY_ID"))
        }
        switch KeysClient.request("DELETE", "/v1/keys/" + id, options) {
        case .failure(let error): return KeysClient.fail(error)
        case .success(let data):
            if options.isSet(KeysClient.jsonOption) {
                Descriptor.writeAll(1, data.serialized() + "\n")
            } else {
                Descriptor.writeAll(1, "revoked \(id)\n")
            }
            return 0
        }
    }
}

extension String {
    fileprivate var trimmingWhitespace: String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}
