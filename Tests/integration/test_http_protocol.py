"""HTTP/1.1 behaviour of mcpd's listener: framing, keep-alive, pipelining, limits and error answers.

Every request here is written byte by byte on a raw socket so that the framing under test is exactly
what reaches mcpd. HTTP-level errors (400/408/413/431/501) must answer with the JSON error shape,
carry `Connection: close` and then close the connection.
"""

import select
import time

import pytest

from conftest import ALPHA, HttpConnection, SSEStream, assert_error, build_request, json_body


def expect_http_error_and_close(conn: HttpConnection, status: int, code: str, timeout=10.0):
    resp = conn.read_response(timeout)
    assert_error(resp, status, code, http_level=True)
    assert conn.wait_closed(3.0), "mcpd kept the connection open after an HTTP-level error"
    return resp


def execute_bytes(message: str, headers=None) -> bytes:
    body = json_body({"tool": "echo", "input": {"message": message}})
    hdrs = {"Content-Type": "application/json"}
    hdrs.update(headers or {})
    return build_request("POST", "/mcp/execute", hdrs, body, ALPHA)


# --- health endpoints ------------------------------------------------------------------------

def test_healthz_needs_no_auth_and_says_ok(mcpd):
    r = mcpd.get("/healthz", token=None)
    assert r.status == 200, r
    assert (r.header("content-type") or "").startswith("application/json")
    assert r.json() == {"status": "ok"}


def test_readyz_reports_worker_counts(mcpd_factory):
    m = mcpd_factory("--workers-min", "3", "--workers-max", "3")
    r = m.readyz()
    assert r.status == 200, r
    assert (r.header("content-type") or "").startswith("application/json")
    body = r.json()
    assert body["status"] == "ready"
    w = body["workers"]
    assert set(w) == {"idle", "busy", "total"}
    assert all(isinstance(w[k], int) for k in w)
    assert w["total"] == w["idle"] + w["busy"] == 3
    assert w["busy"] == 0


# --- keep-alive and pipelining ---------------------------------------------------------------

def test_keep_alive_serves_several_requests_on_one_connection(mcpd):
    with mcpd.conn() as c:
        local = c.sock.getsockname()
        for path, token in [("/healthz", None), ("/readyz", None), ("/mcp/manifest", ALPHA),
                            ("/healthz", None), ("/mcp/manifest", ALPHA)]:
            r = c.request("GET", path, token=token)
            assert r.status == 200, (path, r)
            assert (r.header("connection") or "").lower() != "close", r
            r.json()
        r = c.request("POST", "/mcp/execute", headers={"Content-Type": "application/json"},
                      body=json_body({"tool": "echo", "input": {"message": "ka"}}), token=ALPHA)
        assert r.status == 200, r
        assert c.sock.getsockname() == local


def test_non_http_errors_keep_the_connection_alive(mcpd):
    with mcpd.conn() as c:
        assert_error(c.request("GET", "/no/such/path", token=ALPHA), 404, "NOT_FOUND")
        assert_error(c.request("GET", "/mcp/manifest"), 401, "AUTH_ERROR")
        assert_error(c.request("POST", "/mcp/execute", body=b"{nope", token=ALPHA,
                               headers={"Content-Type": "application/json"}),
                     422, "VALIDATION_ERROR")
        r = c.request("GET", "/healthz")
        assert r.status == 200 and r.json() == {"status": "ok"}


def test_connection_close_request_is_honoured(mcpd):
    with mcpd.conn() as c:
        c.send(build_request("GET", "/healthz", {"Connection": "close"}))
        r = c.read_response()
        assert r.status == 200
        assert c.wait_closed(3.0)


def test_http_1_0_request_gets_an_answer_and_a_close(mcpd):
    with mcpd.conn() as c:
        c.send(b"GET /healthz HTTP/1.0\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.json() == {"status": "ok"}
        assert c.wait_closed(3.0)


def test_pipelined_requests_answered_in_order(mcpd):
    with mcpd.conn() as c:
        c.send(build_request("GET", "/mcp/manifest", None, None, ALPHA)
               + execute_bytes("pipelined")
               + build_request("GET", "/definitely/not/here", None, None, ALPHA))
        r1, r2, r3 = c.read_response(), c.read_response(), c.read_response()
        assert r1.status == 200 and "tools" in r1.json(), r1
        assert r2.status == 200 and r2.json()["status"] == "started", r2
        assert_error(r3, 404, "NOT_FOUND")
        events = mcpd.stream(r2.json()["call_id"])
        assert events[-1].data == {"type": "final", "text": "pipelined"}


def test_pipelined_request_after_a_malformed_one_is_not_served(mcpd):
    with mcpd.conn() as c:
        c.send(build_request("GET", "/healthz") + b"GARBAGE\r\n\r\n" + build_request("GET", "/readyz"))
        r = c.read_response()
        assert r.status == 200 and r.json() == {"status": "ok"}
        expect_http_error_and_close(c, 400, "BAD_REQUEST")


def test_pipelined_executes_keep_their_order(mcpd):
    with mcpd.conn() as c:
        c.send(execute_bytes("first") + execute_bytes("second") + execute_bytes("third"))
        ids = [c.read_response().json()["call_id"] for _ in range(3)]
    assert len(set(ids)) == 3
    for call_id, text in zip(ids, ["first", "second", "third"]):
        assert mcpd.stream(call_id)[-1].data["text"] == text


def test_pipelined_request_behind_a_stream_waits_for_it(mcpd):
    call_id = mcpd.start_call("countdown", {"seconds": 1})
    with mcpd.conn() as c:
        c.send(build_request("GET", f"/mcp/stream/{call_id}", None, None, ALPHA)
               + build_request("GET", "/healthz"))
        head = c.read_head()
        assert head.status == 200
        assert (head.header("content-type") or "").startswith("text/event-stream")
        events = SSEStream(c, head).read_until_terminal(10)
        assert [e.event for e in events] == ["partial", "final"]
        r = c.read_response()
        assert r.status == 200 and r.json() == {"status": "ok"}


# --- request bodies --------------------------------------------------------------------------

def test_chunked_request_body(mcpd):
    body = json_body({"tool": "echo", "input": {"message": "chunked body with hex sizes " + "x" * 40}})
    pieces = [body[:5], body[5:31], body[31:]]  # 26 = 0x1a exercises hex letters
    raw = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces) + b"0\r\n\r\n"
    with mcpd.conn() as c:
        c.send(build_request("POST", "/mcp/execute",
                             {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
                             None, ALPHA) + raw)
        r = c.read_response()
        assert r.status == 200, r
        call_id = r.json()["call_id"]
        # connection still usable after a chunked body
        assert c.request("GET", "/healthz").status == 200
    assert mcpd.stream(call_id)[-1].data["text"] == "chunked body with hex sizes " + "x" * 40


def test_chunk_extensions_and_trailers_are_accepted(mcpd):
    body = json_body({"tool": "echo", "input": {"message": "ext"}})
    raw = (f"{len(body[:10]):x};name=value\r\n".encode() + body[:10] + b"\r\n"
           + f"{len(body[10:]):X}\r\n".encode() + body[10:] + b"\r\n"
           + b"0\r\nX-Trailer: yes\r\n\r\n")
    with mcpd.conn() as c:
        c.send(build_request("POST", "/mcp/execute",
                             {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
                             None, ALPHA) + raw)
        r = c.read_response()
        assert r.status == 200, r
        assert c.request("GET", "/healthz").status == 200
    assert mcpd.stream(r.json()["call_id"])[-1].data["text"] == "ext"


def test_body_split_across_writes(mcpd):
    req = execute_bytes("slowly arriving body")
    with mcpd.conn() as c:
        c.send(req[:40])
        time.sleep(0.2)
        c.send(req[40:-10])
        time.sleep(0.2)
        c.send(req[-10:])
        r = c.read_response()
        assert r.status == 200, r
    assert mcpd.stream(r.json()["call_id"])[-1].data["text"] == "slowly arriving body"


def test_expect_100_continue(mcpd):
    body = json_body({"tool": "echo", "input": {"message": "after continue"}})
    with mcpd.conn() as c:
        c.send(build_request("POST", "/mcp/execute",
                             {"Content-Type": "application/json", "Expect": "100-continue",
                              "Content-Length": str(len(body))}, None, ALPHA))
        interim = c.read_response(timeout=5)
        assert interim.status == 100, interim
        c.send(body)
        r = c.read_response()
        assert r.status == 200, r
        call_id = r.json()["call_id"]
    assert mcpd.stream(call_id)[-1].data["text"] == "after continue"


def test_payload_of_exactly_the_default_body_limit_passes(mcpd):
    """Payloads up to the body limit (default 4 MiB) pass through the worker and back."""
    filler = 'quote " backslash \\ unicode é ✓ ' + "0123456789abcdef" * 64
    empty = len(json_body({"tool": "echo", "input": {"message": ""}}))
    unit = len(json_body(filler)) - 2
    message = filler * ((4194304 - empty) // unit)
    body = json_body({"tool": "echo", "input": {"message": message}})
    message += "x" * (4194304 - len(body))
    body = json_body({"tool": "echo", "input": {"message": message}})
    assert len(body) == 4194304
    with mcpd.conn(timeout=30) as c:
        r = c.request("POST", "/mcp/execute", headers={"Content-Type": "application/json"},
                      body=body, token=ALPHA, timeout=30)
        assert r.status == 200, r
    events = mcpd.stream(r.json()["call_id"], timeout=60)
    assert events[-1].event == "final", events[-1].raw_data[:300]
    assert events[-1].data["text"] == message


# --- limits ----------------------------------------------------------------------------------

def test_header_block_just_under_16k_is_accepted(mcpd):
    with mcpd.conn() as c:
        r = c.request("GET", "/healthz", headers={"X-Filler": "a" * 15000})
        assert r.status == 200, r


def test_header_block_over_16k_gives_431(mcpd):
    with mcpd.conn() as c:
        c.send(build_request("GET", "/healthz", {"X-Big": "a" * 17000}))
        expect_http_error_and_close(c, 431, "HEADERS_TOO_LARGE")


def test_many_headers_over_16k_give_431(mcpd):
    headers = [(f"X-H{i}", "b" * 100) for i in range(200)]   # ~21 KiB in small lines
    with mcpd.conn() as c:
        c.send(build_request("GET", "/healthz", headers))
        expect_http_error_and_close(c, 431, "HEADERS_TOO_LARGE")


@pytest.fixture
def small_body_mcpd(mcpd_factory):
    return mcpd_factory("--max-body", "1024")


def test_body_at_the_limit_passes(small_body_mcpd):
    m = small_body_mcpd
    prefix = json_body({"tool": "echo", "input": {"message": ""}})
    message = "m" * (1024 - len(prefix))
    body = json_body({"tool": "echo", "input": {"message": message}})
    assert len(body) == 1024
    with m.conn() as c:
        r = c.request("POST", "/mcp/execute", headers={"Content-Type": "application/json"},
                      body=body, token=ALPHA)
        assert r.status == 200, r
    assert m.stream(r.json()["call_id"])[-1].data["text"] == message


def test_body_one_byte_over_the_limit_gives_413(small_body_mcpd):
    prefix = json_body({"tool": "echo", "input": {"message": ""}})
    body = json_body({"tool": "echo", "input": {"message": "m" * (1025 - len(prefix))}})
    assert len(body) == 1025
    with small_body_mcpd.conn() as c:
        c.send(build_request("POST", "/mcp/execute", {"Content-Type": "application/json"}, body, ALPHA))
        expect_http_error_and_close(c, 413, "PAYLOAD_TOO_LARGE")


def test_content_length_over_max_body_gives_413(small_body_mcpd):
    body = json_body({"tool": "echo", "input": {"message": "z" * 2000}})
    with small_body_mcpd.conn() as c:
        c.send(build_request("POST", "/mcp/execute", {"Content-Type": "application/json"}, body, ALPHA))
        expect_http_error_and_close(c, 413, "PAYLOAD_TOO_LARGE")


def test_declared_huge_content_length_gives_413_without_the_body(small_body_mcpd):
    with small_body_mcpd.conn() as c:
        c.send(build_request("POST", "/mcp/execute",
                             {"Content-Type": "application/json", "Content-Length": "104857600"},
                             None, ALPHA))
        expect_http_error_and_close(c, 413, "PAYLOAD_TOO_LARGE", timeout=5)


def test_chunked_body_over_max_body_gives_413(small_body_mcpd):
    chunk = b"y" * 600
    raw = b"".join(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for _ in range(3)) + b"0\r\n\r\n"
    with small_body_mcpd.conn() as c:
        c.send(build_request("POST", "/mcp/execute",
                             {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
                             None, ALPHA) + raw)
        expect_http_error_and_close(c, 413, "PAYLOAD_TOO_LARGE")


@pytest.fixture
def header_timeout_mcpd(mcpd_factory):
    return mcpd_factory("--header-timeout", "1")


def test_incomplete_headers_time_out_with_408(header_timeout_mcpd):
    with header_timeout_mcpd.conn() as c:
        started = time.monotonic()
        c.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        expect_http_error_and_close(c, 408, "REQUEST_TIMEOUT", timeout=6)
        elapsed = time.monotonic() - started
        assert 0.8 <= elapsed <= 4.0, f"408 after {elapsed:.2f}s with --header-timeout 1"


def test_trickled_headers_still_time_out(header_timeout_mcpd):
    """The header deadline covers the whole block, not the gap between two reads."""
    payload = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"s" * 2000
    with header_timeout_mcpd.conn() as c:
        started = time.monotonic()
        for byte in payload:   # one byte every 0.1 s, until mcpd answers
            readable, _, _ = select.select([c.sock], [], [], 0.1)
            if readable or time.monotonic() - started > 6:
                break
            try:
                c.sock.send(bytes([byte]))
            except OSError:
                break
        assert time.monotonic() - started <= 4.0, \
            "mcpd kept accepting trickled header bytes far past --header-timeout 1"
        expect_http_error_and_close(c, 408, "REQUEST_TIMEOUT", timeout=5)


def test_complete_request_is_not_cut_by_header_timeout(header_timeout_mcpd):
    m = header_timeout_mcpd
    # A countdown longer than the header timeout keeps streaming.
    call_id = m.start_call("countdown", {"seconds": 2})
    events = m.stream(call_id, timeout=10)
    assert [e.data["text"] for e in events] == ["2", "1", "done"]


# --- malformed framing -----------------------------------------------------------------------

def test_content_length_and_transfer_encoding_together_give_400(mcpd):
    body = json_body({"tool": "echo", "input": {"message": "x"}})
    raw = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    with mcpd.conn() as c:
        c.send(build_request("POST", "/mcp/execute",
                             [("Content-Type", "application/json"), ("Content-Length", str(len(raw))),
                              ("Transfer-Encoding", "chunked")], None, ALPHA) + raw)
        expect_http_error_and_close(c, 400, "BAD_REQUEST")


@pytest.mark.parametrize("coding", ["gzip, chunked", "foo", "deflate"])
def test_unknown_transfer_coding_gives_501(mcpd, coding):
    with mcpd.conn() as c:
        c.send(build_request("POST", "/mcp/execute",
                             [("Content-Type", "application/json"), ("Transfer-Encoding", coding)],
                             None, ALPHA) + b"5\r\nhello\r\n0\r\n\r\n")
        expect_http_error_and_close(c, 501, "NOT_IMPLEMENTED")


@pytest.mark.parametrize("raw", [
    b"GARBAGE\r\n\r\n",
    b"GET /healthz FOO/1.1\r\nHost: x\r\n\r\n",
    b"GET\r\nHost: x\r\n\r\n",
    b"GET /healthz HTTP/1.1 trailing\r\nHost: x\r\n\r\n",
], ids=["no-spaces", "bad-version", "method-only", "extra-token"])
def test_malformed_request_line_gives_400(mcpd, raw):
    with mcpd.conn() as c:
        c.send(raw)
        expect_http_error_and_close(c, 400, "BAD_REQUEST")


@pytest.mark.parametrize("header_line", [
    b"NoColonHere",
    b"Bad Name: x",
    b"Space-Before-Colon : x",
    b": empty-name",
], ids=["no-colon", "space-in-name", "space-before-colon", "empty-name"])
def test_malformed_header_gives_400(mcpd, header_line):
    with mcpd.conn() as c:
        c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + header_line + b"\r\n\r\n")
        expect_http_error_and_close(c, 400, "BAD_REQUEST")


@pytest.mark.parametrize("value", ["abc", "-5", "12, 13", "1.5"])
def test_invalid_content_length_gives_400(mcpd, value):
    with mcpd.conn() as c:
        c.send(build_request("POST", "/mcp/execute",
                             [("Content-Type", "application/json"), ("Content-Length", value)],
                             None, ALPHA) + b"{}")
        expect_http_error_and_close(c, 400, "BAD_REQUEST")


def test_invalid_chunk_size_gives_400(mcpd):
    with mcpd.conn() as c:
        c.send(build_request("POST", "/mcp/execute",
                             {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
                             None, ALPHA) + b"zz\r\nhello\r\n0\r\n\r\n")
        expect_http_error_and_close(c, 400, "BAD_REQUEST")


# --- idle keep-alive timeout -----------------------------------------------------------------

def test_idle_keep_alive_connection_is_closed(mcpd_factory):
    m = mcpd_factory("--idle-timeout", "1")
    with m.conn() as c:
        assert c.request("GET", "/healthz").status == 200
        time.sleep(0.3)
        assert c.request("GET", "/healthz").status == 200   # still open, timer restarts
        started = time.monotonic()
        assert c.wait_closed(4.0), "idle connection not closed with --idle-timeout 1"
        elapsed = time.monotonic() - started
        assert 0.7 <= elapsed <= 3.5, f"closed after {elapsed:.2f}s"


def test_idle_timeout_does_not_cut_a_running_stream(mcpd_factory):
    m = mcpd_factory("--idle-timeout", "1")
    call_id = m.start_call("countdown", {"seconds": 3})
    events = m.stream(call_id, timeout=10)
    assert [e.data["text"] for e in events] == ["3", "2", "1", "done"]


# --- routing errors --------------------------------------------------------------------------

@pytest.mark.parametrize("method,path", [("GET", "/nope"), ("POST", "/mcp/executex"),
                                         ("GET", "/mcp/calls"), ("GET", "/healthz/extra")])
def test_unknown_path_gives_404_not_found(mcpd, method, path):
    r = mcpd.request(method, path, token=ALPHA, body=b"" if method == "POST" else None)
    assert_error(r, 404, "NOT_FOUND")


@pytest.mark.parametrize("method,path,allowed", [
    ("POST", "/healthz", "GET"),
    ("DELETE", "/readyz", "GET"),
    ("POST", "/mcp/manifest", "GET"),
    ("GET", "/mcp/execute", "POST"),
    ("PUT", "/mcp/execute", "POST"),
    ("GET", "/mcp/cancel_all", "POST"),
    ("GET", "/mcp/cancel/00000000-0000-4000-8000-000000000000", "POST"),
    ("POST", "/mcp/stream/00000000-0000-4000-8000-000000000000", "GET"),
    ("DELETE", "/mcp/calls/00000000-0000-4000-8000-000000000000", "GET"),
])
def test_wrong_method_gives_405_with_allow(mcpd, method, path, allowed):
    body = b"" if method in ("POST", "PUT") else None
    r = mcpd.request(method, path, token=ALPHA, body=body)
    assert_error(r, 405, "METHOD_NOT_ALLOWED")
    allow = r.header("allow")
    assert allow is not None, f"405 without Allow header: {r!r}"
    methods = {m.strip() for m in allow.split(",")}
    assert allowed in methods, f"Allow: {allow!r} should list {allowed}"
    assert method not in methods
