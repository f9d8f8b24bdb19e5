/// An absolute URL taken apart into what an HTTP request needs.
///
/// Deliberately small: scheme, host, port and the request target. User info is kept apart (never
/// sent in the request line); fragments are dropped, as browsers and curl do.
public struct URLParts: Sendable, Equatable {
    /// Lowercased, e.g. "http".
    public var scheme: String
    /// Without IPv6 brackets ("::1"), as getaddrinfo wants it.
    public var host: String
    public var port: Int
    /// path?query, "/" when the URL has no path. Spaces and bytes outside printable ASCII are
    /// percent-encoded so that the request line stays one line.
    public var target: String
    /// "user:password" from the URL, if it had one.
    public var userInfo: String?

    public init(scheme: String, host: String, port: Int, target: String, userInfo: String? = nil) {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.target = target
        self.userInfo = userInfo
    }

    /// The port a scheme implies when the URL names none.
    public static func defaultPort(for scheme: String) -> Int? {
        switch scheme {
        case "http", "ws": 80
        case "https", "wss": 443
        default: nil
        }
    }

    /// host[:port] as the Host header wants it: brackets around IPv6, the port only when not the default.
    public var authority: String {
        let name = host.contains(":") ? "[\(host)]" : host
        return port == URLParts.defaultPort(for: scheme) ? name : "\(name):\(port)"
    }

    /// The URL written back out (without user info).
    public var url: String { "\(scheme)://\(authority)\(target)" }

    /// Parses `scheme://[user@]host[:port][/path][?query][#fragment]`; nil when it is not one.
    public static func parse(_ url: String) -> URLParts? {
        let text = Substring(url.trimmingSpaces())
        guard let schemeEnd = text.firstRange(of: "://") else { return nil }
        let scheme = text[..<schemeEnd.lowerBound].lowercased()
        guard let first = scheme.unicodeScalars.first, first.isASCIILetter,
              scheme.unicodeScalars.allSatisfy({ $0.isASCIILetter || $0.isASCIIDigit || "+-.".unicodeScalars.contains($0) })
        else { return nil }

        var rest = text[schemeEnd.upperBound...]
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        let pathAndQuery = rest[authorityEnd...]

        var userInfo: String?
        if let at = authority.lastIndex(of: "@") {
            userInfo = String(authority[..<at])
            authority = authority[authority.index(after: at)...]
        }

        var host: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return nil }
                portText = after.dropFirst()
            }
            guard host.contains(":") else { return nil }
        } else {
            if let colon = authority.lastIndex(of: ":") {
                host = authority[..<colon]
                portText = authority[authority.index(after: colon)...]
            } else {
                host = authority
            }
            guard !host.contains(":") else { return nil }
        }
        guard !host.isEmpty,
              host.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F && !"/\\?#@[]<>\"".unicodeScalars.contains($0) })
        else { return nil }

        let port: Int
        if let portText, !portText.isEmpty {
            guard portText.count <= 5, portText.allSatisfy(\.isASCIIDigitCharacter), let number = Int(portText),
                  (1...65_535).contains(number) else { return nil }
            port = number
        } else {
            guard let implied = defaultPort(for: scheme) else { return nil }
            port = implied
        }

        var target = percentEncodingUnsafeBytes(pathAndQuery)
        if target.isEmpty || target.hasPrefix("?") { target = "/" + target }
        return URLParts(scheme: scheme, host: host.lowercased(), port: port, target: target, userInfo: userInfo)
    }

    /// Resolves a reference found in a response (a Location, an SSE `endpoint` event) against this
    /// URL: absolute URLs stand as they are, "//host/x" keeps the scheme, "/x" keeps the authority,
    /// "?q" keeps the path, and "x" replaces the last path segment.
    public func resolving(_ reference: String) -> URLParts? {
        let reference = reference.trimmingSpaces()
        if reference.contains("://"), let absolute = URLParts.parse(reference) { return absolute }
        if reference.hasPrefix("//") { return URLParts.parse("\(scheme):\(reference)") }
        var copy = self
        copy.userInfo = nil
        let path = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? "/"
        if reference.isEmpty {
            return copy
        } else if reference.hasPrefix("/") {
            copy.target = reference
        } else if reference.hasPrefix("?") {
            copy.target = path + reference
        } else {
            let directory = path.lastIndex(of: "/").map { String(path[...$0]) } ?? "/"
            copy.target = directory + reference
        }
        if let hash = copy.target.firstIndex(of: "#") { copy.target = String(copy.target[..<hash]) }
        copy.target = URLParts.removingDotSegments(URLParts.percentEncodingUnsafeBytes(Substring(copy.target)))
        return copy
    }

    /// RFC 3986 §5.2.4 on the path part of a target, so "../x" cannot produce "/a/../x" on the wire.
    static func removingDotSegments(_ target: String) -> String {
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = parts[0]
        guard path.contains(".") else { return target }
        var output: [Substring] = []
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        for (index, segment) in segments.enumerated() {
            let isLast = index == segments.count - 1
            if segment == "." {
                if isLast { output.append("") }
            } else if segment == ".." {
                if !output.isEmpty { output.removeLast() }
                if isLast { output.append("") }
            } else {
                output.append(segment)
            }
        }
        let resolved = "/" + output.joined(separator: "/")
        return parts.count > 1 ? resolved + "?" + parts[1] : resolved
    }

    static func percentEncodingUnsafeBytes(_ text: Substring) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if byte <= 0x20 || byte >= 0x7F || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "<") || byte == UInt8(ascii: ">") {
                bytes.append(UInt8(ascii: "%"))
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0x0F)])
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension Unicode.Scalar {
    var isASCIILetter: Bool { (0x41...0x5A).contains(value) || (0x61...0x7A).contains(value) }
    var isASCIIDigit: Bool { (0x30...0x39).contains(value) }
}

extension Character {
    var isASCIIDigitCharacter: Bool { asciiValue.map { (0x30...0x39).contains($0) } ?? false }
}

extension StringProtocol {
    /// Without leading and trailing spaces, tabs, CR and LF (Foundation's trimming, minus Foundation).
    func trimmingSpaces() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
