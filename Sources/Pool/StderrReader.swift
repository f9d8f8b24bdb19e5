import EventLoop
import Glibc
import Logging
import SystemCalls

/// Logs what a stdio server writes outside the protocol, one log line per line of output: cut to
/// 1 KiB and limited to `linesPerSecond` a process, the rest dropped and counted (one summary line
/// when the second ends), so a chatty or runaway server cannot flood the supervisor's log.
struct ServerOutputLog {
    static let maxLineBytes = 1024
    static let linesPerSecond = 50

    let serverId: String
    let pid: Int32
    /// "stderr", or "stdout" for lines on stdout that are not JSON-RPC (banners, stray prints).
    let stream: String
    private var windowStartMs: Int64 = 0
    private var linesInWindow = 0
    private var dropped = 0

    init(serverId: String, pid: Int32, stream: String) {
        self.serverId = serverId
        self.pid = pid
        self.stream = stream
    }

    mutating func log(_ line: ArraySlice<UInt8>) {
        let now = Clock.monotonicMillis()
        if now - windowStartMs >= 1000 {
            reportDropped()
            windowStartMs = now
            linesInWindow = 0
        }
        guard linesInWindow < Self.linesPerSecond else {
            dropped += 1
            return
        }
        linesInWindow += 1
        var text = line.prefix(Self.maxLineBytes)
        if text.last == UInt8(ascii: "\r") { text = text.dropLast() }
        let suffix = line.count > Self.maxLineBytes ? "…" : ""
        Log.info("stdio server output", ["server": serverId, "pid": String(pid),
                                         stream: String(decoding: text, as: UTF8.self) + suffix])
    }

    mutating func reportDropped() {
        guard dropped > 0 else { return }
        Log.warn("stdio server output lines dropped (rate limit)", ["server": serverId, "pid": String(pid),
                                                                     "stream": stream, "dropped": String(dropped)])
        dropped = 0
    }
}

/// Reads a stdio server's stderr (the read end of a pipe, non-blocking) on the loop and logs it
/// through a `ServerOutputLog`. The pipe is drained as fast as the server fills it, a bounded
/// amount per wake-up, so a flood neither blocks the server nor starves the loop.
final class StderrReader: EventHandler {
    private static let chunkBytes = 64 * 1024
    /// Reads per wake-up before yielding to the other descriptors (level-triggered: more comes next turn).
    private static let chunksPerWake = 16

    let fd: Int32
    private unowned let loop: EventLoop
    private var output: ServerOutputLog
    /// The line being assembled, at most `maxLineBytes` + 1 bytes (the extra one marks "cut").
    private var line: [UInt8] = []
    private var isOpen = true

    init(fd: Int32, serverId: String, pid: Int32, loop: EventLoop) {
        self.fd = fd
        self.loop = loop
        self.output = ServerOutputLog(serverId: serverId, pid: pid, stream: "stderr")
    }

    func open() throws(SystemError) {
        try Descriptor.setNonBlocking(fd)
        try loop.register(fd, for: .readable, handler: self)
    }

    func handleEvents(_ events: EventMask) {
        _ = readAvailable(chunks: Self.chunksPerWake)
    }

    /// Reads what the pipe holds now (a crashing server's last words), then closes it.
    func drainAndClose() {
        guard isOpen else { return }
        _ = readAvailable(chunks: Self.chunksPerWake)
        close()
    }

    /// Returns false once the pipe is closed.
    private func readAvailable(chunks: Int) -> Bool {
        guard isOpen else { return false }
        return withUnsafeTemporaryAllocation(byteCount: Self.chunkBytes, alignment: 16) { buffer in
            for _ in 0..<chunks {
                switch Descriptor.read(fd, into: buffer.baseAddress!, count: buffer.count) {
                case .transferred(let n):
                    consume(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                case .wouldBlock:
                    return true
                case .endOfFile, .failed:
                    close()
                    return false
                }
            }
            return true
        }
    }

    private func consume(_ bytes: UnsafeRawBufferPointer) {
        var start = 0
        while start < bytes.count {
            if let newline = bytes[start...].firstIndex(of: 10) {
                appendToLine(bytes[start..<newline])
                output.log(line[...])
                line.removeAll(keepingCapacity: true)
                start = newline + 1
            } else {
                appendToLine(bytes[start...])
                return
            }
        }
    }

    private func appendToLine(_ bytes: Slice<UnsafeRawBufferPointer>) {
        let room = ServerOutputLog.maxLineBytes + 1 - line.count
        if room > 0 { line.append(contentsOf: bytes.prefix(room)) }
    }

    private func close() {
        guard isOpen else { return }
        isOpen = false
        if !line.isEmpty { output.log(line[...]) }
        output.reportDropped()
        loop.unregister(fd)
        Descriptor.close(fd)
    }
}
