// libFuzzer target for the JSON-RPC decoder (Sources/MCP/JSONRPC.swift) and the JSON parser under it
// (Sources/JSON), compiled with those sources by `make fuzz` (see Tests/Fuzz/README.md).
//
// An input is an HTTP body as /mcp, /sse and the tenant endpoint receive it: parsed as JSON, then
// read as one JSON-RPC message or a batch of them, exactly as the transports do. Properties checked
// besides "no crash": what the parser accepts is valid UTF-8, and writing a parsed value and parsing
// the text again is a fixed point (the writer's output is JSON the parser takes back unchanged), and
// JSONSplice and parseMessage agree with the parser.

import JSON

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONRPC(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    // JSONSplice copies a `{"text": "…"}` worker result's string token as it came: it may only take
    // what the parser takes, and the token must read as the parser reads the member.
    let bytes = Array(input)
    let splicedText = JSONSplice.soleStringMember("text", in: bytes)
    guard let value = try? JSONValue.parse(input) else {
        require(splicedText == nil, "JSONSplice accepted what the parser refuses")
        return 0
    }
    if let range = splicedText {
        require(value.objectValue?.count == 1 && value["text"] == (try? JSONValue.parse(Array(bytes[range]))),
                "JSONSplice's token does not read as the parsed member")
    }
    // parseMessage builds the same tree, and the params.arguments bytes it finds (passed to workers
    // as they came) read as the tree's own arguments.
    guard let (message, argumentsRange) = try? JSONValue.parseMessage(bytes) else { fail("parseMessage refuses what parse takes") }
    require(message == value, "parseMessage builds another tree")
    if let range = argumentsRange {
        require(value["params"]?["arguments"] != nil && (try? JSONValue.parse(Array(bytes[range]))) == value["params"]?["arguments"],
                "the arguments found do not read as the parsed params.arguments")
    }
    require(String(validating: UnsafeBufferPointer(start: data, count: size), as: UTF8.self) != nil,
                 "the parser accepted ill-formed UTF-8")

    let written = Array(value.serialized().utf8)
    guard let reparsed = try? JSONValue.parse(written) else { fail("the writer's output does not parse") }
    require(Array(reparsed.serialized().utf8) == written, "write → parse → write is not a fixed point")

    let messages: [JSONValue]
    if case .array(let batch) = value { messages = batch } else { messages = [value] }
    for message in messages {
        switch JSONRPCMessage.parse(message) {
        case .success(.request(let id, let method, _)):
            require(!method.isEmpty && !id.isNull)
            _ = JSONRPCMessage.result(id: id, JSONObject()).serialized()
        case .success(.notification(let method, _)):
            require(!method.isEmpty)
        case .success(.response(let id, let result, let error)):
            require(!id.isNull && (result != nil || error != nil))
        case .failure(let invalid):
            // The error answer must itself be writable JSON-RPC.
            let answer = JSONRPCMessage.error(id: invalid.id, invalid.error).serialized()
            require((try? JSONValue.parse(answer)) != nil)
        }
    }
    return 0
}

/// A failed property, reported with its message (`precondition` drops messages in -O builds).
func require(_ condition: Bool, _ message: @autoclosure () -> String = "property violated") {
    if !condition { fatalError(message()) }
}

func fail(_ message: String) -> Never { fatalError(message) }
