/// One server-sent event.
public struct SSEEvent: Sendable, Equatable {
    /// The `event:` field, "message" when the event named none.
    public var event: String
    /// The `data:` lines joined with "\n".
    public var data: String
    /// The `id:` field of this event, if it had one.
    public var id: String?

    public init(event: String = "message", data: String, id: String? = nil) {
        self.event = event
        self.data = data
        self.id = id
    }
}

/// Splits a text/event-stream body into events as bytes arrive, per the WHATWG rules: lines end
/// in CR LF, LF or CR (also when a CR LF is split between two feeds), `:` starts a comment, a blank
/// line dispatches the event, and an event without data is dropped.
public struct SSEParser {
    private var line: [UInt8] = []
    private var previousWasCR = false
    private var atStreamStart = true
    private var eventType = ""
    private var data: [UInt8] = []
    private var hasData = false
    private var eventID: String?
    /// The most recent id seen on the stream (what a client would send as Last-Event-ID).
    public private(set) var lastEventID: String?
    /// The server's latest `retry:` advice, in milliseconds.
    public private(set) var retryMs: Int?

    public init() {}

    public mutating func feed(_ bytes: [UInt8]) -> [SSEEvent] {
        var events: [SSEEvent] = []
        var start = 0
        if atStreamStart && !bytes.isEmpty {
            // A UTF-8 byte order mark may precede the first line (it could arrive split, rarely; not handled).
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { start = 3 }
            atStreamStart = false
        }
        for index in start..<bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\n") {
                if previousWasCR { previousWasCR = false; continue }
                endLine(into: &events)
            } else if byte == UInt8(ascii: "\r") {
                previousWasCR = true
                endLine(into: &events)
            } else {
                previousWasCR = false
                line.append(byte)
            }
        }
        return events
    }

    private mutating func endLine(into events: inout [SSEEvent]) {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty {
            dispatch(into: &events)
            return
        }
        if line.first == UInt8(ascii: ":") { return }
        let colon = line.firstIndex(of: UInt8(ascii: ":"))
        let name = String(decoding: line[..<(colon ?? line.endIndex)], as: UTF8.self)
        var value = colon.map { line[($0 + 1)...] } ?? []
        if value.first == UInt8(ascii: " ") { value = value.dropFirst() }
        switch name {
        case "event":
            eventType = String(decoding: value, as: UTF8.self)
        case "data":
            if hasData { data.append(UInt8(ascii: "\n")) }
            data.append(contentsOf: value)
            hasData = true
        case "id":
            if !value.contains(0) {
                let id = String(decoding: value, as: UTF8.self)
                eventID = id
                lastEventID = id
            }
        case "retry":
            if !value.isEmpty, value.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }), value.count < 10 {
                retryMs = Int(String(decoding: value, as: UTF8.self))
            }
        default:
            break
        }
    }

    private mutating func dispatch(into events: inout [SSEEvent]) {
        defer {
            eventType = ""
            data.removeAll(keepingCapacity: true)
            hasData = false
            eventID = nil
        }
        guard hasData else { return }
        events.append(SSEEvent(event: eventType.isEmpty ? "message" : eventType,
                               data: String(decoding: data, as: UTF8.self), id: eventID))
    }
}
