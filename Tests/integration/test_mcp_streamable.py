"""MCP Streamable HTTP on POST/GET/DELETE /mcp at 2025-03-26, 2025-06-18 and 2025-11-25: version
negotiation, sessions, the MCP-Protocol-Version header, message kinds and batches, tool calls
answered as JSON or as an event stream, resumption with Last-Event-ID, the standalone GET stream,
DNS-rebinding and bearer checks, errors, pagination, feature gating, prompts, resources,
completion, logging, cancellation, and MCP calls in the shared call table.

Every request is written byte by byte (mcp_http.raw_request) and every message mcpd sends is
checked against the negotiated revision's schema (mcp_wire via mcp_http.wire)."""

from __future__ import annotations

import json
import os
import time

import pytest

from conftest import ALPHA, BETA, ConnectionClosed, wait_until
from mcp_http import (await_keep_alive_comment, counters, no_calls_in_flight, wait_running_call, ACCEPT_BOTH, SESSIONFUL, StreamableClient, check_sse_messages,
                      check_transport_error, content_type, initialize_body, json_body,
                      request_body, send, wire)

LATER = ("2025-06-18", "2025-11-25")


def visible_ascii(text: str) -> bool:
    return bool(text) and all(0x21 <= ord(ch) <= 0x7E for ch in text)


def countdown_body(seconds: int, token=None, request_id=None) -> dict:
    params = {"name": "countdown", "arguments": {"seconds": seconds}}
    if token is not None:
        params["_meta"] = {"progressToken": token}
    return request_body("tools/call", params, request_id)


# --- initialize and version negotiation ------------------------------------------------------

@pytest.mark.parametrize("rev", SESSIONFUL)
def test_initialize_echoes_a_supported_version(mcpd, rev):
    c = StreamableClient(mcpd, rev, initialize=False)
    body = initialize_body(rev, request_id="init-1")
    r = c.post(body, session=False, version_header=False)
    assert r.status == 200, r
    assert content_type(r) == "application/json", r
    msg = r.json()
    wire(rev, msg, "initialize")
    assert msg["id"] == "init-1"
    result = msg["result"]
    assert result["protocolVersion"] == rev
    assert {"tools", "prompts", "resources", "logging"} <= set(result["capabilities"]), result
    assert result["serverInfo"]["name"], result
    sid = r.header("mcp-session-id")
    assert sid and visible_ascii(sid), f"Mcp-Session-Id must be visible ASCII: {sid!r}"


def test_initialize_with_an_unknown_date_version_offers_our_latest(mcpd):
    c = StreamableClient(mcpd, "2025-11-25", initialize=False)
    r = c.post(initialize_body("2030-01-01", request_id=7), session=False, version_header=False)
    assert r.status == 200, r
    msg = r.json()
    wire("2025-11-25", msg, "initialize")
    assert msg["id"] == 7 and msg["result"]["protocolVersion"] == "2025-11-25", msg
    sid = r.header("mcp-session-id")
    assert sid, r
    # The session speaks the offered revision.
    c.session_id = sid
    assert c.rpc("ping")["result"] == {}


@pytest.mark.parametrize("garbage", ["banana", "", "2025-1-1x"])
def test_initialize_with_a_garbage_version_is_invalid_params(mcpd, garbage):
    c = StreamableClient(mcpd, "2025-11-25", initialize=False)
    r = c.post(initialize_body(garbage, request_id=3), session=False, version_header=False)
    assert r.status in (200, 400), r
    msg = r.json()
    wire("2025-11-25", msg, "initialize")
    assert msg["id"] == 3 and "result" not in msg, msg
    err = msg["error"]
    assert err["code"] == -32602, msg
    data = err.get("data")
    assert isinstance(data, dict), msg
    assert data.get("requested") == garbage, msg
    assert isinstance(data.get("supported"), list) and set(SESSIONFUL) <= set(data["supported"]), msg
    assert r.header("mcp-session-id") is None, "no session for a failed initialize"


def test_session_ids_are_random(mcpd):
    ids = {StreamableClient(mcpd, "2025-11-25").session_id for _ in range(4)}
    assert len(ids) == 4, ids
    for sid in ids:
        assert visible_ascii(sid) and len(sid) >= 16, f"guessable or malformed session id {sid!r}"


# --- sessions --------------------------------------------------------------------------------

@pytest.mark.parametrize("rev", SESSIONFUL)
def test_request_without_session_is_400(mcpd, rev):
    c = StreamableClient(mcpd, rev)
    r = c.post(request_body("tools/list"), session=False)
    check_transport_error(r, 400, -32600, rev)


@pytest.mark.parametrize("rev", SESSIONFUL)
def test_unknown_session_is_404(mcpd, rev):
    c = StreamableClient(mcpd, rev)
    c.session_id = "0123456789abcdef0123456789abcdef"
    r = c.post(request_body("tools/list"))
    check_transport_error(r, 404, -32001, rev)


def test_session_of_another_token_is_404(mcpd):
    c = StreamableClient(mcpd, "2025-11-25", token=ALPHA)
    c.token = BETA
    check_transport_error(c.post(request_body("tools/list")), 404, -32001, "2025-11-25")
    c.token = ALPHA
    assert "tools" in c.result("tools/list")


@pytest.mark.parametrize("rev", SESSIONFUL)
def test_delete_ends_the_session(mcpd, rev):
    c = StreamableClient(mcpd, rev)
    r = c.delete()
    assert r.status == 200, r
    check_transport_error(c.post(request_body("ping")), 404, -32001, rev)
    check_transport_error(c.delete(), 404, -32001, rev)


def test_idle_session_expires(mcpd_factory):
    m = mcpd_factory("--session-idle-timeout", "2")
    idle = StreamableClient(m, "2025-11-25")
    busy = StreamableClient(m, "2025-06-18")
    for _ in range(4):              # used every 0.9 s: never idle for 2 s
        time.sleep(0.9)
        assert busy.rpc("ping")["result"] == {}
    check_transport_error(idle.post(request_body("ping")), 404, -32001, "2025-11-25")
    assert busy.rpc("ping")["result"] == {}


# --- MCP-Protocol-Version --------------------------------------------------------------------

@pytest.mark.parametrize("rev", SESSIONFUL)
def test_protocol_version_header_absent_is_accepted(mcpd, rev):
    c = StreamableClient(mcpd, rev)
    msg = c.rpc("tools/list", version_header=False)
    assert [t["name"] for t in msg["result"]["tools"]][:2] == ["echo", "countdown"]


def test_protocol_version_header_is_accepted_at_2025_03_26_too(mcpd):
    """The SDK sends it at every revision once negotiated."""
    c = StreamableClient(mcpd, "2025-03-26")
    msg = c.rpc("ping", version_header=False, extra=[("mcp-protocol-version", "2025-03-26")])
    assert msg["result"] == {}


@pytest.mark.parametrize("rev", SESSIONFUL)
@pytest.mark.parametrize("header", ["1999-01-01", "2024-13-45", "banana"])
def test_unsupported_protocol_version_header_is_400(mcpd, rev, header):
    c = StreamableClient(mcpd, rev)
    r = c.post(request_body("ping"), version_header=False, extra=[("MCP-Protocol-Version", header)])
    check_transport_error(r, 400, -32600, rev)


@pytest.mark.parametrize("rev,header", [("2025-06-18", "2025-03-26"), ("2025-11-25", "2025-06-18"),
                                        ("2025-03-26", "2025-11-25"), ("2025-11-25", "2024-11-05")])
def test_protocol_version_header_differing_from_negotiated_is_400(mcpd, rev, header):
    c = StreamableClient(mcpd, rev)
    r = c.post(request_body("ping"), version_header=False, extra=[("MCP-Protocol-Version", header)])
    check_transport_error(r, 400, -32600, rev)
    assert c.rpc("ping")["result"] == {}, "the session is still usable with the right header"


# --- notifications, responses and batches ----------------------------------------------------

@pytest.mark.parametrize("rev", SESSIONFUL)
def test_posted_notification_is_202_with_empty_body(mcpd, rev):
    c = StreamableClient(mcpd, rev)
    for note in ({"jsonrpc": "2.0", "method": "notifications/initialized"},
                 {"jsonrpc": "2.0", "method": "notifications/roots/list_changed"},
                 {"jsonrpc": "2.0", "method": "notifications/cancelled",
                  "params": {"requestId": 999, "reason": "nothing to cancel"}}):
        r = c.post(note)
        assert r.status == 202 and r.body == b"", f"{note['method']}: {r!r}"


@pytest.mark.parametrize("rev", SESSIONFUL)
def test_posted_response_is_202_with_empty_body(mcpd, rev):
    c = StreamableClient(mcpd, rev)
    for resp in ({"jsonrpc": "2.0", "id": "srv-1", "result": {}},
                 {"jsonrpc": "2.0", "id": 12, "error": {"code": -32601, "message": "no"}}):
        r = c.post(resp)
        assert r.status == 202 and r.body == b"", r


def test_batch_is_answered_with_an_array_at_2025_03_26(mcpd):
    c = StreamableClient(mcpd, "2025-03-26")
    batch = [request_body("tools/list", request_id="a"),
             {"jsonrpc": "2.0", "method": "notifications/roots/list_changed"},
             request_body("ping", request_id=2),
             request_body("tools/call", {"name": "echo", "arguments": {"message": "in a batch"}},
                          request_id="c"),
             request_body("no/such/method", request_id=4)]
    r = c.post(batch)
    assert r.status == 200, r
    assert content_type(r) == "application/json", r
    answer = r.json()
    methods = {"a": "tools/list", 2: "ping", "c": "tools/call", 4: "no/such/method"}
    wire("2025-03-26", answer, methods)
    assert isinstance(answer, list) and len(answer) == 4, answer
    by_id = {msg["id"]: msg for msg in answer}
    assert set(by_id) == set(methods), answer
    assert [t["name"] for t in by_id["a"]["result"]["tools"]][:2] == ["echo", "countdown"]
    assert by_id[2]["result"] == {}
    assert by_id["c"]["result"]["content"] == [{"type": "text", "text": "in a batch"}]
    assert by_id[4]["error"]["code"] == -32601


def test_batch_of_notifications_only_is_202_at_2025_03_26(mcpd):
    c = StreamableClient(mcpd, "2025-03-26")
    r = c.post([{"jsonrpc": "2.0", "method": "notifications/roots/list_changed"},
                {"jsonrpc": "2.0", "id": "x", "result": {}}])
    assert r.status == 202 and r.body == b"", r


@pytest.mark.parametrize("rev", LATER)
def test_batch_is_rejected_from_2025_06_18(mcpd, rev):
    c = StreamableClient(mcpd, rev)
    r = c.post([request_body("ping", request_id=1), request_body("tools/list", request_id=2)])
    check_transport_error(r, 400, -32600, rev)


# --- tools/call ------------------------------------------------------------------------------

@pytest.mark.parametrize("rev", SESSIONFUL)
def test_tools_call_echo_is_answered_with_json(mcpd, rev):
    c = StreamableClient(mcpd, rev)
    msg = c.rpc("tools/call", {"name": "echo", "arguments": {"message": "hello ✓"}})
    result = msg["result"]
    assert result["content"] == [{"type": "text", "text": "hello ✓"}], result
    assert result.get("isError", False) is False, result


# The worker's text travels into the response as the worker wrote it: every character JSON must
# escape, and every kind of UTF-8, comes back as sent, in a response that is valid JSON.
AWKWARD_TEXT = 'q"uote\\back/slash\n\t\r\b\f\x00\x1f é ✓ 😀 \u2028 \ufeff end'


@pytest.mark.parametrize("rev", SESSIONFUL)
def test_tools_call_echo_returns_every_character_as_sent(mcpd, rev):
    c = StreamableClient(mcpd, rev)
    result = c.rpc("tools/call", {"name": "echo", "arguments": {"message": AWKWARD_TEXT}})["result"]
    assert result == {"content": [{"type": "text", "text": AWKWARD_TEXT}], "isError": False}, result


@pytest.mark.parametrize("rev", SESSIONFUL)
def test_countdown_with_progress_token_streams_progress_then_the_result(mcpd, rev):
    c = StreamableClient(mcpd, rev)
    body = countdown_body(2, token="tok-1", request_id="cd-1")
    with mcpd.conn(10) as conn:
        head, sse = c.open("POST", body, conn=conn)
        assert sse is not None, f"expected an event stream: {head!r}"
        assert head.status == 200
        events = sse.read_to_end(10)
    assert events, "empty event stream"
    if rev >= "2025-11-25":
        first = events[0]
        assert first.is_priming, f"2025-11-25 streams open with a priming event (id, empty data): {events}"
        assert first.event is None, first
        rest = events[1:]
    else:
        rest = events
    assert all(not e.is_priming and e.data for e in rest), f"empty events: {events}"
    ids = [e.id for e in events]
    assert all(ids) and len(set(ids)) == len(ids), f"event ids must be present and unique: {ids}"
    msgs = check_sse_messages(rev, rest, "tools/call")
    *notes, last = msgs
    assert last.get("id") == "cd-1" and "result" in last, msgs
    assert last["result"]["content"] == [{"type": "text", "text": "done"}], last
    assert len(notes) == 2, f"one progress notification per partial: {msgs}"
    progress = []
    for n in notes:
        assert n["method"] == "notifications/progress", n
        assert n["params"]["progressToken"] == "tok-1", n
        progress.append(n["params"]["progress"])
    assert progress == sorted(progress) and len(set(progress)) == len(progress), progress


def test_event_ids_are_unique_across_a_sessions_streams(mcpd):
    c = StreamableClient(mcpd, "2025-11-25")
    seen = []
    for i in range(2):
        with mcpd.conn(10) as conn:
            _, sse = c.open("POST", countdown_body(1, token=f"t{i}"), conn=conn)
            assert sse is not None
            seen += [e.id for e in sse.read_to_end(10)]
    assert len(seen) == len(set(seen)), f"event ids repeat within the session: {seen}"


def test_progress_token_without_sse_accept_is_answered_with_json(mcpd):
    c = StreamableClient(mcpd, "2025-11-25")
    msg = c.rpc("tools/call", {"name": "countdown", "arguments": {"seconds": 1},
                               "_meta": {"progressToken": 5}}, accept="application/json")
    assert msg["result"]["content"] == [{"type": "text", "text": "done"}]


# --- resumption ------------------------------------------------------------------------------

@pytest.mark.parametrize("rev", SESSIONFUL)
def test_resume_an_interrupted_stream_with_last_event_id(mcpd, rev):
    c = StreamableClient(mcpd, rev)
    body = countdown_body(3, token="resume", request_id="r-1")
    conn = mcpd.conn(10)
    head, sse = c.open("POST", body, conn=conn)
    assert sse is not None, head
    first = sse.next_event(5)
    seen = [first]
    if first.is_priming:
        seen.append(sse.next_event(5))
    assert not seen[-1].is_priming and seen[-1].json()["method"] == "notifications/progress", seen
    conn.close()
    last_id = seen[-1].id
    assert last_id, seen

    with mcpd.conn(10) as conn2:
        head2, sse2 = c.open("GET", None, conn=conn2, extra=[("Last-Event-ID", last_id)])
        assert sse2 is not None, f"resuming GET refused: {head2!r}"
        events = sse2.read_to_end(10)
    seen_ids = {e.id for e in seen}
    assert not [e for e in events if e.id in seen_ids], f"replayed what was seen: {events}"
    got = [e for e in events if not e.is_priming]
    msgs = check_sse_messages(rev, got, "tools/call")
    assert msgs and msgs[-1].get("id") == "r-1", f"the result did not arrive: {events}"
    assert msgs[-1]["result"]["content"] == [{"type": "text", "text": "done"}], msgs
    notes = [n for n in msgs[:-1] if n.get("method") == "notifications/progress"]
    all_progress = [seen[-1].json()["params"]["progress"]] + [n["params"]["progress"] for n in notes]
    assert len(all_progress) == 3, f"a progress notification per second of 3, none lost: {seen} {events}"
    assert all_progress == sorted(set(all_progress)), all_progress


def test_resume_after_the_call_finished_replays_the_rest_and_ends(mcpd):
    c = StreamableClient(mcpd, "2025-11-25")
    conn = mcpd.conn(10)
    _, sse = c.open("POST", countdown_body(2, token="late", request_id="r-2"), conn=conn)
    assert sse is not None
    priming = sse.next_event(5)
    assert priming.is_priming, priming
    conn.close()
    time.sleep(2.6)                       # the call finishes while nobody listens
    with mcpd.conn(10) as conn2:
        head, sse2 = c.open("GET", None, conn=conn2, extra=[("Last-Event-ID", priming.id)])
        assert sse2 is not None, head
        events = sse2.read_to_end(5)
    assert priming.id not in [e.id for e in events]
    msgs = check_sse_messages("2025-11-25", events, "tools/call")
    assert [m.get("method") for m in msgs[:-1]] == ["notifications/progress"] * 2, msgs
    assert msgs[-1]["id"] == "r-2" and msgs[-1]["result"]["content"][0]["text"] == "done", msgs


# --- the standalone GET stream ---------------------------------------------------------------

@pytest.mark.parametrize("rev", SESSIONFUL)
def test_get_without_accept_event_stream_is_406(mcpd, rev):
    c = StreamableClient(mcpd, rev)
    r = c.send("GET", None, accept="application/json")
    check_transport_error(r, 406, -32600, rev)
    r = c.send("GET", None, accept=None)
    check_transport_error(r, 406, -32600, rev)


@pytest.mark.parametrize("rev", SESSIONFUL)
def test_get_opens_one_standalone_stream_and_a_second_is_409(mcpd, rev):
    c = StreamableClient(mcpd, rev)
    with mcpd.conn(10) as first:
        head, sse = c.open("GET", None, conn=first)
        assert sse is not None and head.status == 200, head
        assert content_type(head) == "text/event-stream", head
        if rev >= "2025-11-25":
            ev = sse.next_event(3)
            assert ev is not None and ev.is_priming, f"expected the priming event: {ev}"
        r = c.send("GET", None)
        check_transport_error(r, 409, -32600, rev)
    # Once the first stream is gone, a new one may open.
    def reopened():
        with mcpd.conn(5) as again:
            head2, sse2 = c.open("GET", None, conn=again)
            return head2.status == 200 and sse2 is not None
    wait_until(reopened, 3, message="a new GET stream after the first closed")


def test_get_stream_gets_keep_alive_comments(mcpd_factory):
    m = mcpd_factory("--keepalive-interval", "1")
    c = StreamableClient(m, "2025-06-18")
    with m.conn(10) as conn:
        head, sse = c.open("GET", None, conn=conn)
        assert sse is not None, head
        await_keep_alive_comment(sse, "GET")


def test_get_without_session_is_400_and_unknown_session_404(mcpd):
    c = StreamableClient(mcpd, "2025-11-25")
    check_transport_error(c.send("GET", None, session=False), 400, -32600, "2025-11-25")
    c.session_id = "ffffffffffffffffffffffffffffffff"
    check_transport_error(c.send("GET", None), 404, -32001, "2025-11-25")


# --- DNS rebinding and authorization ---------------------------------------------------------

def test_foreign_origin_is_403(mcpd):
    r = send(mcpd, "POST", "/mcp", [("Content-Type", "application/json"), ("Accept", ACCEPT_BOTH),
                                    ("Origin", "http://evil.example")],
             json_body(initialize_body("2025-11-25")))
    check_transport_error(r, 403, -32600, "2025-11-25")
    assert r.header("mcp-session-id") is None


@pytest.mark.parametrize("origin", ["http://localhost:{port}", "http://127.0.0.1:{port}", "http://localhost"])
def test_loopback_origin_is_accepted(mcpd, origin):
    c = StreamableClient(mcpd, "2025-11-25", extra_headers=[("Origin", origin.format(port=mcpd.port))])
    assert c.rpc("ping")["result"] == {}


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "attacker.test:80"])
def test_foreign_host_header_is_403(mcpd, host):
    r = send(mcpd, "POST", "/mcp", [("Content-Type", "application/json"), ("Accept", ACCEPT_BOTH)],
             json_body(initialize_body("2025-11-25")), host=host.format(port=mcpd.port))
    check_transport_error(r, 403, -32600, "2025-11-25")


def test_allowed_origin_flag_admits_that_origin_only(mcpd_factory):
    m = mcpd_factory("--allowed-origin", "http://app.example")
    c = StreamableClient(m, "2025-11-25", extra_headers=[("Origin", "http://app.example")])
    assert c.rpc("tools/list")["result"]["tools"]
    r = send(m, "POST", "/mcp", [("Content-Type", "application/json"), ("Origin", "http://other.example")],
             json_body(initialize_body("2025-11-25")))
    check_transport_error(r, 403, -32600, "2025-11-25")


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", "Basic YWxwaGE6dG9rZW4=", "Bearer"])
def test_missing_or_invalid_authorization_is_401(mcpd, authorization):
    headers = [("Content-Type", "application/json"), ("Accept", ACCEPT_BOTH)]
    if authorization is not None:
        headers.append(("Authorization", authorization))
    r = send(mcpd, "POST", "/mcp", headers, json_body(initialize_body("2025-11-25")), token=None)
    assert r.status == 401, r
    www = r.header("www-authenticate")
    assert www is not None and www.startswith("Bearer"), f"WWW-Authenticate: {www!r}"
    assert r.header("mcp-session-id") is None


def test_a_session_request_without_authorization_is_401(mcpd):
    c = StreamableClient(mcpd, "2025-06-18")
    c.token = None
    r = c.post(request_body("ping"))
    assert r.status == 401 and (r.header("www-authenticate") or "").startswith("Bearer"), r


# --- errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize("rev", SESSIONFUL)
def test_unknown_method_is_method_not_found(mcpd, rev):
    c = StreamableClient(mcpd, rev)
    c.rpc("tools/frobnicate", {}, expect_error=-32601)
    c.rpc("server/discover", {}, expect_error=-32601)


@pytest.mark.parametrize("rev", SESSIONFUL)
def test_tools_call_of_an_unknown_tool_is_invalid_params(mcpd, rev):
    c = StreamableClient(mcpd, rev)
    c.rpc("tools/call", {"name": "no-such-tool", "arguments": {}}, expect_error=-32602)


@pytest.mark.parametrize("arguments", [{"message": 5}, {}, {"message": "x", "extra": 1}])
def test_tools_call_with_schema_invalid_arguments_is_a_tool_error(mcpd, arguments):
    c = StreamableClient(mcpd, "2025-11-25")
    result = c.result("tools/call", {"name": "echo", "arguments": arguments})
    assert result.get("isError") is True, result
    assert result["content"] and result["content"][0]["type"] == "text", result
    assert result["content"][0]["text"], result


def test_initialize_twice_on_a_session_gives_a_new_session(mcpd):
    """A second initialize is a fresh negotiation; the first session is unaffected."""
    c = StreamableClient(mcpd, "2025-06-18")
    d = StreamableClient(mcpd, "2025-11-25")
    assert c.session_id != d.session_id
    assert c.rpc("ping")["result"] == {} and d.rpc("ping")["result"] == {}


# --- pagination ------------------------------------------------------------------------------

@pytest.mark.parametrize("method,key", [("tools/list", "tools"), ("prompts/list", "prompts")])
def test_pagination_with_page_size_one(mcpd_factory, method, key):
    m = mcpd_factory("--page-size", "1")
    c = StreamableClient(m, "2025-11-25")
    names, cursor, pages = [], None, 0
    while True:
        params = {} if cursor is None else {"cursor": cursor}
        result = c.result(method, params)
        pages += 1
        assert len(result[key]) == 1, result
        names.append(result[key][0]["name"])
        cursor = result.get("nextCursor")
        if cursor is None:
            break
        assert isinstance(cursor, str) and cursor, result
        assert pages < 100, "pagination does not end"
    assert pages >= 2 and len(set(names)) == len(names), names
    expected = {"tools": {"echo", "countdown"}, "prompts": {"greeting", "summarize"}}[key]
    assert expected <= set(names)


@pytest.mark.parametrize("cursor", ["bogus", "o999", "o-1", 17, ""])
def test_a_bogus_cursor_is_invalid_params(mcpd_factory, cursor):
    m = mcpd_factory("--page-size", "1")
    c = StreamableClient(m, "2025-11-25")
    c.rpc("tools/list", {"cursor": cursor}, expect_error=-32602)


# --- feature gating by revision --------------------------------------------------------------

@pytest.mark.parametrize("rev", SESSIONFUL)
def test_tools_annotations_and_titles_follow_the_revision(mcpd, rev):
    c = StreamableClient(mcpd, rev)
    tools = {t["name"]: t for t in c.result("tools/list")["tools"]}
    echo = tools["echo"]
    assert echo["annotations"]["readOnlyHint"] is True, echo
    assert echo["inputSchema"]["required"] == ["message"], echo
    prompts = c.result("prompts/list")["prompts"]
    server_info = c.init_response.json()["result"]["serverInfo"]
    if rev == "2025-03-26":
        assert "title" not in echo, f"`title` is 2025-06-18's: {echo}"
        assert all("title" not in p for p in prompts), prompts
        assert "title" not in server_info, server_info
    else:
        assert echo["title"] == "Echo", echo
        assert all(isinstance(p.get("title"), str) for p in prompts), prompts
    caps = c.init_response.json()["result"]["capabilities"]
    assert "completions" in caps, caps


# --- prompts ---------------------------------------------------------------------------------

@pytest.mark.parametrize("rev", SESSIONFUL)
def test_prompts_list_and_get_with_arguments(mcpd, rev):
    c = StreamableClient(mcpd, rev)
    prompts = {p["name"]: p for p in c.result("prompts/list")["prompts"]}
    assert {"greeting", "summarize"} <= set(prompts), prompts
    assert any(a["name"] == "text" and a.get("required") is True
               for a in prompts["summarize"]["arguments"]), prompts
    got = c.result("prompts/get", {"name": "greeting", "arguments": {"name": "Alice"}})
    texts = [msg["content"]["text"] for msg in got["messages"] if msg["content"]["type"] == "text"]
    assert got["messages"][0]["role"] == "user", got
    assert any("Alice" in t for t in texts), got
    summary = c.result("prompts/get", {"name": "summarize", "arguments": {"text": "Lorem ipsum", "style": "bullet"}})
    assert "Lorem ipsum" in summary["messages"][0]["content"]["text"], summary


@pytest.mark.parametrize("params", [{"name": "summarize"}, {"name": "summarize", "arguments": {"style": "bullet"}},
                                    {"name": "no-such-prompt"}, {"name": "greeting", "arguments": {"name": 5}}])
def test_prompts_get_with_missing_or_bad_arguments_is_invalid_params(mcpd, params):
    c = StreamableClient(mcpd, "2025-11-25")
    c.rpc("prompts/get", params, expect_error=-32602)


# --- resources -------------------------------------------------------------------------------

@pytest.mark.parametrize("rev", SESSIONFUL)
def test_resources_list_and_read_server_status(mcpd, rev):
    c = StreamableClient(mcpd, rev)
    resources = c.result("resources/list")["resources"]
    assert "server://status" in [r["uri"] for r in resources], resources
    contents = c.result("resources/read", {"uri": "server://status"})["contents"]
    assert len(contents) == 1 and contents[0]["uri"] == "server://status", contents
    assert contents[0]["mimeType"] == "application/json"
    status = json.loads(contents[0]["text"])
    assert status["status"] == "healthy", status


def test_no_resource_templates_without_resource_dir(mcpd):
    c = StreamableClient(mcpd, "2025-11-25")
    assert c.result("resources/templates/list")["resourceTemplates"] == []
    c.rpc("resources/read", {"uri": "file://notes.txt"}, expect_error=-32002)


@pytest.fixture
def resource_dir(tmp_path):
    root = tmp_path / "resources"
    root.mkdir()
    (root / "notes.txt").write_text("remember the milk\n")
    (root / "second.md").write_text("# two\n")
    outside = tmp_path / "outside"
    outside.write_text("secret outside the root\n")
    os.symlink(outside, root / "escape")
    os.symlink("/etc/passwd", root / "passwd-link")
    return root


def test_resource_dir_serves_files_and_refuses_escapes(mcpd_factory, resource_dir):
    m = mcpd_factory("--resource-dir", str(resource_dir))
    c = StreamableClient(m, "2025-11-25")
    templates = c.result("resources/templates/list")["resourceTemplates"]
    assert "file://{path}" in [t["uriTemplate"] for t in templates], templates
    contents = c.result("resources/read", {"uri": "file://notes.txt"})["contents"]
    assert contents[0]["text"] == "remember the milk\n", contents
    assert contents[0]["uri"] == "file://notes.txt"
    for uri in ("file://../outside", "file://escape", "file://passwd-link", "file:///etc/passwd",
                "file://missing.txt", "file://notes.txt/../../outside", "file://"):
        msg = c.rpc("resources/read", {"uri": uri}, expect_error=-32002)
        assert "secret" not in str(msg) and "root:" not in str(msg), msg


def test_resource_dir_path_completion(mcpd_factory, resource_dir):
    m = mcpd_factory("--resource-dir", str(resource_dir))
    c = StreamableClient(m, "2025-11-25")
    result = c.result("completion/complete", {"ref": {"type": "ref/resource", "uri": "file://{path}"},
                                              "argument": {"name": "path", "value": "no"}})
    assert result["completion"]["values"] == ["notes.txt"], result


# --- completion, logging, subscriptions, ping -------------------------------------------------

@pytest.mark.parametrize("rev", SESSIONFUL)
def test_completion_of_a_prompt_argument(mcpd, rev):
    c = StreamableClient(mcpd, rev)
    result = c.result("completion/complete", {"ref": {"type": "ref/prompt", "name": "greeting"},
                                              "argument": {"name": "name", "value": "Al"}})
    assert result["completion"]["values"] == ["Alice"], result
    none = c.result("completion/complete", {"ref": {"type": "ref/prompt", "name": "greeting"},
                                            "argument": {"name": "name", "value": "Zz"}})
    assert none["completion"]["values"] == [], none


@pytest.mark.parametrize("rev", SESSIONFUL)
def test_logging_set_level_subscribe_unsubscribe_and_ping_are_empty_results(mcpd, rev):
    c = StreamableClient(mcpd, rev)
    assert c.result("logging/setLevel", {"level": "debug"}) == {}
    assert c.result("resources/subscribe", {"uri": "server://status"}) == {}
    assert c.result("resources/unsubscribe", {"uri": "server://status"}) == {}
    assert c.result("ping") == {}
    c.rpc("logging/setLevel", {"level": "loud"}, expect_error=-32602)


# --- cancellation and the call table ---------------------------------------------------------

def test_mcp_tool_call_shows_in_mcpctl_status_while_running(mcpd):
    c = StreamableClient(mcpd, "2025-11-25")
    with mcpd.conn(10) as conn:
        conn.send(c.raw("POST", countdown_body(2, request_id="st-1")))
        call = wait_running_call(mcpd)
        assert call["owner"] == "token-1", call
        assert call["worker_pid"], call
        r = conn.read_response(10, "POST")
    assert r.status == 200, r
    msg = r.json()
    wire("2025-11-25", msg, "tools/call")
    assert msg["result"]["content"][0]["text"] == "done"
    wait_until(lambda: no_calls_in_flight(mcpd), 3, message="the finished call to leave mcpctl status")


def test_notifications_cancelled_cancels_the_call_in_its_worker(mcpd):
    c = StreamableClient(mcpd, "2025-11-25")
    before = counters(mcpd)
    workers = {k.pid for k in mcpd.worker_children()}
    with mcpd.conn(10) as conn:
        conn.send(c.raw("POST", countdown_body(30, request_id="to-cancel")))
        call = wait_running_call(mcpd)
        r = c.post({"jsonrpc": "2.0", "method": "notifications/cancelled",
                    "params": {"requestId": "to-cancel", "reason": "user changed their mind"}})
        assert r.status == 202 and r.body == b"", r
        started = time.monotonic()
        try:
            answer = conn.read_response(5, "POST")
        except ConnectionClosed as exc:   # closing the request is an acceptable end too
            answer = exc
        assert time.monotonic() - started < 4, "the cancelled request did not end promptly"
    # A cancelled request gets no JSON-RPC response (the client stopped waiting for one).
    if not isinstance(answer, Exception):
        assert b'"result"' not in answer.body and b'"to-cancel"' not in answer.body, answer
    wait_until(lambda: counters(mcpd)["calls_cancelled"] == before["calls_cancelled"] + 1, 3,
               message="calls_cancelled to count the MCP cancellation")
    wait_until(lambda: no_calls_in_flight(mcpd), 3, message="the cancelled call to leave the table")
    after = counters(mcpd)
    assert after["calls_finished"] == before["calls_finished"], after
    assert after["workers_killed"] == before["workers_killed"], "the cooperative worker was killed"
    alive = {k.pid for k in mcpd.worker_children()}
    assert call["worker_pid"] in alive and workers <= alive, f"workers replaced: {workers} -> {alive}"
    # The session carries on.
    assert c.rpc("ping")["result"] == {}


def test_cancel_all_cancels_an_mcp_tool_call_in_flight(mcpd):
    c = StreamableClient(mcpd, "2025-11-25")
    before = counters(mcpd)
    with mcpd.conn(10) as conn:
        conn.send(c.raw("POST", countdown_body(30, request_id="cx")))
        wait_running_call(mcpd)
        r = mcpd.cancel_all(ALPHA)
        assert r.status == 200, r
        assert r.json()["cancelled"] == 1, r
        answer = conn.read_response(5, "POST")
    assert answer.status == 200, answer
    msg = answer.json()
    wire("2025-11-25", msg, "tools/call")
    assert msg["id"] == "cx" and msg["result"]["isError"] is True, msg
    assert "cancel" in msg["result"]["content"][0]["text"].lower(), msg
    wait_until(lambda: counters(mcpd)["calls_cancelled"] == before["calls_cancelled"] + 1, 3,
               message="calls_cancelled to count cancel_all")


def test_cancel_all_of_another_token_leaves_the_mcp_call_alone(mcpd):
    c = StreamableClient(mcpd, "2025-11-25")
    with mcpd.conn(10) as conn:
        conn.send(c.raw("POST", countdown_body(1, request_id="mine")))
        wait_running_call(mcpd)
        r = mcpd.cancel_all(BETA)
        assert r.status == 200 and r.json()["cancelled"] == 0, r
        answer = conn.read_response(5, "POST")
    msg = answer.json()
    wire("2025-11-25", msg, "tools/call")
    assert msg["result"]["content"][0]["text"] == "done", msg


def test_delete_cancels_the_sessions_calls(mcpd):
    c = StreamableClient(mcpd, "2025-11-25")
    before = counters(mcpd)
    with mcpd.conn(10) as conn:
        conn.send(c.raw("POST", countdown_body(30, request_id="del")))
        wait_running_call(mcpd)
        assert c.delete().status == 200
        wait_until(lambda: counters(mcpd)["calls_cancelled"] == before["calls_cancelled"] + 1, 3,
                   message="DELETE to cancel the session's call")
    wait_until(lambda: no_calls_in_flight(mcpd), 3, message="no calls after DELETE")


def test_closing_a_sessionful_post_does_not_cancel_its_call(mcpd):
    """Sessionful calls survive a broken connection (the client may resume with GET)."""
    c = StreamableClient(mcpd, "2025-11-25")
    before = counters(mcpd)
    conn = mcpd.conn(10)
    conn.send(c.raw("POST", countdown_body(1, request_id="keep")))
    wait_running_call(mcpd)
    conn.close()
    wait_until(lambda: counters(mcpd)["calls_finished"] == before["calls_finished"] + 1, 4,
               message="the call to finish although its client left")
    assert counters(mcpd)["calls_cancelled"] == before["calls_cancelled"]


def test_method_other_than_get_post_delete_is_405(mcpd):
    c = StreamableClient(mcpd, "2025-11-25")
    r = c.send("PUT", b"{}")
    check_transport_error(r, 405, -32600, "2025-11-25")
    assert "POST" in (r.header("allow") or ""), r


def test_malformed_json_is_a_parse_error(mcpd):
    c = StreamableClient(mcpd, "2025-11-25")
    r = c.post(b'{"jsonrpc": "2.0", "id": 1, "method": ')
    check_transport_error(r, 400, -32700, "2025-11-25")


# --- notifications the server starts ---------------------------------------------------------

def next_notification(sse, method: str, timeout: float = 4.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ev = sse.next_event(deadline - time.monotonic())
        assert ev is not None, f"the stream ended before {method}"
        if ev.is_priming:
            continue
        msg = ev.json()
        if msg.get("method") == method:
            return msg
    raise AssertionError(f"no {method} within {timeout} s")


def test_resource_directory_changes_are_announced_on_the_get_stream(mcpd_factory, tmp_path):
    root = tmp_path / "resources"
    root.mkdir()
    (root / "first.txt").write_text("one")
    m = mcpd_factory("--resource-dir", root)
    c = StreamableClient(m, "2025-11-25")
    listed = {r["uri"] for r in c.result("resources/list")["resources"]}
    assert "file://first.txt" in listed, listed
    with m.conn(10) as conn:
        head, sse = c.open("GET", None, conn=conn)
        assert sse is not None, head
        time.sleep(1.2)  # the directory is looked at once a second
        (root / "second.txt").write_text("two")
        msg = next_notification(sse, "notifications/resources/list_changed")
        wire("2025-11-25", msg)
    listed = {r["uri"] for r in c.result("resources/list")["resources"]}
    assert {"file://first.txt", "file://second.txt"} <= listed, listed
    assert c.result("resources/read", {"uri": "file://second.txt"})["contents"][0]["text"] == "two"


def test_subscribed_status_changes_are_announced(mcpd):
    c = StreamableClient(mcpd, "2025-06-18")
    assert c.result("resources/subscribe", {"uri": "server://status"}) == {}
    with mcpd.conn(10) as conn:
        head, sse = c.open("GET", None, conn=conn)
        assert sse is not None, head
        time.sleep(1.2)
        assert c.result("tools/call", {"name": "echo", "arguments": {"message": "x"}})["content"]
        msg = next_notification(sse, "notifications/resources/updated")
        wire("2025-06-18", msg)
        assert msg["params"]["uri"] == "server://status", msg


def test_log_level_filters_tool_log_messages(mcpd_factory):
    m = mcpd_factory("--conformance-fixtures")
    c = StreamableClient(m, "2025-11-25")

    def logged_levels() -> list:
        with m.conn(10) as conn:
            head, sse = c.open("POST", request_body("tools/call", {"name": "test_tool_with_logging", "arguments": {}}),
                               conn=conn)
            if sse is None:            # nothing preceded the result: a JSON answer
                return []
            messages = check_sse_messages("2025-11-25", sse.read_to_end(), "tools/call")
        return [msg["params"]["level"] for msg in messages if msg.get("method") == "notifications/message"]

    assert logged_levels() == ["info", "info", "info"]
    assert c.result("logging/setLevel", {"level": "error"}) == {}
    assert logged_levels() == [], "info messages below the session's level were sent"
