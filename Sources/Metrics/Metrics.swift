// Metrics: what GET /metrics shows, in the Prometheus text exposition format (version 0.0.4).
// Counters and histograms are kept here, updated on the supervisor's event loop thread (so plain
// stored properties suffice); gauges are read at scrape time from whoever owns the figure.

/// The supervisor's counters and histograms, and the gauges it reads when scraped.
public final class Metrics {
    /// Upper bounds (seconds) of the call-duration histogram: from a loopback echo (well under a
    /// millisecond) to the default deadline.
    public static let durationBuckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                   0.5, 1, 2.5, 5, 10, 30, 60, 300]

    /// One tool's figures: its call-duration histogram and its ended calls by surface and outcome.
    /// A tool meets a handful of (surface, outcome) pairs, scanned in place: each call hashes the
    /// tool's name once, where a key of three strings was hashed besides (callgrind, ~0.8k a call).
    private final class ToolFigures {
        var durations = Histogram(bounds: Metrics.durationBuckets)
        var ended: [(surface: String, outcome: String, count: UInt64)] = []
    }

    private var tools: [String: ToolFigures] = [:]
    private struct RateKey: Hashable { let surface: String, limit: String }
    private var rateLimited: [RateKey: UInt64] = [:]
    /// Families read at scrape time (workers by state, queue depth, open connections …).
    private var gaugeSources: [() -> [Family]] = []

    public init() {}

    /// One call ended: `outcome` is finished, error or cancelled; `seconds` from start to end.
    public func callEnded(tool: String, surface: String, outcome: String, seconds: Double) {
        let figures: ToolFigures
        if let known = tools[tool] {
            figures = known
        } else {
            figures = ToolFigures()
            tools[tool] = figures
        }
        figures.durations.observe(seconds)
        for index in figures.ended.indices where figures.ended[index].surface == surface && figures.ended[index].outcome == outcome {
            figures.ended[index].count += 1
            return
        }
        figures.ended.append((surface, outcome, 1))
    }

    /// A request (`limit` "request") or a tool call (`limit` "tool") refused by a rate limit.
    public func rateLimitRejected(surface: String, limit: String) {
        rateLimited[RateKey(surface: surface, limit: limit), default: 0] += 1
    }

    /// Adds families computed at each scrape.
    public func addGauges(_ source: @escaping () -> [Family]) {
        gaugeSources.append(source)
    }

    /// The whole exposition, families in a stable order.
    public func render() -> String {
        var families: [Family] = []
        families.append(Family(name: "mcpd_calls_total", help: "Tool calls ended, by tool, surface and outcome.", type: .counter,
                               samples: tools.flatMap { tool, figures in figures.ended.map { (tool: tool, surface: $0.surface, outcome: $0.outcome, count: $0.count) } }
                                   .sorted { ($0.tool, $0.surface, $0.outcome) < ($1.tool, $1.surface, $1.outcome) }
                                   .map { Sample(labels: [("tool", $0.tool), ("surface", $0.surface), ("outcome", $0.outcome)],
                                                 value: Double($0.count)) }))
        var histogram = Family(name: "mcpd_call_duration_seconds", help: "Time from a call's start to its end, by tool.",
                               type: .histogram, samples: [])
        for (tool, figures) in tools.sorted(by: { $0.key < $1.key }) {
            histogram.samples += figures.durations.samples(name: histogram.name, labels: [("tool", tool)])
        }
        families.append(histogram)
        families.append(Family(name: "mcpd_rate_limit_rejections_total",
                               help: "Requests (limit=request) and tool calls (limit=tool) refused by a rate limit, by surface.",
                               type: .counter,
                               samples: rateLimited.sorted { ($0.key.surface, $0.key.limit) < ($1.key.surface, $1.key.limit) }
                                   .map { Sample(labels: [("surface", $0.key.surface), ("limit", $0.key.limit)], value: Double($0.value)) }))
        for source in gaugeSources { families += source() }
        return families.map { $0.text }.joined()
    }
}

/// One metric family: its HELP and TYPE lines and its samples.
public struct Family {
    public enum Kind: String { case counter, gauge, histogram }
    public let name: String
    public let help: String
    public let type: Kind
    public var samples: [Sample]

    public init(name: String, help: String, type: Kind, samples: [Sample]) {
        self.name = name
        self.help = help
        self.type = type
        self.samples = samples
    }

    /// A family of one unlabelled sample.
    public static func single(_ name: String, help: String, type: Kind = .gauge, _ value: Double) -> Family {
        Family(name: name, help: help, type: type, samples: [Sample(value: value)])
    }

    var text: String {
        var out = "# HELP \(name) \(Family.escapeHelp(help))\n# TYPE \(name) \(type.rawValue)\n"
        for sample in samples { out += sample.line(defaultName: name) }
        return out
    }

    static func escapeHelp(_ text: String) -> String {
        text.replacingAll([("\\", "\\\\"), ("\n", "\\n")])
    }
}

/// One sample line: `name{label="value",…} value`.
public struct Sample {
    /// Set for histogram lines (`_bucket`, `_sum`, `_count`); otherwise the family's name.
    public var name: String?
    public var labels: [(String, String)]
    public var value: Double

    public init(name: String? = nil, labels: [(String, String)] = [], value: Double) {
        self.name = name
        self.labels = labels
        self.value = value
    }

    func line(defaultName: String) -> String {
        var out = name ?? defaultName
        if !labels.isEmpty {
            out += "{" + labels.map { "\($0.0)=\"\(Sample.escapeLabel($0.1))\"" }.joined(separator: ",") + "}"
        }
        return out + " " + Sample.format(value) + "\n"
    }

    static func escapeLabel(_ text: String) -> String {
        text.replacingAll([("\\", "\\\\"), ("\"", "\\\""), ("\n", "\\n")])
    }

    /// Integers without a fraction; +Inf as Prometheus spells it.
    static func format(_ value: Double) -> String {
        if value == .infinity { return "+Inf" }
        if value.rounded() == value, abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}

/// A cumulative histogram with fixed bounds.
struct Histogram {
    let bounds: [Double]
    private var counts: [UInt64]
    private var sum = 0.0
    private var count: UInt64 = 0

    init(bounds: [Double]) {
        self.bounds = bounds
        counts = Array(repeating: 0, count: bounds.count)
    }

    mutating func observe(_ value: Double) {
        if let index = bounds.firstIndex(where: { value <= $0 }) { counts[index] += 1 }
        sum += value
        count += 1
    }

    func samples(name: String, labels: [(String, String)]) -> [Sample] {
        var running: UInt64 = 0
        var out: [Sample] = []
        for (bound, bucketCount) in zip(bounds, counts) {
            running += bucketCount
            out.append(Sample(name: name + "_bucket", labels: labels + [("le", Sample.format(bound))], value: Double(running)))
        }
        out.append(Sample(name: name + "_bucket", labels: labels + [("le", "+Inf")], value: Double(count)))
        out.append(Sample(name: name + "_sum", labels: labels, value: sum))
        out.append(Sample(name: name + "_count", labels: labels, value: Double(count)))
        return out
    }
}

extension String {
    /// Each pair's first string replaced by its second, in order, in one pass over the characters.
    func replacingAll(_ pairs: [(Character, String)]) -> String {
        var out = ""
        out.reserveCapacity(utf8.count)
        for character in self {
            if let replacement = pairs.first(where: { $0.0 == character })?.1 { out += replacement } else { out.append(character) }
        }
        return out
    }
}
