import Glibc
import HTTPClient
import SystemCalls
import Testing

@Suite struct URLPartsTests {
    @Test func parsesSchemeHostPortAndTarget() throws {
        let plain = try #require(URLParts.parse("http://example.com"))
        #expect(plain == URLParts(scheme: "http", host: "example.com", port: 80, target: "/"))
        let full = try #require(URLParts.parse("HTTPS://user:pw@API.Example.com:8443/v1/x?q=1#frag"))
        #expect(full.scheme == "https" && full.host == "api.example.com" && full.port == 8443)
        #expect(full.target == "/v1/x?q=1" && full.userInfo == "user:pw")
        #expect(full.authority == "api.example.com:8443")
        let v6 = try #require(URLParts.parse("http://[::1]:9000?x=1"))
        #expect(v6.host == "::1" && v6.port == 9000 && v6.target == "/?x=1" && v6.authority == "[::1]:9000")
        #expect(URLParts.parse("https://h/a b")?.target == "/a%20b")
        #expect(URLParts.parse("https://h")?.port == 443)
    }

    @Test func rejectsWhatIsNotAnAbsoluteURL() {
        for bad in ["", "example.com", "/path", "http://", "http://:80/", "http://h:0/", "http://h:65536/", "http://h:8x/",
                    "http://[::1/", "http://a b/", "ftp://h/"] {
            #expect(URLParts.parse(bad) == nil, "\(bad)")
        }
    }

    @Test func resolvesReferencesAgainstABase() throws {
        let base = try #require(URLParts.parse("http://h:8000/mcp/sse?x=1"))
        #expect(base.resolving("/messages?session_id=abc")?.url == "http://h:8000/messages?session_id=abc")
        #expect(base.resolving("messages?s=1")?.url == "http://h:8000/mcp/messages?s=1")
        #expect(base.resolving("../up")?.url == "http://h:8000/up")
        #expect(base.resolving("?y=2")?.url == "http://h:8000/mcp/sse?y=2")
        #expect(base.resolving("//other/x")?.url == "http://other/x")
        #expect(base.resolving("https://elsewhere/e")?.url == "https://elsewhere/e")
    }
}

@Suite struct SSEParserTests {
    @Test func splitsEventsOnAnyLineEnding() {
        var parser = SSEParser()
        let events = parser.feed(Array("data: one\r\n\r\nevent: custom\ndata: two\n\ndata: three\r\r".utf8))
        #expect(events == [SSEEvent(data: "one"), SSEEvent(event: "custom", data: "two"), SSEEvent(data: "three")])
    }

    @Test func joinsDataLinesSkipsCommentsAndKeepsIDs() {
        var parser = SSEParser()
        let events = parser.feed(Array(": keep-alive\nid: 7\ndata:first\ndata:  second\ndata\n\nevent: lonely\n\n".utf8))
        #expect(events == [SSEEvent(data: "first\n second\n", id: "7")])
        #expect(parser.lastEventID == "7")
    }

    @Test func eventsSplitAcrossFeedsComeOutWhole() {
        let stream = Array("event: message\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\ndata: é\r\n\r\n".utf8)
        // Every split point, including inside a CR LF and inside the two-byte "é".
        for split in 0...stream.count {
            var parser = SSEParser()
            let events = parser.feed(Array(stream[..<split])) + parser.feed(Array(stream[split...]))
            #expect(events == [SSEEvent(data: "{\"a\":\n1}"), SSEEvent(data: "é")], "split at \(split)")
        }
    }
}

@Suite struct HTTPClientTests {
    @Test func fetchSendsAWellFormedRequestAndReadsAContentLengthBody() throws {
        let seen = Locked<ReceivedRequest?>(nil)
        let server = TestServer { peer in
            guard let request = peer.readRequest() else { return }
            seen.withLock { $0 = request }
            peer.respond(status: 201, reason: "Created", headers: [("X-Thing", "yes")], body: "hello")
            sleepMs(300)  // the client must stop at Content-Length, not wait for the close
        }
        let started = Clock.monotonicMillis()
        let response = try HTTPClient.fetch(HTTPClientRequest(method: "post", url: server.url + "/p?q=1",
                                                              headers: [("X-Evil", "a\r\nInjected: 1")], body: Array("{}".utf8)))
        #expect(Clock.monotonicMillis() - started < 250)
        #expect(response.status == 201 && response.reason == "Created")
        #expect(response.header("x-thing") == "yes")
        #expect(response.body == Array("hello".utf8))
        let request = try #require(seen.current)
        #expect(request.method == "POST" && request.target == "/p?q=1")
        #expect(request.header("Host") == "127.0.0.1:\(server.port)")
        #expect(request.header("User-Agent") == "mcpd" && request.header("Connection") == "close")
        #expect(request.header("Content-Length") == "2" && request.bodyText == "{}")
        #expect(request.header("X-Evil") == "a Injected: 1" && request.header("Injected") == nil)
    }

    @Test func fetchDecodesAChunkedBodyWrittenInPieces() throws {
        let server = TestServer { peer in
            _ = peer.readRequest()
            peer.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for piece in ["5;ext=1\r\nhel", "lo\r\n", "e", "\r\n world, chunk", "s\r\n", "0\r\nTrailer: x\r\n", "\r\n"] {
                peer.send(piece)
                sleepMs(5)
            }
            sleepMs(300)
        }
        let started = Clock.monotonicMillis()
        let response = try HTTPClient.fetch(HTTPClientRequest(url: server.url))
        #expect(String(decoding: response.body, as: UTF8.self) == "hello world, chunks")
        #expect(Clock.monotonicMillis() - started < 250)
    }

    @Test func fetchReadsACloseDelimitedBodyAndEnforcesMaxBody() throws {
        let server = TestServer { peer in
            _ = peer.readRequest()
            peer.send("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil ")
            sleepMs(10)
            peer.send("the end")
        }
        #expect(try HTTPClient.fetch(HTTPClientRequest(url: server.url)).body == Array("until the end".utf8))
        #expect(throws: HTTPClientError.tooLarge) { try HTTPClient.fetch(HTTPClientRequest(url: server.url), maxBody: 5) }
    }

    @Test func aTruncatedBodyIsAnError() {
        let server = TestServer { peer in
            _ = peer.readRequest()
            peer.send("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")
        }
        #expect(throws: HTTPClientError.malformedResponse("the connection closed before the end of the body")) {
            try HTTPClient.fetch(HTTPClientRequest(url: server.url))
        }
    }

    @Test func openStreamsTheBodyAsItArrives() throws {
        let release = Locked(false)
        let server = TestServer { peer in
            _ = peer.readRequest()
            peer.send("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
            peer.send("8\r\ndata: 1\n\r\n")
            while !release.current { sleepMs(5) }
            peer.send("8\r\n\ndata: 2\r\n0\r\n\r\n")
        }
        let stream = try HTTPClient.open(HTTPClientRequest(url: server.url), interrupt: { false })
        #expect(stream.status == 200 && stream.header("content-type") == "text/event-stream")
        #expect(try stream.readChunk() == Array("data: 1\n".utf8))  // arrives before the server goes on
        release.withLock { $0 = true }
        #expect(try stream.readChunk() == Array("\ndata: 2".utf8))
        #expect(try stream.readChunk() == nil)
    }

    @Test func aRefusedConnectionNamesTheAddress() {
        let port = closedPort()
        #expect(throws: HTTPClientError.connectionFailed("connect to 127.0.0.1:\(port): Connection refused")) {
            try HTTPClient.fetch(HTTPClientRequest(url: "http://127.0.0.1:\(port)/"))
        }
    }

    @Test func badURLsAndSchemesAreRefused() {
        #expect(throws: HTTPClientError.invalidURL("nope")) { try HTTPClient.fetch(HTTPClientRequest(url: "nope")) }
        #expect(throws: HTTPClientError.unsupportedScheme("ws")) { try HTTPClient.fetch(HTTPClientRequest(url: "ws://h/")) }
    }

    @Test func aSilentServerTimesOut() {
        let server = TestServer { peer in
            _ = peer.readRequest()
            sleepMs(1000)
        }
        let started = Clock.monotonicMillis()
        #expect(throws: HTTPClientError.timedOut) { try HTTPClient.fetch(HTTPClientRequest(url: server.url, timeoutMs: 150)) }
        #expect(Clock.monotonicMillis() - started < 600)
    }

    @Test func interruptStopsAWaitWithinASlice() {
        let server = TestServer { peer in
            _ = peer.readRequest()
            sleepMs(1000)
        }
        let started = Clock.monotonicMillis()
        #expect(throws: HTTPClientError.interrupted) {
            try HTTPClient.fetch(HTTPClientRequest(url: server.url), interrupt: { Clock.monotonicMillis() - started > 100 })
        }
        #expect(Clock.monotonicMillis() - started < 500)
    }

    @Test func httpsToAPlainServerFailsCleanly() {
        // Exercises the TLS path without the network: the handshake meets plain HTTP.
        let server = TestServer { peer in
            peer.respond(status: 400, body: "not TLS")
            sleepMs(100)
        }
        do {
            _ = try HTTPClient.fetch(HTTPClientRequest(url: "https://127.0.0.1:\(server.port)/", timeoutMs: 2000))
            Issue.record("expected a failure")
        } catch {
            switch error {
            case .connectionFailed(let why): #expect(why.contains("TLS"), "\(why)")
            case .unsupportedScheme(let why): #expect(why == "https needs libssl.so.3")
            default: Issue.record("unexpected \(error)")
            }
        }
    }
}
