// Where the call table lives. mcpd and mcpctl resolve the directory with the same function, so an
// operator who runs mcpctl in the service's environment finds the table without any option.
import Glibc
import SystemCalls

public enum RuntimeDirectory {
    /// The runtime directory: `explicit` when given, else systemd's $RUNTIME_DIRECTORY (its first
    /// entry: systemd joins several with ':'; a space is accepted too), else /run/mcpd for root,
    /// else $XDG_RUNTIME_DIR/mcpd, else /tmp/mcpd-<uid>.
    public static func resolve(explicit: String?) -> String {
        resolve(explicit: explicit, environment: Process.environment, uid: getuid())
    }

    /// The rule itself, apart from the process's environment and identity (tests use it).
    static func resolve(explicit: String?, environment: (String) -> String?, uid: uid_t) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let systemd = environment("RUNTIME_DIRECTORY"),
           let first = systemd.split(whereSeparator: { $0 == ":" || $0 == " " }).first {
            return String(first)
        }
        if uid == 0 { return "/run/mcpd" }
        if let xdg = environment("XDG_RUNTIME_DIR"), !xdg.isEmpty {
            return xdg.hasSuffix("/") ? xdg + "mcpd" : xdg + "/mcpd"
        }
        return "/tmp/mcpd-\(uid)"
    }

    public static func tablePath(in directory: String) -> String {
        directory.hasSuffix("/") ? directory + "calltable" : directory + "/calltable"
    }

    /// Creates the directory and its missing parents, like `mkdir -p -m 0750`: the directory itself
    /// gets mode 0750 when it is created here, parents get 0755 less the umask. An existing directory
    /// keeps its mode (systemd's RuntimeDirectoryMode= may have chosen another), but must belong to
    /// us or to root: in a shared /tmp, another user could have made it first.
    public static func ensureExists(_ directory: String) throws(CallTableError) {
        guard !directory.isEmpty else { throw CallTableError("the runtime directory path is empty") }
        var path = directory.hasPrefix("/") ? "" : "."
        let components = directory.split(separator: "/")
        for (index, component) in components.enumerated() {
            path += "/" + component
            let isLast = index == components.count - 1
            if mkdir(path, isLast ? 0o750 : 0o755) == 0 {
                if isLast && chmod(path, 0o750) != 0 {
                    throw CallTableError("cannot set mode 0750 on \(path): \(String(cString: strerror(errno)))")
                }
                continue
            }
            let code = errno
            guard code == EEXIST else {
                throw CallTableError("cannot create the runtime directory \(path): \(String(cString: strerror(code)))")
            }
            var info = stat()
            guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
                throw CallTableError("\(path) exists and is not a directory")
            }
            if isLast && info.st_uid != getuid() && info.st_uid != 0 && getuid() != 0 {
                throw CallTableError("the runtime directory \(path) belongs to uid \(info.st_uid), not to this user (uid \(getuid()))")
            }
        }
    }
}
