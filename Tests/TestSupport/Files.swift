// TestSupport: what several Swift test targets need and no product does: scratch directories that
// clean up after themselves, and whole-file reads and writes.
import Glibc

/// A fresh directory under /tmp, removed with everything in it when the value goes away.
public final class TemporaryDirectory {
    public let path: String

    /// `prefix` names the directory after the tests that made it (/tmp/PREFIX.XXXXXX).
    public init(prefix: String = "mcpd-tests") {
        var template = Array("/tmp/\(prefix).XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { buffer in
            guard let made = mkdtemp(buffer.baseAddress!) else { fatalError("mkdtemp failed: \(errno)") }
            return String(cString: made)
        }
    }

    deinit { removeTree(path) }

    public func file(_ name: String) -> String { path + "/" + name }
}

/// Deletes `path` and everything under it, without following symbolic links.
public func removeTree(_ path: String) {
    var info = stat()
    guard lstat(path, &info) == 0 else { return }
    if info.st_mode & S_IFMT == S_IFDIR, let directory = opendir(path) {
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        closedir(directory)
        for name in names { removeTree(path + "/" + name) }
        rmdir(path)
    } else {
        unlink(path)
    }
}

/// The file's bytes; empty when it cannot be opened.
public func readBytes(_ path: String) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return [] }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65_536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        bytes += chunk[..<n]
    }
    return bytes
}

/// The file's text (UTF-8, ill-formed bytes replaced); empty when it cannot be opened.
public func readFile(_ path: String) -> String { String(decoding: readBytes(path), as: UTF8.self) }

/// Creates or replaces the file with `bytes`.
public func writeBytes(_ bytes: [UInt8], to path: String, mode: mode_t = 0o640) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    precondition(fd >= 0, "open \(path): \(errno)")
    defer { close(fd) }
    let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    precondition(written == bytes.count, "write \(path): \(errno)")
}

/// Creates or replaces the file with `text`.
public func writeFile(_ path: String, _ text: String, mode: mode_t = 0o644) {
    writeBytes(Array(text.utf8), to: path, mode: mode)
}
