"""Integration harness for mcpd: starts the real binaries and talks to them over real sockets.

What lives here:
- `Mcpd`, one running supervisor (started by the `mcpd_factory` fixture) with helpers that speak
  HTTP to it, read its children from /proc and run `mcpctl` against its runtime directory;
- `HttpConnection`, a deliberately small HTTP/1.1 client over a raw socket (raw bytes in, one parsed
  response out, Content-Length and chunked bodies, keep-alive reuse), so tests control every byte;
- `SSEStream`, a reader of `text/event-stream` responses that checks the chunked framing too;
- /proc helpers for zombie and orphan checks.

Invariants the fixtures enforce on every instance they started: mcpd exits 0 on SIGTERM within 20 s
and no process whose parent was mcpd survives it (a zombie counts as a leak). A test that kills mcpd
on purpose marks the instance (`m.expect_exit = None`) but the orphan check still runs.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# The binaries under test: MCPD_BIN_DIR (the Makefile sets it), else this checkout's debug build.
BIN_DIR = Path(os.environ.get("MCPD_BIN_DIR", Path(__file__).resolve().parents[2] / ".build" / "debug"))
MCPD = BIN_DIR / "mcpd"
WORKER = BIN_DIR / "mcp-worker"
MCPCTL = BIN_DIR / "mcpctl"

ALPHA = "alpha-token"
BETA = "beta-token"
DEFAULT_TOKENS = (ALPHA, BETA)
OWNER = {ALPHA: "token-1", BETA: "token-2"}

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TERMINAL_EVENTS = ("final", "error", "cancelled")

# Environment variables that would change how mcpd starts; a test sets them explicitly when wanted.
_SCRUBBED_ENV = ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET", "WATCHDOG_USEC",
                 "WATCHDOG_PID", "MCPD_TOKENS", "RUNTIME_DIRECTORY")


def now_ms() -> int:
    return int(time.time() * 1000)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    if extra:
        env.update(extra)
    return env


# ----------------------------------------------------------------------------------------------
# /proc helpers
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProcInfo:
    pid: int
    state: str
    ppid: int
    starttime: int
    comm: str


def proc_info(pid: int) -> ProcInfo | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm is in parentheses and may contain spaces; everything after the last ')' is split.
    lpar, rpar = raw.index("("), raw.rindex(")")
    comm = raw[lpar + 1:rpar]
    rest = raw[rpar + 2:].split()
    return ProcInfo(pid=pid, state=rest[0], ppid=int(rest[1]), starttime=int(rest[19]), comm=comm)


def children_of(ppid: int) -> list[ProcInfo]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        info = proc_info(int(entry))
        if info is not None and info.ppid == ppid:
            out.append(info)
    return out


def same_process_exists(info: ProcInfo) -> ProcInfo | None:
    """The process `info` described if it still exists (any state, zombies included), else None."""
    cur = proc_info(info.pid)
    if cur is None or cur.starttime != info.starttime:
        return None
    return cur


def process_running(info: ProcInfo) -> bool:
    cur = same_process_exists(info)
    return cur is not None and cur.state not in ("Z", "X")


def wait_until(predicate, timeout: float, interval: float = 0.05, message: str = "condition"):
    """Poll `predicate` until it returns a truthy value; returns it, or fails after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {message} (last value: {last!r})")
        time.sleep(interval)


# ----------------------------------------------------------------------------------------------
# HTTP/1.1 client over a raw socket
# ----------------------------------------------------------------------------------------------

class ConnectionClosed(Exception):
    """The peer closed (EOF or reset) before a complete message was read."""


@dataclass
class Response:
    status: int
    reason: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def header_all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except Exception as exc:  # noqa: BLE001 - want the body in the failure message
            raise AssertionError(f"response body is not JSON ({exc}): {self.body[:500]!r}") from exc

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason} headers={self.headers} body={self.body[:300]!r}>"


def build_request(method: str, path: str, headers=None, body: bytes | None = None,
                  token: str | None = None, content_length: bool = True) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    hdrs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    for k, v in hdrs:
        lines.append(f"{k}: {v}")
    names = {k.lower() for k, _ in hdrs}
    if body is not None and content_length and "content-length" not in names \
            and "transfer-encoding" not in names:
        lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + (body or b"")


def json_body(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


class HttpConnection:
    def __init__(self, host: str, port: int, timeout: float = 10.0, connect: bool = True):
        self.host, self.port, self.timeout = host, port, timeout
        self.buf = bytearray()
        self.sock: socket.socket | None = None
        self.reset_seen = False
        if connect:
            self.sock = socket.create_connection((host, port), timeout=timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # -- raw I/O ------------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _recv_more(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("deadline passed while reading from mcpd")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError as exc:
            self.reset_seen = True
            raise ConnectionClosed("connection reset by peer") from exc
        if not data:
            raise ConnectionClosed("connection closed by peer")
        self.buf += data

    def _read_line(self, deadline: float, limit: int = 1 << 20) -> bytes:
        while True:
            idx = self.buf.find(b"\r\n")
            if idx >= 0:
                line = bytes(self.buf[:idx])
                del self.buf[:idx + 2]
                return line
            if len(self.buf) > limit:
                raise AssertionError("line too long in response")
            self._recv_more(deadline)

    def _read_exact(self, n: int, deadline: float) -> bytes:
        while len(self.buf) < n:
            self._recv_more(deadline)
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    # -- responses ----------------------------------------------------------------------------
    def read_head(self, timeout: float | None = None) -> Response:
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while True:
            idx = self.buf.find(b"\r\n\r\n")
            if idx >= 0:
                break
            self._recv_more(deadline)
        head = bytes(self.buf[:idx]).decode("latin-1")
        del self.buf[:idx + 4]
        lines = head.split("\r\n")
        m = re.match(r"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$", lines[0])
        assert m, f"malformed status line from mcpd: {lines[0]!r}"
        headers = []
        for line in lines[1:]:
            assert ":" in line, f"malformed response header line: {line!r}"
            k, v = line.split(":", 1)
            headers.append((k.strip(), v.strip()))
        return Response(status=int(m.group(2)), reason=m.group(3) or "", version=m.group(1),
                        headers=headers)

    def read_chunk(self, deadline: float) -> bytes | None:
        """One chunk's data, or None for the terminating chunk (its trailers are consumed)."""
        size_line = self._read_line(deadline).decode("latin-1")
        size_text = size_line.split(";", 1)[0].strip()
        assert re.fullmatch(r"[0-9a-fA-F]+", size_text), f"bad chunk size line {size_line!r}"
        size = int(size_text, 16)
        if size == 0:
            while self._read_line(deadline) != b"":
                pass
            return None
        data = self._read_exact(size, deadline)
        crlf = self._read_exact(2, deadline)
        assert crlf == b"\r\n", f"chunk not followed by CRLF: {crlf!r}"
        return data

    def read_body(self, resp: Response, deadline: float, method: str = "GET") -> bytes:
        if method == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200:
            return b""
        te = resp.header("transfer-encoding")
        if te is not None:
            assert te.lower() == "chunked", f"unexpected response transfer-encoding {te!r}"
            parts = []
            while True:
                chunk = self.read_chunk(deadline)
                if chunk is None:
                    return b"".join(parts)
                parts.append(chunk)
        cl = resp.header("content-length")
        if cl is not None:
            return self._read_exact(int(cl), deadline)
        # Neither: the body runs to the end of the connection.
        while True:
            try:
                self._recv_more(deadline)
            except ConnectionClosed:
                data = bytes(self.buf)
                self.buf.clear()
                return data

    def read_response(self, timeout: float | None = None, method: str = "GET") -> Response:
        timeout = timeout if timeout is not None else self.timeout
        deadline = time.monotonic() + timeout
        resp = self.read_head(timeout)
        resp.body = self.read_body(resp, deadline, method)
        return resp

    def request(self, method: str, path: str, headers=None, body: bytes | None = None,
                token: str | None = None, timeout: float | None = None) -> Response:
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = b""
        self.send(build_request(method, path, headers, body, token))
        return self.read_response(timeout, method)

    def wait_closed(self, timeout: float) -> bool:
        """True when the peer closes (EOF or reset) within `timeout` without sending more bytes."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self._recv_more(deadline)
                if self.buf:
                    raise AssertionError(f"unexpected bytes while waiting for close: {bytes(self.buf)[:200]!r}")
        except ConnectionClosed:
            return True
        except socket.timeout:
            return False

    def open_stream(self, call_id: str, token: str | None = ALPHA, last_event_id=None,
                    timeout: float | None = None):
        """Send GET /mcp/stream/{id}; returns (head, SSEStream) for 200, (full response, None) otherwise."""
        headers = [("Accept", "text/event-stream")]
        if last_event_id is not None:
            headers.append(("Last-Event-ID", str(last_event_id)))
        self.send(build_request("GET", f"/mcp/stream/{call_id}", headers, None, token))
        head = self.read_head(timeout)
        if head.status != 200:
            head.body = self.read_body(head, time.monotonic() + (timeout or self.timeout))
            return head, None
        return head, SSEStream(self, head)


# ----------------------------------------------------------------------------------------------
# Server-sent events
# ----------------------------------------------------------------------------------------------

@dataclass
class Event:
    id: int | None
    event: str | None
    data: object
    raw_data: str
    received_at: float = field(default_factory=time.monotonic)

    def __repr__(self) -> str:
        return f"<Event id={self.id} {self.event} {self.raw_data}>"


@dataclass
class SSEBlock:
    """One event block of a text/event-stream, its fields as sent."""
    id: str | None
    event: str | None
    data_lines: list[str]
    retry: int | None


def parse_sse_block(block: str, comments: list[str]) -> SSEBlock | None:
    """A block's fields; None for a block of comments only (keep-alives), which go to `comments`."""
    ev_id, ev_name, data_lines, retry, fields = None, None, [], None, 0
    for line in block.split("\n"):
        if line.startswith(":"):
            comments.append(line[1:].strip())
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        fields += 1
        if name == "id":
            ev_id = value
        elif name == "event":
            ev_name = value
        elif name == "data":
            data_lines.append(value)
        elif name == "retry":
            assert value.isdigit(), f"bad retry field {line!r}"
            retry = int(value)
        else:
            raise AssertionError(f"unknown SSE field line {line!r}")
    if fields == 0:
        return None
    return SSEBlock(id=ev_id, event=ev_name, data_lines=data_lines, retry=retry)


class StreamBody:
    """The bytes of a streamed response body as they arrive: chunked, or up to EOF."""

    def __init__(self, conn: HttpConnection, head: Response):
        self.conn = conn
        self.chunked = (head.header("transfer-encoding") or "").lower() == "chunked"
        self.ended = False          # the terminating chunk (or EOF) seen
        self.raw = b""              # everything the body carried, for byte-exact checks
        if not self.chunked:
            assert head.header("content-length") is None, f"a stream with Content-Length: {head!r}"

    def pull(self, deadline: float) -> bytes | None:
        """More bytes, or None when the response ended."""
        if self.ended:
            return None
        if self.chunked:
            chunk = self.conn.read_chunk(deadline)
            if chunk is None:
                self.ended = True
                return None
            self.raw += chunk
            return chunk
        try:
            if not self.conn.buf:
                self.conn._recv_more(deadline)
        except ConnectionClosed:
            self.ended = True
            return None
        data = bytes(self.conn.buf)
        self.conn.buf.clear()
        self.raw += data
        return data


class EventStreamReader:
    """Splits a text/event-stream response into event blocks as they arrive, collecting comments.
    The execute API's `SSEStream` and MCP's `McpSSE` (mcp_http.py) read their events through it,
    each turning a block into its own kind of event (`to_event`)."""

    default_timeout = 5.0

    def __init__(self, conn: HttpConnection, head: Response):
        self.body = StreamBody(conn, head)
        self.head = head
        self.text = ""
        self.pending = b""          # a UTF-8 character split across chunks
        self.comments: list[str] = []
        self.events: list = []

    def to_event(self, block: SSEBlock):
        raise NotImplementedError

    def next_event(self, timeout: float | None = None):
        """The next event, or None when the response ended (comments are collected on the way);
        socket.timeout after `timeout`."""
        block = self.next_block(self.default_timeout if timeout is None else timeout)
        if block is None:
            return None
        ev = self.to_event(block)
        self.events.append(ev)
        return ev

    @property
    def ended(self) -> bool:
        return self.body.ended

    @property
    def raw(self) -> str:
        return self.body.raw.decode("utf-8")

    def next_block(self, timeout: float) -> SSEBlock | None:
        """The next event block, or None when the response ended; socket.timeout after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            self.text = self.text.replace("\r\n", "\n")
            idx = self.text.find("\n\n")
            if idx >= 0:
                block, self.text = self.text[:idx], self.text[idx + 2:]
                if not block.strip("\n"):
                    continue
                parsed = parse_sse_block(block.strip("\n"), self.comments)
                if parsed is not None:
                    return parsed
                continue
            data = self.body.pull(deadline)
            if data is None:
                assert self.text.strip() == "", f"stream ended inside an event: {self.text!r}"
                return None
            self.pending += data
            try:
                self.text += self.pending.decode("utf-8")
                self.pending = b""
            except UnicodeDecodeError:
                pass


class SSEStream(EventStreamReader):
    """The execute API's event stream (seed 000): numeric ids, JSON data."""

    default_timeout = 10.0

    def to_event(self, block: SSEBlock) -> Event:
        raw = "\n".join(block.data_lines)
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise AssertionError(f"SSE data is not JSON: {raw!r}") from exc
        return Event(id=None if block.id is None else int(block.id), event=block.event, data=data, raw_data=raw)

    def read_until_terminal(self, timeout: float = 15.0) -> list[Event]:
        """Every event up to and including the terminal one; then the response must end."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no terminal event within {timeout}s; got {self.events}")
            ev = self.next_event(remaining)
            if ev is None:
                raise AssertionError(f"stream ended without a terminal event; got {self.events}")
            if ev.event in TERMINAL_EVENTS:
                break
        # After the terminal event the response ends with the terminating chunk.
        extra = self.next_event(5.0)
        assert extra is None, f"event after the terminal one: {extra}"
        assert self.ended
        return list(self.events)


def assert_well_formed(events: list[Event], first_id: int = 1) -> None:
    """ids count up by one from `first_id`, names match data.type, exactly one terminal event, last."""
    assert events, "no events"
    for i, ev in enumerate(events):
        assert ev.id == first_id + i, f"event ids not consecutive from {first_id}: {events}"
        assert ev.event in ("partial",) + TERMINAL_EVENTS, f"unknown event {ev}"
        assert isinstance(ev.data, dict) and ev.data.get("type") == ev.event, f"type mismatch in {ev}"
    terminals = [e for e in events if e.event in TERMINAL_EVENTS]
    assert len(terminals) == 1 and events[-1] is terminals[0], f"terminal events wrong: {events}"
    last = events[-1]
    if last.event == "final":
        assert isinstance(last.data.get("text"), str), last
        if set(last.data) != {"type", "text"}:
            # A member server's MCP result: its content (and structuredContent, isError) ride along,
            # and `text` is its text blocks joined.
            assert {"type", "text", "content"} <= set(last.data) <= {"type", "text", "content", "structuredContent", "isError"}, last
            joined = "\n".join(b["text"] for b in last.data["content"] if b.get("type") == "text")
            assert last.data["text"] == joined, last
    elif last.event == "error":
        err = last.data.get("error")
        assert isinstance(err, dict) and isinstance(err.get("kind"), str) \
            and isinstance(err.get("message"), str), last
    else:
        assert isinstance(last.data.get("reason"), str), last
    for ev in events[:-1]:
        assert set(ev.data) == {"type", "text"} and isinstance(ev.data["text"], str), ev


def assert_error(resp: Response, status: int, code: str, field: str | None = None,
                 http_level: bool = False) -> dict:
    """The seed-000 error shape: {"error": {"code", "message"[, "field"]}}."""
    assert resp.status == status, f"expected {status} {code}, got {resp!r}"
    ctype = (resp.header("content-type") or "").split(";")[0].strip().lower()
    assert ctype == "application/json", f"error content-type {ctype!r}: {resp!r}"
    body = resp.json()
    assert isinstance(body, dict) and set(body) == {"error"}, f"error envelope wrong: {body}"
    err = body["error"]
    assert isinstance(err, dict), body
    assert err.get("code") == code, f"expected code {code}, got {body}"
    assert isinstance(err.get("message"), str) and err["message"].strip(), f"empty message: {body}"
    if code == "VALIDATION_ERROR":
        assert set(err) <= {"code", "message", "field"}, f"unexpected keys: {body}"
        if field is not None:
            assert err.get("field") == field, f"expected field {field!r}, got {body}"
    else:
        assert set(err) == {"code", "message"}, f"unexpected keys: {body}"
    if http_level:
        assert (resp.header("connection") or "").lower() == "close", \
            f"HTTP-level error must carry Connection: close: {resp!r}"
    return err


# ----------------------------------------------------------------------------------------------
# mcpctl
# ----------------------------------------------------------------------------------------------

def run_mcpctl(args, runtime_dir=None, timeout: float = 15.0):
    cmd = [str(MCPCTL), *[str(a) for a in args]]
    if runtime_dir is not None:
        cmd += ["--runtime-dir", str(runtime_dir)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=clean_env())
    return proc.returncode, proc.stdout, proc.stderr


def ctl_workers(status: dict) -> list[dict]:
    """Live workers in `mcpctl status --json` output: [{"pid", "state", ...}]."""
    return status["workers"]


def ctl_calls(status: dict) -> list[dict]:
    """In-flight calls in `mcpctl status --json`: [{"call_id", "tool", "owner", "state", "worker_pid"}]."""
    return status["calls"]


def ctl_find_call(status: dict, call_id: str) -> dict | None:
    for c in ctl_calls(status):
        if c["call_id"] == call_id:
            return c
    return None


# ----------------------------------------------------------------------------------------------
# One mcpd instance
# ----------------------------------------------------------------------------------------------

class HttpEndpoint:
    """The execute API's HTTP helpers for a server on 127.0.0.1:`port` (an mcpd the test started, or
    one that systemd started)."""
    port: int

    def conn(self, timeout: float = 10.0) -> HttpConnection:
        return HttpConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, token=ALPHA, headers=None, body=None, timeout=10.0) -> Response:
        with self.conn(timeout) as c:
            return c.request(method, path, headers=headers, body=body, token=token, timeout=timeout)

    def get(self, path, token=ALPHA, **kw) -> Response:
        return self.request("GET", path, token=token, **kw)

    def post_json(self, path, obj, token=ALPHA, **kw) -> Response:
        headers = {"Content-Type": "application/json"}
        return self.request("POST", path, token=token, headers=headers, body=json_body(obj), **kw)

    def execute(self, tool, input=None, token=ALPHA, **extra) -> Response:
        payload = {"tool": tool}
        if input is not None:
            payload["input"] = input
        payload.update(extra)
        return self.post_json("/mcp/execute", payload, token=token)

    def start_call(self, tool, input=None, token=ALPHA, **extra) -> str:
        r = self.execute(tool, input, token=token, **extra)
        assert r.status == 200, f"execute {tool} {input} failed: {r!r}"
        body = r.json()
        assert UUID4.match(body.get("call_id", "")), f"call_id is not a lowercase uuid v4: {body}"
        return body["call_id"]

    def call(self, call_id, token=ALPHA) -> dict:
        r = self.get(f"/mcp/calls/{call_id}", token=token)
        assert r.status == 200, f"GET /mcp/calls/{call_id}: {r!r}"
        return r.json()

    def wait_status(self, call_id, wanted, token=ALPHA, timeout=10.0) -> dict:
        wanted = {wanted} if isinstance(wanted, str) else set(wanted)
        box = {}

        def check():
            box["c"] = self.call(call_id, token)
            return box["c"]["status"] in wanted
        wait_until(check, timeout, message=f"call {call_id} to reach {wanted}")
        return box["c"]

    def cancel(self, call_id, token=ALPHA) -> Response:
        return self.request("POST", f"/mcp/cancel/{call_id}", token=token, body=b"")

    def cancel_all(self, token=ALPHA) -> Response:
        return self.request("POST", "/mcp/cancel_all", token=token, body=b"")

    def stream(self, call_id, token=ALPHA, timeout=15.0, last_event_id=None) -> list[Event]:
        with self.conn(timeout) as c:
            head, sse = c.open_stream(call_id, token, last_event_id)
            assert sse is not None, f"stream {call_id} refused: {head!r}"
            return sse.read_until_terminal(timeout)

    def run(self, tool, input=None, token=ALPHA, timeout=15.0, **extra) -> list[Event]:
        call_id = self.start_call(tool, input, token, **extra)
        return self.stream(call_id, token, timeout)

    def readyz(self) -> Response:
        return self.get("/readyz", token=None)


class Mcpd(HttpEndpoint):
    def __init__(self, workdir: Path, args, tokens, env_extra, listen_port: int | None,
                 runtime_dir: Path | None, default_listen: bool = True, wrapper=(), stdin=None):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = listen_port or free_port()
        self.runtime_dir = runtime_dir or (workdir / "run")
        self.runtime_dir.mkdir(parents=True, exist_ok=True)
        self.stderr_path = workdir / "mcpd.stderr"
        self.stdout_path = workdir / "mcpd.stdout"
        self.tokens = list(tokens or [])
        argv = [str(w) for w in wrapper] + [str(MCPD)]
        if default_listen:
            argv += ["--listen", f"127.0.0.1:{self.port}"]
        argv += ["--runtime-dir", str(self.runtime_dir)]
        for t in self.tokens:
            argv += ["--token", t]
        args = [str(a) for a in args]
        if "--drain-timeout" not in args:
            argv += ["--drain-timeout", "3"]   # keeps teardown short if a test leaves a call running
        if "--state-dir" not in args:
            # Each instance keeps its run-time registrations to itself unless a test shares a directory.
            argv += ["--state-dir", str(workdir / "state")]
        argv += args
        self.argv = argv
        self.expect_exit: int | None = 0
        # After mcpd itself is SIGKILLed its dead children belong to init, which reaps them (or not):
        # then only a still-running child is a leak.
        self.zombies_are_leaks = True
        self.stopped = False
        self.seen_children: dict[int, ProcInfo] = {}
        self._stderr = open(self.stderr_path, "wb")
        self._stdout = open(self.stdout_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL if stdin is None else stdin,
                                     stdout=self._stdout,
                                     stderr=self._stderr, env=clean_env(env_extra))
        self.pid = self.proc.pid

    # -- diagnostics --------------------------------------------------------------------------
    def stderr_text(self) -> str:
        try:
            self._stderr.flush()
        except ValueError:
            pass
        return self.stderr_path.read_text(errors="replace")

    def diag(self, limit: int = 4000) -> str:
        return f"\n--- mcpd argv: {' '.join(self.argv)}\n--- mcpd stderr (tail):\n{self.stderr_text()[-limit:]}"

    # -- start --------------------------------------------------------------------------------
    def wait_ready(self, timeout: float = 15.0) -> dict:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"mcpd exited with {self.proc.returncode} before becoming ready{self.diag()}")
            try:
                with HttpConnection("127.0.0.1", self.port, timeout=2) as c:
                    r = c.request("GET", "/readyz")
                    last = r
                    if r.status == 200:
                        self.remember_children()
                        return r.json()
            except (OSError, ConnectionClosed) as exc:
                last = exc
            time.sleep(0.05)
        pytest.fail(f"mcpd not ready within {timeout}s (last: {last!r}){self.diag()}")

    # -- processes ----------------------------------------------------------------------------
    def children(self) -> list[ProcInfo]:
        kids = children_of(self.pid)
        for k in kids:
            self.seen_children.setdefault(k.pid, k)
        return kids

    def remember_children(self) -> None:
        self.children()

    def worker_children(self) -> list[ProcInfo]:
        return [k for k in self.children() if k.state not in ("Z", "X")]

    def zombies(self) -> list[ProcInfo]:
        return [k for k in self.children() if k.state == "Z"]

    def wait_no_zombies(self, timeout: float = 3.0) -> None:
        wait_until(lambda: not self.zombies(), timeout,
                   message=f"mcpd {self.pid} to reap its zombie children {self.zombies()}")

    # -- mcpctl -------------------------------------------------------------------------------
    def mcpctl(self, *args, timeout: float = 15.0):
        return run_mcpctl(args, self.runtime_dir, timeout)

    def ctl_status(self) -> dict:
        rc, out, err = self.mcpctl("status", "--json")
        assert rc == 0, f"mcpctl status --json exited {rc}: {out}{err}"
        try:
            return json.loads(out)
        except ValueError as exc:
            raise AssertionError(f"mcpctl status --json printed no JSON: {out!r} {err!r}") from exc

    # -- stop ---------------------------------------------------------------------------------
    def send_signal(self, sig) -> None:
        self.remember_children()
        os.kill(self.pid, sig)

    def wait_exit(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return self.proc.returncode
            self.remember_children()
            time.sleep(0.02)
        return self.proc.poll()

    def stop(self, sig=signal.SIGTERM, timeout: float = 20.0, send: bool = True) -> int:
        """Signal mcpd (unless `send` is False: the test signalled it already), wait for it, check its
        exit status and that none of its children survive."""
        problems = []
        if send and self.proc.poll() is None:
            # mcpd must reap its children while it runs; give a just-exited worker a moment.
            # One observation decides: a worker killed a moment ago may turn zombie between two
            # looks, which is not a leak as long as mcpd reaps it within the wait.
            deadline = time.monotonic() + 3
            z = self.zombies()
            while z and time.monotonic() < deadline:
                time.sleep(0.05)
                z = self.zombies()
            if z:
                problems.append(f"zombie children of running mcpd: {z}")
            self.send_signal(sig)
        rc = self.wait_exit(timeout)
        self.stopped = True
        if rc is None:
            problems.append(f"mcpd did not exit within {timeout}s of signal {sig}")
            self.proc.kill()
            rc = self.proc.wait(5)
        elif self.expect_exit is not None and rc != self.expect_exit:
            problems.append(f"mcpd exited with {rc}, expected {self.expect_exit}")
        problems += self.check_no_survivors()
        self._stderr.close()
        self._stdout.close()
        if problems:
            raise AssertionError("; ".join(problems) + self.diag())
        return rc

    def check_no_survivors(self, grace: float = 2.0) -> list[str]:
        """After mcpd is gone: every process it ever parented must be gone (zombie = leak)."""
        deadline = time.monotonic() + grace
        while True:
            alive = [p for p in (same_process_exists(i) for i in self.seen_children.values())
                     if p and (self.zombies_are_leaks or p.state not in ("Z", "X"))]
            if not alive or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        if not alive:
            return []
        for p in alive:  # do not let a leak disturb the tests that follow
            try:
                os.kill(p.pid, signal.SIGKILL)
            except OSError:
                pass
        return [f"processes parented by mcpd {self.pid} survive it: {alive}"]


@pytest.fixture
def mcpd_factory(tmp_path):
    """start(*flags, tokens=..., env=..., wait=True) -> Mcpd. Teardown stops and checks each."""
    if not MCPD.exists():
        pytest.fail(f"mcpd binary not found at {MCPD} (set MCPD_BIN_DIR)")
    instances: list[Mcpd] = []

    def start(*args, tokens=DEFAULT_TOKENS, env=None, wait=True, port=None, runtime_dir=None,
              default_listen=True, wrapper=(), stdin=None) -> Mcpd:
        m = Mcpd(tmp_path / f"mcpd{len(instances)}", args, tokens, env, port, runtime_dir,
                 default_listen, wrapper, stdin)
        instances.append(m)
        if wait:
            m.wait_ready()
        return m

    yield start
    errors = []
    for m in instances:
        if m.stopped:
            continue
        try:
            m.stop()
        except AssertionError as exc:
            errors.append(str(exc))
    if errors:
        pytest.fail("teardown: " + "\n".join(errors), pytrace=False)


@pytest.fixture
def mcpd(mcpd_factory) -> Mcpd:
    return mcpd_factory()
