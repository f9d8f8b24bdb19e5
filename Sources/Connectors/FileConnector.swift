// Spec kind "file": read_file, write_file and list_directory, confined to the spec's root
// (see FileRoot for how paths are kept inside it).
import Glibc
import JSON
import Tools

enum FileConnector {
    /// read_file refuses larger files: the text goes into one JSON result and one MCP content block.
    static let maxReadBytes = 4 << 20
    /// list_directory stops here and says the list is truncated.
    static let maxEntries = 10_000

    static func run(spec: JSONObject, input: JSONValue) -> ToolOutcome {
        guard let rootPath = spec["root"]?.stringValue else {
            return .failure(kind: "worker_protocol", message: "a file tool spec needs a root")
        }
        do {
            let root = try FileRoot(rootPath)
            switch spec["operation"]?.stringValue {
            case "read_file":
                return .result(try readFile(root: root, path: try stringInput(input, "path")))
            case "write_file":
                return .result(try writeFile(root: root, path: try stringInput(input, "path"), content: try stringInput(input, "content")))
            case "list_directory":
                let path = input["path"]?.isNull == false ? try stringInput(input, "path") : "."
                return .result(try listDirectory(root: root, path: path))
            default:
                return .failure(kind: "worker_protocol", message: "unknown file operation '\(spec["operation"]?.stringValue ?? "")'")
            }
        } catch {
            return .failure(kind: error.kind, message: error.message)
        }
    }

    private static func stringInput(_ input: JSONValue, _ name: String) throws(FileFailure) -> String {
        guard let value = input[name]?.stringValue else { throw FileFailure.invalid("input.\(name) must be a string") }
        return value
    }

    // MARK: read_file

    private static func readFile(root: FileRoot, path: String) throws(FileFailure) -> JSONObject {
        let resolved = try root.resolveExisting(path)
        // O_NONBLOCK: opening a FIFO must not wait for a writer; the type is checked right after.
        let fd = open(resolved, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else {
            let code = errno
            if code == ELOOP { throw FileFailure.outside(path) }  // the final name became a symlink
            throw FileFailure.system(path, errno: code)
        }
        defer { close(fd) }
        guard root.holds(descriptor: fd) else { throw FileFailure.outside(path) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw FileFailure.system(path, errno: errno) }
        guard info.st_mode & S_IFMT == S_IFREG else {
            let what = info.st_mode & S_IFMT == S_IFDIR ? "a directory" : "not a regular file"
            throw FileFailure.invalid("'\(path)' is \(what)")
        }
        guard Int(info.st_size) <= maxReadBytes else {
            throw FileFailure.invalid("'\(path)' is \(info.st_size) bytes, more than read_file's limit of 4 MiB")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(info.st_size))
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw FileFailure.system(path, errno: errno)
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[..<count])
            guard bytes.count <= maxReadBytes else {  // it grew while being read
                throw FileFailure.invalid("'\(path)' is more than read_file's limit of 4 MiB")
            }
        }
        // Ill-formed UTF-8 is replaced with U+FFFD rather than refused: most of a text is better
        // than none, and the result must be valid JSON text.
        return ["text": .string(String(decoding: bytes, as: UTF8.self))]
    }

    // MARK: write_file

    /// Writes a temporary file beside the target and renames it over the target, so readers see the
    /// old contents or the new, never a half-written file, and a symlink at the target is replaced,
    /// never written through.
    private static func writeFile(root: FileRoot, path: String, content: String) throws(FileFailure) -> JSONObject {
        let (directory, name) = try root.resolveForWriting(path)
        let target = directory + "/" + name

        var mode: mode_t = 0o644
        var existing = stat()
        if lstat(target, &existing) == 0 {
            switch existing.st_mode & S_IFMT {
            case S_IFREG:
                mode = existing.st_mode & 0o7777  // replacing a file keeps its permissions
            case S_IFLNK:
                // A link is never written through; one that leads out is reported as such.
                if let real = realpath(target, nil) {
                    defer { free(real) }
                    if root.contains(String(cString: real)) {
                        throw FileFailure.invalid("'\(path)' is a symbolic link; write_file does not write through links")
                    }
                }
                throw FileFailure.outside(path)
            case S_IFDIR:
                throw FileFailure.invalid("'\(path)' is a directory")
            default:
                throw FileFailure.invalid("'\(path)' is not a regular file")
            }
        } else if errno != ENOENT {
            throw FileFailure.system(path, errno: errno)
        }

        let temporary = directory + "/." + name + ".mcpd-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { throw FileFailure.system(path, errno: errno) }
        var renamed = false
        defer {
            if !renamed { unlink(temporary) }
        }
        do {
            defer { close(fd) }
            guard root.holds(descriptor: fd) else { throw FileFailure.outside(path) }
            _ = fchmod(fd, mode)  // the umask must not narrow the permissions of a replaced file
            let bytes = Array(content.utf8)
            var written = 0
            while written < bytes.count {
                let count = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
                if count < 0 {
                    if errno == EINTR { continue }
                    throw FileFailure.system(path, errno: errno)
                }
                written += count
            }
            guard fsync(fd) == 0 else { throw FileFailure.system(path, errno: errno) }
        }
        guard rename(temporary, target) == 0 else { throw FileFailure.system(path, errno: errno) }
        renamed = true
        let count = content.utf8.count
        return ["text": .string("Wrote \(count) bytes to \(path)"), "path": .string(path), "bytes": .int(Int64(count))]
    }

    // MARK: list_directory

    private static func listDirectory(root: FileRoot, path: String) throws(FileFailure) -> JSONObject {
        let resolved = try root.resolveExisting(path)
        let fd = open(resolved, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else {
            let code = errno
            if code == ENOTDIR { throw FileFailure.invalid("'\(path)' is not a directory") }
            if code == ELOOP { throw FileFailure.outside(path) }
            throw FileFailure.system(path, errno: code)
        }
        guard root.holds(descriptor: fd) else {
            close(fd)
            throw FileFailure.outside(path)
        }
        guard let stream = fdopendir(fd) else {
            let code = errno
            close(fd)
            throw FileFailure.system(path, errno: code)
        }
        defer { closedir(stream) }

        var entries: [(name: String, isDirectory: Bool)] = []
        var truncated = false
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            guard entries.count < maxEntries else {
                truncated = true
                break
            }
            entries.append((name, isDirectory(entry.pointee.d_type, name: name, in: fd)))
        }
        entries.sort { Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8)) }

        var lines = entries.map { ($0.isDirectory ? "[DIR] " : "[FILE] ") + $0.name }
        if truncated { lines.append("(truncated after \(maxEntries) entries)") }
        var result: JSONObject = [
            "text": .string(lines.joined(separator: "\n")),
            "entries": .array(entries.map { ["name": .string($0.name), "type": $0.isDirectory ? "directory" : "file"] }),
        ]
        if truncated { result["truncated"] = true }
        return result
    }

    /// Directories by d_type; a symlink or an unknown type is looked up (following links), so a
    /// link to a directory lists as one.
    private static func isDirectory(_ type: UInt8, name: String, in directory: Int32) -> Bool {
        switch Int(type) {
        case Int(DT_DIR): return true
        case Int(DT_REG): return false
        default:
            var info = stat()
            guard fstatat(directory, name, &info, 0) == 0 else { return false }
            return info.st_mode & S_IFMT == S_IFDIR
        }
    }
}
