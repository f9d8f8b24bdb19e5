// Response heads: the request id and the pending field block go into every response unless the
// response names those fields itself.
@testable import HTTP
import Testing

@Suite("HTTP response heads")
struct HTTPResponseHeadTests {
    private func head(status: Int = 200, _ headers: [(String, String)], requestId: String = "", fields: HTTPFieldBlock = HTTPFieldBlock(),
                      contentLength: Int? = 2, close: Bool = false) -> String {
        var buffer: [UInt8] = []
        HTTPResponseHead.append(status: status, headers: headers, requestId: requestId, fields: fields,
                                contentLength: contentLength, close: close, to: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    private var standing: HTTPFieldBlock {
        var lines: [UInt8] = []
        HTTPResponseHead.appendField("X-RateLimit-Limit", 1000, to: &lines)
        HTTPResponseHead.appendField("X-RateLimit-Remaining", 0, to: &lines)
        HTTPResponseHead.appendField("X-Offset", -12, to: &lines)
        return HTTPFieldBlock(firstName: "X-RateLimit-Limit", lines: lines)
    }

    @Test func writesOwnFieldsThenTheRequestIdThenThePendingBlock() {
        #expect(head([("Content-Type", "application/json")], requestId: "abc-1", fields: standing, contentLength: 1234)
                == "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Request-Id: abc-1\r\nX-RateLimit-Limit: 1000\r\n"
                + "X-RateLimit-Remaining: 0\r\nX-Offset: -12\r\nContent-Length: 1234\r\n\r\n")
        #expect(head(status: 404, [], contentLength: 0, close: true)
                == "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        #expect(head([], contentLength: nil) == "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    }

    @Test func aResponseWithItsOwnFieldsLeavesThePendingOnesOut() {
        let own = head([("X-RateLimit-Limit", "5"), ("X-Request-Id", "mine")], requestId: "abc-1", fields: standing, contentLength: 0)
        #expect(own == "HTTP/1.1 200 OK\r\nX-RateLimit-Limit: 5\r\nX-Request-Id: mine\r\nContent-Length: 0\r\n\r\n")
    }

    @Test func requestIdsAreTheProcessPrefixAndTheNumberInHex() {
        for number: UInt64 in [0, 1, 9, 10, 15, 16, 255, 4096, 0xdead_beef, UInt64.max] {
            let id = RequestIds.id(number: number)
            let parts = id.split(separator: "-")
            #expect(parts.count == 2 && parts[0].utf8.count == 12, "\(id)")
            #expect(parts[0].allSatisfy(\.isHexDigit) && RequestIds.isUsable(id))
            #expect(parts.last.map(String.init) == String(number, radix: 16), "\(id)")
        }
        #expect(RequestIds.id(number: 1).split(separator: "-")[0] == RequestIds.id(number: 2).split(separator: "-")[0])
    }
}
