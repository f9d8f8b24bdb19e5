// The Authorization field's Bearer credential, as every surface reads it: the token found in place,
// the field refused when it is another scheme or carries no token.
import Access
import Testing

@Suite("Bearer credentials")
struct BearerCredentialTests {
    private func token(_ field: String) -> String? {
        var field = field
        return field.withUTF8 { bytes in
            BearerCredential.tokenRange(in: bytes).map { String(decoding: bytes[$0], as: UTF8.self) }
        }
    }

    @Test func theTokenIsFoundInAnyCaseOfTheSchemeAndTrimmed() {
        #expect(token("Bearer abc") == "abc")
        #expect(token("bEaReR abc") == "abc")
        #expect(token("Bearer   abc \t") == "abc")
        #expect(token("Bearer a b") == "a b", "what a token may hold is each caller's rule")
    }

    @Test(arguments: ["", "Bearer", "Bearer ", "Bearer \t ", "Bearertok", "Bearer\ttok", "Basic abc", "Bear abc"])
    func aFieldWithoutABearerTokenIsRefused(_ field: String) {
        #expect(token(field) == nil)
    }

    @Test func configuredTokensHoldNoSpace() {
        let authenticator = Authenticator([.init(token: "s3cret", name: "ops")])
        #expect(authenticator.authenticate(authorization: "bearer  s3cret ") == .identity(Identity(name: "ops", role: .owner)))
        #expect(authenticator.authenticate(authorization: "Bearer s3 cret") == .malformed)
        #expect(authenticator.authenticate(authorization: "Token s3cret") == .malformed)
        #expect(authenticator.authenticate(authorization: nil) == .missing)
        #expect(authenticator.authenticate(authorization: "Bearer other") == .unknown)
    }
}
