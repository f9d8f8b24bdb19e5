// The rate buckets in the call table: the token-bucket arithmetic at fixed instants, sharing between
// threads with their own mappings and between two processes, eviction of stale buckets, failing open
// when the table is full, and the copy a restarted supervisor takes from its predecessor's table.
import Glibc
import SystemCalls
import TestSupport
import Testing
@testable import CallTable

@Suite struct RateBucketTests {
    let directory = TemporaryDirectory()
    /// A fixed instant, so that no refill happens between the takes of a test unless it says so.
    let now: Int64 = 1_800_000_000_000_000
    let minute: Int64 = 60_000_000

    func makeTable(buckets: Int = 64) throws -> CallTable {
        try CallTable.create(path: directory.file("calltable"), callSlots: 4, workerSlots: 2, rateBuckets: buckets)
    }

    @Test func aFreshBucketAllowsTheLimitThenRefusesWithRetryAfter() throws {
        let table = try makeTable()
        let key = RateKey.hash("key:alice")
        var remaining: [Int] = []
        for _ in 0..<10 {
            let decision = try #require(table.takeRateToken(key: key, limit: 10, nowMicros: now))
            #expect(decision.allowed)
            remaining.append(decision.remaining)
        }
        #expect(remaining == Array((0..<10).reversed()))
        let refused = try #require(table.takeRateToken(key: key, limit: 10, nowMicros: now))
        #expect(!refused.allowed)
        #expect(refused.remaining == 0)
        // One request comes back every 6 s; the bucket is full again a minute after it was emptied.
        #expect(refused.retryAfterSeconds == 6)
        #expect(refused.resetSeconds == 60)
    }

    @Test func tokensComeBackAtTheLimitsRate() throws {
        let table = try makeTable()
        let key = RateKey.hash("ip:192.0.2.1")
        for _ in 0..<60 { _ = table.takeRateToken(key: key, limit: 60, nowMicros: now) }
        #expect(table.takeRateToken(key: key, limit: 60, nowMicros: now)?.allowed == false)
        // 60 per minute is one a second: after 2.5 s, two more and no third.
        let later = now + 2_500_000
        #expect(table.takeRateToken(key: key, limit: 60, nowMicros: later)?.allowed == true)
        #expect(table.takeRateToken(key: key, limit: 60, nowMicros: later)?.allowed == true)
        #expect(table.takeRateToken(key: key, limit: 60, nowMicros: later)?.allowed == false)
        // A full minute later the bucket is full: the whole limit again, not more.
        let muchLater = later + 5 * minute
        let counted = (0..<100).filter { _ in table.takeRateToken(key: key, limit: 60, nowMicros: muchLater)?.allowed == true }.count
        #expect(counted == 60)
    }

    @Test func keysHaveTheirOwnBuckets() throws {
        let table = try makeTable()
        let alice = RateKey.hash("key:alice"), bob = RateKey.hash("key:bob")
        for _ in 0..<5 { _ = table.takeRateToken(key: alice, limit: 5, nowMicros: now) }
        #expect(table.takeRateToken(key: alice, limit: 5, nowMicros: now)?.allowed == false)
        #expect(table.takeRateToken(key: bob, limit: 5, nowMicros: now)?.remaining == 4)
    }

    @Test func peekingTakesNothing() throws {
        let table = try makeTable()
        let key = RateKey.hash("ip:198.51.100.7")
        #expect(table.peekRateBucket(key: key, limit: 100, nowMicros: now).remaining == 100)
        _ = table.takeRateToken(key: key, limit: 100, nowMicros: now)
        _ = table.takeRateToken(key: key, limit: 100, nowMicros: now)
        let seen = table.peekRateBucket(key: key, limit: 100, nowMicros: now)
        #expect(seen.remaining == 98)
        #expect(seen.resetSeconds == 2)
        #expect(table.peekRateBucket(key: key, limit: 100, nowMicros: now).remaining == 98)
    }

    @Test func aWallClockThatWentBackDoesNotLockAKeyOutForLonger() throws {
        let table = try makeTable()
        let key = RateKey.hash("key:clock")
        for _ in 0..<10 { _ = table.takeRateToken(key: key, limit: 10, nowMicros: now) }
        // An hour back: the bucket is empty (as it was), and refills from there within one minute.
        let earlier = now - 60 * minute
        let refused = try #require(table.takeRateToken(key: key, limit: 10, nowMicros: earlier))
        #expect(!refused.allowed)
        #expect(refused.resetSeconds <= 60)
        #expect(table.takeRateToken(key: key, limit: 10, nowMicros: earlier + minute)?.allowed == true)
    }

    @Test func staleBucketsAreEvictedWhenTheTableIsFull() throws {
        let table = try makeTable(buckets: 8)
        for index in 0..<8 {
            #expect(table.takeRateToken(key: RateKey.hash("key:\(index)"), limit: 10, nowMicros: now)?.allowed == true)
        }
        // Every bucket is in use and none is full yet: the table cannot place a ninth key.
        #expect(table.takeRateToken(key: RateKey.hash("key:newcomer"), limit: 10, nowMicros: now) == nil)
        // Six seconds later each has refilled its one request: every bucket is stale and may go.
        let later = now + 6_000_000
        let newcomer = try #require(table.takeRateToken(key: RateKey.hash("key:newcomer"), limit: 10, nowMicros: later))
        #expect(newcomer.allowed && newcomer.remaining == 9)
    }

    @Test func activeBucketsAreThoseNotFull() throws {
        let table = try makeTable()
        #expect(table.activeRateBuckets(nowMicros: now) == 0)
        _ = table.takeRateToken(key: RateKey.hash("key:a"), limit: 60, nowMicros: now)
        _ = table.takeRateToken(key: RateKey.hash("key:b"), limit: 60, nowMicros: now)
        #expect(table.activeRateBuckets(nowMicros: now) == 2)
        // One request of 60 a minute comes back within a second: both are full again.
        #expect(table.activeRateBuckets(nowMicros: now + 1_000_000) == 0)
    }

    @Test func aTableWithoutBucketsFailsOpen() throws {
        let table = try makeTable(buckets: 0)
        #expect(table.takeRateToken(key: RateKey.hash("key:any"), limit: 1, nowMicros: now) == nil)
        #expect(table.peekRateBucket(key: RateKey.hash("key:any"), limit: 5, nowMicros: now).remaining == 5)
    }

    @Test func threadsWithTheirOwnMappingsShareOneLimit() throws {
        let table = try makeTable()
        let descriptors = (0..<4).map { _ in dup(table.descriptor) }
        let key = RateKey.hash("key:shared")
        let now = self.now
        final class Counts: @unchecked Sendable {
            // Each thread writes only its own element, and the test reads them after join().
            var allowed = [Int](repeating: 0, count: 4)
        }
        let counts = Counts()
        let threads = descriptors.enumerated().map { index, descriptor in
            TestThread {
                let mapping = try! CallTable.attach(descriptor: descriptor)
                var allowed = 0
                for _ in 0..<5_000 where mapping.takeRateToken(key: key, limit: 1_000, nowMicros: now)?.allowed == true {
                    allowed += 1
                }
                counts.allowed[index] = allowed
            }
        }
        for thread in threads { thread.join() }
        // The clock is frozen, so exactly the limit is allowed, however the CASes interleave.
        #expect(counts.allowed.reduce(0, +) == 1_000, "\(counts.allowed)")
    }

    @Test(.enabled(if: RateBucketDriver.exists, "rate-bucket-driver is built beside the tests"))
    func twoProcessesMappingOneTableShareOneLimit() throws {
        let path = directory.file("calltable")
        let table = try CallTable.create(path: path, callSlots: 4, workerSlots: 2, rateBuckets: 64)
        let key = "key:two-processes"
        let child = try RateBucketDriver.start([path, key, "1000", "5000", String(now)], scratch: directory)
        var allowed = 0
        for _ in 0..<5_000 where table.takeRateToken(key: RateKey.hash(key), limit: 1_000, nowMicros: now)?.allowed == true {
            allowed += 1
        }
        let childAllowed = try #require(Int(child.finish().filter { !$0.isWhitespace }))
        #expect(allowed + childAllowed == 1_000, "this process \(allowed), the other \(childAllowed)")
    }

    @Test func aRestartedSupervisorAdoptsTheBucketsThatAreNotFull() throws {
        let old = try CallTable.create(path: directory.file("old"), callSlots: 4, workerSlots: 2, rateBuckets: 64)
        for _ in 0..<7 { _ = old.takeRateToken(key: RateKey.hash("key:kept"), limit: 10, nowMicros: now) }
        _ = old.takeRateToken(key: RateKey.hash("key:refilled"), limit: 10, nowMicros: now - 10 * minute)
        // The new table may have another size: buckets move by key, not by index.
        let new = try CallTable.create(path: directory.file("new"), callSlots: 4, workerSlots: 2, rateBuckets: 32)
        #expect(new.adoptRateBuckets(from: old, nowMicros: now) == 1)
        #expect(new.takeRateToken(key: RateKey.hash("key:kept"), limit: 10, nowMicros: now)?.remaining == 2)
    }

    @Test func aSecondSupervisorAttachesToTheSharedTableInsteadOfReplacingIt() throws {
        let path = directory.file("shared")
        let (first, firstCreated) = try CallTable.createOrAttach(path: path, callSlots: 4, workerSlots: 2, rateBuckets: 16)
        let (second, secondCreated) = try CallTable.createOrAttach(path: path, callSlots: 8, workerSlots: 4, rateBuckets: 64)
        #expect(firstCreated && !secondCreated)
        // The second takes the first's geometry and leaves the supervisor fields to it.
        #expect(second.rateBucketCount == 16 && second.headerIsShared && !first.headerIsShared)
        second.setSupervisorState(.stopped)
        #expect(first.supervisorState == .starting)
        #expect(first.supervisorPid == getpid())
        // The creator is this very process, which is alive: nothing to take over.
        #expect(!second.adoptHeaderIfCreatorExited())
        _ = first.takeRateToken(key: RateKey.hash("key:x"), limit: 3, nowMicros: now)
        #expect(second.takeRateToken(key: RateKey.hash("key:x"), limit: 3, nowMicros: now)?.remaining == 1)
    }

    @Test func aSharedTableWhoseCreatorExitedIsTakenOver() throws {
        let path = directory.file("orphan")
        let (first, _) = try CallTable.createOrAttach(path: path, callSlots: 4, workerSlots: 2, rateBuckets: 16)
        poke(path, offset: Layout.Header.supervisorPid, UInt32(bitPattern: deadPid()))
        let (second, created) = try CallTable.createOrAttach(path: path, callSlots: 4, workerSlots: 2, rateBuckets: 16)
        #expect(!created)
        #expect(second.adoptHeaderIfCreatorExited())
        #expect(!second.headerIsShared)
        #expect(first.supervisorPid == getpid())
    }

    @Test func keyHashesAreStableAndNeverZero() {
        // The same in every process and every run: this value is part of the shared layout.
        #expect(RateKey.hash("key:alice") == RateKey.hash("key:alice"))
        #expect(RateKey.hash("key:alice") != RateKey.hash("key:alicf"))
        #expect(RateKey.hash("") != 0)
    }
}

/// The rate-bucket-driver executable, built beside the test bundle.
enum RateBucketDriver {
    static let path: String = {
        let bundle = Process.executablePath()
        let directory = bundle.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        return directory + "/rate-bucket-driver"
    }()

    static var exists: Bool { access(path, X_OK) == 0 }

    /// A running driver; `finish()` waits for it and returns what it printed.
    final class Running {
        let pid: Int32
        let output: String
        init(pid: Int32, output: String) {
            self.pid = pid
            self.output = output
        }

        func finish() throws -> String {
            let status = Process.wait(pid)
            #expect(status == .exited(0), "rate-bucket-driver: \(String(describing: status))")
            return String(decoding: readBytes(output), as: UTF8.self)
        }
    }

    static func start(_ arguments: [String], scratch: TemporaryDirectory) throws -> Running {
        let output = scratch.file("driver-output")
        let fd = open(output, O_WRONLY | O_CREAT | O_TRUNC, mode_t(0o600))
        precondition(fd >= 0, "open \(output): \(errno)")
        defer { close(fd) }
        // The driver's stdout is the file: run it through sh, which redirects for it.
        let command = ([path] + arguments).map { "'" + $0 + "'" }.joined(separator: " ") + " >'" + output + "'"
        let pid = try Process.spawn(path: "/bin/sh", arguments: ["-c", command], environment: [], keepDescriptors: [])
        return Running(pid: pid, output: output)
    }
}
