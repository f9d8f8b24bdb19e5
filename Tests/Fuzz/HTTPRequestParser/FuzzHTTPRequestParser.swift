// libFuzzer target for the HTTP/1.1 request parser (Sources/HTTP/HTTPRequestParser.swift), compiled
// together with the parser's sources by `make fuzz` (see Tests/Fuzz/README.md).
//
// Beyond "no crash, no sanitizer report", it checks the property request smuggling lives on: the
// parser must see the same requests however the bytes are split across reads. Each input is parsed
// once in one piece and once cut at points derived from the input itself; the two runs must yield
// the same requests and agree on whether the stream ended in an error. Small limits make the 431
// and 413 paths reachable with short inputs.

let fuzzLimits = HTTPLimits(maxHeaderBytes: 1024, maxBodyBytes: 2048)

/// What one run of the parser saw: the requests, then whether it stopped at an error.
struct ParseTrace: Equatable {
    struct Request: Equatable {
        var method: String
        var target: String
        var minorVersion: Int
        var headers: [String]
        var body: [UInt8]
        var keepAlive: Bool
    }
    var requests: [Request] = []
    var errorStatus: Int?
}

func drain(_ parser: inout HTTPRequestParser, into trace: inout ParseTrace) {
    while trace.errorStatus == nil {
        switch parser.nextEvent() {
        case .request(let request):
            check(request)
            trace.requests.append(ParseTrace.Request(
                method: request.method, target: request.target, minorVersion: request.minorVersion,
                headers: request.headers.map { "\($0.name): \($0.value)" }, body: request.body,
                keepAlive: request.keepAlive))
        case .expectsContinue:
            continue  // depends on where the reads end; not part of the compared trace
        case .needMoreData:
            return
        case .error(let error):
            require([400, 408, 413, 431, 501, 505].contains(error.status), "unexpected status \(error.status)")
            trace.errorStatus = error.status
        }
    }
}

/// Invariants every accepted request must hold, whatever the input.
func check(_ request: HTTPRequest) {
    require(request.body.count <= fuzzLimits.maxBodyBytes, "body over the limit")
    require(!request.method.isEmpty && !request.target.isEmpty)
    require(request.target.utf8.allSatisfy { $0 > 32 && $0 < 127 }, "whitespace or control byte in the target")
    for header in request.headers {
        require(!header.name.isEmpty && header.name.utf8.allSatisfy { !($0 >= 65 && $0 <= 90) && $0 > 32 && $0 != 58 },
                     "header name not a lowercased token")
        require(!header.value.utf8.contains(where: { $0 == 13 || $0 == 10 || $0 == 0 }), "CR, LF or NUL in a header value")
    }
    // The smuggling rules, as invariants of what is accepted.
    let framing = request.headers.filter { $0.name == "transfer-encoding" || $0.name == "content-length" }.map(\.name)
    require(!(framing.contains("transfer-encoding") && framing.contains("content-length")), "Content-Length with Transfer-Encoding accepted")
    require(request.minorVersion == 1 || !framing.contains("transfer-encoding"), "Transfer-Encoding in HTTP/1.0 accepted")
    require(request.target.utf8.first == UInt8(ascii: "/") || request.target == "*" && request.method == "OPTIONS",
            "a target neither in origin form nor OPTIONS *")
    if request.minorVersion == 1 {
        require(request.headers.filter { $0.name == "host" }.count == 1, "HTTP/1.1 request without exactly one Host")
    }
}

func parse(_ input: UnsafeRawBufferPointer, cuts: [Int]) -> ParseTrace {
    var parser = HTTPRequestParser(limits: fuzzLimits)
    var trace = ParseTrace()
    var from = 0
    for cut in cuts + [input.count] where cut >= from {
        parser.append(UnsafeRawBufferPointer(rebasing: input[from..<cut]))
        drain(&parser, into: &trace)
        from = cut
    }
    return trace
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPRequestParser(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let whole = parse(input, cuts: [])
    // Cut points from a cheap hash of the input, so a given input always splits the same way.
    var cuts: [Int] = []
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(size)
    for byte in input.prefix(16) { state = (state ^ UInt64(byte)) &* 0x1000_0000_01B3 }
    var position = 0
    while size > 0 && position < size {
        state ^= state >> 29; state &*= 0xBF58_476D_1CE4_E5B9; state ^= state >> 32
        position += 1 + Int(state % 24)
        if position < size { cuts.append(position) }
    }
    let split = parse(input, cuts: cuts)
    require(whole.requests == split.requests, "requests differ with the split reads at \(cuts):\n  whole: \(whole)\n  split: \(split)")
    require((whole.errorStatus == nil) == (split.errorStatus == nil), "one run failed, the other did not")
    return 0
}

/// A failed property, reported with its message (`precondition` drops messages in -O builds).
func require(_ condition: Bool, _ message: @autoclosure () -> String = "property violated") {
    if !condition { fatalError(message()) }
}

func fail(_ message: String) -> Never { fatalError(message) }
