"""Raw-HTTP helpers shared by the MCP integration tests (test_mcp_*.py): every byte on the wire is
the test's own, over conftest's `HttpConnection`.

- `wire(revision, message, method)`: every message mcpd sends is checked against the published
  schema of the revision in use (mcp_wire.py, imported when first needed);
- `raw_request(...)`: a request head the test controls completely (Host included);
- `McpSSE` / `parse_sse`: MCP's event streams, whose ids are strings ("1-2") and whose events may
  carry empty data (2025-11-25's priming event), unlike the execute API's;
- `NDJSONStream`: seed 003's newline-delimited JSON stream;
- `StreamableClient`: one Streamable HTTP session on /mcp;
- `stateless_*`: 2026-07-28 requests with their `_meta` envelope and mirrored headers;
- `TenantClient`: seed 003's /mcp/{tenant-uuid} endpoint;
- `LegacyClient`: the 2024-11-05 HTTP+SSE transport on /sse and /messages.
"""

from __future__ import annotations

import itertools
import json
import socket
import time
from dataclasses import dataclass, field

from conftest import (ALPHA, EventStreamReader, HttpConnection, Response, SSEBlock, StreamBody, ctl_calls, json_body,
                      parse_sse_block, wait_until)

SESSIONFUL = ("2025-03-26", "2025-06-18", "2025-11-25")
STATELESS = "2026-07-28"
CLIENT_INFO = {"name": "mcpd-integration-tests", "version": "1.0.0"}

_ids = itertools.count(1)


def next_id() -> int:
    return next(_ids)


def wire(revision: str, message, method=None) -> None:
    """mcp_wire.check_server_message, imported lazily (another module owns it)."""
    import mcp_wire  # noqa: PLC0415 - lazily, see the module docstring
    mcp_wire.check_server_message(revision, message, method)


def content_type(resp: Response) -> str:
    return (resp.header("content-type") or "").split(";")[0].strip().lower()


# ----------------------------------------------------------------------------------------------
# Requests whose every header is the test's
# ----------------------------------------------------------------------------------------------

def raw_request(method: str, path: str, headers=(), body: bytes | None = None,
                host: str | None = "127.0.0.1", token: str | None = ALPHA) -> bytes:
    """A request head with exactly these headers (Host first unless None; Content-Length added
    for a body)."""
    lines = [f"{method} {path} HTTP/1.1"]
    if host is not None:
        lines.append(f"Host: {host}")
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    hdrs = list(headers.items()) if isinstance(headers, dict) else list(headers)
    for k, v in hdrs:
        lines.append(f"{k}: {v}")
    if body is None and method in ("POST", "PUT", "PATCH"):
        body = b""
    if body is not None and "content-length" not in {k.lower() for k, _ in hdrs}:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def send(m, method, path, headers=(), body=None, host="127.0.0.1", token=ALPHA,
         timeout=5.0) -> Response:
    """One request on a fresh connection; the whole response is read."""
    with m.conn(timeout) as c:
        c.send(raw_request(method, path, headers, body, host, token))
        return c.read_response(timeout, method)


# ----------------------------------------------------------------------------------------------
# Event streams
# ----------------------------------------------------------------------------------------------

@dataclass
class McpEvent:
    id: str | None
    event: str | None
    data: str
    retry: int | None = None
    received_at: float = field(default_factory=time.monotonic)

    def json(self):
        try:
            return json.loads(self.data)
        except ValueError as exc:
            raise AssertionError(f"SSE data is not JSON: {self.data!r}") from exc

    @property
    def is_priming(self) -> bool:
        return self.data == "" and self.id is not None

    def __repr__(self) -> str:
        return f"<McpEvent id={self.id!r} event={self.event!r} data={self.data[:200]!r}>"


def _event(block: SSEBlock) -> McpEvent:
    return McpEvent(id=block.id, event=block.event, data="\n".join(block.data_lines), retry=block.retry)


def parse_sse(text: str) -> list[McpEvent]:
    """Every event of a complete text/event-stream body."""
    text = text.replace("\r\n", "\n")
    assert text == "" or text.endswith("\n\n"), f"event stream ends inside an event: {text[-200:]!r}"
    events, comments = [], []
    for block in text.split("\n\n"):
        if block.strip("\n"):
            parsed = parse_sse_block(block.strip("\n"), comments)
            if parsed is not None:
                events.append(_event(parsed))
    return events


class McpSSE(EventStreamReader):
    """Reads an MCP event stream incrementally: string ids, data kept as text."""

    def to_event(self, block: SSEBlock) -> McpEvent:
        return _event(block)

    def read_to_end(self, timeout: float = 10.0) -> list[McpEvent]:
        """Every remaining event until the response ends."""
        deadline = time.monotonic() + timeout
        out = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"stream did not end within {timeout}s; events so far {self.events}")
            ev = self.next_event(remaining)
            if ev is None:
                return out
            out.append(ev)

    def messages(self, events=None) -> list:
        return [e.json() for e in (self.events if events is None else events) if not e.is_priming]


class NDJSONStream:
    """Seed 003's newline-delimited JSON stream: one JSON message a line."""

    def __init__(self, conn: HttpConnection, head: Response):
        self.body = StreamBody(conn, head)
        self.head = head
        self.buffer = b""
        self.lines: list[dict] = []

    @property
    def ended(self) -> bool:
        return self.body.ended

    def next_message(self, timeout: float = 5.0, skip_pings: bool = True):
        deadline = time.monotonic() + timeout
        while True:
            idx = self.buffer.find(b"\n")
            if idx >= 0:
                line, self.buffer = self.buffer[:idx], self.buffer[idx + 1:]
                assert line.strip(), "an empty line on the NDJSON stream"
                try:
                    msg = json.loads(line.decode("utf-8"))
                except ValueError as exc:
                    raise AssertionError(f"NDJSON line is not JSON: {line!r}") from exc
                self.lines.append(msg)
                if skip_pings and isinstance(msg, dict) and msg.get("method") == "notifications/ping":
                    continue
                return msg
            data = self.body.pull(deadline)
            if data is None:
                assert self.buffer == b"", f"stream ended inside a line: {self.buffer!r}"
                return None
            self.buffer += data

    def wait_for_id(self, request_id, timeout: float = 5.0):
        """Messages up to the response with this id (a batch array counts when it holds it)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no response with id {request_id!r} within {timeout}s; got {self.lines}")
            msg = self.next_message(remaining)
            assert msg is not None, f"stream ended before the response with id {request_id!r}: {self.lines}"
            if isinstance(msg, dict) and msg.get("id") == request_id and "method" not in msg:
                return msg
            if isinstance(msg, list) and any(isinstance(x, dict) and x.get("id") == request_id for x in msg):
                return msg


# ----------------------------------------------------------------------------------------------
# Streamable HTTP (2025-03-26, 2025-06-18, 2025-11-25)
# ----------------------------------------------------------------------------------------------

ACCEPT_BOTH = "application/json, text/event-stream"


def initialize_body(version: str, request_id=None, capabilities=None) -> dict:
    return {"jsonrpc": "2.0", "id": request_id if request_id is not None else next_id(),
            "method": "initialize",
            "params": {"protocolVersion": version, "capabilities": capabilities or {},
                       "clientInfo": CLIENT_INFO}}


def request_body(method: str, params=None, request_id=None) -> dict:
    body = {"jsonrpc": "2.0", "id": request_id if request_id is not None else next_id(),
            "method": method}
    if params is not None:
        body["params"] = params
    return body


class StreamableClient:
    """One session on /mcp, negotiated with initialize. Sends MCP-Protocol-Version from
    2025-06-18 on (the specification requires it there; 2025-03-26 had no such header)."""

    def __init__(self, m, revision: str = "2025-11-25", token: str | None = ALPHA,
                 initialize: bool = True, host: str = "127.0.0.1", extra_headers=()):
        self.m = m
        self.revision = revision
        self.token = token
        self.host = host
        self.extra_headers = list(extra_headers)
        self.session_id: str | None = None
        self.init_response: Response | None = None
        if initialize:
            self.initialize()

    def initialize(self):
        body = initialize_body(self.revision)
        r = self.send("POST", body, session=False, version_header=False)
        assert r.status == 200, f"initialize at {self.revision}: {r!r}"
        assert content_type(r) == "application/json", r
        msg = r.json()
        wire(self.revision, msg, "initialize")
        assert msg["id"] == body["id"] and msg["result"]["protocolVersion"] == self.revision, msg
        sid = r.header("mcp-session-id")
        assert sid, f"initialize answered without Mcp-Session-Id: {r!r}"
        self.session_id = sid
        self.init_response = r
        n = self.send("POST", {"jsonrpc": "2.0", "method": "notifications/initialized"})
        assert n.status == 202 and n.body == b"", f"notifications/initialized: {n!r}"
        return msg

    def headers(self, session=True, version_header=True, accept=ACCEPT_BOTH, extra=()):
        h = [("Content-Type", "application/json")]
        if accept is not None:
            h.append(("Accept", accept))
        if session and self.session_id is not None:
            h.append(("Mcp-Session-Id", self.session_id))
        if version_header and self.revision >= "2025-06-18":
            h.append(("MCP-Protocol-Version", self.revision))
        return h + self.extra_headers + list(extra)

    def raw(self, method: str, body=None, session=True, version_header=True, accept=ACCEPT_BOTH,
            extra=()) -> bytes:
        payload = None if body is None else (body if isinstance(body, bytes) else json_body(body))
        if method == "GET" and accept == ACCEPT_BOTH:
            accept = "text/event-stream"
        hdrs = self.headers(session, version_header, accept, extra)
        if payload is None:
            hdrs = [(k, v) for k, v in hdrs if k != "Content-Type"]
        return raw_request(method, "/mcp", hdrs, payload, self.host, self.token)

    def send(self, method: str, body=None, conn: HttpConnection | None = None, timeout=5.0,
             **kw) -> Response:
        """One request; the whole response (an event stream is read to its end)."""
        data = self.raw(method, body, **kw)
        if conn is not None:
            conn.send(data)
            return conn.read_response(timeout, method)
        with self.m.conn(timeout) as c:
            c.send(data)
            return c.read_response(timeout, method)

    def post(self, body, **kw) -> Response:
        return self.send("POST", body, **kw)

    def open(self, method: str, body=None, conn: HttpConnection | None = None, timeout=5.0, **kw):
        """Sends a request and reads the head: (head, McpSSE) for an event stream, else
        (the whole response, None). The connection stays the caller's."""
        conn.send(self.raw(method, body, **kw))
        head = conn.read_head(timeout)
        if head.status == 200 and content_type(head) == "text/event-stream":
            return head, McpSSE(conn, head)
        head.body = conn.read_body(head, time.monotonic() + timeout, method)
        return head, None

    def rpc(self, method: str, params=None, expect_error: int | None = None, **kw) -> dict:
        """A request answered with application/json: the checked JSON-RPC response message."""
        body = request_body(method, params)
        r = self.post(body, **kw)
        assert r.status == 200, f"{method}: {r!r}"
        assert content_type(r) == "application/json", f"{method} not answered with JSON: {r!r}"
        msg = r.json()
        wire(self.revision, msg, method)
        assert msg.get("id") == body["id"], f"id mismatch: sent {body['id']}, got {msg}"
        if expect_error is None:
            assert "result" in msg, f"{method} failed: {msg}"
        else:
            assert "error" in msg and msg["error"]["code"] == expect_error, \
                f"{method}: expected error {expect_error}, got {msg}"
        return msg

    def result(self, method: str, params=None, **kw) -> dict:
        return self.rpc(method, params, **kw)["result"]

    def delete(self) -> Response:
        return self.send("DELETE", None)


def check_sse_messages(revision: str, events: list[McpEvent], method: str) -> list[dict]:
    """Every non-priming event is `event: message` (or unnamed) carrying one valid message; the
    messages are returned."""
    out = []
    for ev in events:
        if ev.is_priming:
            continue
        assert ev.event in (None, "message"), f"unexpected SSE event name: {ev}"
        msg = ev.json()
        wire(revision, msg, method)
        out.append(msg)
    return out


# ----------------------------------------------------------------------------------------------
# Stateless 2026-07-28
# ----------------------------------------------------------------------------------------------

PV_KEY = "io.modelcontextprotocol/protocolVersion"
CAPS_KEY = "io.modelcontextprotocol/clientCapabilities"
INFO_KEY = "io.modelcontextprotocol/clientInfo"
LOG_KEY = "io.modelcontextprotocol/logLevel"
SUB_KEY = "io.modelcontextprotocol/subscriptionId"
NAME_BEARING = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}


def stateless_body(method: str, params=None, version: str = STATELESS, request_id=None,
                   meta: dict | None = None, envelope: bool = True) -> dict:
    params = dict(params or {})
    if envelope:
        m = {PV_KEY: version, CAPS_KEY: {}, INFO_KEY: CLIENT_INFO}
        m.update(params.get("_meta", {}))
        m.update(meta or {})
        params["_meta"] = m
    return request_body(method, params, request_id)


def stateless_headers(body: dict, version: str = STATELESS, accept=ACCEPT_BOTH, overrides=None,
                      omit=()) -> list:
    """Content-Type, Accept, MCP-Protocol-Version, Mcp-Method and (for name-bearing methods)
    Mcp-Name, mirrored from the body; `overrides` replaces values, `omit` drops headers."""
    method = body.get("method")
    h = {"Content-Type": "application/json", "Accept": accept, "MCP-Protocol-Version": version,
         "Mcp-Method": method}
    key = NAME_BEARING.get(method)
    if key is not None and isinstance(body.get("params", {}).get(key), str):
        h["Mcp-Name"] = body["params"][key]
    h.update(overrides or {})
    return [(k, v) for k, v in h.items() if k not in omit and v is not None]


def stateless_post(m, body: dict, headers=None, timeout=5.0, token=ALPHA, **kw) -> Response:
    if headers is None:
        headers = stateless_headers(body, **kw)
    return send(m, "POST", "/mcp", headers, json_body(body), token=token, timeout=timeout)


# ----------------------------------------------------------------------------------------------
# Seed 003's tenant endpoint
# ----------------------------------------------------------------------------------------------

SEED003_NOTIFICATIONS = ("notifications/connection", "notifications/ping")


def wire_tenant(revision: str, message, method=None) -> None:
    """The wire check, except for seed 003's own notifications (not MCP methods: documented by
    the seed, checked field by field by the tests)."""
    if isinstance(message, dict) and message.get("method") in SEED003_NOTIFICATIONS:
        return
    wire(revision, message, method)


class TenantClient:
    def __init__(self, m, tenant: str, revision: str = "2025-03-26", token: str | None = ALPHA,
                 initialize: bool = True):
        self.m = m
        self.tenant = tenant
        self.revision = revision
        self.token = token
        self.session_id: str | None = None
        if initialize:
            self.initialize()

    @property
    def path(self) -> str:
        return f"/mcp/{self.tenant}"

    def headers(self, session="header", extra=()):
        h = [("Content-Type", "application/json")]
        if session == "header" and self.session_id:
            h.append(("Mcp-Session-Id", self.session_id))
        if self.revision == "2025-06-18":
            h.append(("MCP-Protocol-Version", self.revision))
        return h + list(extra)

    def initialize(self) -> dict:
        body = initialize_body(self.revision)
        r = send(self.m, "POST", self.path, self.headers(session=None), json_body(body), token=self.token)
        assert r.status == 200, f"tenant initialize: {r!r}"
        assert content_type(r) == "application/json", r
        msg = r.json()
        wire(self.revision, msg, "initialize")
        assert msg["result"]["protocolVersion"] == self.revision, msg
        self.session_id = r.header("mcp-session-id")
        assert self.session_id, f"no Mcp-Session-Id: {r!r}"
        return msg

    def post(self, body, session="header", path=None, extra=(), token="default") -> Response:
        payload = body if isinstance(body, bytes) else json_body(body)
        return send(self.m, "POST", path or self.path, self.headers(session, extra), payload,
                    token=self.token if token == "default" else token)

    def queue(self, method: str, params=None, **kw) -> dict:
        body = request_body(method, params)
        r = self.post(body, **kw)
        assert r.status == 202, f"{method}: {r!r}"
        assert content_type(r) == "application/json", r
        assert r.json() == {"status": "queued"}, r
        return body

    def open_stream(self, conn: HttpConnection, headers=(), query_session=True, timeout=5.0):
        path = self.path + (f"?session_id={self.session_id}" if query_session else "")
        hdrs = list(headers)
        if self.revision == "2025-06-18":
            hdrs.append(("MCP-Protocol-Version", self.revision))
        conn.send(raw_request("GET", path, hdrs, None, "127.0.0.1", self.token))
        head = conn.read_head(timeout)
        if head.status != 200:
            head.body = conn.read_body(head, time.monotonic() + timeout)
            return head, None
        if self.revision == "2024-11-05":
            return head, McpSSE(conn, head)
        return head, NDJSONStream(conn, head)


# ----------------------------------------------------------------------------------------------
# Legacy HTTP+SSE (2024-11-05)
# ----------------------------------------------------------------------------------------------

class LegacyClient:
    """GET /sse held open on `self.conn`; POSTs go to the endpoint it names."""

    def __init__(self, m, token: str | None = ALPHA, timeout: float = 5.0):
        self.m = m
        self.token = token
        self.conn = m.conn(timeout)
        self.conn.send(raw_request("GET", "/sse", [("Accept", "text/event-stream")], None,
                                   "127.0.0.1", token))
        self.head = self.conn.read_head(timeout)
        assert self.head.status == 200, f"GET /sse: {self.head!r}"
        assert content_type(self.head) == "text/event-stream", self.head
        self.sse = McpSSE(self.conn, self.head)
        self.endpoint_event = self.sse.next_event(timeout)
        assert self.endpoint_event is not None and self.endpoint_event.event == "endpoint", \
            f"first event is not endpoint: {self.endpoint_event}"
        self.endpoint = self.endpoint_event.data
        self.revision = "2024-11-05"

    @property
    def session_id(self) -> str:
        return self.endpoint.split("session_id=", 1)[1]

    def close(self):
        self.conn.close()

    def post(self, body, path=None, token="default") -> Response:
        payload = body if isinstance(body, bytes) else json_body(body)
        return send(self.m, "POST", path or self.endpoint, [("Content-Type", "application/json")],
                    payload, token=self.token if token == "default" else token)

    def next_message(self, timeout: float = 5.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout(f"no message event within {timeout}s")
            ev = self.sse.next_event(remaining)
            assert ev is not None, f"the /sse stream ended: {self.sse.events}"
            assert ev.event == "message", f"unexpected event on /sse: {ev}"
            return ev.json()

    def request(self, method: str, params=None, timeout: float = 5.0) -> dict:
        body = request_body(method, params)
        r = self.post(body)
        assert r.status == 202, f"{method}: {r!r}"
        msg = self.next_message(timeout)
        assert msg.get("id") == body["id"], f"expected the response to {body['id']}, got {msg}"
        wire(self.revision, msg, method)
        return msg

    def initialize(self, version: str = "2024-11-05") -> dict:
        body = initialize_body(version)
        r = self.post(body)
        assert r.status == 202, f"initialize: {r!r}"
        msg = self.next_message()
        assert msg.get("id") == body["id"], msg
        self.revision = msg["result"]["protocolVersion"]
        wire(self.revision, msg, "initialize")
        r = self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        assert r.status == 202, r
        return msg


# ----------------------------------------------------------------------------------------------
# Errors answered at the HTTP level
# ----------------------------------------------------------------------------------------------

def check_transport_error(resp: Response, status: int, code: int, revision: str | None = None,
                          method: str | None = None) -> dict:
    """An HTTP error status carrying one JSON-RPC error message with this code. With `revision`
    the message is also checked against that revision's schema — where the schema has a valid form
    for it: up to 2025-06-18 an error response needs a string or integer id, so an error to a
    request whose id the server could not know (id null, as JSON-RPC 2.0 has it) is checked there
    only by shape; from 2025-11-25 on such an error omits the id."""
    assert resp.status == status, f"expected HTTP {status} with JSON-RPC {code}, got {resp!r}"
    assert content_type(resp) == "application/json", f"error body not JSON: {resp!r}"
    msg = resp.json()
    assert isinstance(msg, dict) and msg.get("jsonrpc") == "2.0", msg
    err = msg.get("error")
    assert isinstance(err, dict) and err.get("code") == code, f"expected error code {code}: {msg}"
    assert isinstance(err.get("message"), str) and err["message"], msg
    assert "result" not in msg, msg
    if revision is not None and (revision >= "2025-11-25" or msg.get("id") is not None):
        wire(revision, msg, method)
    return msg


# --- the call table, through mcpctl ----------------------------------------------------------

def counters(m) -> dict:
    return m.ctl_status()["counters"]


def wait_running_call(m, tool="countdown", timeout=5.0) -> dict:
    def find():
        for c in ctl_calls(m.ctl_status()):
            if c["tool"] == tool and c["state"] == "running":
                return c
        return None
    return wait_until(find, timeout, message=f"a running {tool} call in mcpctl status")


def no_calls_in_flight(m) -> bool:
    return not [c for c in ctl_calls(m.ctl_status()) if c["state"] in ("pending", "running")]


def await_keep_alive_comment(sse: McpSSE, name: str, within: float = 3.5) -> None:
    """Reads the stream until a comment (a keep-alive) arrives; fails if none does in time."""
    deadline = time.monotonic() + within
    while not sse.comments and time.monotonic() < deadline:
        try:
            ev = sse.next_event(deadline - time.monotonic())
        except (TimeoutError, OSError):
            break
        assert ev is not None, f"the {name} stream ended"
    assert sse.comments, f"no keep-alive comment within {within} s at --keepalive-interval 1"
