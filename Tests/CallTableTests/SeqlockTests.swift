// A writer thread rewrites one call record as fast as it can while readers on other mappings copy
// it; every copy must be one whole record, never a mix of two.
import Glibc
import SystemCalls
import TestSupport
import Testing
import CallTable

@Suite struct SeqlockTests {
    let directory = TemporaryDirectory()

    /// Generation n's record: every field derives from n, so a torn copy cannot look whole.
    static func tool(_ n: Int) -> String { "tool-" + String(repeating: "x", count: n % 50) + "-\(n)" }

    @Test func readersNeverSeeATornRecord() throws {
        let path = directory.file("calltable")
        let table = try CallTable.create(path: path, callSlots: 2, workerSlots: 1, rateBuckets: 0)
        let slot = try #require(table.claimCallSlot())
        table.publishCall(slot: slot, callId: "call-0", tool: Self.tool(0), owner: "owner-0", state: .pending,
                          startedAtMs: 0, deadlineAtMs: 0)
        let descriptor = dup(table.descriptor)

        // Runs long enough to overlap the reader whatever the scheduler does, then says so in the header.
        let writer = TestThread {
            let mapping = try! CallTable.attach(descriptor: descriptor)
            let started = Clock.monotonicMillis()
            var n = 0
            while n < 20_000 || Clock.monotonicMillis() - started < 300 {
                n += 1
                mapping.publishCall(slot: slot, callId: "call-\(n)", tool: Self.tool(n), owner: "owner-\(n)",
                                    state: n % 2 == 0 ? .pending : .running,
                                    startedAtMs: Int64(n), deadlineAtMs: Int64(n) * 3)
                if n % 7 == 0 { mapping.requestCancel(slot: slot) }
            }
            mapping.setSupervisorState(.stopped)
        }

        let reader = try CallTable.open(path: path)
        var reads = 0
        var generations = Set<Int64>()
        var torn: [String] = []
        let deadline = Clock.monotonicMillis() + 30_000
        while reader.supervisorState != .stopped && Clock.monotonicMillis() < deadline {
            reads += 1
            guard let record = reader.readCall(slot: slot) else {
                torn.append("no consistent copy")
                continue
            }
            let n = Int(record.startedAtMs)
            generations.insert(record.startedAtMs)
            let whole = record.callId == "call-\(n)" && record.tool == Self.tool(n) && record.owner == "owner-\(n)"
                && record.deadlineAtMs == Int64(n) * 3 && record.state == (n % 2 == 0 ? .pending : .running)
                && (!record.cancelRequested || n % 7 == 0)
            if !whole && torn.count < 5 { torn.append("\(record)") }
        }
        writer.join()

        #expect(reader.supervisorState == .stopped)
        #expect(torn.isEmpty, "\(torn)")
        #expect(reads > 100)
        // The reader really ran while the writer wrote.
        #expect(generations.count > 10)
    }
}
