// The commands mcpctl knows. A new command is a type conforming to `Subcommand` plus one entry in
// `MCPCtl.subcommands`; parsing, help and errors come from the declarations.
import CallTable
import SystemCalls

/// One mcpctl command: what it is called, what it accepts, and what it does.
protocol Subcommand: Sendable {
    static var name: String { get }
    /// One line for the list of commands.
    static var abstract: String { get }
    /// Paragraphs for `mcpctl help <command>`.
    static var discussion: String { get }
    static var options: [OptionSpec] { get }
    /// Runs the command and returns the exit status.
    static func run(_ options: ParsedOptions, _ context: Context) -> Int32
    /// Whether the command takes arguments besides its options (`mcpctl cancel CALL_ID`).
    static var takesPositional: Bool { get }
}

extension Subcommand {
    static var takesPositional: Bool { false }
}

/// What every command gets from the global options.
struct Context {
    /// The call table file: --table, else <runtime directory>/calltable.
    let tablePath: String

    /// Opens the table (read-only unless `writable`), or prints why it cannot and returns nil.
    func openTable(reportingTo stream: Int32 = 2, prefix: String = "mcpctl: ", writable: Bool = false) -> CallTable? {
        do {
            return try CallTable.open(path: tablePath, writable: writable)
        } catch {
            Descriptor.writeAll(stream, prefix + error.message + "\n")
            return nil
        }
    }
}

enum MCPCtl {
    static let version = "0.1.0"

    /// Every command, in the order `mcpctl --help` lists them.
    static let subcommands: [any Subcommand.Type] = [StatusCommand.self, HealthCommand.self, TopCommand.self,
                                                     CallsCommand.self, CancelCommand.self, CancelAllCommand.self,
                                                     KeysCreateCommand.self, KeysListCommand.self, KeysRevokeCommand.self]

    static let runtimeDirectoryOption = OptionSpec(
        "--runtime-dir", value: "dir",
        help: "mcpd's runtime directory; the call table is <dir>/calltable. Default: $RUNTIME_DIRECTORY, "
            + "else /run/mcpd as root, else $XDG_RUNTIME_DIR/mcpd, else /tmp/mcpd-<uid>.")
    static let tableOption = OptionSpec("--table", value: "path", help: "The call table file itself (instead of --runtime-dir).")
    static let versionOption = OptionSpec("--version", help: "Show the version.")
    static let helpOption = OptionSpec("--help", short: "-h", help: "Show help information.")

    static let globalOptions = [runtimeDirectoryOption, tableOption]

    static let abstract = "Inspect and probe a running mcpd through its shared-memory call table; manage its API keys."
    static let discussion = """
        mcpctl status, health, top and calls read the call table that mcpd keeps in its runtime \
        directory, without HTTP and without a token; they need read access to the table (the mcpd \
        user or its group), and cancel and cancel-all need write access (the mcpd user). mcpctl keys \
        create|list|revoke manage API keys through the running mcpd's /v1/keys over HTTP, with an \
        owner's or admin's token (--token-file or MCPD_TOKEN).
        """

    static func main(_ arguments: [String]) -> Int32 {
        var global = ParsedOptions()
        var index = 0
        // Global options come before the command; they are accepted after it too.
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--version" {
                Descriptor.writeAll(1, "mcpctl \(version)\n")
                return 0
            }
            if helpOption.matches(argument) || argument == "help" {
                return showHelp(topic: argument == "help" ? arguments.dropFirst(index + 1).first : nil)
            }
            guard argument.hasPrefix("-") else { break }
            do {
                try global.consume(arguments, at: &index, accepting: globalOptions)
            } catch {
                return usageError(error.message, usage: mainUsage, helpCommand: "mcpctl --help")
            }
        }
        guard index < arguments.count else {
            return usageError("Missing a subcommand.", usage: mainUsage, helpCommand: "mcpctl --help")
        }
        var name = arguments[index]
        // Two-word commands: "keys create", "keys list", "keys revoke".
        if name == "keys" {
            guard index + 1 < arguments.count, !arguments[index + 1].hasPrefix("-") else {
                return usageError("'keys' needs an action: create, list or revoke.", usage: mainUsage, helpCommand: "mcpctl --help")
            }
            index += 1
            name += " " + arguments[index]
        }
        guard let command = subcommands.first(where: { $0.name == name }) else {
            return usageError("Unknown subcommand '\(name)'.", usage: mainUsage, helpCommand: "mcpctl --help")
        }
        index += 1
        var options = global
        while index < arguments.count {
            let argument = arguments[index]
            if helpOption.matches(argument) { return showHelp(topic: command.name) }
            if command.takesPositional && !argument.hasPrefix("-") {
                options.positional.append(argument)
                index += 1
                continue
            }
            do {
                try options.consume(arguments, at: &index, accepting: command.options + globalOptions)
            } catch {
                return usageError(error.message, usage: usage(of: command), helpCommand: "mcpctl \(command.name) --help")
            }
        }
        if options.value(of: runtimeDirectoryOption) != nil && options.value(of: tableOption) != nil {
            return usageError("--runtime-dir and --table cannot be used together.", usage: usage(of: command),
                              helpCommand: "mcpctl \(command.name) --help")
        }
        let tablePath = options.value(of: tableOption)
            ?? RuntimeDirectory.tablePath(in: RuntimeDirectory.resolve(explicit: options.value(of: runtimeDirectoryOption)))
        return command.run(options, Context(tablePath: tablePath))
    }

    // MARK: help and usage

    static let mainUsage = "mcpctl [--runtime-dir <dir> | --table <path>] <subcommand> [<options>]"

    static func usage(of command: any Subcommand.Type) -> String {
        let own = command.options.map { "[\($0.synopsis)]" }.joined(separator: " ")
        return "mcpctl [--runtime-dir <dir> | --table <path>] \(command.name)" + (own.isEmpty ? "" : " " + own)
    }

    static func showHelp(topic: String?) -> Int32 {
        guard let topic else {
            var text = "OVERVIEW: \(abstract)\n\n" + HelpFormatter.wrap(discussion, indent: 0)
            text += "\nUSAGE: \(mainUsage)\n\nOPTIONS:\n"
            text += HelpFormatter.rows((globalOptions + [versionOption, helpOption]).map { ($0.label, $0.help) })
            text += "\nSUBCOMMANDS:\n"
            text += HelpFormatter.rows(subcommands.map { ($0.name, $0.abstract) })
            text += "\n  See 'mcpctl help <subcommand>' for detailed help.\n"
            Descriptor.writeAll(1, text)
            return 0
        }
        guard let command = subcommands.first(where: { $0.name == topic || $0.name == "keys " + topic }) else {
            return usageError("Unknown subcommand '\(topic)'.", usage: mainUsage, helpCommand: "mcpctl --help")
        }
        var text = "OVERVIEW: \(command.abstract)\n\n"
        text += HelpFormatter.wrap(command.discussion, indent: 0) + "\n"
        text += "USAGE: \(usage(of: command))\n\nOPTIONS:\n"
        text += HelpFormatter.rows((command.options + globalOptions + [helpOption]).map { ($0.label, $0.help) })
        Descriptor.writeAll(1, text)
        return 0
    }

    /// Reports a command-line mistake the way swift-argument-parser does, on stderr, exit status 2.
    static func usageError(_ message: String, usage: String, helpCommand: String) -> Int32 {
        Descriptor.writeAll(2, "Error: \(message)\nUsage: \(usage)\n  See '\(helpCommand)' for more information.\n")
        return 2
    }
}
