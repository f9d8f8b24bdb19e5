// libFuzzer target for the worker protocol decoder (Sources/WorkerProtocol/WorkerMessage.swift) and
// the supervisor's reading of payloads (Sources/Pool/ErrorPayload.swift, the JSON parser), compiled
// with those sources by `make fuzz` (see Tests/Fuzz/README.md).
//
// The input is a run of datagrams as a worker might send them over the SOCK_SEQPACKET socket, each
// prefixed here by a 16-bit little-endian length (the kernel keeps the boundaries; the prefix only
// lets the fuzzer express them). Every datagram goes through MessageAssembler; each whole message is
// decoded as its kind says. Properties besides "no crash": a reassembled message re-encodes to
// datagrams that reassemble to the same message, and a decoded call request re-encodes to the same
// bytes.

import JSON

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWorkerProtocol(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    // A small message limit, so inputs of a few KiB reach the "message too large" path.
    var assembler = MessageAssembler(maxMessageBytes: 2048)
    var offset = 0
    while offset + 2 <= size {
        let length = min(Int(input[offset]) | Int(input[offset + 1]) << 8, size - offset - 2)
        let datagram = UnsafeRawBufferPointer(rebasing: input[(offset + 2)..<(offset + 2 + length)])
        offset += 2 + length
        switch assembler.add(datagram) {
        case .message(let message):
            require(message.payload.count <= assembler.maxMessageBytes, "a message over the limit was assembled")
            decode(message)
        case .incomplete, .malformed: continue
        }
    }
    return 0
}

func decode(_ message: WorkerMessage) {
    var again = MessageAssembler()
    var outcome = MessageAssembler.Outcome.incomplete
    for datagram in message.datagrams() {
        require(outcome == .incomplete, "a message ended before its last datagram")
        outcome = datagram.withUnsafeBytes { again.add($0) }
    }
    require(outcome == .message(message), "datagrams() does not reassemble to the same message")

    switch message.kind {
    case .call:
        if let request = CallRequest(decoding: message.payload) {
            // Re-encoding keeps the slot, the spec and the input; a tool name that is not valid
            // UTF-8 is repaired on decoding, so compare the decoded form.
            require(CallRequest(decoding: request.encoded()) == request, "a call request does not round-trip")
            _ = try? JSONValue.parse(request.input)
            _ = try? JSONValue.parse(request.spec)
        }
    case .error:
        _ = ErrorPayload.decode(message.payload)
    case .partial, .progress, .result, .log, .ask, .answer:
        _ = try? JSONValue.parse(message.payload)
    case .ready, .heartbeat, .cancel, .cancelled:
        break
    }
}

/// A failed property, reported with its message (`precondition` drops messages in -O builds).
func require(_ condition: Bool, _ message: @autoclosure () -> String = "property violated") {
    if !condition { fatalError(message()) }
}

func fail(_ message: String) -> Never { fatalError(message) }
