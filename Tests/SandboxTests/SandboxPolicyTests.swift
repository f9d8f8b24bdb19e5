// The sandbox policy as configured: level names, the object form, defaults kept, errors that name
// the field, and the complete form the child receives round-tripping.
import JSON
import Sandbox
import Testing

@Suite struct SandboxPolicyTests {
    @Test func levelNameAlone() throws {
        let policy = try SandboxPolicy.parse(.string("per-call")).get()
        #expect(policy.level == .perCall)
        #expect(policy.isPerCall)
        #expect(policy.limits == ResourceLimits())
    }

    @Test func objectFormOverridesOnlyWhatItNames() throws {
        let json = try JSONValue.parse(#"{"level": "strict", "network": true, "paths": [{"path": "/srv/data", "mode": "rw"}, {"path": "/etc/ssl"}], "limits": {"processes": 16, "fileSizeBytes": 1048576}}"#)
        let policy = try SandboxPolicy.parse(json).get()
        #expect(policy.level == .strict)
        #expect(policy.network)
        #expect(policy.paths == [BoundPath(path: "/srv/data", writable: true), BoundPath(path: "/etc/ssl", writable: false)])
        #expect(policy.limits.processes == 16)
        #expect(policy.limits.fileSizeBytes == 1_048_576)
        #expect(policy.limits.openFiles == ResourceLimits().openFiles)
    }

    @Test func defaultsAreProcessForBuiltinsAndStrictForServers() {
        #expect(SandboxPolicy.builtinDefault.level == .process)
        #expect(SandboxPolicy.serverDefault.level == .strict)
        #expect(!SandboxPolicy.serverDefault.network)
    }

    @Test(arguments: [
        (#""jail""#, "sandbox level must be one of"),
        (#"{"level": 3}"#, "sandbox.level"),
        (#"{"network": "yes"}"#, "sandbox.network"),
        (#"{"paths": [{"path": "relative"}]}"#, "must be absolute"),
        (#"{"paths": [{"path": "/a/../etc"}]}"#, "without '..'"),
        (#"{"paths": [{"path": "/data", "mode": "wx"}]}"#, "mode"),
        (#"{"limits": {"processes": 0}}"#, "sandbox.limits.processes"),
        (#"{"limits": {"stack": 5}}"#, "unknown key 'stack'"),
        (#"{"levle": "strict"}"#, "unknown key 'levle'"),
    ])
    func malformedPoliciesNameTheProblem(text: String, expected: String) throws {
        let result = SandboxPolicy.parse(try JSONValue.parse(text))
        guard case .failure(let error) = result else {
            Issue.record("\(text) was accepted")
            return
        }
        #expect(error.description.contains(expected), "\(error.description)")
    }

    @Test func completeFormRoundTrips() throws {
        var policy = SandboxPolicy(level: .strict)
        policy.paths = [BoundPath(path: "/var/lib/tool", writable: true)]
        policy.limits.cpuSeconds = 7
        let again = try SandboxPolicy.parse(try JSONValue.parse(policy.json.serialized()), base: SandboxPolicy(level: .none)).get()
        #expect(again == policy)
    }
}
