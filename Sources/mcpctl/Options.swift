// Declared options and the small parser behind them: long names, an optional short name, and an
// optional value given as the next argument or after '='.

/// One option as a command declares it; help and usage are generated from these.
struct OptionSpec {
    let name: String
    let short: String?
    /// The value's placeholder (without brackets) when the option takes one.
    let valueName: String?
    let help: String

    init(_ name: String, short: String? = nil, value valueName: String? = nil, help: String) {
        self.name = name
        self.short = short
        self.valueName = valueName
        self.help = help
    }

    func matches(_ argument: String) -> Bool { argument == name || argument == short }

    /// "--table <path>" as usage lines show it.
    var synopsis: String { valueName.map { "\(name) <\($0)>" } ?? name }

    /// "-h, --help" or "--table <path>" as the OPTIONS list shows it.
    var label: String { (short.map { "\($0), " } ?? "") + synopsis }
}

struct UsageError: Error {
    let message: String
}

/// The options given on a command line: flags present, and values by option name.
struct ParsedOptions {
    private var flags: Set<String> = []
    private var values: [String: String] = [:]
    /// Arguments that are not options, for the commands that take them.
    var positional: [String] = []

    func isSet(_ option: OptionSpec) -> Bool { flags.contains(option.name) }
    func value(of option: OptionSpec) -> String? { values[option.name] }

    /// Consumes the option at `index` (and its value) if it is one of `accepted`; advances `index`.
    mutating func consume(_ arguments: [String], at index: inout Int, accepting accepted: [OptionSpec]) throws(UsageError) {
        let argument = arguments[index]
        guard argument.hasPrefix("-") else { throw UsageError(message: "Unexpected argument '\(argument)'.") }
        var name = argument
        var attached: String? = nil
        if argument.hasPrefix("--"), let equals = argument.firstIndex(of: "=") {
            name = String(argument[..<equals])
            attached = String(argument[argument.index(after: equals)...])
        }
        guard let option = accepted.first(where: { $0.matches(name) }) else {
            throw UsageError(message: "Unknown option '\(name)'.")
        }
        index += 1
        guard let valueName = option.valueName else {
            if attached != nil { throw UsageError(message: "The option '\(option.name)' takes no value.") }
            flags.insert(option.name)
            return
        }
        if let attached {
            values[option.name] = attached
        } else if index < arguments.count {
            values[option.name] = arguments[index]
            index += 1
        } else {
            throw UsageError(message: "Missing value for '\(option.name) <\(valueName)>'.")
        }
        if values[option.name]?.isEmpty == true {
            throw UsageError(message: "The value of '\(option.name)' is empty.")
        }
    }
}

/// Lays out help text in the two-column form swift-argument-parser uses.
enum HelpFormatter {
    static let width = 80
    static let labelColumn = 26

    /// "  label        text…" rows, the text wrapped under itself.
    static func rows(_ rows: [(label: String, text: String)]) -> String {
        var out = ""
        for (label, text) in rows {
            let lines = wrapLines(text, width: width - labelColumn)
            var first = "  " + label
            if first.count + 2 > labelColumn {
                out += first + "\n"
                first = ""
            }
            for (number, line) in lines.enumerated() {
                let lead = number == 0 && !first.isEmpty ? first : ""
                out += lead + String(repeating: " ", count: labelColumn - lead.count) + line + "\n"
            }
        }
        return out
    }

    /// Paragraphs (separated by blank lines) wrapped to the help width.
    static func wrap(_ text: String, indent: Int) -> String {
        let paragraphs = text.split(separator: "\n\n", omittingEmptySubsequences: true)
        return paragraphs.map { paragraph in
            wrapLines(String(paragraph), width: width - indent)
                .map { String(repeating: " ", count: indent) + $0 }
                .joined(separator: "\n") + "\n"
        }.joined(separator: "\n")
    }

    private static func wrapLines(_ text: String, width: Int) -> [String] {
        var lines: [String] = []
        var line = ""
        for word in text.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            if !line.isEmpty && line.count + 1 + word.count > width {
                lines.append(line)
                line = ""
            }
            line += line.isEmpty ? String(word) : " " + word
        }
        if !line.isEmpty || lines.isEmpty { lines.append(line) }
        return lines
    }
}
