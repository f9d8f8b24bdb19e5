import Glibc
import JSON
import SystemCalls

/// The state directory's `state.json`: everything registered at run time. Written atomically —
/// a temporary file, fsync, rename over the old one, fsync of the directory — so a kill -9 at any
/// moment leaves either the previous state or the new one, never a torn file. The directory is
/// 0700 and the file 0600: it holds upstream credentials.
public struct StateStore: Sendable {
    public let directory: String
    /// The file in the directory: state.json for registrations, keys.json for API keys.
    public let fileName: String
    public var path: String { directory + "/" + fileName }

    public init(directory: String, fileName: String = "state.json") {
        self.directory = directory
        self.fileName = fileName
    }

    public func prepare() throws(StateError) {
        var partial = directory.hasPrefix("/") ? "" : "."
        for component in directory.split(separator: "/") {
            partial += "/" + component
            if mkdir(partial, 0o700) != 0 && errno != EEXIST { throw StateError("mkdir \(partial)") }
        }
        _ = chmod(directory, 0o700)
        // A temporary file left by a kill during a write is garbage.
        _ = unlink(path + ".tmp")
    }

    public func load() throws(StateError) -> JSONValue? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw StateError("open \(path)")
        }
        defer { Descriptor.close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw StateError("read \(path)") }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        do {
            return try JSONValue.parse(bytes)
        } catch {
            throw StateError(message: "\(path) is not valid JSON: \(error)")
        }
    }

    public func save(_ value: JSONValue) throws(StateError) {
        var bytes: [UInt8] = []
        value.write(into: &bytes)
        bytes.append(10)
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StateError("open \(temporary)") }
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                let error = StateError("write \(temporary)")
                Descriptor.close(fd)
                throw error
            }
            offset += n
        }
        guard fsync(fd) == 0 else {
            let error = StateError("fsync \(temporary)")
            Descriptor.close(fd)
            throw error
        }
        Descriptor.close(fd)
        guard rename(temporary, path) == 0 else { throw StateError("rename \(temporary)") }
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            _ = fsync(directoryFD)
            Descriptor.close(directoryFD)
        }
    }
}

/// A state file that cannot be read or written, with the reason.
public struct StateError: Error, CustomStringConvertible, Sendable {
    public let description: String

    /// The failed operation, with errno's text.
    init(_ operation: String) {
        description = "\(operation): \(String(cString: strerror(errno)))"
    }

    init(message: String) {
        description = message
    }
}
