// A curl command line read as the HTTP request it describes, for `add_tools` curl tools. The line
// is only parsed, never run: the worker later sends the request itself with `{{name}}`
// placeholders filled in from the call's input.
import JSON

/// The request a curl command line describes.
public struct CurlCommand: Sendable {
    /// As given with -X, else HEAD for -I, POST when there is a body, GET otherwise.
    public var method: String
    /// Absolute http(s) URL; a URL without a scheme gets `http://`, as curl assumes.
    public var url: String
    /// In sending order: curl's own (from -u, -A, -e, -b, --json, the form Content-Type) first,
    /// then -H headers; an -H header replaces curl's own of the same name.
    public var headers: [(name: String, value: String)]
    /// The -d/--data*/--json data, nil without any (or with -G, which moves it to the query).
    public var body: String?
    /// From -m/--max-time.
    public var timeoutMs: Int?
    /// -k/--insecure: the operator trusts the server without a valid certificate.
    public var insecure: Bool
    /// -L/--location: follow redirects, as curl would.
    public var followRedirects: Bool

    /// The distinct `{{name}}` placeholders in the URL, the header values and the body, in order of
    /// first appearance.
    public var variables: [String] {
        Placeholders.distinct(
            [Placeholders.names(in: url)] + headers.map { Placeholders.names(in: $0.value) }
                + [Placeholders.names(in: body ?? "")])
    }

    public init(method: String, url: String, headers: [(name: String, value: String)], body: String?, timeoutMs: Int? = nil,
                insecure: Bool = false, followRedirects: Bool = false) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeoutMs = timeoutMs
        self.insecure = insecure
        self.followRedirects = followRedirects
    }

    /// Parses `commandLine` ("curl [options] URL"), which may be quoted and continued over lines as
    /// in a shell. Options that would make the request differ from what mcpd can send (files,
    /// forms, proxies) and unknown options are refused with an error naming them; options that only
    /// change curl's own output (-s, -v, -L, ...) are accepted and ignored.
    public static func parse(_ commandLine: String) throws(ToolSourceError) -> CurlCommand {
        let words = try ShellWords.split(commandLine)
        guard let program = words.first else { throw ToolSourceError("the curl command is empty") }
        guard program == "curl" || program.hasSuffix("/curl") else {
            throw ToolSourceError("the command must start with 'curl', not '\(program)'")
        }
        var reader = CurlOptionReader(arguments: Array(words.dropFirst()))
        return try reader.read()
    }
}

/// What one curl option does to the request.
enum CurlOptionEffect {
    case url, request, header, data(DataFlavor), json, user, userAgent, referer, cookie, get, head, maxTime, bearer
    case insecure, location
    /// Harmless for us: only changes curl's output or transport details.
    case ignored(takesValue: Bool)
    case unsupported(reason: String)

    enum DataFlavor {
        /// -d, --data, --data-ascii, --data-binary: a leading '@' names a file.
        case fileCapable
        /// --data-raw: '@' is literal.
        case raw
    }
}

enum CurlOptions {
    static func effect(ofShort letter: Character) -> CurlOptionEffect? {
        switch letter {
        case "X": .request
        case "H": .header
        case "d": .data(.fileCapable)
        case "u": .user
        case "A": .userAgent
        case "e": .referer
        case "b": .cookie
        case "G": .get
        case "I": .head
        case "m": .maxTime
        case "k": .insecure
        case "L": .location
        case "s", "S", "v", "f", "g", "N", "i", "#", "4", "6", "q", "O": .ignored(takesValue: false)
        case "o", "w": .ignored(takesValue: true)
        case "F": .unsupported(reason: "multipart forms are not supported; send JSON or url-encoded data with -d")
        case "T": .unsupported(reason: "uploading files is not supported")
        case "K": .unsupported(reason: "curl config files are not supported")
        case "n": .unsupported(reason: ".netrc credentials are not supported; use -u or -H")
        case "E": .unsupported(reason: "client certificates are not supported")
        case "x": .unsupported(reason: "proxies are not supported")
        default: nil
        }
    }

    static func effect(ofLong name: String) -> CurlOptionEffect? {
        switch name {
        case "url": .url
        case "request": .request
        case "header": .header
        case "data", "data-ascii", "data-binary": .data(.fileCapable)
        case "data-raw": .data(.raw)
        case "json": .json
        case "user": .user
        case "user-agent": .userAgent
        case "referer": .referer
        case "cookie": .cookie
        case "get": .get
        case "head": .head
        case "max-time": .maxTime
        case "oauth2-bearer": .bearer
        case "insecure": .insecure
        case "location", "location-trusted": .location
        case "silent", "show-error", "verbose", "fail", "fail-with-body",
             "globoff", "no-buffer", "include", "compressed", "http1.1", "http2", "progress-bar", "no-progress-meter",
             "tcp-nodelay", "no-keepalive", "path-as-is", "remote-name", "ipv4", "ipv6", "disable", "no-sessionid":
            .ignored(takesValue: false)
        case "connect-timeout", "retry", "retry-delay", "retry-max-time", "max-redirs", "output", "write-out", "stderr", "trace-ascii":
            .ignored(takesValue: true)
        case "data-urlencode":
            .unsupported(reason: "give the data already encoded with -d (placeholders are filled in as given)")
        case "form", "form-string":
            .unsupported(reason: "multipart forms are not supported; send JSON or url-encoded data with -d")
        case "upload-file": .unsupported(reason: "uploading files is not supported")
        case "config": .unsupported(reason: "curl config files are not supported")
        case "netrc", "netrc-file", "netrc-optional": .unsupported(reason: ".netrc credentials are not supported; use -u or -H")
        case "cert", "key", "cacert", "capath": .unsupported(reason: "certificate options are not supported")
        case "proxy", "socks5", "socks5-hostname": .unsupported(reason: "proxies are not supported")
        case "unix-socket", "abstract-unix-socket": .unsupported(reason: "unix sockets are not supported")
        default: nil
        }
    }
}

/// Walks curl's arguments and collects what they say about the request.
struct CurlOptionReader {
    private let arguments: [String]
    private var position = 0

    private var urls: [String] = []
    private var explicitMethod: String?
    private var userHeaders: [(name: String, value: String)] = []
    /// Names whose curl-generated header an "-H 'Name:'" removes.
    private var removedHeaders: [String] = []
    private var dataParts: [String] = []
    private var jsonParts: [String] = []
    private var dataToQuery = false
    private var headOnly = false
    private var ownHeaders: [(name: String, value: String)] = []
    private var timeoutMs: Int?
    private var insecure = false
    private var followRedirects = false

    init(arguments: [String]) {
        self.arguments = arguments
    }

    mutating func read() throws(ToolSourceError) -> CurlCommand {
        while position < arguments.count {
            let argument = arguments[position]
            position += 1
            if argument.hasPrefix("--") {
                let name = String(argument.dropFirst(2))
                guard let effect = CurlOptions.effect(ofLong: name) else {
                    throw ToolSourceError("unsupported curl option '\(argument)'")
                }
                try apply(effect, option: argument, attached: nil)
            } else if argument.hasPrefix("-"), argument.count > 1 {
                try readShortGroup(argument)
            } else {
                urls.append(argument)
            }
        }
        return try assemble()
    }

    /// "-sSL", "-XPOST", "-H'Accept: x'": flags may be grouped; a value may follow its letter.
    private mutating func readShortGroup(_ argument: String) throws(ToolSourceError) {
        var rest = Substring(argument.dropFirst())
        while let letter = rest.first {
            rest = rest.dropFirst()
            guard let effect = CurlOptions.effect(ofShort: letter) else {
                throw ToolSourceError("unsupported curl option '-\(letter)'")
            }
            if takesValue(effect) {
                try apply(effect, option: "-\(letter)", attached: rest.isEmpty ? nil : String(rest))
                return
            }
            try apply(effect, option: "-\(letter)", attached: nil)
        }
    }

    private func takesValue(_ effect: CurlOptionEffect) -> Bool {
        switch effect {
        case .get, .head, .insecure, .location: false
        case .ignored(let takesValue): takesValue
        case .unsupported: false
        default: true
        }
    }

    private mutating func value(for option: String, attached: String?) throws(ToolSourceError) -> String {
        if let attached { return attached }
        guard position < arguments.count else { throw ToolSourceError("curl option '\(option)' needs a value") }
        position += 1
        return arguments[position - 1]
    }

    private mutating func apply(_ effect: CurlOptionEffect, option: String, attached: String?) throws(ToolSourceError) {
        switch effect {
        case .unsupported(let reason):
            throw ToolSourceError("unsupported curl option '\(option)': \(reason)")
        case .ignored(let takesValue):
            if takesValue { _ = try value(for: option, attached: attached) }
        case .get:
            dataToQuery = true
        case .head:
            headOnly = true
        case .insecure:
            insecure = true
        case .location:
            followRedirects = true
        case .url:
            urls.append(try value(for: option, attached: attached))
        case .request:
            let method = try value(for: option, attached: attached)
            guard !method.isEmpty, method.utf8.allSatisfy(HTTPSyntax.isTokenByte) else {
                throw ToolSourceError("curl option '\(option)': '\(method)' is not an HTTP method")
            }
            explicitMethod = method
        case .header:
            try addHeader(try value(for: option, attached: attached), option: option)
        case .data(let flavor):
            let data = try value(for: option, attached: attached)
            if case .fileCapable = flavor, data.hasPrefix("@") {
                throw ToolSourceError("curl option '\(option) \(data)' reads a file, which is not supported; give the data inline (or use --data-raw for a literal '@')")
            }
            dataParts.append(data)
        case .json:
            let data = try value(for: option, attached: attached)
            if data.hasPrefix("@") {
                throw ToolSourceError("curl option '\(option) \(data)' reads a file, which is not supported; give the JSON inline")
            }
            jsonParts.append(data)
        case .user:
            let credentials = try value(for: option, attached: attached)
            guard credentials.contains(":") else {
                throw ToolSourceError("curl option '\(option)' needs 'user:password' (curl would prompt for the password)")
            }
            guard Placeholders.names(in: credentials).isEmpty else {
                throw ToolSourceError("curl option '\(option)' cannot hold {{placeholders}}; send -H 'Authorization: Basic {{credentials}}' instead")
            }
            ownHeaders.append(("Authorization", "Basic " + Base64.encode(Array(credentials.utf8))))
        case .bearer:
            ownHeaders.append(("Authorization", "Bearer " + (try value(for: option, attached: attached))))
        case .userAgent:
            ownHeaders.append(("User-Agent", try value(for: option, attached: attached)))
        case .referer:
            var referer = try value(for: option, attached: attached)
            // ";auto" asks curl to update the referer on redirects: meaningless for one request.
            if referer.hasSuffix(";auto") { referer.removeLast(5) }
            if !referer.isEmpty { ownHeaders.append(("Referer", referer)) }
        case .cookie:
            let cookie = try value(for: option, attached: attached)
            guard cookie.contains("=") else {
                throw ToolSourceError("curl option '\(option) \(cookie)' reads a cookie file, which is not supported; give 'name=value' pairs")
            }
            ownHeaders.append(("Cookie", cookie))
        case .maxTime:
            let text = try value(for: option, attached: attached)
            guard let seconds = Double(text), seconds > 0, seconds <= 86_400 else {
                throw ToolSourceError("curl option '\(option)' needs a number of seconds, not '\(text)'")
            }
            timeoutMs = max(1, Int(seconds * 1000))
        }
    }

    /// "Name: value" sets a header, "Name;" sends it empty, "Name:" suppresses curl's own.
    private mutating func addHeader(_ line: String, option: String) throws(ToolSourceError) {
        if line.hasPrefix("@") {
            throw ToolSourceError("curl option '\(option) \(line)' reads headers from a file, which is not supported")
        }
        guard !line.contains(where: { $0 == "\r" || $0 == "\n" }) else {
            throw ToolSourceError("curl option '\(option)': a header cannot contain a line break")
        }
        let colon = line.firstIndex(of: ":")
        let semicolon = line.firstIndex(of: ";")
        let name: String
        var value: String?
        if let colon, semicolon.map({ colon < $0 }) ?? true {
            name = String(line[..<colon])
            let rest = line[line.index(after: colon)...].drop(while: { $0 == " " || $0 == "\t" })
            value = String(rest.reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
            if value == "" { value = nil }
        } else if let semicolon, line[line.index(after: semicolon)...].allSatisfy({ $0 == " " }) {
            name = String(line[..<semicolon])
            value = ""
        } else {
            throw ToolSourceError("curl option '\(option) \(line)': a header must look like 'Name: value'")
        }
        guard !name.isEmpty, name.utf8.allSatisfy(HTTPSyntax.isTokenByte) else {
            throw ToolSourceError("curl option '\(option)': '\(name)' is not a valid header name")
        }
        if let value {
            userHeaders.append((name, value))
        } else {
            removedHeaders.append(name)
        }
    }

    private func assemble() throws(ToolSourceError) -> CurlCommand {
        guard let rawURL = urls.first else { throw ToolSourceError("the curl command has no URL") }
        guard urls.count == 1 else {
            throw ToolSourceError("the curl command has more than one URL ('\(urls[0])', '\(urls[1])'); a tool sends one request")
        }
        if !dataParts.isEmpty && !jsonParts.isEmpty {
            throw ToolSourceError("the curl command mixes --json with -d/--data; use one of them")
        }
        var url = try Self.normalizedURL(rawURL)
        var ownHeaders = ownHeaders
        if let (bare, credentials) = Self.splitUserInfo(url) {
            // curl sends "https://user:pass@host/" as Basic credentials (unless -u gives others),
            // and the credentials must not stay in a URL that descriptions and logs may show.
            url = bare
            if !ownHeaders.contains(where: { $0.name == "Authorization" }) {
                ownHeaders.insert(("Authorization", "Basic " + Base64.encode(Array(credentials.utf8))), at: 0)
            }
        }

        var contentHeaders: [(name: String, value: String)] = []
        var data: String?
        if !jsonParts.isEmpty {
            data = jsonParts.joined()  // curl concatenates several --json as they are
            contentHeaders = [("Content-Type", "application/json"), ("Accept", "application/json")]
        } else if !dataParts.isEmpty {
            data = dataParts.joined(separator: "&")
            contentHeaders = [("Content-Type", "application/x-www-form-urlencoded")]
        }

        var body: String?
        if let data, dataToQuery {
            // -G: the data becomes (more of) the query string and the request has no body.
            let fragmentStart = url.firstIndex(of: "#") ?? url.endIndex
            let head = url[..<fragmentStart]
            url = head + (head.contains("?") ? "&" : "?") + data
        } else if let data {
            body = data
        }

        let method: String
        if let explicitMethod {
            method = explicitMethod
        } else if headOnly {
            method = "HEAD"
        } else if body != nil {
            method = "POST"
        } else {
            method = "GET"
        }

        // curl's own headers, unless an -H header of the same name replaces or removes them.
        let generated = ownHeaders + (body != nil ? contentHeaders : [])
        let overridden = Set((userHeaders.map(\.name) + removedHeaders).map { $0.lowercased() })
        var headers = generated.filter { !overridden.contains($0.name.lowercased()) }
        headers += userHeaders
        for header in headers where !Placeholders.names(in: header.name).isEmpty {
            throw ToolSourceError("header name '\(header.name)' cannot hold a {{placeholder}}")
        }
        return CurlCommand(method: method, url: url, headers: headers, body: body, timeoutMs: timeoutMs,
                           insecure: insecure, followRedirects: followRedirects)
    }

    /// `url` without its "user:password@" and the credentials percent-decoded, nil when it has none.
    static func splitUserInfo(_ url: String) -> (url: String, credentials: String)? {
        guard let schemeEnd = url.firstRange(of: "://") else { return nil }
        let authorityStart = schemeEnd.upperBound
        let authorityEnd = url[authorityStart...].firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? url.endIndex
        guard let at = url[authorityStart..<authorityEnd].lastIndex(of: "@") else { return nil }
        var credentials = String(url[authorityStart..<at])
        if !credentials.contains(":") { credentials += ":" }
        return (String(url[..<authorityStart]) + url[url.index(after: at)...], percentDecoded(credentials))
    }

    private static func percentDecoded(_ text: String) -> String {
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count,
               let high = hexDigit(bytes[index + 1]), let low = hexDigit(bytes[index + 2]) {
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hexDigit(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// `url` with a scheme (curl assumes http://), checked to be http or https.
    static func normalizedURL(_ url: String) throws(ToolSourceError) -> String {
        guard !url.isEmpty else { throw ToolSourceError("the curl command's URL is empty") }
        guard !url.contains(where: { $0 == " " || $0 == "\r" || $0 == "\n" || $0 == "\t" }) else {
            throw ToolSourceError("the URL '\(url)' contains blanks; percent-encode them (%20)")
        }
        guard let schemeEnd = url.firstRange(of: "://") else { return "http://" + url }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else {
            throw ToolSourceError("the URL scheme '\(scheme)' is not supported; use http or https")
        }
        guard schemeEnd.upperBound < url.endIndex, url[schemeEnd.upperBound] != "/" else {
            throw ToolSourceError("the URL '\(url)' has no host")
        }
        return scheme + url[schemeEnd.lowerBound...]
    }
}

enum HTTPSyntax {
    /// RFC 9110 tchar: what method and header names are made of.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}
