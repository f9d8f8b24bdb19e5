import Glibc
import SystemCalls

/// Reads files for `file://{path}` resources strictly inside one directory: the path is resolved
/// (symlinks, `..`) before it is checked, so nothing outside the root is ever opened.
enum ConfinedFile {
    struct Refusal: Error { let reason: String }

    static func read(_ path: String, under root: String, limit: Int) -> Result<[UInt8], Refusal> {
        guard let realRoot = resolve(root) else { return .failure(Refusal(reason: "the resource directory is unavailable")) }
        let candidate = path.hasPrefix("/") ? path : realRoot + "/" + path
        guard let real = resolve(candidate) else { return .failure(Refusal(reason: "no such file")) }
        guard real.hasPrefix(realRoot + "/") else { return .failure(Refusal(reason: "the path is outside the resource directory")) }
        let fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else { return .failure(Refusal(reason: "cannot open the file")) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return .failure(Refusal(reason: "not a regular file")) }
        guard Int(info.st_size) <= limit else { return .failure(Refusal(reason: "the file is larger than \(limit) bytes")) }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            offset += n
        }
        return .success(Array(bytes[..<offset]))
    }

    /// Names of the regular files directly in the root, sorted.
    static func names(under root: String) -> [String] {
        guard let directory = opendir(root) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if !name.hasPrefix("."), entry.pointee.d_type == UInt8(DT_REG) { names.append(name) }
        }
        return names.sorted()
    }

    private static func resolve(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

/// RFC 4648 base64, for binary resource contents.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let a = UInt32(bytes[index])
            let b = index + 1 < bytes.count ? UInt32(bytes[index + 1]) : 0
            let c = index + 2 < bytes.count ? UInt32(bytes[index + 2]) : 0
            let triple = a << 16 | b << 8 | c
            out.append(alphabet[Int(triple >> 18 & 63)])
            out.append(alphabet[Int(triple >> 12 & 63)])
            out.append(index + 1 < bytes.count ? alphabet[Int(triple >> 6 & 63)] : UInt8(ascii: "="))
            out.append(index + 2 < bytes.count ? alphabet[Int(triple & 63)] : UInt8(ascii: "="))
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes padded or unpadded base64; nil for anything else.
    static func decode(_ text: String) -> [UInt8]? {
        var values: [UInt8] = []
        for byte in text.utf8 where byte != UInt8(ascii: "=") {
            guard let index = alphabet.firstIndex(of: byte) else { return nil }
            values.append(UInt8(index))
        }
        var out: [UInt8] = []
        var index = 0
        while index + 1 < values.count {
            let a = UInt32(values[index]), b = UInt32(values[index + 1])
            let c = index + 2 < values.count ? UInt32(values[index + 2]) : 0
            let d = index + 3 < values.count ? UInt32(values[index + 3]) : 0
            let quad = a << 18 | b << 12 | c << 6 | d
            out.append(UInt8(quad >> 16 & 255))
            if index + 2 < values.count { out.append(UInt8(quad >> 8 & 255)) }
            if index + 3 < values.count { out.append(UInt8(quad & 255)) }
            index += 4
        }
        return out
    }
}
