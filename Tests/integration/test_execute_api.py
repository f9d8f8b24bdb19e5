"""The seed-000 execute/stream API: auth, manifest, execute, stream, call status, validation and
idempotent request_id, against a real mcpd and its workers."""

import re
import time
import uuid

import pytest

from conftest import (ALPHA, BETA, UUID4, assert_error, assert_well_formed,
                      json_body, now_ms)

RANDOM_ID = "6f1c1d34-2b7e-4c55-9a1e-3f0b2d4c5e6a"


# --- authentication --------------------------------------------------------------------------

AUTHED = [
    ("GET", "/mcp/manifest"),
    ("POST", "/mcp/execute"),
    ("GET", f"/mcp/stream/{RANDOM_ID}"),
    ("GET", f"/mcp/calls/{RANDOM_ID}"),
    ("POST", f"/mcp/cancel/{RANDOM_ID}"),
    ("POST", "/mcp/cancel_all"),
]


def _req(m, method, path, auth_header):
    headers = {"Content-Type": "application/json"}
    if auth_header is not None:
        headers["Authorization"] = auth_header
    body = json_body({"tool": "echo", "input": {"message": "x"}}) if method == "POST" else None
    with m.conn() as c:
        return c.request(method, path, headers=headers, body=body)


@pytest.mark.parametrize("method,path", AUTHED)
def test_missing_authorization_gives_401_with_www_authenticate(mcpd, method, path):
    r = _req(mcpd, method, path, None)
    assert_error(r, 401, "AUTH_ERROR")
    www = r.header("www-authenticate")
    assert www is not None and www.split()[0] == "Bearer", f"WWW-Authenticate: {www!r}"


@pytest.mark.parametrize("value", ["Basic YWxwaGE6dG9rZW4=", "Bearer", "Bearer ", "alpha-token",
                                   "Token alpha-token"])
def test_malformed_authorization_gives_401(mcpd, value):
    r = _req(mcpd, "GET", "/mcp/manifest", value)
    assert_error(r, 401, "AUTH_ERROR")
    assert (r.header("www-authenticate") or "").startswith("Bearer")


@pytest.mark.parametrize("method,path", AUTHED)
def test_unknown_token_gives_403(mcpd, method, path):
    r = _req(mcpd, method, path, "Bearer not-a-configured-token")
    assert_error(r, 403, "AUTHZ_ERROR")


def test_bearer_scheme_is_case_insensitive(mcpd):
    r = _req(mcpd, "GET", "/mcp/manifest", "bearer alpha-token")
    assert r.status == 200, r


def test_both_configured_tokens_are_accepted(mcpd):
    for token in (ALPHA, BETA):
        assert mcpd.get("/mcp/manifest", token=token).status == 200


# --- manifest --------------------------------------------------------------------------------

def test_manifest_lists_echo_and_countdown(mcpd_factory):
    m = mcpd_factory("--call-deadline", "120", "--tool-deadline", "countdown=7")
    r = m.get("/mcp/manifest")
    assert r.status == 200, r
    assert (r.header("content-type") or "").startswith("application/json")
    tools = {t["name"]: t for t in r.json()["tools"]}
    assert {"echo", "countdown"} <= set(tools)
    for name, tool in tools.items():
        assert {"name", "description", "input_schema", "deadline_seconds"} <= set(tool), tool
        assert isinstance(tool["description"], str) and tool["description"], tool
        assert isinstance(tool["input_schema"], dict), tool
        assert tool["input_schema"].get("type") == "object", tool
    assert tools["echo"]["input_schema"]["properties"]["message"]["type"] == "string"
    assert tools["countdown"]["input_schema"]["properties"]["seconds"]["type"] == "integer"
    assert tools["countdown"]["deadline_seconds"] == 7
    assert tools["echo"]["deadline_seconds"] == 120


# --- execute and stream ----------------------------------------------------------------------

def test_execute_returns_started_and_a_uuid(mcpd):
    r = mcpd.execute("echo", {"message": "hi"})
    assert r.status == 200, r
    assert (r.header("content-type") or "").startswith("application/json")
    body = r.json()
    assert set(body) == {"call_id", "status"}
    assert body["status"] == "started"
    assert UUID4.match(body["call_id"]), body


@pytest.mark.parametrize("message", ["hello", "", "quotes \" and \\ backslash\nnewline\ttab",
                                     "unicode ✓ café 日本 😀", "\u0001control"])
def test_echo_final_text_equals_message(mcpd, message):
    events = mcpd.run("echo", {"message": message})
    assert_well_formed(events)
    assert events[-1].event == "final"
    assert events[-1].data == {"type": "final", "text": message}


def test_stream_response_headers_and_keep_alive_after_end(mcpd):
    call_id = mcpd.start_call("echo", {"message": "framing"})
    with mcpd.conn() as c:
        head, sse = c.open_stream(call_id)
        assert head.status == 200
        assert (head.header("content-type") or "").split(";")[0].strip() == "text/event-stream"
        assert (head.header("transfer-encoding") or "").lower() == "chunked"
        events = sse.read_until_terminal()
        assert sse.ended
        assert_well_formed(events)
        # The response ended with its terminating chunk; the connection stays usable.
        r = c.request("GET", "/healthz")
        assert r.status == 200


def test_countdown_streams_partials_then_done(mcpd):
    started = time.monotonic()
    call_id = mcpd.start_call("countdown", {"seconds": 2})
    with mcpd.conn() as c:
        head, sse = c.open_stream(call_id)
        assert head.status == 200
        events = sse.read_until_terminal(10)
    assert_well_formed(events)
    assert events[0].received_at - started < 0.6, "the first partial comes immediately"
    assert [(e.event, e.data["text"]) for e in events] == [
        ("partial", "2"), ("partial", "1"), ("final", "done")]
    gap = events[1].received_at - events[0].received_at
    assert 0.7 <= gap <= 1.6, f"partials should be about a second apart, were {gap:.2f}s"


def test_sse_wire_format_is_exact(mcpd):
    """`id: <n>\nevent: <name>\ndata: <json>\n\n`, one JSON line per event."""
    call_id = mcpd.start_call("countdown", {"seconds": 1})
    with mcpd.conn() as c:
        _, sse = c.open_stream(call_id)
        sse.read_until_terminal(10)
    raw = re.sub(r"(?m)^: keep-alive\n\n", "", sse.raw)
    assert re.fullmatch(r'id: 1\nevent: partial\ndata: \{[^\n]*\}\n\n'
                        r'id: 2\nevent: final\ndata: \{[^\n]*\}\n\n', raw), repr(sse.raw)


def test_countdown_zero_finishes_without_partials(mcpd):
    events = mcpd.run("countdown", {"seconds": 0})
    assert_well_formed(events)
    assert [(e.event, e.data["text"]) for e in events] == [("final", "done")]


def test_stream_after_end_replays_every_event(mcpd):
    call_id = mcpd.start_call("countdown", {"seconds": 2})
    live = mcpd.stream(call_id, timeout=10)
    assert mcpd.call(call_id)["status"] == "finished"
    replay1 = mcpd.stream(call_id)
    replay2 = mcpd.stream(call_id)
    as_tuples = lambda evs: [(e.id, e.event, e.data) for e in evs]  # noqa: E731
    assert as_tuples(replay1) == as_tuples(live) == as_tuples(replay2)
    assert [e.id for e in replay1] == [1, 2, 3]


def test_stream_opened_late_for_an_echo_replays_final(mcpd):
    call_id = mcpd.start_call("echo", {"message": "late reader"})
    mcpd.wait_status(call_id, "finished")
    events = mcpd.stream(call_id)
    assert_well_formed(events)
    assert [(e.id, e.event, e.data["text"]) for e in events] == [(1, "final", "late reader")]


def test_last_event_id_skips_seen_events(mcpd):
    call_id = mcpd.start_call("countdown", {"seconds": 2})
    mcpd.stream(call_id, timeout=10)
    events = mcpd.stream(call_id, last_event_id=1)
    assert [(e.id, e.event, e.data["text"]) for e in events] == [(2, "partial", "1"), (3, "final", "done")]
    events = mcpd.stream(call_id, last_event_id=2)
    assert [(e.id, e.event) for e in events] == [(3, "final")]


def test_last_event_id_on_a_live_stream(mcpd):
    call_id = mcpd.start_call("countdown", {"seconds": 3})
    with mcpd.conn() as c1, mcpd.conn() as c2:
        _, s1 = c1.open_stream(call_id)
        assert s1.next_event(5).id == 1
        _, s2 = c2.open_stream(call_id, last_event_id=1)
        events = s2.read_until_terminal(10)
        s1.read_until_terminal(10)
    assert [(e.id, e.data["text"]) for e in events] == [(2, "2"), (3, "1"), (4, "done")]


def test_last_event_id_ahead_of_a_live_call(mcpd_factory):
    """Last-Event-ID also filters events produced after the stream opened (a queued call here)."""
    m = mcpd_factory("--workers-min", "1", "--workers-max", "1")
    first = m.start_call("countdown", {"seconds": 1})
    m.wait_status(first, "running", timeout=3)
    queued = m.start_call("countdown", {"seconds": 2})
    assert m.call(queued)["status"] == "pending"
    events = m.stream(queued, last_event_id=1, timeout=10)
    assert [(e.id, e.data["text"]) for e in events] == [(2, "1"), (3, "done")]


def test_two_live_streams_see_the_same_events(mcpd):
    call_id = mcpd.start_call("countdown", {"seconds": 1})
    with mcpd.conn() as c1, mcpd.conn() as c2:
        _, s1 = c1.open_stream(call_id)
        _, s2 = c2.open_stream(call_id)
        e1, e2 = s1.read_until_terminal(10), s2.read_until_terminal(10)
    assert [(e.id, e.event, e.data) for e in e1] == [(e.id, e.event, e.data) for e in e2]
    assert [e.data["text"] for e in e1] == ["1", "done"]


def test_keep_alive_comments_on_an_idle_stream(mcpd_factory):
    m = mcpd_factory("--keepalive-interval", "0.2")
    call_id = m.start_call("countdown", {"seconds": 2})
    with m.conn() as c:
        _, sse = c.open_stream(call_id)
        events = sse.read_until_terminal(10)
    assert [e.data["text"] for e in events] == ["2", "1", "done"]
    assert sse.comments.count("keep-alive") >= 2, sse.comments


def test_stream_timeout_ends_the_stream_but_not_the_call(mcpd_factory):
    m = mcpd_factory("--stream-timeout", "1")
    call_id = m.start_call("countdown", {"seconds": 5})
    with m.conn() as c:
        started = time.monotonic()
        _, sse = c.open_stream(call_id)
        while sse.next_event(6) is not None:
            pass
        elapsed = time.monotonic() - started
        assert 0.8 <= elapsed <= 3.0, f"stream ended after {elapsed:.2f}s with --stream-timeout 1"
        assert all(e.event == "partial" for e in sse.events), sse.events
        assert c.request("GET", "/healthz").status == 200
    assert m.call(call_id)["status"] == "running"
    assert m.cancel(call_id).status == 200


# --- call status -----------------------------------------------------------------------------

def test_call_status_transitions(mcpd):
    before = now_ms()
    call_id = mcpd.start_call("countdown", {"seconds": 2}, session_id="sess-1", request_id="req-st")
    after = now_ms()
    first = mcpd.call(call_id)
    assert first["status"] in ("started", "pending", "running"), first
    running = mcpd.wait_status(call_id, "running", timeout=3)
    assert set(running) == {"call_id", "tool", "status", "session_id", "request_id", "created_at_ms",
                            "worker_pid"}, running
    assert running["call_id"] == call_id
    assert running["tool"] == "countdown"
    assert running["session_id"] == "sess-1"
    assert running["request_id"] == "req-st"
    assert before - 1000 <= running["created_at_ms"] <= after + 1000
    pid = running["worker_pid"]
    assert isinstance(pid, int) and pid > 0
    assert pid in {k.pid for k in mcpd.worker_children()}, "worker_pid is not a child of mcpd"
    mcpd.stream(call_id, timeout=10)
    done = mcpd.call(call_id)
    assert done["status"] == "finished"
    assert done["worker_pid"] is None
    assert done["created_at_ms"] == running["created_at_ms"]


def test_call_without_session_or_request_id_has_nulls(mcpd):
    call_id = mcpd.start_call("echo", {"message": "n"})
    mcpd.stream(call_id)
    c = mcpd.call(call_id)
    assert c["session_id"] is None and c["request_id"] is None and c["worker_pid"] is None
    assert c["status"] == "finished" and c["tool"] == "echo"


def test_metadata_and_session_are_accepted(mcpd):
    events = mcpd.run("echo", {"message": "meta"}, session_id="s", metadata={"a": [1, 2], "b": None})
    assert events[-1].data["text"] == "meta"


# --- validation ------------------------------------------------------------------------------

def post_execute_raw(m, body: bytes, token=ALPHA):
    with m.conn() as c:
        return c.request("POST", "/mcp/execute", headers={"Content-Type": "application/json"},
                         body=body, token=token)


@pytest.mark.parametrize("body", [b"{not json", b"", b"[1,2", b"{\"tool\": \"echo\",}", b"\xff\xfe"],
                         ids=["garbage", "empty", "truncated", "trailing-comma", "not-utf8"])
def test_bad_json_gives_422(mcpd, body):
    assert_error(post_execute_raw(mcpd, body), 422, "VALIDATION_ERROR")


@pytest.mark.parametrize("payload", [[1, 2], "echo", 5, None])
def test_non_object_body_gives_422(mcpd, payload):
    assert_error(post_execute_raw(mcpd, json_body(payload)), 422, "VALIDATION_ERROR")


@pytest.mark.parametrize("payload,field", [
    ({"input": {"message": "x"}}, "tool"),
    ({"tool": 5, "input": {"message": "x"}}, "tool"),
    ({"tool": ["echo"], "input": {"message": "x"}}, "tool"),
    ({"tool": "echo", "input": "message"}, "input"),
    ({"tool": "echo", "input": [1]}, "input"),
    ({"tool": "echo", "input": {"message": 5}}, "input.message"),
    ({"tool": "echo", "input": {"message": None}}, "input.message"),
    ({"tool": "echo", "input": {"message": ["a"]}}, "input.message"),
    ({"tool": "countdown", "input": {"seconds": "3"}}, "input.seconds"),
    ({"tool": "countdown", "input": {"seconds": 1.5}}, "input.seconds"),
    ({"tool": "countdown", "input": {"seconds": True}}, "input.seconds"),
    ({"tool": "countdown", "input": {"seconds": -1}}, "input.seconds"),
    ({"tool": "countdown", "input": {"seconds": 3601}}, "input.seconds"),
    ({"tool": "echo", "input": {"message": "x"}, "session_id": 5}, "session_id"),
    ({"tool": "echo", "input": {"message": "x"}, "request_id": {"a": 1}}, "request_id"),
    ({"tool": "echo", "input": {"message": "x"}, "metadata": "meta"}, "metadata"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_wrong_field_types_name_the_field(mcpd, payload, field):
    assert_error(post_execute_raw(mcpd, json_body(payload)), 422, "VALIDATION_ERROR", field=field)


@pytest.mark.parametrize("tool", ["echo", "countdown"])
def test_validation_follows_the_advertised_schema(mcpd, tool):
    """Input is checked against the input_schema the manifest advertises."""
    schema = {t["name"]: t for t in mcpd.get("/mcp/manifest").json()["tools"]}[tool]["input_schema"]
    valid = {"echo": {"message": "ok"}, "countdown": {"seconds": 0}}[tool]
    for name in schema.get("required", []):
        partial = {k: v for k, v in valid.items() if k != name}
        assert_error(mcpd.execute(tool, partial), 422, "VALIDATION_ERROR", field=f"input.{name}")
    if schema.get("required"):
        # input defaults to {} when omitted, which then lacks the required fields
        assert_error(mcpd.execute(tool, None), 422, "VALIDATION_ERROR",
                     field=f"input.{schema['required'][0]}")
    if schema.get("additionalProperties") is False:
        assert_error(mcpd.execute(tool, dict(valid, extra=1)), 422, "VALIDATION_ERROR", field="input.extra")
    assert mcpd.run(tool, valid)[-1].event == "final"


def test_countdown_bounds_are_inclusive(mcpd):
    r = mcpd.execute("countdown", {"seconds": 3600})
    assert r.status == 200, r
    assert mcpd.cancel(r.json()["call_id"]).status == 200
    assert mcpd.run("countdown", {"seconds": 0})[-1].data["text"] == "done"


def test_validation_failure_starts_no_call(mcpd):
    assert_error(mcpd.execute("countdown", {"seconds": "x"}), 422, "VALIDATION_ERROR")
    r = mcpd.cancel_all()
    assert r.status == 200 and r.json() == {"cancelled": 0, "call_ids": []}


@pytest.mark.parametrize("tool", ["nope", "ECHO", "echo "])
def test_unknown_tool_gives_404(mcpd, tool):
    assert_error(mcpd.execute(tool, {"message": "x"}), 404, "TOOL_NOT_FOUND")


@pytest.mark.parametrize("call_id", [RANDOM_ID, str(uuid.uuid4()), "not-a-uuid"])
def test_unknown_call_id_gives_404_call_not_found(mcpd, call_id):
    assert_error(mcpd.get(f"/mcp/calls/{call_id}"), 404, "CALL_NOT_FOUND")
    assert_error(mcpd.cancel(call_id), 404, "CALL_NOT_FOUND")
    with mcpd.conn() as c:
        head, sse = c.open_stream(call_id)
        assert sse is None
        assert_error(head, 404, "CALL_NOT_FOUND")


# --- idempotent request_id -------------------------------------------------------------------

def test_same_request_id_returns_same_call_while_running_and_after(mcpd):
    first = mcpd.execute("countdown", {"seconds": 2}, request_id="idem-1")
    assert first.status == 200 and first.json()["status"] == "started", first
    call_id = first.json()["call_id"]
    mcpd.wait_status(call_id, "running", timeout=3)
    again = mcpd.execute("countdown", {"seconds": 2}, request_id="idem-1")
    assert again.status == 200, again
    assert again.json() == {"call_id": call_id, "status": "running"}
    events = mcpd.stream(call_id, timeout=10)
    # The tool ran once: one countdown's events, nothing doubled.
    assert [(e.id, e.data["text"]) for e in events] == [(1, "2"), (2, "1"), (3, "done")]
    after = mcpd.execute("countdown", {"seconds": 2}, request_id="idem-1")
    assert after.status == 200
    assert after.json() == {"call_id": call_id, "status": "finished"}
    assert mcpd.call(call_id)["status"] == "finished"
    # No second call appeared for this owner.
    assert mcpd.cancel_all().json() == {"cancelled": 0, "call_ids": []}
    assert [(e.id, e.data["text"]) for e in mcpd.stream(call_id)] == [(1, "2"), (2, "1"), (3, "done")]


def test_same_request_id_echo_runs_once(mcpd):
    a = mcpd.execute("echo", {"message": "once"}, request_id="idem-echo").json()["call_id"]
    mcpd.wait_status(a, "finished")
    b = mcpd.execute("echo", {"message": "once"}, request_id="idem-echo")
    assert b.json() == {"call_id": a, "status": "finished"}


def test_request_id_is_scoped_per_owner(mcpd):
    a = mcpd.start_call("countdown", {"seconds": 1}, token=ALPHA, request_id="shared-rid")
    b = mcpd.start_call("countdown", {"seconds": 1}, token=BETA, request_id="shared-rid")
    assert a != b
    ea, eb = mcpd.stream(a, ALPHA, timeout=10), mcpd.stream(b, BETA, timeout=10)
    assert ea[-1].data["text"] == eb[-1].data["text"] == "done"
    assert mcpd.execute("countdown", {"seconds": 1}, token=BETA,
                        request_id="shared-rid").json()["call_id"] == b


def test_different_request_ids_make_different_calls(mcpd):
    a = mcpd.start_call("echo", {"message": "a"}, request_id="r-a")
    b = mcpd.start_call("echo", {"message": "a"}, request_id="r-b")
    c = mcpd.start_call("echo", {"message": "a"})
    d = mcpd.start_call("echo", {"message": "a"})
    assert len({a, b, c, d}) == 4
