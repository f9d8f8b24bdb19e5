import Glibc

/// The open-files limit (RLIMIT_NOFILE). Every client connection costs the supervisor a descriptor,
/// and a shell's soft default of 1024 would let a thousand idle or slow clients lock everyone else
/// out, so the supervisor takes its whole hard limit (systemd's LimitNOFILE) at start.
public enum OpenFilesLimit {
    /// Raises the soft limit to the hard one; answers (before, after), or nil when it could not.
    @discardableResult
    public static func raiseToHardLimit() -> (before: UInt64, after: UInt64)? {
        var limit = rlimit()
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        guard getrlimit(resource, &limit) == 0 else { return nil }
        let before = UInt64(limit.rlim_cur)
        if limit.rlim_cur == limit.rlim_max { return (before, before) }
        limit.rlim_cur = limit.rlim_max
        guard setrlimit(resource, &limit) == 0 else { return nil }
        return (before, UInt64(limit.rlim_max))
    }
}
