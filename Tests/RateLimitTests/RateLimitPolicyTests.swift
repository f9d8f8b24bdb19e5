// The rate limit policy as the --config file's "rateLimits" object gives it, and which limit a
// client gets; the limiter over a real call table for the per-tool buckets.
import CallTable
import Glibc
import JSON
import Testing
import RateLimit

@Suite struct RateLimitPolicyTests {
    func parse(_ text: String) -> Result<RateLimitPolicy, RateLimitPolicyError> {
        RateLimitPolicy.parse(try! JSONValue.parse(Array(text.utf8)))
    }

    @Test func defaultsAreSeed001s() {
        let policy = RateLimitPolicy()
        #expect(policy.requestLimit(for: .credential("alice", tenant: "default")) == 1000)
        #expect(policy.requestLimit(for: .address("192.0.2.1")) == 100)
        #expect(policy.toolLimit("echo") == 0)
    }

    @Test func theConfigObjectSetsEveryLimit() throws {
        let policy = try parse(#"{"perKey": 50, "perIp": 5, "tenants": {"t1": 7}, "tools": {"echo": 3}}"#).get()
        #expect(policy.requestLimit(for: .credential("alice", tenant: "default")) == 50)
        #expect(policy.requestLimit(for: .credential("bob", tenant: "t1")) == 7)
        #expect(policy.requestLimit(for: .address("::1")) == 5)
        #expect(policy.toolLimit("echo") == 3)
        #expect(policy.toolLimit("countdown") == 0)
    }

    @Test func omittedFieldsKeepTheirDefaults() throws {
        let policy = try parse(#"{"tools": {"echo": 3}}"#).get()
        #expect(policy.perKey == 1000 && policy.perIp == 100)
    }

    @Test(arguments: [
        (#"[]"#, "rateLimits must be an object"),
        (#"{"perKey": -1}"#, "rateLimits.perKey must be"),
        (#"{"perIp": "many"}"#, "rateLimits.perIp must be"),
        (#"{"tenants": {"t1": 1.5}}"#, "rateLimits.tenants.t1 must be"),
        (#"{"tools": []}"#, "rateLimits.tools must be an object"),
        (#"{"perkey": 1}"#, "rateLimits.perkey is not a known field"),
    ])
    func badConfigurationIsNamed(_ text: String, _ expected: String) {
        guard case .failure(let error) = parse(text) else {
            Issue.record("accepted \(text)")
            return
        }
        #expect(error.message.hasPrefix(expected), "\(error.message)")
    }

    @Test func keysNameCredentialsAndAddressesApart() {
        #expect(RateClient.credential("10.0.0.1", tenant: nil).key != RateClient.address("10.0.0.1").key)
    }
}

@Suite struct RateLimiterTests {
    @Test func toolLimitsArePerClientAndApartFromRequestLimits() throws {
        var template = Array("/tmp/ratelimit-tests.XXXXXX".utf8CString)
        let directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        defer {
            unlink(directory + "/calltable")
            rmdir(directory)
        }
        let table = try CallTable.create(path: directory + "/calltable", callSlots: 4, workerSlots: 2, rateBuckets: 64)
        var policy = RateLimitPolicy()
        policy.tools = ["echo": 2]
        let limiter = RateLimiter(table: table, policy: policy)
        let alice = RateClient.credential("alice", tenant: "default").key
        #expect(limiter.admitToolCall("echo", clientKey: alice)?.allowed == true)
        #expect(limiter.admitToolCall("echo", clientKey: alice)?.remaining == 0)
        let refused = try #require(limiter.admitToolCall("echo", clientKey: alice))
        #expect(!refused.allowed && refused.retryAfterSeconds >= 1)
        #expect(refused.headers.contains { $0 == ("Retry-After", String(refused.retryAfterSeconds)) })
        #expect(limiter.admitToolCall("echo", clientKey: RateClient.credential("bob", tenant: "default").key)?.allowed == true)
        #expect(limiter.admitToolCall("countdown", clientKey: alice) == nil)
        // The request bucket is another bucket: the tool calls took nothing from it.
        #expect(limiter.admitRequest(.credential("alice", tenant: "default"))?.remaining == 999)
    }
}
