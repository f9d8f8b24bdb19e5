"""Rate limits held in the shared call table, through the real mcpd.

- Every response carries X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset (seconds
  until the bucket is full again); probes (/healthz, /readyz, /health) show the client's standing
  without using it up and are never refused.
- Over the limit: 429 with Retry-After, in the error shape of the surface the request went to:
  execute API (seed 000) RATE_LIMITED, composer envelope (seed 001) RATE_LIMITED, registry /v1
  (seed 002) rate_limited, MCP JSON-RPC error -32029 with data.retry_after.
- Authenticated requests count per credential (default 1000/min), the others per client address
  (default 100/min); "rateLimits" in --config overrides per tenant and per tool; a tool's limit is
  checked when a call of it starts, on every surface that starts calls.
- Two supervisors sharing one table (--call-table) hold the limit together within 5 %; buckets kept
  in systemd's fd store (emulated here: a notify socket that receives the table with SCM_RIGHTS, and
  LISTEN_FDS/LISTEN_FDNAMES=callTable on the next start) survive a restart.
"""

from __future__ import annotations

import json
import socket
import time

from conftest import ALPHA, BETA, json_body, run_mcpctl
from mcp_http import stateless_body, stateless_headers, stateless_post
from toolhost import PYTHON, FIXTURES, composer, composer_call, v1, write_json

HOSTILE = str(FIXTURES / "hostile_stdio_server.py")
RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


def rate(resp) -> tuple[int, int, int]:
    """(limit, remaining, reset) from a response, each checked to be a non-negative integer."""
    values = []
    for name in RATE_HEADERS:
        value = resp.header(name)
        assert value is not None and value.isdigit(), f"{name} missing or not a number: {resp!r}"
        values.append(int(value))
    return tuple(values)


def retry_after(resp) -> int:
    value = resp.header("retry-after")
    assert value is not None and value.isdigit() and int(value) >= 1, f"Retry-After: {resp!r}"
    return int(value)


def mcp_initialize(m, token=ALPHA):
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                       "clientInfo": {"name": "rate-limit-tests", "version": "1"}}}
    return m.request("POST", "/mcp", token=token, body=json_body(body),
                     headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream"})


def exhaust(send, limit: int):
    """Sends until the limit is used up; every answer before the refusal is allowed."""
    for i in range(limit):
        r = send()
        assert r.status != 429, f"request {i + 1} of {limit} refused: {r!r}"
        assert rate(r)[1] == limit - i - 1, r
    r = send()
    assert r.status == 429, f"request {limit + 1} over a limit of {limit} was allowed: {r!r}"
    return r


# --- headers -----------------------------------------------------------------------------------

def test_every_surface_answers_with_the_rate_limit_headers(mcpd):
    answers = [
        mcpd.get("/mcp/manifest"),
        mcpd.execute("echo", {"message": "hi"}),
        mcp_initialize(mcpd),
        composer(mcpd, "list_tools"),
        v1(mcpd, "GET", "/mcps"),
        mcpd.get("/no/such/path"),
    ]
    remaining = []
    for r in answers:
        assert r.status < 429, r
        limit, left, reset = rate(r)
        assert limit == 1000 and 0 < reset <= 60, r
        remaining.append(left)
    # One bucket for the credential, whichever surface it calls.
    assert remaining == list(range(999, 999 - len(answers), -1)), remaining
    # Unauthenticated: the address's bucket, 100 a minute; an error answer carries them too.
    r = mcpd.get("/mcp/manifest", token=None)
    assert r.status == 401 and rate(r)[:2] == (100, 99), r
    # The buckets are in the call table, where mcpctl sees them: the credential's and the address's.
    rc, out, err = run_mcpctl(["status", "--json"], mcpd.runtime_dir)
    assert rc == 0, err
    assert json.loads(out)["rate_buckets"] == {"active": 2, "total": 16384}, out


def test_probes_are_not_limited_and_take_nothing(mcpd_factory):
    m = mcpd_factory("--rate-limit-per-ip", "2")
    exhaust(lambda: m.get("/mcp/manifest", token=None), 2)
    for path in ("/healthz", "/readyz", "/health"):
        for _ in range(3):
            r = m.get(path, token=None)
            assert r.status == 200, r
            assert rate(r)[:2] == (2, 0), r


# --- 429 in each surface's shape -------------------------------------------------------------

def test_over_the_limit_each_surface_answers_429_in_its_own_shape(mcpd_factory):
    tokens = ("t-execute", "t-mcp", "t-composer", "t-registry")
    m = mcpd_factory("--rate-limit-per-key", "3", tokens=tokens)

    r = exhaust(lambda: m.get("/mcp/manifest", token="t-execute"), 3)
    assert r.json()["error"]["code"] == "RATE_LIMITED" and "rate limit" in r.json()["error"]["message"], r
    assert rate(r)[:2] == (3, 0) and retry_after(r) <= 20, r

    r = exhaust(lambda: mcp_initialize(m, token="t-mcp"), 3)
    body = r.json()
    assert body["jsonrpc"] == "2.0" and body["error"]["code"] == -32029, body
    assert body["error"]["data"]["retry_after"] == retry_after(r) and body["error"]["data"]["limit"] == 3, body

    r = exhaust(lambda: composer(m, "list_tools", token="t-composer"), 3)
    body = r.json()
    assert body["success"] is False and body["data"] is None and body["error"]["code"] == "RATE_LIMITED", body
    assert body["error"]["details"]["retry_after"] == retry_after(r) and "timestamp" in body, body

    r = exhaust(lambda: v1(m, "GET", "/mcps", token="t-registry"), 3)
    body = r.json()
    assert body == {"success": False, "error": {"code": "rate_limited", "message": body["error"]["message"]}}, body
    retry_after(r)

    # Each credential was refused alone: the others' buckets are untouched.
    assert rate(m.get("/mcp/manifest", token="t-mcp"))[:2] == (3, 0)
    assert m.get("/readyz", token=None).status == 200


# --- who counts against what -----------------------------------------------------------------

def test_unauthenticated_requests_count_per_address_and_credentials_per_key(mcpd_factory):
    m = mcpd_factory("--rate-limit-per-ip", "3", "--rate-limit-per-key", "5")
    exhaust(lambda: m.get("/mcp/manifest", token=None), 3)
    # A token the server does not know is no credential: it counts against the address, refused.
    r = m.get("/mcp/manifest", token="not-a-token")
    assert r.status == 429 and r.json()["error"]["code"] == "RATE_LIMITED", r
    # Each credential has its own bucket, untouched by the address's.
    assert rate(m.get("/mcp/manifest", token=ALPHA))[:2] == (5, 4)
    exhaust(lambda: m.get("/mcp/manifest", token=BETA), 5)
    assert rate(m.get("/mcp/manifest", token=ALPHA))[:2] == (5, 3)
    # Seed 001's X-API-Key is the same credential as its bearer token.
    r = m.request("POST", "/mcp/tools/list_tools", token=None, headers={"X-API-Key": ALPHA}, body=b"{}")
    assert r.status == 200 and rate(r)[:2] == (5, 2), r


def test_zero_turns_the_limits_off(mcpd_factory):
    m = mcpd_factory("--rate-limit-per-ip", "0", "--rate-limit-per-key", "0")
    for _ in range(3):
        r = m.get("/mcp/manifest")
        assert r.status == 200 and r.header("x-ratelimit-limit") is None, r


def test_a_tenants_limit_replaces_the_per_key_default(mcpd_factory, tmp_path):
    # Every credential belongs to the default tenant until tokens name another.
    config = write_json(tmp_path / "c.json", {"rateLimits": {"perKey": 50, "tenants": {"default": 4}}})
    m = mcpd_factory("--config", config)
    exhaust(lambda: m.get("/mcp/manifest"), 4)
    assert rate(m.get("/mcp/manifest", token=BETA))[:2] == (4, 3)


def test_a_bad_rate_limits_section_stops_mcpd_with_its_name(mcpd_factory, tmp_path):
    config = write_json(tmp_path / "c.json", {"rateLimits": {"perKey": -3}})
    m = mcpd_factory("--config", config, wait=False)
    m.expect_exit = 1
    assert m.proc.wait(15) == 1
    assert "rateLimits.perKey must be a whole number" in m.stderr_text(), m.diag()
    m.stop(send=False)


def test_a_tools_limit_applies_when_its_calls_start_on_every_surface(mcpd_factory, tmp_path):
    config = write_json(tmp_path / "c.json", {
        "mcpServers": {"hs": {"command": PYTHON, "args": [HOSTILE], "env": {"HOSTILE_STATE_DIR": str(tmp_path / "st")},
                                     "sandbox": "process"}},
        "rateLimits": {"tools": {"echo": 2, "hs__ok": 2}}})
    tokens = ("t-execute", "t-mcp", "t-composer", "t-registry")
    m = mcpd_factory("--config", config, tokens=tokens)

    def execute():
        return m.execute("echo", {"message": "x"}, token="t-execute")
    assert execute().status == 200 and execute().status == 200
    r = execute()
    assert r.status == 429 and r.json()["error"]["code"] == "RATE_LIMITED", r
    assert rate(r)[:2] == (2, 0) and retry_after(r) >= 20, r
    # Another tool, and the request limit, are not the tool's.
    r = m.execute("countdown", {"seconds": 1}, token="t-execute")
    assert r.status == 200 and rate(r)[0] == 1000, r

    def mcp_call():
        body = stateless_body("tools/call", {"name": "echo", "arguments": {"message": "x"}})
        return stateless_post(m, body, headers=stateless_headers(body, accept="application/json"), token="t-mcp")
    for _ in range(2):
        r = mcp_call()
        assert r.status == 200 and "error" not in r.json(), r
    r = mcp_call()
    assert r.status == 429 and r.json()["error"]["code"] == -32029, r
    retry_after(r)

    for _ in range(2):
        r = composer_call(m, "echo", {"message": "x"}, token="t-composer")
        assert r.status == 200, r
    r = composer_call(m, "echo", {"message": "x"}, token="t-composer")
    assert r.status == 429 and r.json()["error"]["code"] == "RATE_LIMITED", r

    def invoke():
        return v1(m, "POST", "/mcp/invoke", {"mcp_id": "hs", "tool": "ok", "arguments": {"message": "x"}}, token="t-registry")
    deadline = time.monotonic() + 20
    while (r := invoke()).status != 200:  # the stdio member starts in the background
        assert r.status != 429 and time.monotonic() < deadline, r
        time.sleep(0.2)
    assert invoke().status == 200
    r = invoke()
    assert r.status == 429 and r.json()["error"]["code"] == "rate_limited", r
    retry_after(r)


# --- shared across processes -----------------------------------------------------------------

def test_two_supervisors_on_one_table_hold_the_limit_together(mcpd_factory, tmp_path):
    # 240 a minute is 4 a second: over the few seconds of the test the refill is a real part of the
    # total, so the count checks the shared arithmetic, not only the burst.
    limit = 240
    shared = tmp_path / "shared.calltable"
    first = mcpd_factory("--call-table", shared, "--rate-limit-per-key", limit)
    second = mcpd_factory("--call-table", shared, "--rate-limit-per-key", limit)
    assert "attached to the shared call table" in second.stderr_text(), second.diag()
    allowed = {first.pid: 0, second.pid: 0}
    refused = 0
    conns = [(first.pid, first.conn()), (second.pid, second.conn())]
    i = 0
    started = time.monotonic()
    try:
        while (elapsed := time.monotonic() - started) < 6.0:
            pid, conn = conns[i % 2]
            i += 1
            r = conn.request("GET", "/mcp/manifest", token=ALPHA)
            assert r.status in (200, 429), r
            if r.status == 200:
                allowed[pid] += 1
            else:
                refused += 1
            time.sleep(0.004)
    finally:
        for _, conn in conns:
            conn.close()
    # A full bucket, plus what refilled (limit per minute) while the requests were made. Two
    # supervisors each with a table of its own would have allowed twice the burst.
    expected = limit + elapsed * limit / 60
    total = sum(allowed.values())
    print(f"two supervisors: {total} allowed, {refused} refused in {elapsed:.2f} s; expected {expected:.1f}; "
          f"per process {list(allowed.values())}")
    assert refused > limit / 2, (refused, allowed)
    assert abs(total - expected) <= 0.05 * expected, (total, expected, allowed)
    assert all(n > limit / 4 for n in allowed.values()), allowed
    # The creator keeps the header; after it stops the other still serves from the same table.
    assert first.stop() == 0
    assert second.get("/mcp/manifest").status in (200, 429)


class FdStore:
    """Systemd's side of the notify protocol, enough for the fd store: datagrams, some carrying a
    descriptor (SCM_RIGHTS) to keep under FDNAME."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.stored: dict[str, int] = {}

    def wait_stored(self, name: str, timeout: float = 15.0) -> int:
        deadline = time.monotonic() + timeout
        while name not in self.stored:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"nothing stored under {name} within {timeout} s"
            self.sock.settimeout(remaining)
            data, fds, _, _ = socket.recv_fds(self.sock, 65536, 8)
            fields = dict(line.split("=", 1) for line in data.decode().split("\n") if "=" in line)
            if fields.get("FDSTOREREMOVE") == "1":
                old = self.stored.pop(fields.get("FDNAME", ""), None)
                if old is not None:
                    socket.close(old)
            if fields.get("FDSTORE") == "1" and fds:
                self.stored[fields.get("FDNAME", "stored")] = fds[0]
                fds = fds[1:]
            for fd in fds:
                socket.close(fd)
        return self.stored[name]

    def close(self):
        for fd in self.stored.values():
            socket.close(fd)
        self.sock.close()


def test_buckets_survive_a_restart_through_the_fd_store(mcpd_factory, tmp_path):
    store = FdStore(tmp_path / "notify.sock")
    env = {"NOTIFY_SOCKET": str(store.path)}
    try:
        m = mcpd_factory("--rate-limit-per-key", "10", env=env)
        kept = store.wait_stored("callTable")
        for _ in range(6):
            assert m.get("/mcp/manifest").status == 200
        assert m.stop() == 0
        store.stored.pop("callTable")

        # Started the way systemd starts a service with a stored fd: LISTEN_FDS with its name.
        wrapper = ["bash", "-c", 'exec 3<&0 0</dev/null; export LISTEN_FDS=1 LISTEN_PID=$$ LISTEN_FDNAMES=callTable; '
                   'exec "$@"', "bash"]
        restarted = mcpd_factory("--rate-limit-per-key", "10", env=env, wrapper=wrapper, stdin=kept)
        socket.close(kept)
        r = restarted.get("/mcp/manifest")
        assert rate(r)[:2] == (10, 3), f"the restarted supervisor forgot the buckets: {r!r}"
        assert "kept the rate buckets" in restarted.stderr_text(), restarted.diag()
        # It stores its own table in turn, for the restart after.
        store.wait_stored("callTable")
        assert restarted.stop() == 0

        # Without the stored table a new supervisor starts afresh: the fd store is what kept them.
        fresh = mcpd_factory("--rate-limit-per-key", "10")
        assert rate(fresh.get("/mcp/manifest"))[:2] == (10, 9)
    finally:
        store.close()
