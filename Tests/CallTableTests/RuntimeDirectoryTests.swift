// Where mcpd and mcpctl look for the table when nobody says.
import Glibc
import TestSupport
import Testing
@testable import CallTable

@Suite struct RuntimeDirectoryTests {
    static func environment(_ values: [String: String]) -> (String) -> String? { { values[$0] } }

    @Test func anExplicitDirectoryWins() {
        let env = Self.environment(["RUNTIME_DIRECTORY": "/run/x", "XDG_RUNTIME_DIR": "/run/user/1000"])
        #expect(RuntimeDirectory.resolve(explicit: "/srv/mcpd", environment: env, uid: 1000) == "/srv/mcpd")
        #expect(RuntimeDirectory.resolve(explicit: "/srv/mcpd") == "/srv/mcpd")
    }

    @Test func systemdsRuntimeDirectoryComesNextAndItsFirstEntryIsUsed() {
        #expect(RuntimeDirectory.resolve(explicit: nil, environment: Self.environment(["RUNTIME_DIRECTORY": "/run/mcpd"]), uid: 0) == "/run/mcpd")
        #expect(RuntimeDirectory.resolve(explicit: nil, environment: Self.environment(["RUNTIME_DIRECTORY": "/run/a:/run/b"]), uid: 1000) == "/run/a")
        #expect(RuntimeDirectory.resolve(explicit: nil, environment: Self.environment(["RUNTIME_DIRECTORY": "/run/a /run/b"]), uid: 1000) == "/run/a")
    }

    @Test func rootUsesRunAndOthersTheirOwnRuntimeDirectory() {
        let xdg = Self.environment(["XDG_RUNTIME_DIR": "/run/user/1000"])
        #expect(RuntimeDirectory.resolve(explicit: nil, environment: xdg, uid: 0) == "/run/mcpd")
        #expect(RuntimeDirectory.resolve(explicit: nil, environment: xdg, uid: 1000) == "/run/user/1000/mcpd")
        #expect(RuntimeDirectory.resolve(explicit: nil, environment: Self.environment([:]), uid: 1000) == "/tmp/mcpd-1000")
        #expect(RuntimeDirectory.resolve(explicit: nil, environment: Self.environment(["XDG_RUNTIME_DIR": ""]), uid: 7) == "/tmp/mcpd-7")
    }

    @Test func theTableLivesInTheDirectory() {
        #expect(RuntimeDirectory.tablePath(in: "/run/mcpd") == "/run/mcpd/calltable")
        #expect(RuntimeDirectory.tablePath(in: "/run/mcpd/") == "/run/mcpd/calltable")
    }

    @Test func ensureExistsCreatesMissingParentsWithMode0750() throws {
        let directory = TemporaryDirectory()
        let nested = directory.file("a/b/mcpd")
        try RuntimeDirectory.ensureExists(nested)
        var info = stat()
        #expect(stat(nested, &info) == 0)
        #expect(info.st_mode & S_IFMT == S_IFDIR)
        #expect(info.st_mode & 0o777 == 0o750)
        // A second call on an existing directory is fine, and a table can be created in it.
        try RuntimeDirectory.ensureExists(nested)
        let table = try CallTable.create(path: RuntimeDirectory.tablePath(in: nested), callSlots: 1, workerSlots: 1, rateBuckets: 0)
        #expect(table.callSlotCount == 1)
    }

    @Test func ensureExistsRefusesAFileInTheWay() throws {
        let directory = TemporaryDirectory()
        writeBytes([1, 2, 3], to: directory.file("occupied"))
        #expect(throws: CallTableError("\(directory.file("occupied")) exists and is not a directory")) {
            try RuntimeDirectory.ensureExists(directory.file("occupied"))
        }
    }
}
