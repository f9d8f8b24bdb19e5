// Call slots: claimed by a CAS on their state, written by the supervisor under a per-slot seqlock,
// read by anyone with a bounded retry loop. The layout is in Layout.swift.
import CMcpd
import Glibc
import SystemCalls

extension CallTable {
    /// How long a reader keeps trying to copy a record before giving up on it. A writer holds a record
    /// for about a microsecond, but it can be preempted inside it for a scheduler slice or two; a
    /// record still busy after this long belongs to a writer that died inside it.
    static let readPatienceMs: Int64 = 250

    /// Claims a free call slot (state free → reserved), scanning from where the last claim ended.
    /// Returns nil when every slot is taken.
    public func claimCallSlot() -> Int? {
        requireWritable()
        let count = callSlotCount
        var slot = nextCallSlotHint
        for _ in 0..<count {
            let state = callSlot(slot) + Layout.Call.state
            if load32(state) == CallState.free.rawValue,
               mcpd_cas_u32(state, CallState.free.rawValue, CallState.reserved.rawValue) != 0 {
                nextCallSlotHint = slot + 1 == count ? 0 : slot + 1
                return slot
            }
            slot = slot + 1 == count ? 0 : slot + 1
        }
        return nil
    }

    /// Writes a whole call record. The cancel flag is cleared, no worker is assigned yet, and the
    /// call belongs to the current cancel epoch. Strings longer than their field are cut at a
    /// character boundary.
    public func publishCall(slot: Int, callId: String, tool: String, owner: String, state: CallState,
                            startedAtMs: Int64, deadlineAtMs: Int64) {
        let record = writableCallSlot(slot)
        let epoch = cancelEpoch
        writeLocked(record) {
            store32(record + Layout.Call.cancelRequested, 0)
            store32(record + Layout.Call.workerPid, 0)
            store32(record + Layout.Call.workerSlot, Layout.noSlot)
            store64(record + Layout.Call.startedAtMs, UInt64(bitPattern: startedAtMs))
            store64(record + Layout.Call.deadlineAtMs, UInt64(bitPattern: deadlineAtMs))
            store64(record + Layout.Call.cancelEpochAtStart, epoch)
            storeText(callId, at: record + Layout.Call.callId.offset, size: Layout.Call.callId.size)
            storeText(tool, at: record + Layout.Call.tool.offset, size: Layout.Call.tool.size)
            storeText(owner, at: record + Layout.Call.owner.offset, size: Layout.Call.owner.size)
            store32(record + Layout.Call.state, state.rawValue)
        }
    }

    public func setCallState(slot: Int, _ state: CallState) {
        let record = writableCallSlot(slot)
        writeLocked(record) { store32(record + Layout.Call.state, state.rawValue) }
    }

    /// Records the worker that runs the call, and marks the call running.
    public func assignWorker(slot: Int, pid: Int32, workerSlot: Int) {
        precondition((0..<workerSlotCount).contains(workerSlot), "worker slot \(workerSlot) out of range")
        let record = writableCallSlot(slot)
        writeLocked(record) {
            store32(record + Layout.Call.workerPid, UInt32(bitPattern: pid))
            store32(record + Layout.Call.workerSlot, UInt32(workerSlot))
            store32(record + Layout.Call.state, CallState.running.rawValue)
        }
    }

    public func requestCancel(slot: Int) {
        let record = writableCallSlot(slot)
        writeLocked(record) { store32(record + Layout.Call.cancelRequested, 1) }
    }

    /// Asks for the cancellation of call `callId` if it is still in flight (`mcpctl cancel`): the
    /// flag is set only if the slot still holds that very call, checked inside the record's write
    /// lock, so a slot reused in between is never touched. The supervisor sees the flag on its next
    /// tick and ends the call `cancelled`. Returns whether the call was found in flight.
    public func requestCancel(callId: String) -> Bool {
        for slot in 0..<callSlotCount where callStateRaw(slot) != CallState.free.rawValue {
            guard let call = readCall(slot: slot), call.callId == callId, call.state.isInFlight else { continue }
            let record = writableCallSlot(slot)
            var stillThatCall = false
            writeLocked(record) {
                guard let state = CallState(rawValue: load32(record + Layout.Call.state)), state.isInFlight else { return }
                let start = Layout.Call.callId.offset
                let words = (0..<(Layout.Call.callId.size / 8)).map { load64(record + start + 8 * $0) }
                let current = words.withUnsafeBytes { decodeText($0) }
                guard current == callId else { return }
                store32(record + Layout.Call.cancelRequested, 1)
                stillThatCall = true
            }
            return stillThatCall
        }
        return false
    }

    /// One atomic load, cheap enough for a worker to poll between chunks of work.
    public func isCancelRequested(slot: Int) -> Bool {
        precondition((0..<callSlotCount).contains(slot), "call slot \(slot) out of range")
        return load32(callSlot(slot) + Layout.Call.cancelRequested) != 0
    }

    /// Zeroes the record and marks the slot free. The state is stored last so that a claim, which
    /// looks only at the state, always finds a zeroed record.
    public func releaseCallSlot(_ slot: Int) {
        let record = writableCallSlot(slot)
        writeLocked(record) {
            var offset = Layout.Call.state + 4
            while offset < Layout.Call.end {
                if offset % 8 == 0 {
                    store64(record + offset, 0)
                    offset += 8
                } else {
                    store32(record + offset, 0)
                    offset += 4
                }
            }
            store32(record + Layout.Call.state, CallState.free.rawValue)
        }
    }

    /// A consistent copy of a call record, or nil when the slot is free or out of range, or when no
    /// consistent copy could be taken within `readPatienceMs` (a writer died inside the record).
    public func readCall(slot: Int) -> CallRecord? {
        guard (0..<callSlotCount).contains(slot) else { return nil }
        let record = callSlot(slot)
        return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: Layout.Call.textWords) { text in
            var attempt = 0
            var giveUpAt: Int64 = 0
            while true {
                if attempt > 0 {
                    backOff(attempt)
                    // The clock is read only once retries get long; most reads never look at it.
                    if attempt % 64 == 0 {
                        let now = Clock.monotonicMillis()
                        if giveUpAt == 0 {
                            giveUpAt = now + Self.readPatienceMs
                        } else if now >= giveUpAt {
                            return nil
                        }
                    }
                }
                attempt += 1
                let before = load64(record + Layout.Call.sequence)
                if before & 1 != 0 { continue }
                let stateRaw = load32(record + Layout.Call.state)
                let cancelRequested = load32(record + Layout.Call.cancelRequested)
                let workerPid = Int32(bitPattern: load32(record + Layout.Call.workerPid))
                let workerSlot = load32(record + Layout.Call.workerSlot)
                let startedAtMs = Int64(bitPattern: load64(record + Layout.Call.startedAtMs))
                let deadlineAtMs = Int64(bitPattern: load64(record + Layout.Call.deadlineAtMs))
                let epoch = load64(record + Layout.Call.cancelEpochAtStart)
                if stateRaw != CallState.free.rawValue {
                    for word in 0..<Layout.Call.textWords {
                        text[word] = load64(record + Layout.Call.textOffset + 8 * word)
                    }
                }
                guard load64(record + Layout.Call.sequence) == before else { continue }
                if stateRaw == CallState.free.rawValue { return nil }
                let bytes = UnsafeRawBufferPointer(text)
                func field(_ layout: (offset: Int, size: Int)) -> String {
                    let start = layout.offset - Layout.Call.textOffset
                    return decodeText(UnsafeRawBufferPointer(rebasing: bytes[start..<start + layout.size]))
                }
                return CallRecord(
                    slot: slot,
                    callId: field(Layout.Call.callId),
                    tool: field(Layout.Call.tool),
                    owner: field(Layout.Call.owner),
                    // A state this build does not know still occupies the slot.
                    state: CallState(rawValue: stateRaw) ?? .reserved,
                    cancelRequested: cancelRequested != 0,
                    workerPid: workerPid,
                    // A slot index means something only once a worker process is assigned.
                    workerSlot: workerPid == 0 || workerSlot == Layout.noSlot ? nil : Int(workerSlot),
                    startedAtMs: startedAtMs,
                    deadlineAtMs: deadlineAtMs,
                    cancelEpochAtStart: epoch)
            }
        }
    }

    // MARK: internals

    @inline(__always) func callSlot(_ slot: Int) -> UnsafeMutableRawPointer {
        base + geometry.callSlotsOffset + slot * Layout.callSlotSize
    }

    /// The state alone, for scans that skip free slots without taking a whole copy.
    func callStateRaw(_ slot: Int) -> UInt32 { load32(callSlot(slot) + Layout.Call.state) }

    private func writableCallSlot(_ slot: Int) -> UnsafeMutableRawPointer {
        requireWritable()
        precondition((0..<callSlotCount).contains(slot), "call slot \(slot) out of range")
        return callSlot(slot)
    }

    /// Runs `body` inside the record's seqlock: enters by a CAS from even to odd, so that writers on
    /// different threads or processes never interleave, and leaves on the next even value.
    private func writeLocked(_ record: UnsafeMutableRawPointer, _ body: () -> Void) {
        var attempt = 0
        while true {
            let sequence = load64(record + Layout.Call.sequence)
            if sequence & 1 == 0, mcpd_cas_u64(record + Layout.Call.sequence, sequence, sequence &+ 1) != 0 {
                body()
                store64(record + Layout.Call.sequence, sequence &+ 2)
                return
            }
            backOff(attempt)
            attempt += 1
        }
    }

    /// Writes `text` NUL-padded into a field of `size` bytes (a multiple of 8), as u64 words.
    private func storeText(_ text: String, at field: UnsafeMutableRawPointer, size: Int) {
        var text = text
        text.withUTF8 { utf8 in
            var length = min(utf8.count, size)
            // Never cut inside a character: back up over UTF-8 continuation bytes (10xxxxxx).
            if length < utf8.count {
                while length > 0 && utf8[length] & 0xC0 == 0x80 { length -= 1 }
            }
            for wordStart in stride(from: 0, to: size, by: 8) {
                var word: UInt64 = 0
                withUnsafeMutableBytes(of: &word) { bytes in
                    for i in 0..<8 where wordStart + i < length { bytes[i] = utf8[wordStart + i] }
                }
                store64(field + wordStart, word)
            }
        }
    }
}

/// The text of a NUL-padded field: the bytes before the first NUL (all of them when it is full).
private func decodeText(_ field: UnsafeRawBufferPointer) -> String {
    let length = field.firstIndex(of: 0) ?? field.count
    return String(decoding: UnsafeRawBufferPointer(rebasing: field[..<length]), as: UTF8.self)
}

/// Spins briefly, then yields the CPU, so that a waiting reader or writer does not starve the one
/// it waits for when both share a core.
@inline(__always) func backOff(_ attempt: Int) {
    if attempt >= 16 { sched_yield() }
}
