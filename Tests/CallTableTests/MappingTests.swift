// The table as a file shared between mappings: its bytes on disk, what a second mapping sees,
// attaching an inherited descriptor, replacing a table, and refusing files that are not one.
import Glibc
import SystemCalls
import TestSupport
import Testing
import CallTable

@Suite struct MappingTests {
    let directory = TemporaryDirectory()
    var path: String { directory.file("calltable") }

    @Test func theFileStartsWithTheVersionOneHeader() throws {
        let table = try CallTable.create(path: path, callSlots: 3, workerSlots: 5, rateBuckets: 2)
        let bytes = readBytes(path)
        #expect(Array(bytes[0..<8]) == Array("MCPDLBT1".utf8))
        #expect(peek(bytes, offset: 0, as: UInt64.self) == 0x3154_424C_4450_434D)
        #expect(peek(bytes, offset: 8, as: UInt32.self) == 1)
        #expect(peek(bytes, offset: 12, as: UInt32.self) == 512)
        #expect(peek(bytes, offset: 16, as: UInt32.self) == 3)
        #expect(peek(bytes, offset: 20, as: UInt32.self) == 256)
        #expect(peek(bytes, offset: 24, as: UInt32.self) == 5)
        #expect(peek(bytes, offset: 28, as: UInt32.self) == 128)
        #expect(peek(bytes, offset: 32, as: UInt32.self) == 2)
        #expect(peek(bytes, offset: 36, as: UInt32.self) == 64)
        let callSlots = Int(peek(bytes, offset: 40, as: UInt64.self))
        let workerSlots = Int(peek(bytes, offset: 48, as: UInt64.self))
        let rateBuckets = Int(peek(bytes, offset: 56, as: UInt64.self))
        let total = Int(peek(bytes, offset: 64, as: UInt64.self))
        #expect(callSlots == 512)
        #expect(workerSlots % 128 == 0 && workerSlots >= callSlots + 3 * 256)
        #expect(rateBuckets % 128 == 0 && rateBuckets >= workerSlots + 5 * 128)
        #expect(total == bytes.count && total >= rateBuckets + 2 * 64)
        #expect(peek(bytes, offset: 72, as: Int32.self) == getpid())
        #expect(peek(bytes, offset: 76, as: UInt32.self) == SupervisorState.starting.rawValue)
        #expect(peek(bytes, offset: 80, as: UInt32.self) == 1)

        // A published call lands at its documented place in its slot.
        let slot = try #require(table.claimCallSlot())
        table.publishCall(slot: slot, callId: "abc", tool: "echo", owner: "dev", state: .pending, startedAtMs: 42, deadlineAtMs: 43)
        let after = readBytes(path)
        let record = callSlots + slot * 256
        #expect(peek(after, offset: record, as: UInt64.self) % 2 == 0)
        #expect(peek(after, offset: record + 8, as: UInt32.self) == CallState.pending.rawValue)
        #expect(peek(after, offset: record + 20, as: UInt32.self) == 0xFFFF_FFFF)
        #expect(peek(after, offset: record + 24, as: Int64.self) == 42)
        #expect(Array(after[(record + 48)..<(record + 52)]) == Array("abc".utf8) + [0])
        #expect(Array(after[(record + 88)..<(record + 92)]) == Array("echo".utf8))
        #expect(Array(after[(record + 152)..<(record + 155)]) == Array("dev".utf8))
    }

    @Test func slotOffsetsStayAlignedForAnyCounts() throws {
        for (calls, workers, buckets) in [(1, 1, 0), (7, 3, 1), (1000, 65, 3)] {
            let table = try CallTable.create(path: path, callSlots: calls, workerSlots: workers, rateBuckets: buckets)
            let bytes = readBytes(path)
            for offset in [40, 48, 56] {
                #expect(peek(bytes, offset: offset, as: UInt64.self) % 128 == 0, "\(calls)/\(workers)/\(buckets) at \(offset)")
            }
            #expect(table.callSlotCount == calls)
        }
    }

    @Test func theFileIsGroupReadableOnlyAndTheDescriptorIsCloseOnExec() throws {
        let table = try CallTable.create(path: path, callSlots: 2, workerSlots: 1, rateBuckets: 0)
        var info = stat()
        #expect(stat(path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o640)
        #expect(fcntl(table.descriptor, F_GETFD) & FD_CLOEXEC != 0)
        // Only the table itself is left in the directory: the temporary file was renamed.
        #expect(access(path + ".\(getpid()).new", F_OK) != 0)
    }

    @Test func aSecondMappingSeesTheWritersUpdates() throws {
        let writer = try CallTable.create(path: path, callSlots: 4, workerSlots: 2, rateBuckets: 0)
        let reader = try CallTable.open(path: path)
        #expect(!reader.isWritable)
        #expect(reader.callSlotCount == 4)
        #expect(reader.supervisorState == .starting)

        writer.setSupervisorState(.ready)
        writer.increment(.callsAccepted)
        writer.setQueue(depth: 2, capacity: 64)
        let slot = try #require(writer.claimCallSlot())
        writer.publishCall(slot: slot, callId: "shared-call", tool: "echo", owner: "dev", state: .pending,
                           startedAtMs: 100, deadlineAtMs: 200)
        let workerSlot = try #require(writer.claimWorkerSlot())
        writer.setWorker(slot: workerSlot, pid: 2024, state: .idle)

        #expect(reader.supervisorState == .ready)
        #expect(reader.value(of: .callsAccepted) == 1)
        #expect(reader.queueDepth == 2)
        #expect(reader.readCall(slot: slot) == writer.readCall(slot: slot))
        #expect(reader.readCall(slot: slot)?.callId == "shared-call")
        #expect(reader.readWorker(slot: workerSlot)?.pid == 2024)

        writer.requestCancel(slot: slot)
        #expect(reader.isCancelRequested(slot: slot))
        writer.releaseCallSlot(slot)
        #expect(reader.readCall(slot: slot) == nil)
    }

    @Test func aWorkerAttachesToAnInheritedDescriptor() throws {
        let supervisor = try CallTable.create(path: path, callSlots: 4, workerSlots: 2, rateBuckets: 0)
        let workerSlot = try #require(supervisor.claimWorkerSlot())
        supervisor.setWorker(slot: workerSlot, pid: getpid(), state: .idle)
        let callSlot = try #require(supervisor.claimCallSlot())
        supervisor.publishCall(slot: callSlot, callId: "for-the-worker", tool: "echo", owner: "dev", state: .pending,
                               startedAtMs: 1, deadlineAtMs: 2)

        let inherited = dup(supervisor.descriptor)
        let worker = try CallTable.attach(descriptor: inherited)
        #expect(worker.isWritable)
        #expect(worker.descriptor == inherited)
        #expect(worker.workerSlotCount == 2)
        #expect(worker.readCall(slot: callSlot)?.callId == "for-the-worker")

        Clock.sleep(millis: 10)
        worker.stampWorkerHeartbeat(slot: workerSlot)
        worker.incrementCallsServed(slot: workerSlot)
        let seen = try #require(supervisor.readWorker(slot: workerSlot))
        #expect(seen.heartbeatMs > seen.spawnedAtMs)
        #expect(seen.callsServed == 1)

        supervisor.requestCancel(slot: callSlot)
        #expect(worker.isCancelRequested(slot: callSlot))
    }

    @Test func attachRefusesADescriptorThatIsNotATable() throws {
        writeBytes(Array(repeating: 0x41, count: 4096), to: directory.file("junk"))
        let fd = open(directory.file("junk"), O_RDWR | O_CLOEXEC)
        defer { close(fd) }
        #expect(throws: CallTableError("call table (descriptor \(fd)) is not an mcpd call table (it does not start with \"MCPDLBT1\")")) {
            try CallTable.attach(descriptor: fd)
        }
    }

    @Test func aNewTableReplacesTheOldOneButAnOldReaderKeepsItsMapping() throws {
        let first = try CallTable.create(path: path, callSlots: 4, workerSlots: 2, rateBuckets: 0)
        first.setQueue(depth: 1, capacity: 4)
        let oldReader = try CallTable.open(path: path)

        let second = try CallTable.create(path: path, callSlots: 32, workerSlots: 8, rateBuckets: 0)
        second.setQueue(depth: 9, capacity: 32)
        let newReader = try CallTable.open(path: path)

        #expect(oldReader.callSlotCount == 4)
        #expect(oldReader.queueDepth == 1)
        #expect(newReader.callSlotCount == 32)
        #expect(newReader.queueDepth == 9)
        // The old table is still fully mapped: reading its last slot does not fault.
        #expect(oldReader.readCall(slot: 3) == nil)
    }

    @Test func sizesOutOfRangeAreRefused() {
        #expect(throws: CallTableError("callSlots must be in 1...1000000, not 0")) {
            try CallTable.create(path: path, callSlots: 0, workerSlots: 1, rateBuckets: 0)
        }
        #expect(throws: CallTableError("callSlots must be in 1...1000000, not 1000001")) {
            try CallTable.create(path: path, callSlots: 1_000_001, workerSlots: 1, rateBuckets: 0)
        }
        #expect(throws: CallTableError("workerSlots must be in 1...65536, not 65537")) {
            try CallTable.create(path: path, callSlots: 1, workerSlots: 65_537, rateBuckets: 0)
        }
        #expect(throws: CallTableError("rateBuckets must be in 0...1000000, not -1")) {
            try CallTable.create(path: path, callSlots: 1, workerSlots: 1, rateBuckets: -1)
        }
        #expect(access(path, F_OK) != 0)
    }

    @Test func creatingInAMissingDirectorySaysWhere() {
        let missing = directory.file("nope/calltable")
        #expect {
            try CallTable.create(path: missing, callSlots: 1, workerSlots: 1, rateBuckets: 0)
        } throws: { error in
            "\(error)".hasPrefix("cannot create the call table \(missing).") && "\(error)".hasSuffix("No such file or directory")
        }
    }
}

/// Files that are not a table mcpctl can read, each refused with the message an operator needs.
@Suite struct RefusalTests {
    let directory = TemporaryDirectory()

    /// The bytes of a valid table, to damage.
    func validTableBytes() throws -> [UInt8] {
        let path = directory.file("valid")
        _ = try CallTable.create(path: path, callSlots: 4, workerSlots: 2, rateBuckets: 0)
        return readBytes(path)
    }

    func openError(_ bytes: [UInt8]) -> String? {
        let path = directory.file("damaged")
        writeBytes(bytes, to: path)
        do {
            _ = try CallTable.open(path: path)
            return nil
        } catch {
            return error.message
        }
    }

    @Test func aMissingFile() {
        let path = directory.file("absent")
        #expect(throws: CallTableError("no call table at \(path) (is mcpd running, with this runtime directory?)")) {
            try CallTable.open(path: path)
        }
    }

    @Test func aWrongMagic() throws {
        var bytes = try validTableBytes()
        bytes.replaceSubrange(0..<8, with: Array("NOTATABL".utf8))
        #expect(openError(bytes) == "\(directory.file("damaged")) is not an mcpd call table (it does not start with \"MCPDLBT1\")")
    }

    @Test func anUnknownLayoutVersion() throws {
        var bytes = try validTableBytes()
        bytes.replaceSubrange(8..<12, with: [7, 0, 0, 0])
        let message = try #require(openError(bytes))
        #expect(message.hasPrefix("\(directory.file("damaged")): layout version 7 is not supported (this "))
        #expect(message.hasSuffix(" reads version 1)"))
    }

    @Test func aTableNotReadyYet() throws {
        var bytes = try validTableBytes()
        bytes.replaceSubrange(80..<84, with: [0, 0, 0, 0])
        #expect(openError(bytes) == "\(directory.file("damaged")): table not ready (mcpd has not finished creating it)")
    }

    @Test func aTruncatedFile() throws {
        let bytes = try validTableBytes()
        #expect(openError(Array(bytes[..<1024])) == "\(directory.file("damaged")) is truncated: 1024 bytes, but its header says \(bytes.count)")
        #expect(openError(Array(bytes[..<100])) == "\(directory.file("damaged")) is truncated: 100 bytes, shorter than the 512-byte header")
        #expect(openError([]) == "\(directory.file("damaged")) is truncated: 0 bytes, shorter than the 512-byte header")
    }

    @Test func anUnknownSlotSize() throws {
        var bytes = try validTableBytes()
        bytes.replaceSubrange(20..<24, with: [0, 2, 0, 0])  // 512
        #expect(openError(bytes) == "\(directory.file("damaged")): call slot size 512 is not supported (layout version 1 uses 256)")
    }

    @Test func regionsThatDoNotFit() throws {
        var bytes = try validTableBytes()
        bytes.replaceSubrange(16..<20, with: [0, 1, 0, 0])  // 256 call slots in a table sized for 4
        #expect(openError(bytes) == "\(directory.file("damaged")) has an inconsistent header: "
            + "the call slots (offset 512, 65536 bytes) do not fit in the 4096-byte table")
    }

    @Test func aDirectory() {
        #expect(throws: CallTableError("\(directory.path) is not a regular file")) {
            try CallTable.open(path: directory.path)
        }
    }
}
