// SHA-256 against FIPS 180-4's examples (and the NIST long message), the padding boundaries, and
// the constant-time comparison API keys are checked with.
import Access
import Testing

@Suite("SHA-256")
struct SHA256Tests {
    private func hex(_ text: String) -> String { SHA256.hexDigest(Array(text.utf8)) }

    @Test func oneBlockMessageFromFIPS180() {
        #expect(hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func twoBlockMessageFromFIPS180() {
        #expect(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test func emptyMessage() {
        #expect(hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func eightHundredNinetySixBitMessage() {
        #expect(hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu")
            == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
    }

    @Test func aMillionAs() {
        #expect(SHA256.hexDigest([UInt8](repeating: 0x61, count: 1_000_000))
            == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Lengths either side of where the padding needs a second block (55/56) and of block ends.
    @Test(arguments: [
        (55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"),
        (56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"),
        (63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"),
        (64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"),
        (65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"),
        (119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"),
        (120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"),
    ])
    func paddingBoundaries(length: Int, expected: String) {
        #expect(SHA256.hexDigest([UInt8](repeating: 0x61, count: length)) == expected)
    }

    @Test func digestIsThirtyTwoBytes() {
        #expect(SHA256.digest(Array("mcpd".utf8)).count == 32)
    }
}

@Suite("Constant-time comparison")
struct ConstantTimeEqualTests {
    @Test func equalBytesAreEqual() {
        #expect(constantTimeEqual(Array("secret-token".utf8), Array("secret-token".utf8)))
        #expect(constantTimeEqual([UInt8](), [UInt8]()))
    }

    @Test func anyDifferingByteIsUnequal() {
        let base = Array("secret-token".utf8)
        for index in base.indices {
            var changed = base
            changed[index] ^= 1
            #expect(!constantTimeEqual(base, changed), "byte \(index)")
        }
    }

    @Test func differentLengthsAreUnequal() {
        #expect(!constantTimeEqual(Array("abc".utf8), Array("abcd".utf8)))
        #expect(!constantTimeEqual(Array("abcd".utf8), Array("abc".utf8)))
        // A prefix padded with zeros must not pass for the shorter value.
        #expect(!constantTimeEqual([0x61, 0x62, 0x63], [0x61, 0x62, 0x63, 0x00]))
        #expect(!constantTimeEqual([UInt8](), [0x00]))
    }
}

@Suite("Keys and identities")
struct KeyringTests {
    @Test func aKeyMatchesByItsSecretAndStopsAtRevocation() {
        let keyring = Keyring()
        let (key, secret) = keyring.create(name: "ci", tenant: "t1", role: .member)
        #expect(secret.hasPrefix(Keyring.secretPrefix))
        #expect(key.digest == SHA256.digest(Array(secret.utf8)))
        #expect(keyring.match(secret: Array(secret.utf8))?.id == key.id)
        #expect(keyring.match(secret: Array((secret + "x").utf8)) == nil)
        let authenticator = Authenticator([], keyring: keyring)
        #expect(authenticator.authenticate(apiKey: secret) == .identity(Identity(name: key.id, tenant: "t1", role: .member, keyId: key.id)))
        keyring.revoke(id: key.id)
        #expect(authenticator.authenticate(apiKey: secret) == .unknown)
    }

    @Test func ownersCarryTheirTenant() {
        #expect(Identity(name: "alice", role: .owner).owner == "alice")
        #expect(Identity(name: "alice", tenant: "t1", role: .owner).owner == "t1/alice")
        #expect(Tenant.of(owner: "t1/alice") == "t1")
        #expect(Tenant.of(owner: "alice") == Tenant.defaultId)
        #expect(Tenant.isValid("6f1c2a4e-0d7b-4c1e-9a55-3b2f8e7d9c10") && Tenant.isValid("acme.b_2"))
        #expect(!Tenant.isValid("") && !Tenant.isValid("a/b") && !Tenant.isValid(String(repeating: "a", count: 65)))
    }
}
