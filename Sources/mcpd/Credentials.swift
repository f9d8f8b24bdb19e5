import Access
import Glibc
import SystemCalls

/// Tokens from --token, --tokens-file and MCPD_TOKENS; the development token when there are none.
func loadCredentials(_ configuration: Configuration) throws(Configuration.UsageError) -> [Authenticator.Credential] {
    var credentials: [Authenticator.Credential] = []
    for (index, token) in configuration.tokens.enumerated() {
        credentials.append(.init(token: token, name: "token-\(index + 1)"))
    }
    if let path = configuration.tokensFile {
        guard let text = readTextFile(path) else {
            throw Configuration.UsageError(message: "cannot read the tokens file \(path)")
        }
        var count = 0
        for rawLine in text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            switch fields.count {
            case 0: continue
            case 1: count += 1; credentials.append(.init(token: String(fields[0]), name: "file-\(count)"))
            case 2...4:
                let name = String(fields[0])
                guard !name.contains("/") else {
                    throw Configuration.UsageError(message: "tokens file \(path): the name '\(name)' must not contain '/'")
                }
                // OAuth callers are named oauth:<subject>; a token named so would share their calls.
                guard !name.hasPrefix("oauth:") else {
                    throw Configuration.UsageError(message: "tokens file \(path): names starting with 'oauth:' are reserved for OAuth callers")
                }
                var role = Role.owner
                if fields.count >= 3 {
                    guard let parsed = Role(rawValue: String(fields[2])) else {
                        throw Configuration.UsageError(message: "tokens file \(path): unknown role '\(fields[2])' (owner, admin, member or viewer)")
                    }
                    role = parsed
                }
                let tenant = fields.count == 4 ? String(fields[3]) : Tenant.defaultId
                guard Tenant.isValid(tenant) else {
                    throw Configuration.UsageError(message: "tokens file \(path): tenant '\(tenant)' must be 1-64 letters, digits, '.', '_' or '-' (or a UUID)")
                }
                credentials.append(.init(token: String(fields[1]), name: name, role: role, tenant: tenant))
            default: throw Configuration.UsageError(message: "tokens file \(path): expected 'NAME TOKEN [ROLE [TENANT]]' or 'TOKEN' per line")
            }
        }
    }
    if let environment = Process.environment("MCPD_TOKENS") {
        let tokens = environment.split(separator: ",").map { String($0.filter { $0 != " " && $0 != "\t" }) }.filter { !$0.isEmpty }
        for (index, token) in tokens.enumerated() {
            credentials.append(.init(token: token, name: "env-\(index + 1)"))
        }
    }
    if credentials.isEmpty {
        credentials.append(.init(token: Configuration.devToken, name: "dev"))
    }
    return credentials
}

func readTextFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { Descriptor.close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        bytes.append(contentsOf: chunk[0..<n])
        if bytes.count > 1 << 20 { return nil }
    }
    return String(decoding: bytes, as: UTF8.self)
}
