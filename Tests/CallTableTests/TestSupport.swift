// Helpers for the call table tests: raw file access for crafting damaged tables, and threads that
// really run in parallel (the cooperative pool may not). Scratch directories: TestSupport.
import Glibc
import SystemCalls
import CallTable
import TestSupport

/// Overwrites `value` at `offset` in a file; every mapping of the file sees it at once.
func poke<T: FixedWidthInteger>(_ path: String, offset: Int, _ value: T) {
    let fd = open(path, O_WRONLY | O_CLOEXEC)
    precondition(fd >= 0, "open \(path): \(errno)")
    defer { close(fd) }
    var value = value.littleEndian
    let written = withUnsafeBytes(of: &value) { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
    precondition(written == MemoryLayout<T>.size)
}

func peek<T: FixedWidthInteger>(_ bytes: [UInt8], offset: Int, as type: T.Type) -> T {
    bytes.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
}

/// A pid that certainly belonged to a process which has exited and been reaped.
func deadPid() -> Int32 {
    let pid = try! Process.spawn(path: "/bin/true", arguments: [], environment: [], keepDescriptors: [])
    _ = Process.wait(pid)
    return pid
}

/// Runs `body` on a new POSIX thread; `join()` waits for it.
final class TestThread {
    private final class Body: Sendable {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    private var thread = pthread_t()

    init(_ body: @escaping @Sendable () -> Void) {
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        let rc = pthread_create(&thread, nil, { raw in
            Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue().run()
            return nil
        }, context)
        precondition(rc == 0, "pthread_create: \(rc)")
    }

    func join() { pthread_join(thread, nil) }
}

/// A table with a few calls and workers, the way a running supervisor would leave it.
struct PopulatedTable {
    let table: CallTable
    let path: String
    let queuedCallId = "5d1c7e6a-2b1f-4c55-9a3e-0d9b6f2a8c41"
    let runningCallId = "a8f0c2d4-6b7e-4f10-8d2c-3e5a7b9c1d0f"
    let workerPids: [Int32] = [4242, 4243]

    init(in directory: TemporaryDirectory) throws {
        path = directory.file("calltable")
        table = try CallTable.create(path: path, callSlots: 16, workerSlots: 4, rateBuckets: 0)
        let now = Clock.wallMillis()
        table.setSupervisorState(.ready)
        table.setQueue(depth: 3, capacity: 16)
        table.increment(.callsAccepted)
        table.increment(.callsAccepted)
        table.increment(.workersSpawned)
        table.increment(.workersSpawned)
        table.bumpCancelEpoch()

        let idle = table.claimWorkerSlot()!
        table.setWorker(slot: idle, pid: workerPids[0], state: .idle)
        let busy = table.claimWorkerSlot()!
        table.setWorker(slot: busy, pid: workerPids[1], state: .busy)

        let queued = table.claimCallSlot()!
        table.publishCall(slot: queued, callId: queuedCallId, tool: "echo", owner: "token-1", state: .pending,
                          startedAtMs: now - 1_500, deadlineAtMs: now + 298_500)
        let running = table.claimCallSlot()!
        table.publishCall(slot: running, callId: runningCallId, tool: "countdown", owner: "dev", state: .pending,
                          startedAtMs: now - 65_000, deadlineAtMs: now + 235_000)
        table.assignWorker(slot: running, pid: workerPids[1], workerSlot: busy)
        table.setWorkerCurrentCall(slot: busy, callSlot: running)
        table.requestCancel(slot: running)
        table.incrementCallsServed(slot: idle)
        table.incrementCallsServed(slot: busy)
        table.incrementCallsServed(slot: busy)
    }
}
