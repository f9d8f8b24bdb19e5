import Pool
import Testing
@testable import Calls

@Suite struct CallStoreTests {
    private func record(_ id: String, keepsEvents: Bool, requestId: String? = nil) -> CallRecord {
        CallRecord(id: id, owner: "default/alice", tool: "echo", sessionId: nil, requestId: requestId, keepsEvents: keepsEvents)
    }

    /// Ends a call as the pool does: its terminal event, then the store hears of it.
    private func end(_ call: CallRecord, in store: CallStore) {
        call.apply(.finished(Array(#"{"text":"done"}"#.utf8)))
        store.markEnded(call)
    }

    @Test func anEndedExecuteCallIsKeptForLateStreamsAndStatus() {
        let store = CallStore()
        let call = record("a", keepsEvents: true)
        store.insert(call)
        end(call, in: store)
        #expect(store.call(id: "a", owner: "default/alice") === call)
        #expect(store.activeCalls(owner: "default/alice").isEmpty)
    }

    @Test func anEndedCallWhoseIdWasNeverGivenOutIsNotRetained() {
        let store = CallStore()
        let call = record("m", keepsEvents: false)
        store.insert(call)
        #expect(store.call(id: "m", owner: "default/alice") === call)  // seen while it runs
        end(call, in: store)
        #expect(store.call(id: "m", owner: "default/alice") == nil)
        #expect(store.activeCalls(owner: "default/alice").isEmpty)
    }

    @Test func anEndedCallWithARequestIdStaysForIdempotency() {
        let store = CallStore()
        let call = record("r", keepsEvents: false, requestId: "req-1")
        store.insert(call)
        end(call, in: store)
        #expect(store.call(owner: "default/alice", requestId: "req-1") === call)
    }

    @Test func retentionIsBoundedByCount() {
        let store = CallStore(retentionMs: 600_000, maxEnded: 2)
        let calls = (0..<3).map { record("c\($0)", keepsEvents: true) }
        for call in calls {
            store.insert(call)
            end(call, in: store)
        }
        #expect(store.call(id: "c0", owner: "default/alice") == nil)
        #expect(store.call(id: "c2", owner: "default/alice") === calls[2])
    }

    /// An evicted call is freed as it is evicted, not later in a batch: freeing 50,000 at once
    /// stalled the event loop for tens of milliseconds.
    @Test func anEvictedCallIsFreedAtOnce() {
        let store = CallStore(retentionMs: 600_000, maxEnded: 2)
        weak var first: CallRecord?
        do {
            let call = record("c0", keepsEvents: true)
            first = call
            store.insert(call)
            end(call, in: store)
        }
        for index in 1...2 {
            let call = record("c\(index)", keepsEvents: true)
            store.insert(call)
            end(call, in: store)
        }
        #expect(store.call(id: "c1", owner: "default/alice") != nil)
        #expect(first == nil, "the evicted record is still held")
    }
}
