"""Scale-out behind nginx (issue 6): two mcpd instances, each with its own --instance-id, behind
nginx running deploy/nginx/mcpd.conf as shipped (only its loopback ports changed). MCP clients go
through nginx unchanged: handshake-era sessions stick to the instance that holds them (by the
instance id at the start of the session id), stateless 2026-07-28 traffic is spread over both.

A session id sent to the other instance is 404 there (checked directly), so a client whose
requests were not kept on one instance would fail: the SDK sessions below succeeding over many
requests is the proof of affinity, and seeing both instances' prefixes the proof of balancing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import free_port, wait_until
from mcp_http import (LegacyClient, TenantClient, initialize_body, json_body, request_body, send,
                      stateless_body, stateless_post)
from toolhost import sdk, sdk_text

REPO = Path(__file__).resolve().parents[2]
DEPLOY_CONF = REPO / "deploy" / "nginx" / "mcpd.conf"


def find_nginx() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


@dataclass
class Front:
    """nginx's address, in the shape the test helpers take (they need `.port` and `.conn`)."""
    port: int

    def conn(self, timeout: float = 10.0):
        from conftest import HttpConnection
        return HttpConnection("127.0.0.1", self.port, timeout=timeout)


@pytest.fixture
def cluster(mcpd_factory, tmp_path):
    nginx = find_nginx()
    if nginx is None:
        pytest.fail("nginx not found (make deps installs it)")
    a = mcpd_factory("--instance-id", "a")
    b = mcpd_factory("--instance-id", "b")
    front_port = free_port()
    conf = DEPLOY_CONF.read_text()
    for old, new in (("127.0.0.1:8000", f"127.0.0.1:{front_port}"), ("127.0.0.1:8001", f"127.0.0.1:{a.port}"),
                     ("127.0.0.1:8002", f"127.0.0.1:{b.port}")):
        assert old in conf, f"{DEPLOY_CONF} no longer has {old}"
        conf = conf.replace(old, new)
    prefix = tmp_path / "nginx"
    (prefix / "temp").mkdir(parents=True)
    (prefix / "mcpd.conf").write_text(conf)
    (prefix / "nginx.conf").write_text(
        "pid nginx.pid;\nerror_log error.log warn;\ndaemon off;\nworker_processes 1;\n"
        "events { worker_connections 1024; }\n"
        "http {\n  access_log off;\n  client_body_temp_path temp/body;\n  proxy_temp_path temp/proxy;\n"
        "  fastcgi_temp_path temp/fastcgi;\n  uwsgi_temp_path temp/uwsgi;\n  scgi_temp_path temp/scgi;\n"
        "  include mcpd.conf;\n}\n")
    proc = subprocess.Popen([nginx, "-p", f"{prefix}/", "-c", "nginx.conf", "-e", "error.log"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    front = Front(front_port)
    try:
        wait_until(lambda: _answers(front) or proc.poll() is not None, timeout=10, message="nginx to listen")
        assert proc.poll() is None, f"nginx exited: {proc.stderr.read().decode()} {(prefix / 'error.log').read_text()}"
        yield front, a, b
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _answers(front: Front) -> bool:
    try:
        return send(front, "GET", "/healthz", token=None).status == 200
    except OSError:
        return False


def initialize(target, version="2025-11-25") -> str:
    r = send(target, "POST", "/mcp", [("Content-Type", "application/json"),
                                      ("Accept", "application/json, text/event-stream")],
             json_body(initialize_body(version)))
    assert r.status == 200, r
    sid = r.header("mcp-session-id")
    assert sid, r
    return sid


def post_in_session(target, sid: str, body: dict, version="2025-11-25"):
    return send(target, "POST", "/mcp", [("Content-Type", "application/json"),
                                         ("Accept", "application/json, text/event-stream"),
                                         ("Mcp-Session-Id", sid), ("MCP-Protocol-Version", version)],
                json_body(body))


def test_session_ids_carry_the_instance_and_only_their_instance_knows_them(cluster):
    _, a, b = cluster
    sid = initialize(a)
    assert re.fullmatch(r"a\.[0-9a-f]+", sid), sid
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    assert post_in_session(a, sid, ping).status == 200
    assert post_in_session(b, sid, ping).status == 404, "instance b answered a session of instance a"


def test_sdk_sessions_stick_to_their_instance_through_nginx(cluster):
    front, _, _ = cluster
    seen: list[str] = []

    async def scenario(client):
        tools = {t.name for t in (await client.list_tools()).tools}
        assert "echo" in tools, tools
        texts = []
        for n in range(4):
            texts.append(sdk_text(await client.call_tool("echo", {"message": f"call {n}"})))
        return texts

    for _ in range(6):
        assert sdk(front, scenario) == [f"call {n}" for n in range(4)]
    # The prefixes the two instances hand out, seen by initializing through nginx (round robin).
    for _ in range(4):
        seen.append(initialize(front).split(".", 1)[0])
    assert set(seen) == {"a", "b"}, f"nginx did not balance new sessions over both instances: {seen}"


def test_raw_session_requests_through_nginx_reach_the_holder(cluster):
    front, _, _ = cluster
    for _ in range(4):
        sid = initialize(front)
        for n in range(6):
            r = post_in_session(front, sid, {"jsonrpc": "2.0", "id": n, "method": "tools/call",
                                             "params": {"name": "echo", "arguments": {"message": sid}}})
            assert r.status == 200, f"request {n} of session {sid} went astray: {r!r}"
            assert sid in r.body.decode(), r


def test_legacy_sse_session_through_nginx(cluster):
    front, _, _ = cluster
    for _ in range(3):
        client = LegacyClient(front, timeout=10)
        try:
            assert re.fullmatch(r"[ab]\.[0-9a-f]+", client.session_id), client.endpoint
            client.initialize("2024-11-05")
            for n in range(4):
                echo = client.request("tools/call", {"name": "echo", "arguments": {"message": f"sse {n}"}},
                                      timeout=10)
                assert echo["result"]["content"] == [{"type": "text", "text": f"sse {n}"}], echo
        finally:
            client.close()


def test_stateless_calls_need_no_affinity_and_use_both_instances(cluster):
    front, a, b = cluster
    before = {m: _echo_calls(m) for m in (a, b)}
    for n in range(20):
        body = stateless_body("tools/call", {"name": "echo", "arguments": {"message": f"s{n}"}}, request_id=n)
        r = stateless_post(front, body)
        assert r.status == 200 and f"s{n}" in r.body.decode(), r
    wait_until(lambda: sum(_echo_calls(m) - before[m] for m in (a, b)) >= 20, timeout=10,
               message="both instances to count the calls")
    assert all(_echo_calls(m) > before[m] for m in (a, b)), \
        f"stateless calls all went to one instance: {[(_echo_calls(m) - before[m]) for m in (a, b)]}"


def _echo_calls(m) -> int:
    """Calls this instance has finished, from its call table."""
    return m.ctl_status()["counters"]["calls_finished"]


def test_tenant_endpoint_sessions_stick_by_path_and_by_header(cluster):
    """Seed 003's tenant endpoint names the session in the path or in the header: both reach the
    instance that holds it (a session unknown to the instance reached would be 404)."""
    front, _, _ = cluster
    for _ in range(3):
        c = TenantClient(front, str(uuid.uuid4()))
        assert re.fullmatch(r"[ab]\.[0-9a-f]+", c.session_id), c.session_id
        for n in range(4):
            by_path = c.post(request_body("ping"), session=None, path=f"{c.path}/{c.session_id}")
            assert by_path.status == 202, f"ping {n} by path went astray: {by_path!r}"
            by_header = c.post(request_body("ping"))
            assert by_header.status == 202, f"ping {n} by header went astray: {by_header!r}"
