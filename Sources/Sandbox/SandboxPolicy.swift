// Sandbox: what a worker or stdio server may do, as configured (policy), and applying it to the
// process itself before tool code runs (SandboxEntry). The supervisor only parses and passes the
// policy; the layers are set up by the single-threaded child, in C (CMcpd/sandbox.c).
//
// Invariant: a policy that parsed is complete (every limit has a value), so the child never has
// to guess; `json` round-trips through `parse`, which is how it reaches the child and the state file.
import JSON

/// How much isolation a tool gets. Ordered: each level includes the one before.
public enum SandboxLevel: String, Sendable, CaseIterable, Comparable {
    /// Today's behaviour: own process group, nothing else (tests and benchmarks).
    case none
    /// Own session, parent-death signal, no_new_privs, umask 077, rlimits, only the expected descriptors.
    case process
    /// `process` plus namespaces, a read-only system, a private /tmp, seccomp and Landlock.
    case strict
    /// `strict` in a fresh process for every call, destroyed after it.
    case perCall = "per-call"

    private var rank: Int { Self.allCases.firstIndex(of: self)! }
    public static func < (lhs: SandboxLevel, rhs: SandboxLevel) -> Bool { lhs.rank < rhs.rank }

    /// The levels' names, for error messages and help.
    public static let names = allCases.map(\.rawValue).joined(separator: ", ")
}

/// Resource ceilings applied as rlimits (soft = hard). Core dumps are always off.
public struct ResourceLimits: Sendable, Equatable {
    public var addressSpaceBytes: UInt64 = 4 << 30
    /// CPU seconds over the process's life (a warm server's calls add up): a backstop, not a deadline.
    public var cpuSeconds: UInt64 = 3600
    public var openFiles: UInt64 = 1024
    /// Per user id: counted across every sandbox of that user, and not enforced for root.
    public var processes: UInt64 = 512
    public var fileSizeBytes: UInt64 = 1 << 30

    public init() {}

    static var fields: [(name: String, keyPath: WritableKeyPath<ResourceLimits, UInt64>)] {[
        ("addressSpaceBytes", \.addressSpaceBytes), ("cpuSeconds", \.cpuSeconds), ("openFiles", \.openFiles),
        ("processes", \.processes), ("fileSizeBytes", \.fileSizeBytes),
    ]}
}

/// A path bound into a strict sandbox at the same place.
public struct BoundPath: Sendable, Equatable {
    public var path: String
    public var writable: Bool

    public init(path: String, writable: Bool) {
        self.path = path
        self.writable = writable
    }
}

public struct SandboxPolicy: Sendable, Equatable {
    public var level: SandboxLevel
    /// strict and per-call: keep the host's network; otherwise an empty network namespace (lo only).
    public var network = false
    public var paths: [BoundPath] = []
    public var limits = ResourceLimits()

    public init(level: SandboxLevel) {
        self.level = level
    }

    /// Built-in tools: `process`, so that benchmarks and tests stay fast.
    public static let builtinDefault = SandboxPolicy(level: .process)
    /// stdio servers and generated tools: `strict`.
    public static let serverDefault = SandboxPolicy(level: .strict)

    /// Whether every call gets a fresh process.
    public var isPerCall: Bool { level == .perCall }

    /// `"strict"`, or `{"level": "strict", "network": false, "paths": [{"path": "/srv/data", "mode":
    /// "ro"}], "limits": {"addressSpaceBytes": N, "cpuSeconds": N, "openFiles": N, "processes": N,
    /// "fileSizeBytes": N}}`; what is left out keeps `base`'s value. The error names the field.
    public static func parse(_ value: JSONValue, base: SandboxPolicy = .serverDefault) -> Result<SandboxPolicy, SandboxPolicyError> {
        var policy = base
        if let name = value.stringValue {
            guard let level = SandboxLevel(rawValue: name) else {
                return .failure(SandboxPolicyError("sandbox level must be one of \(SandboxLevel.names), not '\(name)'"))
            }
            policy.level = level
            return .success(policy)
        }
        guard let object = value.objectValue else {
            return .failure(SandboxPolicyError("sandbox must be a level name or an object"))
        }
        for (key, _) in object where !["level", "network", "paths", "limits"].contains(key) {
            return .failure(SandboxPolicyError("sandbox has an unknown key '\(key)' (level, network, paths, limits)"))
        }
        if let level = object["level"] {
            guard let name = level.stringValue, let parsed = SandboxLevel(rawValue: name) else {
                return .failure(SandboxPolicyError("sandbox.level must be one of \(SandboxLevel.names)"))
            }
            policy.level = parsed
        }
        if let network = object["network"] {
            guard let allowed = network.boolValue else { return .failure(SandboxPolicyError("sandbox.network must be true or false")) }
            policy.network = allowed
        }
        if let paths = object["paths"] {
            guard let list = paths.arrayValue else { return .failure(SandboxPolicyError("sandbox.paths must be an array")) }
            policy.paths = []
            for item in list {
                guard let entry = item.objectValue, let path = entry["path"]?.stringValue else {
                    return .failure(SandboxPolicyError("each sandbox.paths item needs a \"path\""))
                }
                guard path.hasPrefix("/"), !path.split(separator: "/").contains(".."), path != "/" else {
                    return .failure(SandboxPolicyError("sandbox path '\(path)' must be absolute, not / and without '..'"))
                }
                let mode = entry["mode"]?.stringValue ?? "ro"
                guard mode == "ro" || mode == "rw" else {
                    return .failure(SandboxPolicyError("sandbox path mode must be \"ro\" or \"rw\", not '\(mode)'"))
                }
                policy.paths.append(BoundPath(path: path, writable: mode == "rw"))
            }
            guard policy.paths.count <= 64 else { return .failure(SandboxPolicyError("at most 64 sandbox paths")) }
        }
        if let limits = object["limits"] {
            guard let fields = limits.objectValue else { return .failure(SandboxPolicyError("sandbox.limits must be an object")) }
            for (key, value) in fields {
                guard let field = ResourceLimits.fields.first(where: { $0.name == key }) else {
                    let known = ResourceLimits.fields.map(\.name).joined(separator: ", ")
                    return .failure(SandboxPolicyError("sandbox.limits has an unknown key '\(key)' (\(known))"))
                }
                guard let number = value.intValue, number > 0 else {
                    return .failure(SandboxPolicyError("sandbox.limits.\(key) must be a positive integer"))
                }
                policy.limits[keyPath: field.keyPath] = UInt64(number)
            }
        }
        return .success(policy)
    }

    /// The object form, complete: what the child receives and the state file keeps.
    public var json: JSONValue {
        let paths = JSONValue.array(paths.map {
            .object(JSONObject([("path", .string($0.path)), ("mode", .string($0.writable ? "rw" : "ro"))]))
        })
        let limits = JSONObject(ResourceLimits.fields.map { ($0.name, JSONValue.int(Int64(clamping: self.limits[keyPath: $0.keyPath]))) })
        return .object(JSONObject([("level", .string(level.rawValue)), ("network", .bool(network)), ("paths", paths),
                                   ("limits", .object(limits))]))
    }
}

public struct SandboxPolicyError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
