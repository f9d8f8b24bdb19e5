// The supervisor–worker framing: what goes into a datagram, and that it comes back out whole.
import Glibc
import SystemCalls
import Testing
import WorkerProtocol

@Suite("Worker protocol framing")
struct WorkerMessageTests {
    private func reassembled(_ datagrams: [[UInt8]]) -> MessageAssembler.Outcome {
        var assembler = MessageAssembler()
        var outcome = MessageAssembler.Outcome.incomplete
        for datagram in datagrams { outcome = datagram.withUnsafeBytes { assembler.add($0) } }
        return outcome
    }

    @Test func aSmallMessageIsOneDatagramWithTheHeaderLaidOut() {
        let message = WorkerMessage(kind: .call, callNumber: 0x0102_0304_0506_0708, payload: Array("abc".utf8))
        let datagrams = message.datagrams()
        #expect(datagrams == [[WorkerMessage.Kind.call.rawValue, 0, 0, 0, 0, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1] + Array("abc".utf8)])
        #expect(reassembled(datagrams) == .message(message))
        let empty = WorkerMessage(kind: .heartbeat, callNumber: 9)
        #expect(empty.datagrams().map(\.count) == [WorkerMessage.headerSize])
        #expect(reassembled(empty.datagrams()) == .message(empty))
    }

    @Test func aOneDatagramMessageGatheredBySendmsgArrivesAsItsDatagram() throws {
        // The supervisor's fast path: header and payload gathered into one datagram of a real
        // SOCK_SEQPACKET pair, received as exactly the bytes `datagrams()` would have sent.
        var pair: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &pair) == 0)
        defer { Descriptor.close(pair[0]); Descriptor.close(pair[1]) }
        for payload in [[], Array("{\"text\":\"hello\"}".utf8), [UInt8](repeating: 7, count: WorkerMessage.maxFragmentPayload)] {
            let message = WorkerMessage(kind: .call, callNumber: 77, payload: payload)
            #expect(message.isOneDatagram)
            let sent = message.withOneDatagram { Descriptor.send(pair[0], $0, $1) }
            #expect(sent == .transferred(WorkerMessage.headerSize + payload.count))
            var received = [UInt8](repeating: 0, count: WorkerMessage.headerSize + WorkerMessage.maxFragmentPayload + 1)
            let n = received.withUnsafeMutableBytes { recv(pair[1], $0.baseAddress, $0.count, 0) }
            #expect(Array(received.prefix(max(n, 0))) == message.datagrams()[0])
        }
        #expect(!WorkerMessage(kind: .result, callNumber: 1, payload: [UInt8](repeating: 0, count: WorkerMessage.maxFragmentPayload + 1)).isOneDatagram)
    }

    @Test func aLargeMessageIsSplitIntoContinuedFragments() {
        let payload = (0..<(2 * WorkerMessage.maxFragmentPayload + 17)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let message = WorkerMessage(kind: .result, callNumber: 42, payload: payload)
        let datagrams = message.datagrams()
        #expect(datagrams.map(\.count) == [WorkerMessage.headerSize + WorkerMessage.maxFragmentPayload,
                                           WorkerMessage.headerSize + WorkerMessage.maxFragmentPayload,
                                           WorkerMessage.headerSize + 17])
        #expect(datagrams.map { $0[1] } == [1, 1, 0])
        #expect(reassembled(datagrams) == .message(message))
    }

    @Test func aCallRequestRoundTripsAndCutsAnOverlongRequestId() {
        let request = CallRequest(tableSlot: 513, tool: "tööl", requestId: "0a1b2c-7", spec: Array(#"{"kind":"http"}"#.utf8),
                                  input: Array(#"{"message":"hi"}"#.utf8))
        #expect(CallRequest(decoding: request.encoded()) == request)
        let long = CallRequest(tableSlot: 1, tool: "echo", requestId: String(repeating: "r", count: 300), input: Array("{}".utf8))
        let decoded = CallRequest(decoding: long.encoded())
        #expect(decoded?.requestId == String(repeating: "r", count: 255))
        #expect(decoded?.input == Array("{}".utf8) && decoded?.tool == "echo" && decoded?.spec == [])
    }
}
