// Call slots: claiming, publishing, reading back, cancel flags, releasing. (@testable for the
// memberwise CallRecord initializer, to compare whole records.)
import Glibc
import SystemCalls
import TestSupport
import Testing
@testable import CallTable

@Suite struct CallSlotTests {
    let directory = TemporaryDirectory()

    func makeTable(callSlots: Int = 8) throws -> CallTable {
        try CallTable.create(path: directory.file("calltable"), callSlots: callSlots, workerSlots: 2, rateBuckets: 4)
    }

    @Test func aPublishedCallReadsBackExactly() throws {
        let table = try makeTable()
        let slot = try #require(table.claimCallSlot())
        #expect(table.readCall(slot: slot)?.state == .reserved)
        table.publishCall(slot: slot, callId: "0b7c4f3e-1a2d-4e5f-8a9b-c0d1e2f3a4b5", tool: "echo", owner: "token-1",
                          state: .pending, startedAtMs: 1_700_000_000_123, deadlineAtMs: 1_700_000_300_123)
        let record = try #require(table.readCall(slot: slot))
        #expect(record == CallRecord(
            slot: slot, callId: "0b7c4f3e-1a2d-4e5f-8a9b-c0d1e2f3a4b5", tool: "echo", owner: "token-1",
            state: .pending, cancelRequested: false, workerPid: 0, workerSlot: nil,
            startedAtMs: 1_700_000_000_123, deadlineAtMs: 1_700_000_300_123, cancelEpochAtStart: 0))
    }

    @Test func assigningAWorkerMarksTheCallRunning() throws {
        let table = try makeTable()
        let slot = try #require(table.claimCallSlot())
        table.publishCall(slot: slot, callId: "c1", tool: "countdown", owner: "dev", state: .pending,
                          startedAtMs: 10, deadlineAtMs: 20)
        table.assignWorker(slot: slot, pid: 31337, workerSlot: 1)
        let record = try #require(table.readCall(slot: slot))
        #expect(record.state == .running)
        #expect(record.workerPid == 31337)
        #expect(record.workerSlot == 1)
        table.setCallState(slot: slot, .finished)
        #expect(table.readCall(slot: slot)?.state == .finished)
        #expect(table.readCall(slot: slot)?.workerPid == 31337)
    }

    @Test func aCallRemembersTheCancelEpochItStartedIn() throws {
        let table = try makeTable()
        #expect(table.cancelEpoch == 0)
        #expect(table.bumpCancelEpoch() == 1)
        #expect(table.bumpCancelEpoch() == 2)
        let slot = try #require(table.claimCallSlot())
        table.publishCall(slot: slot, callId: "c", tool: "t", owner: "o", state: .pending, startedAtMs: 1, deadlineAtMs: 2)
        #expect(table.readCall(slot: slot)?.cancelEpochAtStart == 2)
        table.bumpCancelEpoch()
        #expect(table.cancelEpoch == 3)
        #expect(table.readCall(slot: slot)?.cancelEpochAtStart == 2)
    }

    @Test func cancelFlagIsSetByRequestAndClearedByTheNextPublish() throws {
        let table = try makeTable()
        let slot = try #require(table.claimCallSlot())
        table.publishCall(slot: slot, callId: "c", tool: "t", owner: "o", state: .running, startedAtMs: 1, deadlineAtMs: 2)
        #expect(!table.isCancelRequested(slot: slot))
        table.requestCancel(slot: slot)
        #expect(table.isCancelRequested(slot: slot))
        #expect(table.readCall(slot: slot)?.cancelRequested == true)
        #expect(table.readCall(slot: slot)?.state == .running)
        table.publishCall(slot: slot, callId: "c2", tool: "t", owner: "o", state: .pending, startedAtMs: 3, deadlineAtMs: 4)
        #expect(!table.isCancelRequested(slot: slot))
    }

    @Test func cancelByIdFlagsOnlyThatCallAndOnlyWhileInFlight() throws {
        let table = try makeTable()
        let first = try #require(table.claimCallSlot())
        let second = try #require(table.claimCallSlot())
        let id = "0b7c4f3e-1a2d-4e5f-8a9b-c0d1e2f3a4b5"
        table.publishCall(slot: first, callId: id, tool: "t", owner: "o", state: .running, startedAtMs: 1, deadlineAtMs: 2)
        table.publishCall(slot: second, callId: "other", tool: "t", owner: "o", state: .pending, startedAtMs: 1, deadlineAtMs: 2)
        #expect(table.requestCancel(callId: id))
        #expect(table.isCancelRequested(slot: first))
        #expect(!table.isCancelRequested(slot: second))
        #expect(!table.requestCancel(callId: "no-such-call"))
        table.setCallState(slot: second, .finished)
        #expect(!table.requestCancel(callId: "other"), "an ended call is not in flight")
        #expect(!table.isCancelRequested(slot: second))
    }

    @Test func longStringsAreCutToTheirFieldAtACharacterBoundary() throws {
        let table = try makeTable()
        let slot = try #require(table.claimCallSlot())
        let exactId = String(repeating: "i", count: 40)
        // 63 ASCII bytes and a two-byte "é": the é would straddle the 64-byte tool field, so it goes.
        let tool = String(repeating: "t", count: 63) + "é"
        let owner = String(repeating: "ö", count: 20)  // 40 bytes into a 32-byte field: 16 characters fit
        table.publishCall(slot: slot, callId: exactId + "-overflow", tool: tool, owner: owner, state: .pending,
                          startedAtMs: 1, deadlineAtMs: 2)
        let record = try #require(table.readCall(slot: slot))
        #expect(record.callId == exactId)
        #expect(record.tool == String(repeating: "t", count: 63))
        #expect(record.owner == String(repeating: "ö", count: 16))

        // A shorter string published later leaves none of the longer one behind.
        table.publishCall(slot: slot, callId: "short", tool: "echo", owner: "me", state: .pending, startedAtMs: 1, deadlineAtMs: 2)
        let again = try #require(table.readCall(slot: slot))
        #expect(again.callId == "short")
        #expect(again.tool == "echo")
        #expect(again.owner == "me")
    }

    @Test func claimsHandOutEverySlotOnceThenReportFull() throws {
        let table = try makeTable(callSlots: 8)
        var claimed: [Int] = []
        while let slot = table.claimCallSlot() { claimed.append(slot) }
        #expect(claimed.sorted() == Array(0..<8))
        #expect(table.claimCallSlot() == nil)

        table.releaseCallSlot(5)
        #expect(table.readCall(slot: 5) == nil)
        #expect(table.claimCallSlot() == 5)
        #expect(table.claimCallSlot() == nil)
    }

    @Test func claimsRotateInsteadOfReusingTheLowestSlot() throws {
        let table = try makeTable(callSlots: 8)
        let first = try #require(table.claimCallSlot())
        table.releaseCallSlot(first)
        let second = try #require(table.claimCallSlot())
        #expect(second != first)
    }

    @Test func releasingZeroesTheRecord() throws {
        let table = try makeTable()
        let slot = try #require(table.claimCallSlot())
        table.publishCall(slot: slot, callId: "gone", tool: "echo", owner: "o", state: .running, startedAtMs: 5, deadlineAtMs: 6)
        table.assignWorker(slot: slot, pid: 77, workerSlot: 0)
        table.requestCancel(slot: slot)
        table.releaseCallSlot(slot)
        #expect(table.readCall(slot: slot) == nil)
        // Claimed again, the slot shows nothing of its previous call.
        var reclaimed: Int?
        while let next = table.claimCallSlot() { if next == slot { reclaimed = next; break } }
        let record = try #require(reclaimed.flatMap { table.readCall(slot: $0) })
        #expect(record == CallRecord(slot: slot, callId: "", tool: "", owner: "", state: .reserved, cancelRequested: false,
                                     workerPid: 0, workerSlot: nil, startedAtMs: 0, deadlineAtMs: 0, cancelEpochAtStart: 0))
    }

    @Test func readingOutsideTheTableGivesNil() throws {
        let table = try makeTable(callSlots: 2)
        #expect(table.readCall(slot: 2) == nil)
        #expect(table.readCall(slot: -1) == nil)
    }
}
