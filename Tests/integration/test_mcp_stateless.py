"""The stateless 2026-07-28 revision on POST /mcp: server/discover, resultType and cache hints on
results, the `_meta` envelope and the headers that mirror it (MCP-Protocol-Version, Mcp-Method,
Mcp-Name), unsupported versions, unknown and removed methods, GET/DELETE refused, tool calls with
progress over SSE, cancellation when the client closes the connection, and subscriptions/listen.

Every request is written byte by byte and every message mcpd sends is checked against the
2026-07-28 schema (mcp_wire)."""

from __future__ import annotations

import base64
import json
import time

import pytest

from conftest import wait_until
from mcp_http import (await_keep_alive_comment, counters, no_calls_in_flight, wait_running_call, PV_KEY, STATELESS, SUB_KEY, McpSSE, check_sse_messages, check_transport_error,
                      content_type, json_body, raw_request, send, stateless_body, stateless_headers,
                      stateless_post, wire)

REV = STATELESS


def ok(m, method, params=None, **kw) -> dict:
    """A stateless request answered 200 with application/json: the checked result."""
    body = stateless_body(method, params)
    r = stateless_post(m, body, **kw)
    assert r.status == 200, f"{method}: {r!r}"
    assert content_type(r) == "application/json", f"{method}: {r!r}"
    msg = r.json()
    wire(REV, msg, method)
    assert msg.get("id") == body["id"] and "result" in msg, msg
    return msg["result"]


# --- server/discover and result stamps -------------------------------------------------------

def test_server_discover(mcpd):
    result = ok(mcpd, "server/discover")
    assert REV in result["supportedVersions"], result
    assert all(isinstance(v, str) for v in result["supportedVersions"]), result
    caps = result["capabilities"]
    assert {"tools", "prompts", "resources"} <= set(caps), caps
    assert "logging" not in caps, f"2026-07-28 has no logging/setLevel: {caps}"
    assert result["resultType"] == "complete", result
    assert isinstance(result["ttlMs"], int) and result["ttlMs"] >= 0, result
    assert result["cacheScope"] in ("private", "public"), result
    info = result.get("_meta", {}).get("io.modelcontextprotocol/serverInfo")
    assert info and info["name"] and info["version"], result


CACHEABLE = [("tools/list", None), ("prompts/list", None), ("resources/list", None),
             ("resources/templates/list", None), ("resources/read", {"uri": "server://status"})]
OTHERS = [("tools/call", {"name": "echo", "arguments": {"message": "stamped"}}),
          ("prompts/get", {"name": "greeting", "arguments": {"name": "Alice"}}),
          ("completion/complete", {"ref": {"type": "ref/prompt", "name": "greeting"},
                                   "argument": {"name": "name", "value": "Al"}})]


@pytest.mark.parametrize("method,params", CACHEABLE + OTHERS)
def test_every_result_has_result_type_and_lists_and_reads_a_cache_hint(mcpd, method, params):
    result = ok(mcpd, method, params)
    assert result.get("resultType") == "complete", result
    if (method, params) in CACHEABLE:
        assert isinstance(result.get("ttlMs"), int) and result["ttlMs"] >= 0, result
        assert result.get("cacheScope") in ("private", "public"), result


def test_results_carry_the_expected_content(mcpd):
    tools = ok(mcpd, "tools/list")["tools"]
    assert [t["name"] for t in tools][:2] == ["echo", "countdown"]
    assert tools[0]["title"] == "Echo" and tools[0]["annotations"]["readOnlyHint"] is True, tools[0]
    echo = ok(mcpd, "tools/call", {"name": "echo", "arguments": {"message": "héllo"}})
    assert echo["content"] == [{"type": "text", "text": "héllo"}], echo
    # Every character JSON must escape, and every kind of UTF-8, comes back as sent.
    awkward = 'q"uote\\back/slash\n\t\r\b\f\x00\x1f é ✓ 😀 \u2028 \ufeff end'
    echo = ok(mcpd, "tools/call", {"name": "echo", "arguments": {"message": awkward}})
    assert echo["content"] == [{"type": "text", "text": awkward}] and echo["isError"] is False, echo
    assert echo["resultType"] == "complete" and echo["_meta"], echo
    greeting = ok(mcpd, "prompts/get", {"name": "greeting", "arguments": {"name": "Alice"}})
    assert "Alice" in greeting["messages"][0]["content"]["text"], greeting
    completion = ok(mcpd, "completion/complete", {"ref": {"type": "ref/prompt", "name": "greeting"},
                                                  "argument": {"name": "name", "value": "Al"}})
    assert completion["completion"]["values"] == ["Alice"], completion
    status = json.loads(ok(mcpd, "resources/read", {"uri": "server://status"})["contents"][0]["text"])
    assert status["status"] == "healthy", status


def test_schema_invalid_arguments_are_a_tool_error(mcpd):
    result = ok(mcpd, "tools/call", {"name": "echo", "arguments": {"message": 42}})
    assert result["isError"] is True and result["resultType"] == "complete", result


def test_unknown_tool_is_invalid_params(mcpd):
    body = stateless_body("tools/call", {"name": "nope", "arguments": {}})
    r = stateless_post(mcpd, body)
    assert r.status in (200, 400), r
    msg = r.json()
    wire(REV, msg, "tools/call")
    assert msg["id"] == body["id"] and msg["error"]["code"] == -32602, msg


# --- the envelope and its headers ------------------------------------------------------------

def test_missing_meta_envelope_is_400_invalid_params(mcpd):
    body = stateless_body("tools/list", envelope=False)
    r = stateless_post(mcpd, body, headers=stateless_headers(body))
    msg = check_transport_error(r, 400, -32602, REV, "tools/list")
    assert msg.get("id") == body["id"], msg


@pytest.mark.parametrize("drop", [PV_KEY, "io.modelcontextprotocol/clientCapabilities"])
def test_incomplete_meta_envelope_is_400_invalid_params(mcpd, drop):
    body = stateless_body("tools/list")
    del body["params"]["_meta"][drop]
    r = stateless_post(mcpd, body, headers=stateless_headers(body))
    check_transport_error(r, 400, -32602, REV, "tools/list")


def test_protocol_version_header_mismatching_meta_is_400_header_mismatch(mcpd):
    body = stateless_body("tools/list", version="2026-07-28")
    r = stateless_post(mcpd, body, headers=stateless_headers(body, overrides={"MCP-Protocol-Version": "2099-01-01"}))
    check_transport_error(r, 400, -32020, REV, "tools/list")


def test_missing_protocol_version_header_is_400_header_mismatch(mcpd):
    body = stateless_body("tools/list")
    r = stateless_post(mcpd, body, headers=stateless_headers(body, omit=("MCP-Protocol-Version",)))
    check_transport_error(r, 400, -32020, REV, "tools/list")


@pytest.mark.parametrize("value", ["tools/call", "Tools/List", None])
def test_mcp_method_header_mismatch_is_400_header_mismatch(mcpd, value):
    body = stateless_body("tools/list")
    headers = stateless_headers(body, overrides={"Mcp-Method": value}) if value else \
        stateless_headers(body, omit=("Mcp-Method",))
    r = stateless_post(mcpd, body, headers=headers)
    check_transport_error(r, 400, -32020, REV, "tools/list")


@pytest.mark.parametrize("method,params,name", [
    ("tools/call", {"name": "echo", "arguments": {"message": "x"}}, "countdown"),
    ("tools/call", {"name": "echo", "arguments": {"message": "x"}}, None),
    ("prompts/get", {"name": "greeting"}, "summarize"),
    ("resources/read", {"uri": "server://status"}, "server://other"),
])
def test_mcp_name_header_mismatch_is_400_header_mismatch(mcpd, method, params, name):
    body = stateless_body(method, params)
    headers = stateless_headers(body, overrides={"Mcp-Name": name}) if name else \
        stateless_headers(body, omit=("Mcp-Name",))
    r = stateless_post(mcpd, body, headers=headers)
    check_transport_error(r, 400, -32020, REV, method)


def test_mcp_name_header_may_be_base64_encoded(mcpd):
    body = stateless_body("tools/call", {"name": "echo", "arguments": {"message": "b64"}})
    encoded = "=?base64?" + base64.b64encode(b"echo").decode() + "?="
    r = stateless_post(mcpd, body, headers=stateless_headers(body, overrides={"Mcp-Name": encoded}))
    assert r.status == 200, r
    msg = r.json()
    wire(REV, msg, "tools/call")
    assert msg["result"]["content"][0]["text"] == "b64", msg


@pytest.mark.parametrize("version", ["2027-01-01", "2030-12-31"])
def test_unsupported_version_is_400_with_the_supported_list(mcpd, version):
    body = stateless_body("tools/list", version=version)
    r = stateless_post(mcpd, body, headers=stateless_headers(body, version=version))
    msg = check_transport_error(r, 400, -32022, REV, "tools/list")
    data = msg["error"]["data"]
    assert isinstance(data["supported"], list) and REV in data["supported"], msg
    assert data["requested"] == version, msg


def test_unknown_method_is_404_method_not_found(mcpd):
    body = stateless_body("tools/frobnicate")
    r = stateless_post(mcpd, body)
    msg = check_transport_error(r, 404, -32601, REV, "tools/frobnicate")
    assert msg.get("id") == body["id"], msg


@pytest.mark.parametrize("method,params", [
    ("initialize", {"protocolVersion": REV, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}),
    ("ping", None), ("logging/setLevel", {"level": "debug"}),
    ("resources/subscribe", {"uri": "server://status"}), ("resources/unsubscribe", {"uri": "server://status"}),
])
def test_removed_methods_are_404_method_not_found(mcpd, method, params):
    body = stateless_body(method, params)
    r = stateless_post(mcpd, body)
    check_transport_error(r, 404, -32601, REV, method)


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_get_and_delete_are_405(mcpd, method):
    headers = [("MCP-Protocol-Version", REV), ("Accept", "text/event-stream")]
    r = send(mcpd, method, "/mcp", headers)
    check_transport_error(r, 405, -32600, REV)
    assert "POST" in (r.header("allow") or ""), r


def test_batch_is_400(mcpd):
    body = [stateless_body("tools/list", request_id=1), stateless_body("prompts/list", request_id=2)]
    r = send(mcpd, "POST", "/mcp", [("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream"),
                                    ("MCP-Protocol-Version", REV), ("Mcp-Method", "tools/list")], json_body(body))
    check_transport_error(r, 400, -32600, REV)


def test_without_authorization_is_401(mcpd):
    body = stateless_body("tools/list")
    r = stateless_post(mcpd, body, token=None)
    assert r.status == 401, r
    assert (r.header("www-authenticate") or "").startswith("Bearer"), r


# --- tool calls, progress and cancellation ---------------------------------------------------

def test_countdown_with_progress_token_streams_over_sse(mcpd):
    body = stateless_body("tools/call", {"name": "countdown", "arguments": {"seconds": 2},
                                         "_meta": {"progressToken": "p-7"}}, request_id="s-1")
    with mcpd.conn(10) as c:
        c.send(raw_request("POST", "/mcp", stateless_headers(body), json_body(body)))
        head = c.read_head(5)
        assert head.status == 200 and content_type(head) == "text/event-stream", head
        events = McpSSE(c, head).read_to_end(10)
    assert all(e.id is None for e in events), \
        f"no SSE ids on 2026-07-28 streams (a client would try to resume with GET, which is 405): {events}"
    msgs = check_sse_messages(REV, events, "tools/call")
    *notes, last = msgs
    assert [n["method"] for n in notes] == ["notifications/progress"] * 2, msgs
    assert all(n["params"]["progressToken"] == "p-7" for n in notes), notes
    assert last["id"] == "s-1" and last["result"]["content"][0]["text"] == "done", last
    assert last["result"]["resultType"] == "complete", last


def test_progress_token_without_sse_accept_gives_json(mcpd):
    body = stateless_body("tools/call", {"name": "countdown", "arguments": {"seconds": 1},
                                         "_meta": {"progressToken": 1}})
    r = stateless_post(mcpd, body, headers=stateless_headers(body, accept="application/json"), timeout=5)
    assert r.status == 200 and content_type(r) == "application/json", r
    msg = r.json()
    wire(REV, msg, "tools/call")
    assert msg["result"]["content"][0]["text"] == "done", msg


@pytest.mark.parametrize("with_progress", [False, True], ids=["json", "sse"])
def test_closing_the_connection_cancels_the_call_in_its_worker(mcpd, with_progress):
    params = {"name": "countdown", "arguments": {"seconds": 30}}
    if with_progress:
        params["_meta"] = {"progressToken": "gone"}
    body = stateless_body("tools/call", params)
    before = counters(mcpd)
    workers_before = {k.pid for k in mcpd.worker_children()}
    c = mcpd.conn(10)
    c.send(raw_request("POST", "/mcp", stateless_headers(body), json_body(body)))
    call = wait_running_call(mcpd)
    assert call["owner"] == "token-1", call
    if with_progress:
        head = c.read_head(5)
        assert content_type(head) == "text/event-stream", head
        first = McpSSE(c, head).next_event(5)
        assert first.json()["method"] == "notifications/progress", first
    c.close()
    wait_until(lambda: counters(mcpd)["calls_cancelled"] == before["calls_cancelled"] + 1, 4,
               message="closing the connection to cancel the stateless call")
    wait_until(lambda: no_calls_in_flight(mcpd), 3, message="the cancelled call to leave the table")
    after = counters(mcpd)
    assert after["calls_finished"] == before["calls_finished"], after
    assert after["workers_killed"] == before["workers_killed"], "the cooperative worker was killed"
    time.sleep(0.3)
    alive = {k.pid for k in mcpd.worker_children()}
    assert call["worker_pid"] in alive, f"the call's worker {call['worker_pid']} is gone: {alive}"
    assert workers_before <= alive, f"workers were replaced: {workers_before} -> {alive}"
    assert ok(mcpd, "tools/call", {"name": "echo", "arguments": {"message": "still fine"}})["content"][0]["text"] \
        == "still fine"


def test_notification_is_202(mcpd):
    note = {"jsonrpc": "2.0", "method": "notifications/cancelled",
            "params": {"requestId": 1, "_meta": {PV_KEY: REV, "io.modelcontextprotocol/clientCapabilities": {}}}}
    r = send(mcpd, "POST", "/mcp", [("Content-Type", "application/json"), ("MCP-Protocol-Version", REV),
                                    ("Mcp-Method", "notifications/cancelled")], json_body(note))
    assert r.status == 202 and r.body == b"", r


# --- subscriptions/listen --------------------------------------------------------------------

def open_listen(m, body, accept="application/json, text/event-stream", timeout=5.0):
    c = m.conn(10)
    c.send(raw_request("POST", "/mcp", stateless_headers(body, accept=accept), json_body(body)))
    head = c.read_head(timeout)
    return c, head


@pytest.mark.parametrize("request_id", ["listen-1", 41])
def test_subscriptions_listen_acknowledges_first(mcpd, request_id):
    body = stateless_body("subscriptions/listen", {"notifications": {"toolsListChanged": True,
                                                                     "resourceSubscriptions": ["server://status"]}},
                          request_id=request_id)
    c, head = open_listen(mcpd, body)
    with c:
        assert head.status == 200 and content_type(head) == "text/event-stream", head
        sse = McpSSE(c, head)
        ev = sse.next_event(3)
        assert ev is not None and not ev.is_priming, ev
        assert ev.id is None, f"no SSE ids on 2026-07-28 streams (nothing to resume): {ev}"
        msg = ev.json()
        wire(REV, msg, "subscriptions/listen")
        assert msg["method"] == "notifications/subscriptions/acknowledged", msg
        acked = msg["params"]["notifications"]
        assert acked.get("toolsListChanged") is True, msg
        assert acked.get("resourceSubscriptions") == ["server://status"], msg
        assert "promptsListChanged" not in acked, f"not requested, so not acknowledged: {msg}"
        # NotificationMetaObject: "The value is the JSON-RPC ID of the subscriptions/listen request
        # that opened the stream" (same JSON type).
        sub = msg["params"]["_meta"][SUB_KEY]
        assert sub == request_id and type(sub) is type(request_id), \
            f"subscriptionId must be the listen request's id {request_id!r}: {msg}"


def test_subscriptions_listen_without_sse_accept_is_406(mcpd):
    body = stateless_body("subscriptions/listen", {"notifications": {"toolsListChanged": True}})
    c, head = open_listen(mcpd, body, accept="application/json")
    with c:
        assert head.status == 406, f"a listen stream needs Accept: text/event-stream: {head!r}"
        head.body = c.read_body(head, time.monotonic() + 5)


def test_listen_stream_gets_keep_alive_comments(mcpd_factory):
    m = mcpd_factory("--keepalive-interval", "1")
    body = stateless_body("subscriptions/listen", {"notifications": {"toolsListChanged": True}})
    c, head = open_listen(m, body)
    with c:
        assert head.status == 200, head
        sse = McpSSE(c, head)
        sse.next_event(3)
        await_keep_alive_comment(sse, "listen")


def test_listen_stream_hears_resource_list_changes(mcpd_factory, tmp_path):
    root = tmp_path / "resources"
    root.mkdir()
    m = mcpd_factory("--resource-dir", root)
    body = stateless_body("subscriptions/listen", {"notifications": {"resourcesListChanged": True}},
                          request_id="listen-7")
    c, head = open_listen(m, body)
    with c:
        assert head.status == 200, head
        sse = McpSSE(c, head)
        ack = sse.next_event(3).json()
        assert ack["method"] == "notifications/subscriptions/acknowledged", ack
        time.sleep(1.2)
        (root / "new.txt").write_text("fresh")
        deadline = time.monotonic() + 4
        while True:
            ev = sse.next_event(deadline - time.monotonic())
            assert ev is not None, "the listen stream ended"
            msg = ev.json()
            if msg["method"] != "notifications/subscriptions/acknowledged":
                break
        wire(REV, msg)
        assert msg["method"] == "notifications/resources/list_changed", msg
        assert msg["params"]["_meta"][SUB_KEY] == "listen-7", msg


def test_server_info_is_whole_on_discover_and_brief_elsewhere(mcpd):
    """Every response names its server; only server/discover carries the description and icon,
    which would otherwise triple the size of each tools/call answer."""
    key = "io.modelcontextprotocol/serverInfo"
    whole = ok(mcpd, "server/discover")["_meta"][key]
    assert whole["icons"] and whole["description"], whole
    brief = ok(mcpd, "tools/call", {"name": "echo", "arguments": {"message": "m"}})["_meta"][key]
    assert brief == {"name": whole["name"], "version": whole["version"], "title": whole["title"]}, brief
