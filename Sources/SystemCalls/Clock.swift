import CMcpd
import Glibc
import Synchronization

/// Clocks in milliseconds. Monotonic time drives every deadline; wall time is only for display.
public enum Clock {
    @inline(__always)
    public static func monotonicMillis() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    /// For durations shorter than a millisecond (call latencies in metrics).
    public static func monotonicMicros() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
    }

    public static func wallMillis() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    /// UTC wall time as RFC 3339 / ISO 8601, e.g. 2026-11-22T10:30:00.123Z.
    public static func iso8601(millis: Int64) -> String {
        var seconds = time_t(millis / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T" +
            "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(millis % 1000), 3))Z"
    }

    /// Sleeps the calling thread (only used by the worker and CLI, never by the event loop).
    public static func sleep(millis: Int) {
        var request = timespec(tv_sec: millis / 1000, tv_nsec: (millis % 1000) * 1_000_000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}

/// Random identifiers from the kernel's CSPRNG.
///
/// Small requests (a call id, a session id) are served from 4 KiB fetched at a time: one
/// getrandom(2) per 256 call ids instead of one per call, on the hot path of every tool call. The
/// bytes are the kernel's all the same; each is handed out once and wiped as it is, so a later
/// look at this memory shows no id already given. Not to be shared across a fork: a forked child
/// calls `discardReserve()` first (mcp-worker's fork server does), so that no two processes hand
/// out the same bytes.
public enum Random {
    private struct Reserve {
        var bytes = [UInt8](repeating: 0, count: 4096)
        var next = 4096
    }
    private static let reserve = Mutex(Reserve())

    /// Wipes and drops what is left of the reserve: the next request fetches fresh bytes.
    public static func discardReserve() {
        reserve.withLock { reserve in
            reserve.bytes.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0) }
            reserve.next = reserve.bytes.count
        }
    }

    public static func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        guard buffer.count <= 256 else { return fillFromKernel(buffer) }
        reserve.withLock { reserve in
            if reserve.next + buffer.count > reserve.bytes.count {
                reserve.bytes.withUnsafeMutableBytes { fillFromKernel($0) }
                reserve.next = 0
            }
            reserve.bytes.withUnsafeMutableBytes { bytes in
                let taken = UnsafeMutableRawBufferPointer(rebasing: bytes[reserve.next..<(reserve.next + buffer.count)])
                buffer.copyMemory(from: UnsafeRawBufferPointer(taken))
                taken.initializeMemory(as: UInt8.self, repeating: 0)
            }
            reserve.next += buffer.count
        }
    }

    private static func fillFromKernel(_ buffer: UnsafeMutableRawBufferPointer) {
        var offset = 0
        while offset < buffer.count {
            let n = mcpd_getrandom(buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0 { if n == -Int(EINTR) { continue }; fatalError("getrandom failed: \(-n)") }
            offset += n
        }
    }

    /// `byteCount` random bytes as lowercase hex: an unguessable token of visible ASCII.
    public static func hexToken(byteCount: Int = 16) -> String {
        var bytes = [UInt8](repeating: 0, count: byteCount)
        bytes.withUnsafeMutableBytes { fill($0) }
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(byteCount * 2)
        for byte in bytes { out.append(hex[Int(byte >> 4)]); out.append(hex[Int(byte & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// An RFC 9562 version-4 UUID in its lowercase text form.
    public static func uuid() -> String {
        var bytes = (UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &bytes) { fill($0) }
        return withUnsafeMutableBytes(of: &bytes) { raw -> String in
            raw[6] = (raw[6] & 0x0f) | 0x40
            raw[8] = (raw[8] & 0x3f) | 0x80
            // Written straight into the string's storage: one allocation per id (every call has one).
            let hex: StaticString = "0123456789abcdef"
            return String(unsafeUninitializedCapacity: 36) { out in
                var position = 0
                for i in 0..<16 {
                    if i == 4 || i == 6 || i == 8 || i == 10 {
                        out[position] = UInt8(ascii: "-")
                        position += 1
                    }
                    out[position] = hex.utf8Start[Int(raw[i] >> 4)]
                    out[position + 1] = hex.utf8Start[Int(raw[i] & 0x0f)]
                    position += 2
                }
                return position
            }
        }
    }
}
