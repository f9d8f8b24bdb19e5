// Worker slots, the header's counters and state, and the snapshot that gathers everything.
import Glibc
import SystemCalls
import TestSupport
import Testing
import CallTable

@Suite struct WorkerSlotTests {
    let directory = TemporaryDirectory()

    @Test func aWorkerSlotGoesFromStartingToBusyAndBack() throws {
        let table = try CallTable.create(path: directory.file("calltable"), callSlots: 4, workerSlots: 2, rateBuckets: 0)
        let slot = try #require(table.claimWorkerSlot())
        let starting = try #require(table.readWorker(slot: slot))
        #expect(starting.state == .starting)
        #expect(starting.pid == 0)
        #expect(starting.currentCallSlot == nil)

        let before = Clock.wallMillis()
        table.setWorker(slot: slot, pid: 5150, state: .idle)
        let idle = try #require(table.readWorker(slot: slot))
        #expect(idle.pid == 5150)
        #expect(idle.state == .idle)
        #expect(idle.callsServed == 0)
        #expect(idle.currentCallSlot == nil)
        #expect(idle.spawnedAtMs >= before && idle.spawnedAtMs <= Clock.wallMillis())
        #expect(idle.heartbeatMs == idle.spawnedAtMs)

        table.setWorkerState(slot: slot, .busy)
        table.setWorkerCurrentCall(slot: slot, callSlot: 3)
        table.incrementCallsServed(slot: slot)
        table.incrementCallsServed(slot: slot)
        table.incrementCallsServed(slot: slot)
        let busy = try #require(table.readWorker(slot: slot))
        #expect(busy.state == .busy)
        #expect(busy.currentCallSlot == 3)
        #expect(busy.callsServed == 3)

        table.setWorkerCurrentCall(slot: slot, callSlot: nil)
        #expect(table.readWorker(slot: slot)?.currentCallSlot == nil)

        table.releaseWorkerSlot(slot)
        #expect(table.readWorker(slot: slot) == nil)
    }

    @Test func theWorkerStampsItsOwnHeartbeat() throws {
        let table = try CallTable.create(path: directory.file("calltable"), callSlots: 4, workerSlots: 2, rateBuckets: 0)
        let slot = try #require(table.claimWorkerSlot())
        table.setWorker(slot: slot, pid: 99, state: .idle)
        let spawned = try #require(table.readWorker(slot: slot)).heartbeatMs
        Clock.sleep(millis: 20)
        table.stampWorkerHeartbeat(slot: slot)
        let stamped = try #require(table.readWorker(slot: slot)).heartbeatMs
        #expect(stamped >= spawned + 20)
    }

    @Test func workerClaimsStopWhenEverySlotIsTaken() throws {
        let table = try CallTable.create(path: directory.file("calltable"), callSlots: 4, workerSlots: 3, rateBuckets: 0)
        let claimed = [table.claimWorkerSlot(), table.claimWorkerSlot(), table.claimWorkerSlot()].compactMap { $0 }
        #expect(claimed.sorted() == [0, 1, 2])
        #expect(table.claimWorkerSlot() == nil)
        table.releaseWorkerSlot(1)
        #expect(table.claimWorkerSlot() == 1)
    }

    @Test func countersCountEachKindSeparately() throws {
        let table = try CallTable.create(path: directory.file("calltable"), callSlots: 4, workerSlots: 2, rateBuckets: 0)
        for (index, counter) in CallTableCounter.allCases.enumerated() {
            for _ in 0..<(index + 1) { table.increment(counter) }
        }
        for (index, counter) in CallTableCounter.allCases.enumerated() {
            #expect(table.value(of: counter) == UInt64(index + 1), "\(counter.name)")
        }
        #expect(CallTableCounter.allCases.map(\.name) == [
            "calls_accepted", "calls_finished", "calls_failed", "calls_cancelled",
            "workers_spawned", "workers_crashed", "workers_recycled", "workers_killed",
        ])
    }

    @Test func theHeaderDescribesTheSupervisor() throws {
        let before = Clock.wallMillis()
        let table = try CallTable.create(path: directory.file("calltable"), callSlots: 4, workerSlots: 2, rateBuckets: 0)
        #expect(table.isWritable)
        #expect(table.callSlotCount == 4)
        #expect(table.workerSlotCount == 2)
        #expect(table.supervisorPid == getpid())
        #expect(table.supervisorState == .starting)
        #expect(table.startedAtMs >= before && table.startedAtMs <= Clock.wallMillis())
        table.setSupervisorState(.ready)
        #expect(table.supervisorState == .ready)
        Clock.sleep(millis: 15)
        table.stampSupervisorHeartbeat()
        #expect(table.supervisorHeartbeatMs >= table.startedAtMs + 15)
        table.setQueue(depth: 7, capacity: 1024)
        #expect(table.queueDepth == 7)
        #expect(table.queueCapacity == 1024)
    }

    @Test func aSnapshotHoldsTheHeaderAndEveryOccupiedSlot() throws {
        let populated = try PopulatedTable(in: directory)
        let snapshot = populated.table.snapshot()
        #expect(snapshot.supervisorPid == getpid())
        #expect(snapshot.supervisorState == .ready)
        #expect(snapshot.cancelEpoch == 1)
        #expect(snapshot.queueDepth == 3)
        #expect(snapshot.queueCapacity == 16)
        #expect(snapshot.callSlotCount == 16)
        #expect(snapshot.workerSlotCount == 4)
        #expect(snapshot.counters[.callsAccepted] == 2)
        #expect(snapshot.counters[.workersSpawned] == 2)
        #expect(snapshot.counters[.callsFailed] == 0)
        #expect(snapshot.counters.count == CallTableCounter.allCases.count)
        #expect(snapshot.calls.map(\.callId) == [populated.queuedCallId, populated.runningCallId])
        #expect(snapshot.calls.map(\.state) == [.pending, .running])
        #expect(snapshot.calls.map(\.cancelRequested) == [false, true])
        #expect(snapshot.workers.map(\.pid) == populated.workerPids)
        #expect(snapshot.workers.map(\.state) == [.idle, .busy])
        #expect(snapshot.workers.map(\.callsServed) == [1, 2])
        #expect(snapshot.workers[1].currentCallSlot == snapshot.calls[1].slot)

        populated.table.releaseCallSlot(snapshot.calls[0].slot)
        populated.table.releaseWorkerSlot(snapshot.workers[0].slot)
        let after = populated.table.snapshot()
        #expect(after.calls.map(\.callId) == [populated.runningCallId])
        #expect(after.workers.map(\.pid) == [populated.workerPids[1]])
    }

    @Test func stateNamesAreTheOnesOperatorsSee() {
        #expect(CallState.allCases.map(\.name) == ["free", "pending", "running", "finished", "error", "cancelled", "reserved"])
        #expect(WorkerState.allCases.map(\.name) == ["free", "starting", "idle", "busy", "stopping"])
        #expect(SupervisorState.allCases.map(\.name) == ["none", "starting", "ready", "draining", "stopped"])
        #expect(CallState.reserved.rawValue == 6)
        #expect(WorkerState.stopping.rawValue == 4)
        #expect(SupervisorState.stopped.rawValue == 4)
    }
}
