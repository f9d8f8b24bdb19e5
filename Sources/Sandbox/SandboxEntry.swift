import CMcpd
import Glibc
import SystemCalls

/// Puts the calling process into its sandbox: mcp-worker at its start, and the exec shim just
/// before it becomes a stdio server. The process must still be single-threaded.
public enum SandboxEntry {
    /// What the entry did, for the caller's log.
    public struct Applied: Sendable {
        /// The Landlock ABI applied; 0 when the kernel has none (strict only).
        public var landlockABI: Int32
    }

    /// Applies `policy` (`perCall` is `strict` here: the pool is what makes it one call per process).
    /// Descriptors from `closeFrom` up are closed; `hidden` paths are covered by an empty tmpfs in a
    /// strict sandbox. For strict, the process that calls this stays outside the new pid namespace
    /// and never returns; pid 1 inside does.
    public static func enter(_ policy: SandboxPolicy, hidden: [String], closeFrom: Int32) throws(SandboxEntryError) -> Applied {
        let level: Int32
        switch policy.level {
        case .none: level = Int32(MCPD_SANDBOX_NONE)
        case .process: level = Int32(MCPD_SANDBOX_PROCESS)
        case .strict, .perCall: level = Int32(MCPD_SANDBOX_STRICT)
        }
        var abi: Int32 = 0
        var error = [CChar](repeating: 0, count: 512)
        let rc = withCStrings(policy.paths.map(\.path)) { paths in
            withCStrings(hidden) { hiddenPaths in
                let writable = policy.paths.map { Int32($0.writable ? 1 : 0) }
                return writable.withUnsafeBufferPointer { writableFlags in
                    var config = mcpd_sandbox_config()
                    config.level = level
                    config.allow_network = policy.network ? 1 : 0
                    config.paths = UnsafePointer(OpaquePointer(paths))
                    config.writable = writableFlags.baseAddress
                    config.path_count = Int32(policy.paths.count)
                    config.hidden = UnsafePointer(OpaquePointer(hiddenPaths))
                    config.hidden_count = Int32(hidden.count)
                    config.address_space_bytes = policy.limits.addressSpaceBytes
                    config.cpu_seconds = policy.limits.cpuSeconds
                    config.open_files = policy.limits.openFiles
                    config.processes = policy.limits.processes
                    config.file_size_bytes = policy.limits.fileSizeBytes
                    config.close_from = closeFrom
                    return mcpd_sandbox_enter(&config, &abi, &error, error.count)
                }
            }
        }
        guard rc == 0 else { throw SandboxEntryError(description: String(nulTerminated: error)) }
        return Applied(landlockABI: abi)
    }

    /// The Landlock ABI this kernel offers (0: none), probed without restricting anything.
    public static var landlockABI: Int32 { mcpd_landlock_abi() }
}

public struct SandboxEntryError: Error, Sendable, CustomStringConvertible {
    public let description: String
}
