// MCP: the Model Context Protocol for every revision in the field (2024-11-05 … 2026-07-28) over
// the transports real clients use — Streamable HTTP and stateless HTTP on /mcp, the legacy HTTP+SSE
// transport on /sse, and seed 003's asynchronous tenant endpoint. Tool calls run in workers through
// the shared CallService, like every other call.

/// A published revision of the protocol. Features are gated by the revision a session negotiated
/// (or, at 2026-07-28, the one a request names), so each client sees exactly its revision's shapes.
public enum ProtocolRevision: String, CaseIterable, Comparable, Sendable {
    case v2024_11_05 = "2024-11-05"
    case v2025_03_26 = "2025-03-26"
    case v2025_06_18 = "2025-06-18"
    case v2025_11_25 = "2025-11-25"
    case v2026_07_28 = "2026-07-28"

    /// The revision a name denotes. The synthesized init compared the name with every case through
    /// the standard library's string switch; the day of the date already tells the revisions apart,
    /// so one comparison decides (read on every MCP request).
    public init?(rawValue: String) {
        let utf8 = rawValue.utf8
        guard utf8.count == 10 else { return nil }
        let candidate: ProtocolRevision
        switch (utf8[utf8.index(utf8.startIndex, offsetBy: 8)], utf8[utf8.index(utf8.startIndex, offsetBy: 9)]) {
        case (UInt8(ascii: "0"), UInt8(ascii: "5")): candidate = .v2024_11_05
        case (UInt8(ascii: "2"), UInt8(ascii: "6")): candidate = .v2025_03_26
        case (UInt8(ascii: "1"), UInt8(ascii: "8")): candidate = .v2025_06_18
        case (UInt8(ascii: "2"), UInt8(ascii: "5")): candidate = .v2025_11_25
        case (UInt8(ascii: "2"), UInt8(ascii: "8")): candidate = .v2026_07_28
        default: return nil
        }
        guard candidate.rawValue == rawValue else { return nil }
        self = candidate
    }

    /// Revisions in the order they were published.
    private var ordinal: Int {
        switch self {
        case .v2024_11_05: 0
        case .v2025_03_26: 1
        case .v2025_06_18: 2
        case .v2025_11_25: 3
        case .v2026_07_28: 4
        }
    }

    /// Publication order (compared as the feature gates below do on every request: by ordinal,
    /// not by comparing the dates' strings).
    public static func < (lhs: ProtocolRevision, rhs: ProtocolRevision) -> Bool { lhs.ordinal < rhs.ordinal }

    /// The revisions negotiated with `initialize` (sessions); 2026-07-28 is stateless instead.
    static let sessionful: [ProtocolRevision] = [.v2024_11_05, .v2025_03_26, .v2025_06_18, .v2025_11_25]
    static let latestSessionful = ProtocolRevision.v2025_11_25
    static let latest = ProtocolRevision.v2026_07_28
    static var allNames: [String] { allCases.map(\.rawValue) }

    /// JSON-RPC batches were allowed by 2025-03-26 only (2024-11-05 allowed them in principle but
    /// clients never sent them over SSE; 2025-06-18 removed them).
    var allowsBatches: Bool { self == .v2025_03_26 }
    /// Tool annotations, audio content, progress messages, completions.
    var hasAnnotations: Bool { self >= .v2025_03_26 }
    /// structuredContent, outputSchema, resource_link content, `title`, elicitation.
    var hasStructuredContent: Bool { self >= .v2025_06_18 }
    /// Icons, tool execution hints and the other 2025-11-25 additions.
    var hasIcons: Bool { self >= .v2025_11_25 }
    /// Requests carry their own revision and capabilities in `_meta`; no initialize, no session.
    var isStateless: Bool { self >= .v2026_07_28 }
}
