import Glibc
import JSON
import TestSupport
import Testing
import Tools
@testable import Connectors

/// A ToolContext for connector tests: never cancelled, records partial events.
final class QuietToolContext: ToolContext {
    var partials: [JSONObject] = []
    func emitPartial(_ fields: JSONObject) { partials.append(fields) }
    func waitForCancellation(milliseconds: Int) -> Bool { false }
    var isCancelled: Bool { false }
    func pollCancellation() -> Bool { false }
    func emitProgress(_ fields: JSONObject) {}
    func emitLog(level: String, data: JSONValue, logger: String?) {}
    func askClient(method: String, params: JSONObject) -> ClientAnswer { .cancelled }
}

/// A fresh directory under /tmp holding `root/` (the file root) and `outside/` beside it.
private struct Sandbox: ~Copyable {
    let base: String
    var root: String { base + "/root" }
    var outside: String { base + "/outside" }

    init() {
        var template = Array("/tmp/mcpd-files-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        base = String(cString: made!)
        mkdir(base + "/root", 0o755)
        mkdir(base + "/outside", 0o755)
    }

    deinit {
        removeTree(base)
    }

    func write(_ relative: String, _ text: String) {
        let fd = open(base + "/" + relative, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        _ = text.withCString { Glibc.write(fd, $0, strlen($0)) }
        close(fd)
    }

    func run(_ operation: String, _ input: JSONValue) -> ToolOutcome {
        Connectors.run(spec: ["kind": "file", "operation": .string(operation), "root": .string(root)],
                       tool: operation, input: input, context: QuietToolContext())
    }
}

private func failureKind(_ outcome: ToolOutcome) -> String? {
    guard case .failure(let kind, _) = outcome else { return nil }
    return kind
}

@Test func writeThenReadThenList() {
    let box = Sandbox()
    mkdir(box.root + "/sub", 0o755)
    guard case .result(let written) = box.run("write_file", ["path": "sub/notes.txt", "content": "héllo\n"]) else {
        Issue.record("write_file failed")
        return
    }
    #expect(written["bytes"] == 7)
    #expect(box.run("read_file", ["path": "sub/notes.txt"]) == .result(["text": "héllo\n"]))
    #expect(box.run("read_file", ["path": "./sub/../sub/notes.txt"]) == .result(["text": "héllo\n"]))
    // Replacing keeps nothing of the old contents.
    _ = box.run("write_file", ["path": "sub/notes.txt", "content": "new"])
    #expect(box.run("read_file", ["path": "sub/notes.txt"]) == .result(["text": "new"]))

    box.write("root/b.txt", "b")
    box.write("root/A.txt", "a")
    guard case .result(let listing) = box.run("list_directory", [:]) else {
        Issue.record("list_directory failed")
        return
    }
    #expect(listing["text"] == "[FILE] A.txt\n[FILE] b.txt\n[DIR] sub")
    #expect(listing["entries"] == [
        ["name": "A.txt", "type": "file"], ["name": "b.txt", "type": "file"], ["name": "sub", "type": "directory"],
    ])
    #expect(box.run("list_directory", ["path": "sub"]) == .result([
        "text": "[FILE] notes.txt", "entries": [["name": "notes.txt", "type": "file"]],
    ]))
}

@Test func pathsLeadingOutsideTheRootAreRefused() {
    let box = Sandbox()
    box.write("outside/secret.txt", "secret")
    symlink(box.outside + "/secret.txt", box.root + "/link.txt")
    symlink(box.outside, box.root + "/linkdir")

    for (operation, input) in [
        ("read_file", ["path": "../outside/secret.txt"] as JSONValue),
        ("read_file", ["path": .string(box.outside + "/secret.txt")]),
        ("read_file", ["path": "/etc/passwd"]),
        ("read_file", ["path": "link.txt"]),
        ("read_file", ["path": "linkdir/secret.txt"]),
        ("read_file", ["path": "../outside/missing.txt"]),
        ("list_directory", ["path": ".."]),
        ("list_directory", ["path": "linkdir"]),
        ("write_file", ["path": "../outside/new.txt", "content": "x"]),
        ("write_file", ["path": "linkdir/new.txt", "content": "x"]),
        ("write_file", ["path": "link.txt", "content": "overwritten"]),
    ] {
        let outcome = box.run(operation, input)
        #expect(failureKind(outcome) == "path_outside_root", "\(operation) \(input)")
        if case .failure(_, let message) = outcome {
            #expect(message.contains("resolves outside the file root"))
        }
    }
    // Nothing outside was touched.
    #expect(access(box.outside + "/new.txt", F_OK) != 0)
    let fd = open(box.outside + "/secret.txt", O_RDONLY)
    var buffer = [UInt8](repeating: 0, count: 32)
    let count = read(fd, &buffer, 32)
    close(fd)
    #expect(String(decoding: buffer[..<max(count, 0)], as: UTF8.self) == "secret")
}

@Test func symlinksThatStayInsideAreFollowedForReading() {
    let box = Sandbox()
    box.write("root/real.txt", "inside")
    symlink("real.txt", box.root + "/alias.txt")
    #expect(box.run("read_file", ["path": "alias.txt"]) == .result(["text": "inside"]))
    // write_file never writes through a link, even one that stays inside.
    #expect(failureKind(box.run("write_file", ["path": "alias.txt", "content": "x"])) == "invalid_input")
}

@Test func missingFilesAndWrongTypes() {
    let box = Sandbox()
    mkdir(box.root + "/dir", 0o755)
    #expect(failureKind(box.run("read_file", ["path": "nope.txt"])) == "not_found")
    #expect(failureKind(box.run("list_directory", ["path": "nope"])) == "not_found")
    #expect(failureKind(box.run("write_file", ["path": "nope/x.txt", "content": ""])) == "not_found")
    #expect(failureKind(box.run("read_file", ["path": "dir"])) == "invalid_input")
    #expect(failureKind(box.run("write_file", ["path": "dir", "content": ""])) == "invalid_input")
    #expect(failureKind(box.run("read_file", ["path": ""])) == "invalid_input")
    #expect(failureKind(box.run("read_file", [:])) == "invalid_input")
    box.write("root/file.txt", "x")
    #expect(failureKind(box.run("list_directory", ["path": "file.txt"])) == "invalid_input")
}

@Test func readFileReplacesInvalidUTF8AndRefusesHugeFiles() {
    let box = Sandbox()
    let fd = open(box.root + "/bin", O_WRONLY | O_CREAT, 0o644)
    let bytes: [UInt8] = [0x61, 0xFF, 0x62]
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, 3) }
    close(fd)
    #expect(box.run("read_file", ["path": "bin"]) == .result(["text": "a\u{FFFD}b"]))

    let big = open(box.root + "/big", O_WRONLY | O_CREAT, 0o644)
    ftruncate(big, 5 << 20)
    close(big)
    #expect(failureKind(box.run("read_file", ["path": "big"])) == "invalid_input")
}
