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
