// Rate buckets: token buckets that every process mapping the table shares, updated lock-free.
//
// Each bucket is a generic cell rate algorithm (GCRA) state, which is a token bucket written as one
// number: the "theoretical arrival time" (TAT), the wall-clock instant at which the bucket is full
// again. A bucket of `limit` requests per `window` refills one request every T = window / limit; a
// request is allowed when, after adding T, the TAT lies no further than one window ahead of now. The
// whole state is one 64-bit word, so one compare-and-swap updates it, whichever process wins.
//
// Bucket i, 64 bytes at rateBucketsOffset + i * 64:
//     0  u64 key hash (RateKey.hash of the key; 0 = never used). Claimed by a CAS from 0, or from a
//            stale key's hash when the probe window is full (eviction).
//     8  u64 state: the owner's tag (the key hash's top 12 bits) << 52 | TAT, in microseconds since
//            2024-01-01T00:00:00Z (52 bits last until the year 2166).
//    16..63 reserved, zero.
//
// Invariants:
//   - A bucket whose TAT is not after now is full, which is exactly what a fresh bucket is: such a
//     bucket is stale and may be taken over by another key without losing anything.
//   - The tag in the state word says whose state it is. A key only continues a state carrying its own
//     tag; a state with another tag is a previous owner's, and counts as full. So if an eviction races
//     with the evicted key's last update, that update is lost (one request uncounted) rather than
//     charged to the new owner.
//   - Lookup probes at most `probeLimit` buckets from the key's home bucket, and a full window with no
//     stale bucket answers nil: the caller lets the request through (fails open) and logs it. No
//     operation waits for another process; a CAS that loses is retried with the fresh state.
import CMcpd
import Glibc

/// What a bucket says about a request: whether it may go on, and what to tell the client.
public struct RateDecision: Sendable, Equatable {
    public var allowed: Bool
    /// Requests per window.
    public var limit: Int
    /// Requests still allowed now, after this one.
    public var remaining: Int
    /// Seconds (rounded up) until the bucket is full again: X-RateLimit-Reset.
    public var resetSeconds: Int
    /// Seconds (rounded up, at least 1) until a refused request would be allowed; 0 when allowed.
    public var retryAfterSeconds: Int

    public init(allowed: Bool, limit: Int, remaining: Int, resetSeconds: Int, retryAfterSeconds: Int) {
        self.allowed = allowed
        self.limit = limit
        self.remaining = remaining
        self.resetSeconds = resetSeconds
        self.retryAfterSeconds = retryAfterSeconds
    }
}

/// The stable hash of a bucket key. Every process must compute the same value for the same key, so
/// this cannot be Swift's `Hasher` (seeded per process): FNV-1a over the UTF-8 bytes, then the
/// splitmix64 finaliser so that the low bits (the home bucket) depend on every byte.
public enum RateKey {
    public static func hash(_ key: String) -> UInt64 {
        var value: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in key.utf8 {
            value ^= UInt64(byte)
            value = value &* 0x0000_0100_0000_01B3
        }
        value ^= value >> 30
        value = value &* 0xBF58_476D_1CE4_E5B9
        value ^= value >> 27
        value = value &* 0x94D0_49BB_1331_11EB
        value ^= value >> 31
        // 0 marks a bucket that was never used.
        return value == 0 ? 1 : value
    }
}

extension CallTable {
    /// How many buckets a lookup examines from a key's home bucket before evicting or giving up.
    static let probeLimit = 16
    /// 2024-01-01T00:00:00Z in microseconds since the Unix epoch: the zero of a bucket's TAT.
    static let rateEpochMicros: Int64 = 1_704_067_200_000_000
    static let tatMask: UInt64 = (1 << 52) - 1

    public var rateBucketCount: Int { geometry.rateBucketCount }

    /// Takes one request from the bucket of `key` (a `RateKey.hash`), allowing `limit` requests per
    /// `windowMicros`. Nil when no bucket could be found or freed for the key: the caller fails open.
    public func takeRateToken(key: UInt64, limit: Int, windowMicros: Int64 = 60_000_000,
                              nowMicros: Int64 = CallTable.wallMicros()) -> RateDecision? {
        requireWritable()
        precondition(limit > 0 && windowMicros > 0, "a rate limit needs a positive limit and window")
        let now = nowMicros - CallTable.rateEpochMicros
        let interval = max(1, windowMicros / Int64(limit))
        let tag = key >> 52
        // Bounded: each pass either ends or lost a CAS to a process that made progress.
        for _ in 0..<64 {
            guard let bucket = findRateBucket(key: key, now: now) else { return nil }
            let state = bucket + 8
            let current = load64(state)
            // The state must be read before the key is checked again: a key changed by an eviction in
            // between sends us back to the lookup.
            guard load64(bucket) == key else { continue }
            let tat = current >> 52 == tag ? Int64(current & CallTable.tatMask) : 0
            // A TAT more than a window ahead means the wall clock went back: the bucket is empty, not
            // emptier, and refills from now on.
            if tat > now + windowMicros {
                _ = mcpd_cas_u64(state, current, tag << 52 | (UInt64(now + windowMicros) & CallTable.tatMask))
                continue
            }
            let start = max(tat, now)
            let next = start + interval
            if next - now > windowMicros {
                return RateDecision(allowed: false, limit: limit, remaining: 0,
                                    resetSeconds: CallTable.seconds(start - now),
                                    retryAfterSeconds: max(1, CallTable.seconds(next - windowMicros - now)))
            }
            let updated = tag << 52 | (UInt64(next) & CallTable.tatMask)
            if mcpd_cas_u64(state, current, updated) != 0 {
                return RateDecision(allowed: true, limit: limit, remaining: Int((now + windowMicros - next) / interval),
                                    resetSeconds: CallTable.seconds(next - now), retryAfterSeconds: 0)
            }
        }
        return nil
    }

    /// What the bucket of `key` would say, without taking a request: for responses that are not
    /// limited (health probes) but still tell the client where it stands.
    public func peekRateBucket(key: UInt64, limit: Int, windowMicros: Int64 = 60_000_000,
                               nowMicros: Int64 = CallTable.wallMicros()) -> RateDecision {
        precondition(limit > 0 && windowMicros > 0, "a rate limit needs a positive limit and window")
        let now = nowMicros - CallTable.rateEpochMicros
        let interval = max(1, windowMicros / Int64(limit))
        var start = now
        if let bucket = existingRateBucket(key: key) {
            let current = load64(bucket + 8)
            if current >> 52 == key >> 52 {
                start = max(min(Int64(current & CallTable.tatMask), now + windowMicros), now)
            }
        }
        let remaining = Int(max(0, now + windowMicros - start) / interval)
        return RateDecision(allowed: remaining > 0, limit: limit, remaining: min(limit, remaining),
                            resetSeconds: CallTable.seconds(start - now),
                            retryAfterSeconds: remaining > 0 ? 0 : max(1, CallTable.seconds(start + interval - windowMicros - now)))
    }

    /// Copies every bucket that is not full from `other` (a previous supervisor's table, kept in
    /// systemd's fd store) into this one, so clients keep their limits across a restart. Returns how
    /// many were copied; buckets that find no room here are dropped (fail open).
    @discardableResult
    public func adoptRateBuckets(from other: CallTable, nowMicros: Int64 = CallTable.wallMicros()) -> Int {
        requireWritable()
        let now = nowMicros - CallTable.rateEpochMicros
        var copied = 0
        for index in 0..<other.rateBucketCount {
            let source = other.rateBucket(index)
            let key = load64(source)
            let state = load64(source + 8)
            guard key != 0, state >> 52 == key >> 52, Int64(state & CallTable.tatMask) > now,
                  let bucket = findRateBucket(key: key, now: now) else { continue }
            store64(bucket + 8, state)
            copied += 1
        }
        return copied
    }

    /// How many buckets hold a client that has used part of its limit (the others are full and free
    /// for any client): what `mcpctl status` shows, to tell a table running out of buckets.
    public func activeRateBuckets(nowMicros: Int64 = CallTable.wallMicros()) -> Int {
        let now = nowMicros - CallTable.rateEpochMicros
        var active = 0
        for index in 0..<rateBucketCount {
            let bucket = rateBucket(index)
            let key = load64(bucket)
            let state = load64(bucket + 8)
            if key != 0, state >> 52 == key >> 52, Int64(state & CallTable.tatMask) > now { active += 1 }
        }
        return active
    }

    /// The wall clock in microseconds: buckets are shared between processes (and kept across
    /// restarts), so they need the one clock they all read, not a per-boot monotonic one.
    public static func wallMicros() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000
    }

    // MARK: internals

    @inline(__always) func rateBucket(_ index: Int) -> UnsafeMutableRawPointer {
        base + geometry.rateBucketsOffset + index * Layout.rateBucketSize
    }

    private static func seconds(_ micros: Int64) -> Int {
        micros <= 0 ? 0 : Int((micros + 999_999) / 1_000_000)
    }

    /// The bucket holding `key`, without claiming one (read-only mappings may call it).
    private func existingRateBucket(key: UInt64) -> UnsafeMutableRawPointer? {
        let count = rateBucketCount
        guard count > 0 else { return nil }
        let home = Int(key % UInt64(count))
        for step in 0..<min(count, CallTable.probeLimit) {
            let bucket = rateBucket((home + step) % count)
            let held = load64(bucket)
            if held == key { return bucket }
            if held == 0 { return nil }
        }
        return nil
    }

    /// The bucket holding `key`; else a never-used one claimed for it; else a stale (full) one taken
    /// over from its key; else nil. `now` is in microseconds since the rate epoch.
    private func findRateBucket(key: UInt64, now: Int64) -> UnsafeMutableRawPointer? {
        let count = rateBucketCount
        guard count > 0 else { return nil }
        let home = Int(key % UInt64(count))
        let probes = min(count, CallTable.probeLimit)
        for step in 0..<probes {
            let bucket = rateBucket((home + step) % count)
            let held = load64(bucket)
            if held == key { return bucket }
            // Buckets are never emptied, so the first never-used one ends the key's probe sequence.
            if held == 0 {
                if mcpd_cas_u64(bucket, 0, key) != 0 || load64(bucket) == key { return bucket }
            }
        }
        for step in 0..<probes {
            let bucket = rateBucket((home + step) % count)
            let held = load64(bucket)
            if held == key { return bucket }
            let tat = Int64(load64(bucket + 8) & CallTable.tatMask)
            if tat <= now, mcpd_cas_u64(bucket, held, key) != 0 { return bucket }
        }
        return nil
    }
}
