"""Request ids (issue 6): every response carries X-Request-Id — the client's own when it sent a
sane one, else one mcpd made — and the id travels with the calls the request starts, through the
worker protocol, into the worker's log lines."""

from __future__ import annotations

import json

from conftest import ALPHA, wait_until
from mcp_http import stateless_body, stateless_headers, send, json_body


def log_lines(m) -> list[dict]:
    out = []
    for line in m.stderr_text().splitlines():
        start = line.find("{")
        if start < 0:
            continue
        try:
            out.append(json.loads(line[start:]))
        except ValueError:
            continue
    return out


def test_every_response_carries_a_request_id(mcpd):
    ids = {mcpd.get("/mcp/manifest").header("x-request-id") for _ in range(3)}
    assert len(ids) == 3 and all(ids), ids
    assert mcpd.get("/healthz", token=None).header("x-request-id")
    assert mcpd.get("/no/such/route").header("x-request-id")      # errors too
    mine = mcpd.get("/mcp/manifest", headers=[("X-Request-Id", "trace-0042:a.b")])
    assert mine.header("x-request-id") == "trace-0042:a.b"
    for insane in ("has space", "x" * 65, "tab\there"):
        r = mcpd.get("/mcp/manifest", headers=[("X-Request-Id", insane)])
        assert r.status == 200 and r.header("x-request-id") not in (None, insane), r


def test_the_request_id_reaches_the_workers_log_lines(mcpd_factory):
    m = mcpd_factory("--log-level", "debug")
    r = m.request("POST", "/mcp/execute", body=json_body({"tool": "echo", "input": {"message": "traced"}}),
                  headers=[("Content-Type", "application/json"), ("X-Request-Id", "exec-trace-7")])
    assert r.status == 200 and r.header("x-request-id") == "exec-trace-7", r
    body = stateless_body("tools/call", {"name": "echo", "arguments": {"message": "traced too"}}, request_id=1)
    headers = stateless_headers(body) + [("X-Request-Id", "mcp-trace-8")]
    assert send(m, "POST", "/mcp", headers, json_body(body), token=ALPHA).status == 200

    def worker_lines(request_id):
        return [line for line in log_lines(m)
                if line.get("component") == "mcp-worker" and line.get("request_id") == request_id]
    for request_id in ("exec-trace-7", "mcp-trace-8"):
        lines = wait_until(lambda: worker_lines(request_id), timeout=10,
                           message=f"a worker log line with request_id {request_id}")
        assert {line["msg"] for line in lines} >= {"call started", "call ended"}, lines
        assert all(line["tool"] == "echo" for line in lines), lines
