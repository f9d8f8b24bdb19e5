// The pure parts of the OAuth resource server: bearer header parsing, RFC 7662 answers, the
// well-known URLs, challenges, the resource server's own checks, and the loop inbox that brings
// background answers back to the event loop.
@testable import OAuth
import EventLoop
import JSON
import SystemCalls
import Testing
import Dispatch

@Suite("OAuth resource server")
struct OAuthTests {
    private func settings(resource: String = "https://mcp.example.com/mcp", scopes: [String] = ["mcp:tools"]) -> OAuthSettings {
        OAuthSettings(issuer: "https://auth.example.com", resource: resource, introspectionURL: nil,
                      clientId: "rs", clientSecret: "secret", requiredScopes: scopes)
    }

    @Test func parsesBearerTokensStrictly() {
        #expect(BearerToken.parse(nil) == .missing)
        #expect(BearerToken.parse("Bearer abc.DEF-_~+/==") == .token("abc.DEF-_~+/=="))
        #expect(BearerToken.parse("bearer   tok  ") == .token("tok"))
        for bad in ["Basic abc", "Bearer", "Bearer ", "Bearer a b", "Bearer a=b", "Bearer =abc", "Bearer tok\u{7f}", "Bearertok"] {
            #expect(BearerToken.parse(bad) == .malformed, "\(bad)")
        }
    }

    @Test func readsIntrospectionAnswers() throws {
        func answer(_ text: String) throws -> IntrospectionAnswer {
            TokenIntrospector.interpret(try #require(try JSONValue.parse(text).objectValue))
        }
        #expect(try answer(#"{"active":false}"#) == .inactive)
        guard case .failed = try answer(#"{"scope":"a"}"#) else { Issue.record("no 'active' must fail"); return }
        guard case .active(let claims) = try answer(#"{"active":true,"scope":"a b","aud":"x","exp":1700000000,"sub":"u","iss":"i"}"#) else {
            Issue.record("not active"); return
        }
        #expect(claims.scopes == ["a", "b"] && claims.audiences == ["x"] && claims.expiresAt == 1_700_000_000 && claims.subject == "u")
        guard case .active(let many) = try answer(#"{"active":true,"aud":["x","y"]}"#) else { Issue.record("not active"); return }
        #expect(many.audiences == ["x", "y"])
    }

    @Test func insertsTheWellKnownPrefixBetweenHostAndPath() {
        #expect(settings().resourceMetadataURL == "https://mcp.example.com/.well-known/oauth-protected-resource/mcp")
        #expect(settings(resource: "https://mcp.example.com/").resourceMetadataURL == "https://mcp.example.com/.well-known/oauth-protected-resource")
        #expect(settings().authorizationServerMetadataURL == "https://auth.example.com/.well-known/oauth-authorization-server")
        let metadata = ProtectedResourceMetadata(settings: settings())
        #expect(metadata.serves("/.well-known/oauth-protected-resource") && metadata.serves("/.well-known/oauth-protected-resource/mcp"))
        #expect(!metadata.serves("/.well-known/oauth-protected-resource/other"))
    }

    @Test func challengesCarryMetadataScopeAndError() {
        let none = BearerChallenge.authenticationRequired(settings())
        #expect(none == #"Bearer scope="mcp:tools", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp""#)
        #expect(BearerChallenge.insufficientScope(settings()).hasPrefix(#"Bearer error="insufficient_scope", "#))
    }

    @Test func checksExpiryIssuerAudienceThenScope() throws {
        let loop = try EventLoop()
        let verifier = try TokenVerifier(settings: settings(), loop: loop)
        let future = Clock.wallMillis() / 1000 + 3600
        var claims = TokenClaims(scopes: ["mcp:tools"], audiences: ["https://mcp.example.com/mcp/"], expiresAt: future,
                                 issuer: "https://auth.example.com/", subject: "alice\n<script>")
        #expect(verifier.verdict(.active(claims)) == .accepted(OAuthIdentity(name: "oauth:alicescript", scopes: ["mcp:tools"])))
        claims.scopes = ["other"]
        #expect(verifier.verdict(.active(claims)) == .insufficientScope)
        claims.audiences = ["https://elsewhere.example/mcp"]
        guard case .invalid = verifier.verdict(.active(claims)) else { Issue.record("wrong audience accepted"); return }
        claims.audiences = []
        guard case .invalid = verifier.verdict(.active(claims)) else { Issue.record("no audience accepted"); return }
        claims.audiences = ["https://mcp.example.com/mcp"]
        claims.scopes = ["mcp:tools"]
        claims.issuer = "https://impostor.example"
        guard case .invalid = verifier.verdict(.active(claims)) else { Issue.record("foreign issuer accepted"); return }
        claims.issuer = nil
        claims.expiresAt = 1
        guard case .invalid = verifier.verdict(.active(claims)) else { Issue.record("expired token accepted"); return }
    }

    @Test func formEncodesEveryReservedByte() {
        #expect(FormEncoding.encode("a b+c/d:e&f=é") == "a%20b%2Bc%2Fd%3Ae%26f%3D%C3%A9")
    }

    @Test func inboxDeliversPostsFromOtherThreadsOnTheLoopInOrder() throws {
        let loop = try EventLoop()
        var received: [Int] = []
        let inbox = try LoopInbox<Int>(loop: loop) { received.append($0) }
        let sender = inbox.sender
        DispatchQueue.global().async { for value in 0..<1000 { sender.post(value) } }
        let deadline = Clock.monotonicMillis() + 10_000
        while received.count < 1000 && Clock.monotonicMillis() < deadline { loop.runOnce(maxWaitMs: 100) }
        #expect(received == Array(0..<1000))
    }
}
