// CallTable: the region of shared memory through which mcpd, its workers and mcpctl see the same
// calls, workers, counters and cancel epoch without talking to each other.
//
// Who maps it, and how:
//   mcpd (the supervisor) creates the file DIR/calltable, maps it MAP_SHARED read-write and is the
//   only writer of the header, the counters and the call slots. Each mcp-worker inherits the
//   descriptor, maps it read-write, stamps its own worker slot and reads cancel flags. mcpctl maps it
//   read-only (PROT_READ) and never writes.
//
// Invariants:
//   - Every field is read and written through the CMcpd atomics (acquire loads, release stores). The
//     region is shared between processes, so no process-private lock (Synchronization.Mutex is a
//     private futex) may ever live in it; consistency comes from the atomics and the seqlocks below.
//   - A reader trusts nothing it has not validated: the magic, the layout version, the header size,
//     the slot sizes, the region bounds against the file size, and the ready flag.
//   - The supervisor never changes the size of a file it has mapped: a new table is a new file renamed
//     over the old one, so a reader that still maps the old one keeps a complete, if stale, region.
//
// Layout version 1. Integers are in the host's byte order (little-endian on every target we ship).
// Offsets are in bytes. Slot regions start on 128-byte boundaries and slots are multiples of 128 bytes
// long, so two slots never share a cache line pair (the spacing nginx uses against false sharing).
//
// Header, 512 bytes at offset 0:
//     0  u64 magic, the bytes "MCPDLBT1" (0x3154424C4450434D read as a little-endian u64)
//     8  u32 layout version (1)               12  u32 header size (512)
//    16  u32 call slot count                  20  u32 call slot size (256)
//    24  u32 worker slot count                28  u32 worker slot size (128)
//    32  u32 rate bucket count                36  u32 rate bucket size (64)
//    40  u64 offset of the call slots         48  u64 offset of the worker slots
//    56  u64 offset of the rate buckets       64  u64 total size of the region
//    72  u32 supervisor pid                   76  u32 supervisor state (SupervisorState)
//    80  u32 ready: 1 once the header is complete; stored last, after a full barrier
//    88  u64 supervisor heartbeat, wall-clock ms, stamped by the supervisor's tick
//    96  u64 cancel epoch: bumped by an operator's cancel-all; a worker aborts a call whose
//            cancelEpochAtStart is older than the current epoch
//   104  u64 supervisor start time, wall-clock ms
//   112  u32 queue depth                     116  u32 queue capacity
//   120  u64 counters, one per CallTableCounter in declaration order (8 of them, up to offset 184):
//            calls accepted, finished, failed, cancelled; workers spawned, crashed, recycled, killed
//   184..511 reserved, zero.
//
// Call slot i, 256 bytes at callSlotsOffset + i * 256:
//     0  u64 sequence, a seqlock: odd while a writer is inside the record. Writers enter by a CAS from
//            an even value to the next odd one (so two writers never interleave) and leave by storing
//            the next even value. Readers copy the record and keep it only if the sequence was even and
//            unchanged across the copy; a record still busy after 250 ms has lost its writer.
//     8  u32 state (CallState)                12  u32 cancel requested (0 or 1)
//    16  u32 worker pid (0 = none)             20  u32 worker slot (0xFFFFFFFF = none)
//    24  u64 started at, wall-clock ms         32  u64 deadline at, wall-clock ms
//    40  u64 cancel epoch when the call started
//    48  call id, 40 bytes    88  tool name, 64 bytes    152  owner, 32 bytes
//            (UTF-8, NUL-padded, cut at a character boundary when too long; stored as u64 words)
//   184..255 reserved, zero.
//   A free slot is claimed by a CAS of its state from free to reserved, outside the seqlock; the
//   record is all zero at that moment, because releasing a slot zeroes it before marking it free.
//
// Worker slot i, 128 bytes at workerSlotsOffset + i * 128 (no seqlock: each field stands alone):
//     0  u32 pid (0 while the worker is being spawned or the slot is free)
//     4  u32 state (WorkerState; a CAS from free to starting claims the slot)
//     8  u64 heartbeat, wall-clock ms, stamped by the worker itself at least once a second
//    16  u64 calls served                      24  u32 current call slot (0xFFFFFFFF = none)
//    32  u64 spawned at, wall-clock ms
//    40..127 reserved, zero.
//
// Rate buckets, 64 bytes each at rateBucketsOffset: token buckets shared by every process that maps
// the table (u64 key hash, u64 packed state); described in RateBuckets.swift. Readers that do not
// use them (older mcpctl) may ignore them: the header did not change.
//
// The total size is the end of the last region rounded up to a 4096-byte page.

/// The numbers of layout version 1; see the module comment above for what each one means.
enum Layout {
    static let magic: UInt64 = 0x3154_424C_4450_434D
    static let version: UInt32 = 1
    static let headerSize = 512
    static let callSlotSize = 256
    static let workerSlotSize = 128
    static let rateBucketSize = 64
    static let slotAlignment = 128
    static let pageSize = 4096
    /// "No slot" in the u32 slot-index fields.
    static let noSlot: UInt32 = 0xFFFF_FFFF

    static let callSlotRange = 1...1_000_000
    static let workerSlotRange = 1...65_536
    static let rateBucketRange = 0...1_000_000

    /// Field offsets in the header.
    enum Header {
        static let magic = 0
        static let layoutVersion = 8
        static let headerSize = 12
        static let callSlotCount = 16
        static let callSlotSize = 20
        static let workerSlotCount = 24
        static let workerSlotSize = 28
        static let rateBucketCount = 32
        static let rateBucketSize = 36
        static let callSlotsOffset = 40
        static let workerSlotsOffset = 48
        static let rateBucketsOffset = 56
        static let totalSize = 64
        static let supervisorPid = 72
        static let supervisorState = 76
        static let ready = 80
        static let supervisorHeartbeatMs = 88
        static let cancelEpoch = 96
        static let startedAtMs = 104
        static let queueDepth = 112
        static let queueCapacity = 116
        static let counters = 120
    }

    /// Field offsets in a call slot.
    enum Call {
        static let sequence = 0
        static let state = 8
        static let cancelRequested = 12
        static let workerPid = 16
        static let workerSlot = 20
        static let startedAtMs = 24
        static let deadlineAtMs = 32
        static let cancelEpochAtStart = 40
        static let callId = (offset: 48, size: 40)
        static let tool = (offset: 88, size: 64)
        static let owner = (offset: 152, size: 32)
        /// Where the strings start and how many u64 words they fill together.
        static let textOffset = 48
        static let textWords = (40 + 64 + 32) / 8
        /// The end of the used part of the record; everything after it is reserved.
        static let end = 184
    }

    /// Field offsets in a worker slot.
    enum Worker {
        static let pid = 0
        static let state = 4
        static let heartbeatMs = 8
        static let callsServed = 16
        static let currentCallSlot = 24
        static let spawnedAtMs = 32
        static let end = 40
    }

    /// Where each region lives for given slot counts.
    struct Geometry: Equatable {
        var callSlotCount: Int
        var workerSlotCount: Int
        var rateBucketCount: Int
        var callSlotsOffset: Int
        var workerSlotsOffset: Int
        var rateBucketsOffset: Int
        var totalSize: Int

        /// The geometry a writer of this layout version produces.
        init(callSlots: Int, workerSlots: Int, rateBuckets: Int) {
            callSlotCount = callSlots
            workerSlotCount = workerSlots
            rateBucketCount = rateBuckets
            callSlotsOffset = Layout.alignUp(Layout.headerSize, to: Layout.slotAlignment)
            workerSlotsOffset = Layout.alignUp(callSlotsOffset + callSlots * Layout.callSlotSize, to: Layout.slotAlignment)
            rateBucketsOffset = Layout.alignUp(workerSlotsOffset + workerSlots * Layout.workerSlotSize, to: Layout.slotAlignment)
            totalSize = Layout.alignUp(rateBucketsOffset + rateBuckets * Layout.rateBucketSize, to: Layout.pageSize)
        }

        /// A geometry read from a header, to be checked with `problem()` before use.
        init(callSlotCount: Int, workerSlotCount: Int, rateBucketCount: Int, callSlotsOffset: Int,
             workerSlotsOffset: Int, rateBucketsOffset: Int, totalSize: Int) {
            self.callSlotCount = callSlotCount
            self.workerSlotCount = workerSlotCount
            self.rateBucketCount = rateBucketCount
            self.callSlotsOffset = callSlotsOffset
            self.workerSlotsOffset = workerSlotsOffset
            self.rateBucketsOffset = rateBucketsOffset
            self.totalSize = totalSize
        }

        /// What is wrong with a geometry read from a header, or nil when every region is aligned,
        /// lies after the header and inside the total size, and no two regions overlap.
        func problem() -> String? {
            if !Layout.callSlotRange.contains(callSlotCount) {
                return "call slot count \(callSlotCount) is out of range (\(Layout.describe(Layout.callSlotRange)))"
            }
            if !Layout.workerSlotRange.contains(workerSlotCount) {
                return "worker slot count \(workerSlotCount) is out of range (\(Layout.describe(Layout.workerSlotRange)))"
            }
            if !Layout.rateBucketRange.contains(rateBucketCount) {
                return "rate bucket count \(rateBucketCount) is out of range (\(Layout.describe(Layout.rateBucketRange)))"
            }
            let regions = [
                ("call slots", callSlotsOffset, callSlotCount * Layout.callSlotSize),
                ("worker slots", workerSlotsOffset, workerSlotCount * Layout.workerSlotSize),
                ("rate buckets", rateBucketsOffset, rateBucketCount * Layout.rateBucketSize),
            ]
            var previousEnd = Layout.headerSize
            for (name, offset, length) in regions {
                if offset % Layout.slotAlignment != 0 {
                    return "the \(name) start at offset \(offset), which is not 128-byte aligned"
                }
                if offset < previousEnd || offset + length > totalSize {
                    return "the \(name) (offset \(offset), \(length) bytes) do not fit in the \(totalSize)-byte table"
                }
                previousEnd = offset + length
            }
            return nil
        }
    }

    static func alignUp(_ value: Int, to alignment: Int) -> Int {
        (value + alignment - 1) / alignment * alignment
    }

    static func describe(_ range: ClosedRange<Int>) -> String {
        "\(range.lowerBound)...\(range.upperBound)"
    }
}
