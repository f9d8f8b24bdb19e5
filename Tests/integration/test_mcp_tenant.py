"""Seed 003's asynchronous tenant endpoint: POST /mcp/{tenant-uuid}[/{session}] and
GET /mcp/{tenant-uuid}?session_id=…. initialize is answered directly; every other request is
answered 202 {"status":"queued"} and its response travels on the tenant stream: newline-delimited
JSON from 2025-03-26 on (opening with notifications/connection), SSE `event: message` at
2024-11-05. Sessions belong to their tenant and their bearer token.

Every MCP message mcpd sends is checked against the negotiated revision's schema (mcp_wire);
seed 003's own notifications (notifications/connection, notifications/ping) are checked field by
field instead."""

from __future__ import annotations

import re
import time
import uuid
from datetime import datetime

import pytest

from conftest import ALPHA, BETA
from mcp_http import (McpEvent, TenantClient, check_transport_error, content_type, json_body,
                      raw_request, request_body, send, wire_tenant)

NDJSON_REVS = ("2025-03-26", "2025-06-18")


def tenant() -> str:
    return str(uuid.uuid4())


def check_connection_line(msg: dict, session_id: str) -> None:
    assert msg.get("jsonrpc") == "2.0" and msg.get("method") == "notifications/connection", msg
    assert "id" not in msg, msg
    assert msg["params"] == {"status": "connected", "sessionId": session_id}, msg


def open_ndjson(m, client: TenantClient):
    conn = m.conn(10)
    head, stream = client.open_stream(conn)
    assert head.status == 200 and stream is not None, f"tenant stream refused: {head!r}"
    assert content_type(head) in ("application/x-ndjson", "application/json-seq", "application/jsonl"), head
    first = stream.next_message(3)
    check_connection_line(first, client.session_id)
    return conn, stream


def iso_timestamp(text: str) -> datetime:
    assert isinstance(text, str) and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", text), text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- initialize ------------------------------------------------------------------------------

@pytest.mark.parametrize("rev", ("2024-11-05",) + NDJSON_REVS)
def test_initialize_answers_directly_with_a_session(mcpd, rev):
    c = TenantClient(mcpd, tenant(), rev)
    assert re.fullmatch(r"[\x21-\x7e]+", c.session_id), c.session_id
    other = TenantClient(mcpd, c.tenant, rev)
    assert other.session_id != c.session_id


# --- queued requests and the stream ----------------------------------------------------------

@pytest.mark.parametrize("rev", NDJSON_REVS)
def test_requests_are_queued_and_answered_on_the_ndjson_stream(mcpd, rev):
    c = TenantClient(mcpd, tenant(), rev)
    conn, stream = open_ndjson(mcpd, c)
    with conn:
        body = c.queue("tools/list")
        msg = stream.wait_for_id(body["id"])
        wire_tenant(rev, msg, "tools/list")
        tools = {t["name"]: t for t in msg["result"]["tools"]}
        assert {"echo", "countdown"} <= set(tools), msg
        assert tools["echo"]["annotations"]["readOnlyHint"] is True, tools["echo"]
        assert ("title" in tools["echo"]) == (rev == "2025-06-18"), tools["echo"]

        body = c.queue("tools/call", {"name": "echo", "arguments": {"message": "Hello MCP!"}})
        msg = stream.wait_for_id(body["id"])
        wire_tenant(rev, msg, "tools/call")
        assert msg["result"]["content"][0]["type"] == "text", msg
        assert "Hello MCP!" in msg["result"]["content"][0]["text"], msg

        for method, params in (("prompts/list", None), ("resources/list", None),
                               ("resources/read", {"uri": "server://status"}),
                               ("prompts/get", {"name": "greeting", "arguments": {"name": "Alice"}})):
            body = c.queue(method, params)
            msg = stream.wait_for_id(body["id"])
            wire_tenant(rev, msg, method)
            assert "result" in msg, msg
        for line in stream.lines:
            wire_tenant(rev, line)


@pytest.mark.parametrize("rev", NDJSON_REVS)
def test_ping_answers_pong_with_a_timestamp(mcpd, rev):
    c = TenantClient(mcpd, tenant(), rev)
    conn, stream = open_ndjson(mcpd, c)
    with conn:
        body = c.queue("ping")
        msg = stream.wait_for_id(body["id"])
    wire_tenant(rev, msg, "ping")
    assert set(msg["result"]) == {"status", "timestamp"} and msg["result"]["status"] == "pong", msg
    stamp = iso_timestamp(msg["result"]["timestamp"])
    assert abs(stamp.timestamp() - time.time()) < 60, stamp


@pytest.mark.parametrize("rev", NDJSON_REVS)
def test_progress_and_result_of_a_countdown_arrive_on_the_stream(mcpd, rev):
    c = TenantClient(mcpd, tenant(), rev)
    conn, stream = open_ndjson(mcpd, c)
    with conn:
        body = c.queue("tools/call", {"name": "countdown", "arguments": {"seconds": 1},
                                      "_meta": {"progressToken": "t3"}})
        msg = stream.wait_for_id(body["id"], timeout=5)
    notes = [m for m in stream.lines if isinstance(m, dict) and m.get("method") == "notifications/progress"]
    assert notes and notes[0]["params"]["progressToken"] == "t3", stream.lines
    for n in notes:
        wire_tenant(rev, n)
    wire_tenant(rev, msg, "tools/call")
    assert msg["result"]["content"][0]["text"] == "done", msg


def test_2024_11_05_stream_is_sse_with_message_events(mcpd):
    c = TenantClient(mcpd, tenant(), "2024-11-05")
    with mcpd.conn(10) as conn:
        head, sse = c.open_stream(conn)
        assert head.status == 200 and sse is not None, head
        assert content_type(head) == "text/event-stream", head
        first = sse.next_event(3)
        assert first.event == "endpoint", first
        assert first.data.endswith(f"/mcp/{c.tenant}/{c.session_id}"), first
        body = c.queue("tools/list")
        ev: McpEvent = sse.next_event(3)
        assert ev.event == "message", ev
        msg = ev.json()
        wire_tenant("2024-11-05", msg, "tools/list")
        assert msg["id"] == body["id"], msg
        assert all("annotations" not in t and "title" not in t for t in msg["result"]["tools"]), msg
        body = c.queue("ping")
        ev = sse.next_event(3)
        assert ev.event == "message" and ev.json()["result"]["status"] == "pong", ev
        wire_tenant("2024-11-05", ev.json(), "ping")


@pytest.mark.parametrize("rev", NDJSON_REVS)
def test_session_in_the_path_works(mcpd, rev):
    c = TenantClient(mcpd, tenant(), rev)
    conn, stream = open_ndjson(mcpd, c)
    with conn:
        body = request_body("tools/call", {"name": "echo", "arguments": {"message": "via path"}})
        r = c.post(body, session=None, path=f"{c.path}/{c.session_id}")
        assert r.status == 202 and r.json() == {"status": "queued"}, r
        msg = stream.wait_for_id(body["id"])
    wire_tenant(rev, msg, "tools/call")
    assert "via path" in msg["result"]["content"][0]["text"], msg


def test_responses_queued_before_the_stream_connects_are_delivered_on_connect(mcpd):
    c = TenantClient(mcpd, tenant(), "2025-03-26")
    first = c.queue("ping")
    second = c.queue("tools/call", {"name": "echo", "arguments": {"message": "early"}})
    time.sleep(0.3)          # both answered while nobody listens
    conn, stream = open_ndjson(mcpd, c)
    with conn:
        a = stream.wait_for_id(first["id"])
        b = stream.wait_for_id(second["id"])
    wire_tenant("2025-03-26", a, "ping")
    wire_tenant("2025-03-26", b, "tools/call")
    assert a["result"]["status"] == "pong" and "early" in b["result"]["content"][0]["text"], (a, b)


def test_notifications_are_accepted(mcpd):
    c = TenantClient(mcpd, tenant(), "2025-03-26")
    r = c.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert r.status == 202, r
    assert r.json() == {"status": "accepted"}, r


def test_ndjson_stream_carries_ping_notifications(mcpd_factory):
    m = mcpd_factory("--keepalive-interval", "1")
    c = TenantClient(m, tenant(), "2025-03-26")
    conn, stream = open_ndjson(m, c)
    with conn:
        msg = stream.next_message(3.5, skip_pings=False)
    assert msg is not None and msg.get("method") == "notifications/ping", msg
    assert "id" not in msg, msg
    iso_timestamp(msg["params"]["timestamp"])


# --- errors ----------------------------------------------------------------------------------

def test_missing_session_is_400_session_required(mcpd):
    c = TenantClient(mcpd, tenant(), "2025-03-26")
    r = c.post(request_body("ping"), session=None)
    check_transport_error(r, 400, -32001)
    with mcpd.conn(5) as conn:
        head, _ = c.open_stream(conn, query_session=False)
    check_transport_error(head, 400, -32001)


def test_unknown_session_is_404_session_required(mcpd):
    c = TenantClient(mcpd, tenant(), "2025-03-26")
    c.session_id = "nope-" + uuid.uuid4().hex
    check_transport_error(c.post(request_body("ping")), 404, -32001)
    with mcpd.conn(5) as conn:
        head, _ = c.open_stream(conn)
    check_transport_error(head, 404, -32001)


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_http_methods_are_405_method_not_allowed(mcpd, method):
    c = TenantClient(mcpd, tenant(), "2025-03-26")
    r = send(mcpd, method, c.path, c.headers(), b"{}")
    check_transport_error(r, 405, -32002)
    r = send(mcpd, method, f"{c.path}/{c.session_id}", c.headers(), b"{}")
    check_transport_error(r, 405, -32002)


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic YWJjOmRlZg=="])
def test_no_or_bad_auth_is_401_with_oauth_endpoints(mcpd, authorization):
    headers = [("Content-Type", "application/json")]
    if authorization:
        headers.append(("Authorization", authorization))
    r = send(mcpd, "POST", f"/mcp/{tenant()}", headers,
             json_body(request_body("initialize", {"protocolVersion": "2025-03-26", "capabilities": {},
                                                   "clientInfo": {"name": "x", "version": "1"}})), token=None)
    msg = check_transport_error(r, 401, -32000)
    oauth = msg["error"]["data"]["oauth"]
    for key in ("authorization_endpoint", "token_endpoint", "registration_endpoint"):
        assert isinstance(oauth.get(key), str) and re.match(r"^https?://", oauth[key]), oauth
    assert r.header("mcp-session-id") is None


def test_stream_without_auth_is_401(mcpd):
    c = TenantClient(mcpd, tenant(), "2025-03-26")
    with mcpd.conn(5) as conn:
        conn.send(raw_request("GET", f"{c.path}?session_id={c.session_id}", [], None, token=None))
        r = conn.read_response(5)
    check_transport_error(r, 401, -32000)


# --- batches ---------------------------------------------------------------------------------

def test_batch_at_2025_03_26_is_delivered_as_an_array(mcpd):
    c = TenantClient(mcpd, tenant(), "2025-03-26")
    conn, stream = open_ndjson(mcpd, c)
    with conn:
        batch = [request_body("tools/list", request_id=101), request_body("prompts/list", request_id=102),
                 {"jsonrpc": "2.0", "method": "notifications/initialized"}]
        r = c.post(batch)
        assert r.status == 202 and r.json() == {"status": "queued"}, r
        msg = stream.wait_for_id(101)
    assert isinstance(msg, list) and len(msg) == 2, msg
    wire_tenant("2025-03-26", msg, {101: "tools/list", 102: "prompts/list"})
    by_id = {x["id"]: x for x in msg}
    assert "tools" in by_id[101]["result"] and "prompts" in by_id[102]["result"], msg


def test_batch_at_2025_06_18_is_rejected(mcpd):
    c = TenantClient(mcpd, tenant(), "2025-06-18")
    r = c.post([request_body("tools/list", request_id=1), request_body("ping", request_id=2)])
    check_transport_error(r, 400, -32600)


# --- isolation -------------------------------------------------------------------------------

def test_a_session_is_not_found_under_another_tenant(mcpd):
    a = TenantClient(mcpd, tenant(), "2025-03-26")
    b_path = f"/mcp/{tenant()}"
    check_transport_error(a.post(request_body("ping"), path=b_path), 404, -32001)
    check_transport_error(a.post(request_body("ping"), session=None, path=f"{b_path}/{a.session_id}"), 404, -32001)
    with mcpd.conn(5) as conn:
        conn.send(raw_request("GET", f"{b_path}?session_id={a.session_id}", [], None))
        r = conn.read_response(5)
    check_transport_error(r, 404, -32001)
    # Still fine where it belongs.
    assert a.post(request_body("ping")).status == 202


def test_a_session_is_not_found_with_another_token(mcpd):
    a = TenantClient(mcpd, tenant(), "2025-03-26", token=ALPHA)
    check_transport_error(a.post(request_body("ping"), token=BETA), 404, -32001)
    a.token = BETA
    with mcpd.conn(5) as conn:
        head, _ = a.open_stream(conn)
    check_transport_error(head, 404, -32001)


def test_a_tenant_session_is_not_a_streamable_session(mcpd):
    a = TenantClient(mcpd, tenant(), "2025-06-18")
    r = send(mcpd, "POST", "/mcp", [("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream"),
                                    ("Mcp-Session-Id", a.session_id), ("MCP-Protocol-Version", "2025-06-18")],
             json_body(request_body("ping")))
    check_transport_error(r, 404, -32001)


# --- completions/complete (seed 003's alias) -------------------------------------------------

@pytest.mark.parametrize("rev", NDJSON_REVS)
def test_completions_complete_for_a_tool_argument(mcpd, rev):
    c = TenantClient(mcpd, tenant(), rev)
    conn, stream = open_ndjson(mcpd, c)
    with conn:
        body = c.queue("completions/complete", {"ref": {"type": "ref/tool", "name": "echo"}, "argument": "mes"})
        msg = stream.wait_for_id(body["id"])
    wire_tenant(rev, msg, "completions/complete")
    values = [x["value"] for x in msg["result"]["completions"]]
    assert "message" in values, msg
