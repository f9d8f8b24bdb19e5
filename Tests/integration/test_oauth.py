"""mcpd as an OAuth 2.1 resource server (issue 5; the MCP specification's authorization section,
RFC 9728, RFC 6750, RFC 7662, RFC 8707), against a small authorization server of our own
(fixtures/oauth_server.py: RFC 8414 metadata, RFC 7662 introspection with client authentication,
a token table the tests fill).

What is proven, with the real mcpd over HTTP:
- protected resource metadata at /.well-known/oauth-protected-resource and its path-inserted
  form /.well-known/oauth-protected-resource/mcp, without authentication;
- 401 with `WWW-Authenticate: Bearer resource_metadata="…", scope="…"` (no error code when no token
  was sent, error="invalid_token" for a bad one), 400 invalid_request for a malformed header;
- a valid token works through MCP (raw HTTP and the official SDK); static tokens keep working;
- wrong audience, wrong issuer, inactive, expired → 401; missing scope → 403 insufficient_scope;
- introspection is authenticated as mcpd's client, cached (one exchange for repeated use, and one
  shared by concurrent requests), never past `exp`, and a revoked token fails once the cache
  lapses;
- introspection server down → 503 with Retry-After (not 401: the token is not at fault);
- a slow introspection does not stall another client's request (it runs off the event loop);
- seed 003's -32000 carries the authorization server's endpoints in data.oauth;
- the token never reaches an upstream (curl tool, remote MCP member) nor mcpd's log.
"""

from __future__ import annotations

import subprocess
import threading
import time

import pytest

from conftest import ALPHA, DEFAULT_TOKENS, MCPD, Mcpd, free_port, json_body, wait_until
from mcp_http import StreamableClient, initialize_body, request_body, send
from toolhost import (assert_no_secret, composer, composer_ok, create_mcp, programs,  # noqa: F401
                      module_programs, sdk_tools, wait_tools)

CLIENT_ID = "mcpd-resource-server"
# Characters that client_secret_basic must form-encode before base64 (RFC 6749 §2.3.1).
CLIENT_SECRET = "s3cr3t:with/odd chars+&="
SCOPE = "mcp:tools"
UUID = "550e8400-e29b-41d4-a716-446655440000"
MEMBER_SECRET = "member-bearer-for-oauth-test"


class AuthServer:
    """The fixture authorization server and its token table."""

    def __init__(self, program):
        self.program = program

    @property
    def issuer(self) -> str:
        return self.program.base

    def add(self, token: str, *, resource: str, scope: str = SCOPE, sub: str = "alice", **claims) -> str:
        entry = {"active": True, "scope": scope, "aud": resource, "sub": sub, "iss": self.issuer,
                 "client_id": "some-mcp-client", "exp": int(time.time()) + 3600, **claims}
        self.program.post_json("/__tokens", {token: entry})
        return token

    def revoke(self, token: str) -> None:
        self.program.post_json("/__revoke", {"token": token})

    def introspections(self, token: str) -> int:
        return self.program.get_json("/__stats")["introspections"].get(token, 0)

    def stats(self) -> dict:
        return self.program.get_json("/__stats")


def oauth_args(auth: AuthServer, port: int, secret_file, cache: int = 60, scopes: str = SCOPE, extra=()):
    return ["--oauth-issuer", auth.issuer, "--oauth-resource", resource_of(port),
            "--oauth-client-id", CLIENT_ID, "--oauth-client-secret-file", str(secret_file),
            "--oauth-scopes", scopes, "--oauth-cache-seconds", str(cache), *extra]


def resource_of(port: int) -> str:
    return f"http://127.0.0.1:{port}/mcp"


@pytest.fixture(scope="module")
def auth(module_programs):
    return AuthServer(module_programs("oauth_server.py", "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET))


@pytest.fixture(scope="module")
def secret_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("oauth") / "client-secret"
    path.write_text(CLIENT_SECRET + "\n")
    return path


@pytest.fixture(scope="module")
def rs(auth, secret_file, tmp_path_factory):
    """One mcpd for the tests that need no special settings (cache 60 s, scope mcp:tools)."""
    port = free_port()
    m = Mcpd(tmp_path_factory.mktemp("mcpd-oauth"), oauth_args(auth, port, secret_file, extra=["--log-level", "debug"]),
             DEFAULT_TOKENS, None, port, None)
    m.wait_ready()
    m.resource = resource_of(port)
    yield m
    m.stop()


def mcp_post(m, token, body=None, path="/mcp", headers=()) -> "Response":  # noqa: F821
    """One MCP POST (an initialize unless told otherwise) with this bearer token (None: no header)."""
    body = body if body is not None else initialize_body("2025-11-25")
    hdrs = [("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream"), *headers]
    return send(m, "POST", path, hdrs, json_body(body), token=token, timeout=20.0)


def challenge_params(value: str) -> dict:
    """The auth-params of a `Bearer k="v", …` challenge."""
    assert value.startswith("Bearer "), value
    params = {}
    rest = value[len("Bearer "):]
    while rest:
        name, _, rest = rest.partition("=")
        assert rest.startswith('"'), value
        end = rest.index('"', 1)
        params[name.strip().lstrip(",").strip()] = rest[1:end]
        rest = rest[end + 1:].lstrip(", ")
    return params


def metadata_url(m) -> str:
    return f"http://127.0.0.1:{m.port}/.well-known/oauth-protected-resource/mcp"


# --- metadata and challenges ---------------------------------------------------------------------

def test_protected_resource_metadata_at_both_well_known_paths_without_credentials(rs, auth):
    for path in ("/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"):
        r = rs.get(path, token=None)
        assert r.status == 200, r
        doc = r.json()
        assert doc["resource"] == rs.resource, doc
        assert doc["authorization_servers"] == [auth.issuer], doc
        assert doc["scopes_supported"] == [SCOPE], doc
        assert doc["bearer_methods_supported"] == ["header"], doc
    assert rs.get("/.well-known/oauth-protected-resource/other", token=None).status == 404
    assert rs.request("POST", "/.well-known/oauth-protected-resource", token=None, body=b"{}").status == 405


def test_no_token_is_401_with_a_challenge_naming_the_metadata(rs):
    r = mcp_post(rs, None)
    assert r.status == 401, r
    params = challenge_params(r.header("www-authenticate"))
    assert params["resource_metadata"] == metadata_url(rs), params
    assert params["scope"] == SCOPE, params
    assert "error" not in params, params          # RFC 6750 §3.1: no error code without credentials
    assert r.json()["error"]["code"] == -32000, r
    # The challenge leads to the document.
    assert rs.get("/.well-known/oauth-protected-resource/mcp", token=None).json()["resource"] == rs.resource


def test_malformed_authorization_is_400_invalid_request(rs):
    r = mcp_post(rs, None, headers=[("Authorization", "Basic YWxpY2U6c2VjcmV0")])
    assert r.status == 400, r
    assert challenge_params(r.header("www-authenticate"))["error"] == "invalid_request", r


# --- tokens -------------------------------------------------------------------------------------

def test_valid_token_works_through_mcp_and_introspection_authenticates_as_our_client(rs, auth):
    token = auth.add("good-token-1", resource=rs.resource)
    client = StreamableClient(rs, token=token)
    result = client.result("tools/call", {"name": "echo", "arguments": {"message": "hi from oauth"}})
    assert result["content"][0]["text"] == "hi from oauth", result
    # An OAuth caller is a member: it calls tools, and the management tools an owner sees are not its.
    names = {t["name"] for t in client.result("tools/list")["tools"]}
    assert "echo" in names and "register_mcp_server" not in names, names
    assert "register_mcp_server" in {t["name"] for t in StreamableClient(rs, token=ALPHA).result("tools/list")["tools"]}
    requests = [q for q in auth.stats()["requests"] if "good-token-1" in q["body"]]
    assert requests, auth.stats()
    assert requests[0]["content_type"] == "application/x-www-form-urlencoded", requests[0]
    assert requests[0]["authorization"].startswith("Basic "), requests[0]
    assert auth.stats()["client_failures"] == 0


def test_valid_token_works_with_the_official_sdk(rs, auth):
    token = auth.add("sdk-token-1", resource=rs.resource)
    assert "echo" in sdk_tools(rs, token=token)


def test_static_tokens_still_work_beside_oauth(rs):
    assert mcp_post(rs, ALPHA).status == 200


def test_audience_must_name_this_resource(rs, auth):
    other = auth.add("wrong-aud-1", resource="http://127.0.0.1:1/mcp")
    r = mcp_post(rs, other)
    assert r.status == 401, r
    assert challenge_params(r.header("www-authenticate"))["error"] == "invalid_token", r
    no_audience = "no-aud-1"
    auth.program.post_json("/__tokens", {no_audience: {"active": True, "scope": SCOPE, "sub": "bob", "iss": auth.issuer}})
    assert mcp_post(rs, no_audience).status == 401
    # Among several audiences, ours is enough.
    several = auth.add("multi-aud-1", resource=None, aud=["http://elsewhere.example/api", rs.resource])
    assert mcp_post(rs, several).status == 200


def test_inactive_unknown_and_foreign_issuer_tokens_are_401(rs, auth):
    for token in ("never-issued-1", auth.add("other-iss-1", resource=rs.resource, iss="http://impostor.example")):
        r = mcp_post(rs, token)
        assert r.status == 401, (token, r)
        assert challenge_params(r.header("www-authenticate"))["error"] == "invalid_token"


def test_an_oversized_token_is_refused_without_asking(rs, auth):
    huge = "h" * 5000
    r = mcp_post(rs, huge)
    assert r.status == 401, r
    assert auth.introspections(huge) == 0


def test_missing_scope_is_403_insufficient_scope(rs, auth):
    token = auth.add("narrow-scope-1", resource=rs.resource, scope="profile mcp:read")
    r = mcp_post(rs, token)
    assert r.status == 403, r
    params = challenge_params(r.header("www-authenticate"))
    assert params["error"] == "insufficient_scope", params
    assert params["scope"] == SCOPE and params["resource_metadata"] == metadata_url(rs), params


def test_answers_are_cached_and_a_revoked_token_is_still_served_only_from_the_cache(rs, auth):
    token = auth.add("cached-token-1", resource=rs.resource)
    for _ in range(4):
        assert mcp_post(rs, token).status == 200
    assert auth.introspections(token) == 1
    auth.revoke(token)
    # Documented staleness: within --oauth-cache-seconds (60 here) the cached answer stands.
    assert mcp_post(rs, token).status == 200
    assert auth.introspections(token) == 1


def test_cache_never_outlives_the_tokens_expiry(rs, auth):
    token = auth.add("short-lived-1", resource=rs.resource, exp=int(time.time()) + 2)
    assert mcp_post(rs, token).status == 200
    time.sleep(3)
    # The authorization server (this fixture) would still say "active": mcpd checks exp itself.
    r = mcp_post(rs, token)
    assert r.status == 401, r
    assert "expired" in challenge_params(r.header("www-authenticate"))["error_description"]


def test_concurrent_requests_with_one_token_share_one_introspection(rs, auth):
    token = auth.add("shared-slow-1", resource=rs.resource, delay=1.5)
    statuses: list[int] = []

    def one():
        statuses.append(mcp_post(rs, token).status)

    threads = [threading.Thread(target=one) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert statuses == [200] * 5, statuses
    assert auth.introspections(token) == 1


def test_a_slow_introspection_does_not_stall_other_clients(rs, auth):
    # Held 3 s at the authorization server (mcpd waits up to 5 s for an introspection).
    slow = auth.add("slow-token-1", resource=rs.resource, delay=3)
    fast = auth.add("fast-token-1", resource=rs.resource)
    assert mcp_post(rs, fast).status == 200          # cached from here on
    done = threading.Event()
    result: list[int] = []

    def slow_request():
        result.append(mcp_post(rs, slow).status)
        done.set()

    thread = threading.Thread(target=slow_request)
    thread.start()
    wait_until(lambda: auth.introspections(slow) == 1, 10, message="the slow introspection to start")
    # While it is held at the authorization server, other clients are served.
    for token in (ALPHA, fast):
        assert mcp_post(rs, token).status == 200
        assert not done.is_set(), "the slow request finished first: nothing was proven"
    thread.join(30)
    assert result == [200]


def test_seed_003_401_names_the_authorization_servers_endpoints(rs, auth):
    def answered():
        r = mcp_post(rs, None, path=f"/mcp/{UUID}", body=initialize_body("2025-03-26"))
        oauth = r.json()["error"].get("data", {}).get("oauth", {})
        return r if "token_endpoint" in oauth else None

    r = wait_until(answered, 15, interval=0.2, message="mcpd to load the authorization server's metadata")
    assert r.status == 401
    error = r.json()["error"]
    assert error["code"] == -32000 and error["message"] == "Authentication required", error
    oauth = error["data"]["oauth"]
    assert oauth["authorization_endpoint"] == auth.issuer + "/authorize", oauth
    assert oauth["token_endpoint"] == auth.issuer + "/token", oauth
    assert oauth["registration_endpoint"] == auth.issuer + "/register", oauth
    assert challenge_params(r.header("www-authenticate"))["resource_metadata"] == metadata_url(rs)
    # And the tenant endpoint takes OAuth tokens too.
    token = auth.add("tenant-token-1", resource=rs.resource)
    assert mcp_post(rs, token, path=f"/mcp/{UUID}", body=initialize_body("2025-03-26")).status == 200


# --- tokens stay here ---------------------------------------------------------------------------

def test_the_token_reaches_no_upstream_and_no_log(rs, auth, module_programs):
    token = auth.add("never-forward-me-7f3a", resource=rs.resource)
    upstream = module_programs("upstream_http.py")
    member = module_programs("remote_member.py", "--bearer", MEMBER_SECRET)
    composer_ok(composer(rs, "add_tools", {"tools": [
        {"name": "oauth_echo_up", "tool_type": "curl", "curl_config": {"value": f"curl '{upstream.base}/echo/x?q={{{{q}}}}'"}}]}))
    mcp_id = create_mcp(rs, "Forward check", member.url("/mcp"), auth_type="bearer", auth_token=MEMBER_SECRET)["id"]
    wait_tools(rs, [f"{mcp_id}__whoami"])

    client = StreamableClient(rs, token=token)
    client.result("tools/call", {"name": "oauth_echo_up", "arguments": {"q": "1"}})
    client.result("tools/call", {"name": f"{mcp_id}__whoami", "arguments": {}})

    seen = upstream.get_json("/__log")
    assert seen and any(entry["path"].startswith("/echo/x") for entry in seen), seen
    assert_no_secret(seen, [token], "the curl tool's upstream request")
    assert all("authorization" not in entry["headers"] for entry in seen), seen
    stats = member.get_json("/__stats")
    assert stats["last_authorization"] == f"Bearer {MEMBER_SECRET}", stats
    assert stats["tool_calls"].get("whoami") == 1, stats
    assert_no_secret(rs.stderr_text(), [token, CLIENT_SECRET], "mcpd's log (at debug level)")


# --- settings that need their own mcpd ------------------------------------------------------------

def test_revoked_token_is_refused_once_the_cache_lapses(mcpd_factory, auth, secret_file):
    port = free_port()
    m = mcpd_factory(*oauth_args(auth, port, secret_file, cache=1), port=port)
    token = auth.add("revoke-me-1", resource=resource_of(port))
    assert mcp_post(m, token).status == 200
    auth.revoke(token)
    time.sleep(1.5)
    r = mcp_post(m, token)
    assert r.status == 401, r
    assert challenge_params(r.header("www-authenticate"))["error"] == "invalid_token"


def test_introspection_server_down_is_503_and_cached_tokens_keep_working(mcpd_factory, programs, secret_file):
    server = AuthServer(programs("oauth_server.py", "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET))
    port = free_port()
    m = mcpd_factory(*oauth_args(server, port, secret_file), port=port)
    cached = server.add("cached-before-outage", resource=resource_of(port))
    assert mcp_post(m, cached).status == 200
    server.program.kill()
    r = mcp_post(m, "new-token-during-outage")
    assert r.status == 503, r
    assert r.header("retry-after") == "5", r
    assert r.json()["error"]["code"] == -32603, r
    assert mcp_post(m, cached).status == 200
    assert "token introspection failed" in m.stderr_text()


def test_wrong_client_credentials_are_503_not_401(mcpd_factory, auth, tmp_path):
    wrong = tmp_path / "wrong-secret"
    wrong.write_text("not-the-secret")
    port = free_port()
    m = mcpd_factory(*oauth_args(auth, port, wrong), port=port)
    token = auth.add("valid-but-unverifiable", resource=resource_of(port))
    r = mcp_post(m, token)
    assert r.status == 503, r
    assert "refused mcpd's client credentials" in m.stderr_text()
    assert_no_secret(m.stderr_text(), [token, "not-the-secret"], "mcpd's log")


def test_the_client_secret_comes_from_systemd_credentials_when_no_file_is_named(mcpd_factory, auth, tmp_path):
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "oauth-client-secret").write_text(CLIENT_SECRET + "\n")
    port = free_port()
    args = [a for a in oauth_args(auth, port, "unused") if a not in ("--oauth-client-secret-file", "unused")]
    m = mcpd_factory(*args, port=port, env={"CREDENTIALS_DIRECTORY": str(credentials)})
    token = auth.add("via-credentials-1", resource=resource_of(port))
    assert mcp_post(m, token).status == 200


def test_token_names_starting_with_oauth_are_reserved(tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text("oauth:alice some-long-token member\n")
    done = subprocess.run([str(MCPD), "--tokens-file", str(tokens)], capture_output=True, text=True, timeout=20)
    assert done.returncode == 2 and "reserved for OAuth callers" in done.stderr, done
    assert "some-long-token" not in done.stderr


@pytest.mark.parametrize("args, message", [
    (["--oauth-issuer", "http://127.0.0.1:9/"], "--oauth-resource"),
    (["--oauth-scopes", "a"], "need --oauth-issuer"),
    (["--oauth-issuer", "ftp://x", "--oauth-resource", "http://h/mcp"], "absolute http(s) URL"),
    (["--oauth-issuer", "http://as", "--oauth-resource", "http://h/mcp"], "--oauth-client-id"),
    (["--oauth-cache-seconds", "61", "--oauth-issuer", "http://as", "--oauth-resource", "http://h/mcp"], "at most 60"),
])
def test_bad_oauth_options_are_refused_at_start(args, message):
    done = subprocess.run([str(MCPD), *args], capture_output=True, text=True, timeout=20)
    assert done.returncode == 2, done
    assert message in done.stderr, done.stderr
