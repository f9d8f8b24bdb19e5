"""The 2024-11-05 HTTP+SSE transport: GET /sse opens the session's stream, whose first event names
the endpoint to POST to; each POST is answered 202 and every response travels on the stream as an
`event: message`. The session lives exactly as long as its stream.

Every message mcpd sends is checked against the negotiated revision's schema (mcp_wire)."""

from __future__ import annotations

import re

import pytest

from conftest import ALPHA, BETA, wait_until
from mcp_http import (LegacyClient, check_transport_error, content_type, json_body, raw_request,
                      request_body, send, wire)


def test_sse_opens_with_the_endpoint_event(mcpd):
    client = LegacyClient(mcpd)
    try:
        ev = client.endpoint_event
        assert re.fullmatch(r"/messages\?session_id=[\x21-\x7e]+", ev.data), ev
        assert (client.head.header("cache-control") or "").lower() == "no-cache", client.head
        other = LegacyClient(mcpd)
        assert other.session_id != client.session_id
        other.close()
    finally:
        client.close()


def test_post_is_202_and_responses_arrive_as_message_events(mcpd):
    client = LegacyClient(mcpd)
    try:
        init = client.initialize("2024-11-05")
        assert init["result"]["protocolVersion"] == "2024-11-05", init
        assert "completions" not in init["result"]["capabilities"], init
        assert "title" not in init["result"]["serverInfo"], init
        r = client.post(request_body("ping"))
        assert r.status == 202, r
        msg = client.next_message()
        wire("2024-11-05", msg, "ping")
        assert msg["result"] == {}, msg
        echo = client.request("tools/call", {"name": "echo", "arguments": {"message": "over sse"}})
        assert echo["result"]["content"] == [{"type": "text", "text": "over sse"}], echo
        assert client.request("no/such", {})["error"]["code"] == -32601  # on the stream too
    finally:
        client.close()


def test_requests_before_initialize_are_refused_on_the_stream(mcpd):
    client = LegacyClient(mcpd)
    try:
        msg = client.request("tools/list")
        assert msg["error"]["code"] == -32600, msg
    finally:
        client.close()


def test_2024_11_05_tools_have_no_annotations_or_title(mcpd):
    client = LegacyClient(mcpd)
    try:
        client.initialize("2024-11-05")
        tools = {t["name"]: t for t in client.request("tools/list")["result"]["tools"]}
        assert {"echo", "countdown"} <= set(tools), tools
        for tool in tools.values():
            assert "annotations" not in tool, f"annotations are 2025-03-26's: {tool}"
            assert "title" not in tool, f"title is 2025-06-18's: {tool}"
        prompts = client.request("prompts/list")["result"]["prompts"]
        assert all("title" not in p for p in prompts), prompts
    finally:
        client.close()


def test_2024_11_05_progress_has_no_message(mcpd):
    client = LegacyClient(mcpd)
    try:
        client.initialize("2024-11-05")
        body = request_body("tools/call", {"name": "countdown", "arguments": {"seconds": 1},
                                           "_meta": {"progressToken": "lp"}})
        assert client.post(body).status == 202
        progress = client.next_message()
        wire("2024-11-05", progress)
        assert progress["method"] == "notifications/progress", progress
        assert progress["params"]["progressToken"] == "lp" and "message" not in progress["params"], progress
        result = client.next_message(5)
        wire("2024-11-05", result, "tools/call")
        assert result["id"] == body["id"] and result["result"]["content"][0]["text"] == "done", result
    finally:
        client.close()


def test_a_newer_revision_may_be_negotiated_over_sse(mcpd):
    client = LegacyClient(mcpd)
    try:
        init = client.initialize("2025-03-26")
        assert init["result"]["protocolVersion"] == "2025-03-26"
        tools = client.request("tools/list")["result"]["tools"]
        assert all("annotations" in t for t in tools), tools
    finally:
        client.close()


def test_missing_session_id_is_400(mcpd):
    for path in ("/messages", "/messages?session_id=", "/messages?other=1"):
        r = send(mcpd, "POST", path, [("Content-Type", "application/json")], json_body(request_body("ping")))
        check_transport_error(r, 400, -32600)


def test_unknown_session_is_404(mcpd):
    r = send(mcpd, "POST", "/messages?session_id=0123456789abcdef0123456789abcdef",
             [("Content-Type", "application/json")], json_body(request_body("ping")))
    check_transport_error(r, 404, -32001)


def test_another_tokens_session_is_404(mcpd):
    client = LegacyClient(mcpd, token=ALPHA)
    try:
        r = client.post(request_body("ping"), token=BETA)
        check_transport_error(r, 404, -32001)
    finally:
        client.close()


def test_session_ends_with_its_stream(mcpd):
    client = LegacyClient(mcpd)
    client.initialize()
    endpoint = client.endpoint
    client.close()

    def gone():
        r = send(mcpd, "POST", endpoint, [("Content-Type", "application/json")], json_body(request_body("ping")))
        return r.status == 404 and r
    r = wait_until(gone, 3, message="the legacy session to end with its stream")
    check_transport_error(r, 404, -32001)


def test_sse_without_authorization_is_401(mcpd):
    with mcpd.conn(5) as c:
        c.send(raw_request("GET", "/sse", [("Accept", "text/event-stream")], None, token=None))
        r = c.read_response(5)
    assert r.status == 401 and (r.header("www-authenticate") or "").startswith("Bearer"), r


@pytest.mark.parametrize("method,path", [("POST", "/sse"), ("GET", "/messages?session_id=x")])
def test_wrong_methods_are_405(mcpd, method, path):
    r = send(mcpd, method, path, [("Content-Type", "application/json")], b"{}" if method == "POST" else None)
    check_transport_error(r, 405, -32600)
    assert content_type(r) == "application/json"
