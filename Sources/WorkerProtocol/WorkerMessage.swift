// WorkerProtocol: what mcpd and mcp-worker say to each other over their socketpair.
//
// Transport: one AF_UNIX SOCK_SEQPACKET socketpair per worker; the kernel keeps datagram
// boundaries, so a message is one or more datagrams and never needs a length scan.
//
// Datagram layout (little-endian):
//   byte 0      kind (WorkerMessage.Kind)
//   byte 1      flags: bit 0 = "continued": more datagrams of this message follow
//   bytes 2..7  zero
//   bytes 8..15 call number (u64), chosen by the supervisor; 0 for messages about no call
//   bytes 16..  payload fragment (at most `maxFragmentPayload` bytes)
// A message larger than one fragment is split into consecutive datagrams of the same kind and call
// number, every one but the last flagged "continued"; the receiver concatenates them. Payloads up to
// the request body limit (4 MiB by default) therefore pass whatever the socket buffer size.
//
// Conversation (S = supervisor, W = worker):
//   W→S ready       once, when the worker has mapped the call table and can take a call.
//   S→W call        payload: u32 call-table slot, u16 tool-name length, tool name, input JSON bytes
//                   (the arguments exactly as the client sent them; the worker parses them).
//   W→S partial     payload: a JSON object, e.g. {"text":"3"}; any number, before the terminal message.
//   W→S progress    payload: a JSON object {"progress":n,"total":m?,"message":s?}.
//   W→S heartbeat   no payload; sent about once a second while a call runs (the worker also stamps its
//                   heartbeat in the call table, which is what mcpctl and the supervisor's health read).
//   W→S result      payload: the tool's result as a JSON object, e.g. {"text":"hello"}. Terminal.
//   W→S error       payload: {"kind":k,"message":m,"data":d?} (seed 004's error shape). Terminal.
//   S→W cancel      stop the call named by the call number. Payload: the reason (UTF-8, for logs;
//                   mcp-worker ignores it, a stdio server gets it in notifications/cancelled).
//   W→S cancelled   no payload: the call was abandoned; the worker is idle again. Terminal.
//   W→S log         payload: {"level":"info","data":any,"logger":s?} — a log message for the client
//                   (MCP notifications/message), filtered by the client's chosen level.
//   W→S ask         payload: {"method":m,"params":p} — a request the tool needs the *client* to answer
//                   (sampling/createMessage, elicitation/create, roots/list). The worker then waits.
//   S→W answer      payload: {"result":r} or {"error":{"code":c,"message":m}}: the answer to the
//                   call's pending ask. Exactly one answer per ask, unless the call is cancelled.
// Exactly one terminal message answers each call. One call at a time per worker. A worker that reads
// end-of-file on its socket exits: its supervisor is gone (or is retiring it).

/// One protocol message, reassembled.
public struct WorkerMessage: Sendable, Equatable {
    public enum Kind: UInt8, Sendable {
        case ready = 1, call, partial, progress, heartbeat, result, error, cancel, cancelled, log, ask, answer
    }

    public var kind: Kind
    public var callNumber: UInt64
    public var payload: [UInt8]

    public init(kind: Kind, callNumber: UInt64, payload: [UInt8] = []) {
        self.kind = kind
        self.callNumber = callNumber
        self.payload = payload
    }

    public static let headerSize = 16
    public static let maxFragmentPayload = 60 * 1024
    static let continuedFlag: UInt8 = 1

    /// The datagrams that carry this message.
    public func datagrams() -> [[UInt8]] {
        var result: [[UInt8]] = []
        var offset = 0
        repeat {
            let end = min(payload.count, offset + Self.maxFragmentPayload)
            result.append(datagram(offset..<end, continued: end < payload.count))
            offset = end
        } while offset < payload.count
        return result
    }

    /// Whether the message goes in one datagram, the header followed by the whole payload.
    public var isOneDatagram: Bool { payload.count <= Self.maxFragmentPayload }

    /// Calls `body` with the header of a message that is one datagram (`isOneDatagram`) and its
    /// payload, for a sender that gathers the two into that datagram without copying them.
    public func withOneDatagram<R>(_ body: (_ header: UnsafeRawBufferPointer, _ payload: UnsafeRawBufferPointer) -> R) -> R {
        precondition(isOneDatagram, "a message of more than one datagram")
        return withUnsafeTemporaryAllocation(byteCount: Self.headerSize, alignment: 8) { header in
            writeHeader(into: header, continued: false)
            return payload.withUnsafeBytes { body(UnsafeRawBufferPointer(header), $0) }
        }
    }

    private func writeHeader(into raw: UnsafeMutableRawBufferPointer, continued: Bool) {
        raw.initializeMemory(as: UInt8.self, repeating: 0)
        raw[0] = kind.rawValue
        raw[1] = continued ? Self.continuedFlag : 0
        raw.storeBytes(of: callNumber.littleEndian, toByteOffset: 8, as: UInt64.self)
    }

    /// Header and payload fragment written into one allocation of the exact size.
    private func datagram(_ fragment: Range<Int>, continued: Bool) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: Self.headerSize + fragment.count) { buffer, count in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            writeHeader(into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<Self.headerSize]), continued: continued)
            payload.withUnsafeBytes { source in
                UnsafeMutableRawBufferPointer(rebasing: raw[Self.headerSize...]).copyMemory(from: UnsafeRawBufferPointer(rebasing: source[fragment]))
            }
            count = Self.headerSize + fragment.count
        }
    }
}

/// The payload of a `call` message: the call-table slot (little-endian u32), the tool's name
/// (u16 length + UTF-8), the HTTP request id the call came from (u8 length + visible ASCII, for the
/// worker's log lines; empty when none), the spec (u32 length + JSON, empty for built-in tools:
/// how a configured tool runs, e.g. `{"kind":"http",...}`), then the input JSON to the end.
public struct CallRequest: Sendable, Equatable {
    public var tableSlot: UInt32
    public var tool: String
    public var requestId: String
    public var spec: [UInt8]
    public var input: [UInt8]

    public init(tableSlot: UInt32, tool: String, requestId: String = "", spec: [UInt8] = [], input: [UInt8]) {
        self.tableSlot = tableSlot
        self.tool = tool
        self.requestId = requestId
        self.spec = spec
        self.input = input
    }

    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        var tool = tool
        var requestId = requestId
        // Through the strings' storage: Array(string.utf8) made two more arrays per call.
        tool.withUTF8 { toolName in
            requestId.withUTF8 { requestIdBytes in
                let toolName = UnsafeBufferPointer(rebasing: toolName.prefix(Int(UInt16.max)))
                let requestIdBytes = UnsafeBufferPointer(rebasing: requestIdBytes.prefix(Int(UInt8.max)))
                bytes.reserveCapacity(11 + toolName.count + requestIdBytes.count + spec.count + input.count)
                withUnsafeBytes(of: tableSlot.littleEndian) { bytes.append(contentsOf: $0) }
                withUnsafeBytes(of: UInt16(toolName.count).littleEndian) { bytes.append(contentsOf: $0) }
                bytes.append(contentsOf: toolName)
                bytes.append(UInt8(requestIdBytes.count))
                bytes.append(contentsOf: requestIdBytes)
            }
        }
        withUnsafeBytes(of: UInt32(spec.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: spec)
        bytes.append(contentsOf: input)
        return bytes
    }

    public init?(decoding bytes: [UInt8]) {
        guard bytes.count >= 11 else { return nil }
        let slot = UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24
        let toolLength = Int(bytes[4]) | Int(bytes[5]) << 8
        guard bytes.count >= 11 + toolLength else { return nil }
        let r = 6 + toolLength
        let requestIdLength = Int(bytes[r])
        guard bytes.count >= r + 1 + requestIdLength + 4 else { return nil }
        let s = r + 1 + requestIdLength
        // A request id is visible ASCII (HTTPConnection makes sure); anything else is malformed.
        guard bytes[(r + 1)..<s].allSatisfy({ $0 >= 0x21 && $0 <= 0x7E }) else { return nil }
        let specLength = Int(bytes[s]) | Int(bytes[s + 1]) << 8 | Int(bytes[s + 2]) << 16 | Int(bytes[s + 3]) << 24
        guard bytes.count - (s + 4) >= specLength else { return nil }
        self.tableSlot = slot
        self.tool = String(decoding: bytes[6..<r], as: UTF8.self)
        self.requestId = String(decoding: bytes[(r + 1)..<s], as: UTF8.self)
        self.spec = Array(bytes[(s + 4)..<(s + 4 + specLength)])
        self.input = Array(bytes[(s + 4 + specLength)...])
    }
}

/// Reassembles messages from datagrams as they arrive.
public struct MessageAssembler: Sendable {
    private var partial: WorkerMessage?
    /// A message may not grow past this: a worker that keeps sending "continued" datagrams would
    /// otherwise make the supervisor buffer without end. Far above any real result (16 MiB upstream
    /// bodies, escaped as JSON).
    public let maxMessageBytes: Int

    public init(maxMessageBytes: Int = 256 << 20) {
        self.maxMessageBytes = maxMessageBytes
    }

    public enum Outcome: Sendable, Equatable { case message(WorkerMessage), incomplete, malformed }

    public mutating func add(_ datagram: UnsafeRawBufferPointer) -> Outcome {
        guard datagram.count >= WorkerMessage.headerSize, let kind = WorkerMessage.Kind(rawValue: datagram[0]) else {
            return .malformed
        }
        var callNumber: UInt64 = 0
        withUnsafeMutableBytes(of: &callNumber) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: datagram[8..<16])) }
        callNumber = UInt64(littleEndian: callNumber)
        let fragment = UnsafeRawBufferPointer(rebasing: datagram[WorkerMessage.headerSize...])
        if var message = partial {
            guard message.kind == kind, message.callNumber == callNumber,
                  fragment.count <= maxMessageBytes - message.payload.count else { partial = nil; return .malformed }
            message.payload.append(contentsOf: fragment)
            partial = message
        } else {
            guard fragment.count <= maxMessageBytes else { return .malformed }
            partial = WorkerMessage(kind: kind, callNumber: callNumber, payload: Array(fragment))
        }
        if datagram[1] & WorkerMessage.continuedFlag != 0 { return .incomplete }
        let complete = partial!
        partial = nil
        return .message(complete)
    }
}
