// The directory file tools are confined to, and the checks that keep every path inside it.
//
// A path is resolved with realpath(3) (following `..` and symlinks) before anything is opened,
// and the opened descriptor is checked again through /proc/self/fd: a symlink swapped in between
// the two steps cannot lead a call outside the root.
import Glibc

/// Why a file operation was refused: the failure kind (contract) and a message naming the path.
struct FileFailure: Error {
    let kind: String
    let message: String

    static func outside(_ path: String) -> FileFailure {
        FileFailure(kind: "path_outside_root", message: "'\(path)' resolves outside the file root")
    }

    static func invalid(_ message: String) -> FileFailure {
        FileFailure(kind: "invalid_input", message: message)
    }

    /// ENOENT and ENOTDIR are "not found"; any other errno is an I/O error with its strerror.
    static func system(_ path: String, errno code: Int32) -> FileFailure {
        if code == ENOENT || code == ENOTDIR {
            return FileFailure(kind: "not_found", message: "'\(path)' does not exist")
        }
        return FileFailure(kind: "io_error", message: "'\(path)': \(String(cString: strerror(code)))")
    }
}

struct FileRoot {
    /// The root with every symlink resolved, without a trailing '/' (except for "/" itself).
    let real: String

    init(_ root: String) throws(FileFailure) {
        guard root.hasPrefix("/") else { throw FileFailure(kind: "io_error", message: "the file root '\(root)' is not an absolute path") }
        guard let real = Self.realPath(root) else {
            throw FileFailure(kind: "io_error", message: "the file root is unavailable: \(String(cString: strerror(errno)))")
        }
        self.real = real
    }

    /// The real path of an existing file or directory named by `path` (relative to the root).
    func resolveExisting(_ path: String) throws(FileFailure) -> String {
        try checkSyntax(path)
        guard let resolved = Self.realPath(real + "/" + path) else {
            let code = errno
            throw FileFailure.system(path, errno: code)
        }
        guard contains(resolved) else { throw FileFailure.outside(path) }
        return resolved
    }

    /// Where `path` (relative to the root) would be written: its parent's real path, checked to be
    /// inside the root, and the final name, which is never followed if it is a symlink.
    func resolveForWriting(_ path: String) throws(FileFailure) -> (directory: String, name: String) {
        try checkSyntax(path)
        guard !path.hasSuffix("/") else { throw FileFailure.invalid("'\(path)' names a directory, not a file") }
        let slash = path.lastIndex(of: "/")
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let parent = slash.map { String(path[..<$0]) } ?? ""
        guard name != ".", name != ".." else { throw FileFailure.invalid("'\(path)' names a directory, not a file") }
        guard let directory = Self.realPath(parent.isEmpty ? real : real + "/" + parent) else {
            let code = errno
            if code == ENOENT || code == ENOTDIR {
                throw FileFailure(kind: "not_found", message: "the directory of '\(path)' does not exist")
            }
            throw FileFailure.system(path, errno: code)
        }
        guard contains(directory) else { throw FileFailure.outside(path) }
        return (directory, name)
    }

    /// Whether the real path `resolved` is the root or lies under it.
    func contains(_ resolved: String) -> Bool {
        if real == "/" { return resolved.hasPrefix("/") }
        return resolved == real || resolved.hasPrefix(real + "/")
    }

    /// Whether the open descriptor `fd` is (still) inside the root, as the kernel sees it. True when
    /// /proc is not mounted: the realpath check before opening then stands alone.
    func holds(descriptor fd: Int32) -> Bool {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/fd/\(fd)", &buffer, buffer.count - 1)
        guard count > 0 else { return true }
        let opened = String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return contains(opened)
    }

    /// Absolute paths are refused outright (never reinterpreted as relative), and so are paths
    /// whose `..` climbs above the root before any symlink is considered.
    private func checkSyntax(_ path: String) throws(FileFailure) {
        guard !path.isEmpty else { throw FileFailure.invalid("the path is empty") }
        guard !path.utf8.contains(0) else { throw FileFailure.invalid("the path contains a NUL byte") }
        guard !path.hasPrefix("/") else { throw FileFailure.outside(path) }
        var depth = 0
        for component in path.split(separator: "/") {
            switch component {
            case ".": continue
            case "..":
                depth -= 1
                if depth < 0 { throw FileFailure.outside(path) }
            default: depth += 1
            }
        }
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
