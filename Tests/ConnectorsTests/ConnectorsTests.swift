import Connectors
import JSON
import Testing
import Tools

@Test func unknownSpecKindIsRefused() {
    final class NoContext: ToolContext {
        func emitPartial(_ fields: JSONObject) {}
        func waitForCancellation(milliseconds: Int) -> Bool { false }
        var isCancelled: Bool { false }
        func pollCancellation() -> Bool { false }
        func emitProgress(_ fields: JSONObject) {}
        func emitLog(level: String, data: JSONValue, logger: String?) {}
        func askClient(method: String, params: JSONObject) -> ClientAnswer { .cancelled }
    }
    let outcome = Connectors.run(spec: JSONObject([("kind", "nonsense")]), tool: "x", input: .object(JSONObject()), context: NoContext())
    guard case .failure(let kind, _) = outcome else { Issue.record("expected a failure"); return }
    #expect(kind == "worker_protocol")
}
