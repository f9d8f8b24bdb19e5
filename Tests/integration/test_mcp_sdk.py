"""mcpd against the official MCP Python SDK client (`mcp` 2.3.0), in the five ways it can connect:

  auto-2026-07-28     Client(streamable_http_client(/mcp), mode="auto"): server/discover, stateless
  legacy-2025-11-25   Client(streamable_http_client(/mcp), mode="legacy"): initialize handshake
  session-2025-06-18  ClientSession over streamable_http_client(/mcp), initialize offering 2025-06-18
  session-2025-03-26  the same, offering 2025-03-26
  sse-2024-11-05      ClientSession over sse_client(/sse) (GET /sse + POST /messages), offering 2024-11-05

`ClientSession.initialize()` always offers the SDK's newest handshake revision (2025-11-25), so the
session modes send the initialize request themselves through the session's public API, exactly as
`initialize()` does but with the revision asked for (`initialize_pinned`), and then check that mcpd
agreed to that revision, in the parsed result and on the wire.

In every mode a test lists the tools, calls echo, reads server://status, gets the greeting prompt,
follows a countdown's progress, and cancels a running countdown from the client (cancelling the
anyio scope around the call: the SDK then POSTs notifications/cancelled, or at 2026-07-28 closes
the request's stream), which must end the call *in its worker*, as `mcpctl status --json` (the
shared-memory call table, not HTTP) shows.

Wire check: every HTTP exchange of the SDK goes through `TeeTransport`, which copies the bytes of
each response as the SDK reads them and splits application/json bodies and text/event-stream
`data:` events into the JSON-RPC messages mcpd sent; request bodies are captured too, so each
response is matched (by id) with the method of the request it answers. After the test every
captured server message is checked with mcp_wire.check_server_message against the negotiated
revision's published JSON schema.
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.to_thread
import httpx2
import mcp_types as types
import pytest
from mcp.client.client import Client
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from conftest import ALPHA

TIMEOUT = 10.0            # one MCP request (the SDK's read timeout)
SCENARIO_TIMEOUT = 30.0   # a whole test's client side


# ----------------------------------------------------------------------------------------------
# Wire capture
# ----------------------------------------------------------------------------------------------

@dataclass
class ServerMessage:
    message: Any            # decoded JSON-RPC message (dict), or a batch (list)
    http: str               # "POST /mcp 200 text/event-stream", for failure messages
    seq: int                # arrival order over all streams


@dataclass
class Exchange:
    method: str
    path: str
    request_headers: dict[str, str]
    client_messages: list[dict]
    status: int | None = None
    content_type: str = ""
    completed: bool = False         # the response body was read to its end
    closed_early: bool = False      # the client closed the response before its end
    abandoned: bool = False         # the client gave up before the response head arrived

    def label(self) -> str:
        return f"{self.method} {self.path} {self.status} {self.content_type or '-'}"


@dataclass
class WireCapture:
    exchanges: list[Exchange] = field(default_factory=list)
    server_messages: list[ServerMessage] = field(default_factory=list)
    request_methods: dict[Any, str] = field(default_factory=dict)   # JSON-RPC id -> method
    problems: list[str] = field(default_factory=list)               # bytes that are no messages
    _seq: int = 0

    def client_messages(self, method: str | None = None) -> list[dict]:
        out = [msg for ex in self.exchanges for msg in ex.client_messages]
        return [m for m in out if method is None or m.get("method") == method]

    def add_server_message(self, message: Any, exchange: Exchange) -> None:
        self._seq += 1
        self.server_messages.append(ServerMessage(message, exchange.label(), self._seq))

    def responses_to(self, request_id) -> list[ServerMessage]:
        return [s for s in self.server_messages if isinstance(s.message, dict)
                and "method" not in s.message and s.message.get("id") == request_id]

    def notifications(self, method: str) -> list[ServerMessage]:
        return [s for s in self.server_messages if isinstance(s.message, dict)
                and s.message.get("method") == method and "id" not in s.message]

    def method_of(self, message: Any):
        """The method of the request a response answers (a mapping for a batch), else None."""
        if isinstance(message, list):
            return {m.get("id"): self.request_methods.get(m.get("id"))
                    for m in message if isinstance(m, dict)}
        if isinstance(message, dict) and "method" not in message:
            return self.request_methods.get(message.get("id"))
        return None


class _BodyParser:
    """Turns one response body, fed chunk by chunk, into server messages."""

    def __init__(self, capture: WireCapture, exchange: Exchange):
        self.capture, self.exchange = capture, exchange
        self.sse = exchange.content_type == "text/event-stream"
        self.json = exchange.content_type == "application/json"
        self.buf = bytearray()
        self.event: str | None = None
        self.data: list[str] = []

    def feed(self, chunk: bytes) -> None:
        if not (self.sse or self.json):
            return
        self.buf += chunk
        if self.sse:
            while (i := self.buf.find(b"\n")) >= 0:
                line = bytes(self.buf[:i]).rstrip(b"\r").decode("utf-8", "replace")
                del self.buf[:i + 1]
                self._sse_line(line)

    def _sse_line(self, line: str) -> None:
        if line == "":
            self._dispatch()
            return
        if line.startswith(":"):
            return
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            self.event = value
        elif name == "data":
            self.data.append(value)

    def _dispatch(self) -> None:
        event, data = self.event or "message", "\n".join(self.data)
        had_data = bool(self.data)
        self.event, self.data = None, []
        if not had_data or (event == "message" and data == ""):
            return                                  # id/retry-only block or priming event
        if event == "endpoint" and self.exchange.path == "/sse":
            return                                  # legacy SSE: the POST URL, not a message
        if event != "message":
            self.capture.problems.append(f"{self.exchange.label()}: SSE event {event!r} (not 'message') "
                                         f"carrying {data[:300]!r}")
            return
        self._message(data)

    def _message(self, text: str) -> None:
        try:
            msg = json.loads(text)
        except ValueError as exc:
            self.capture.problems.append(f"{self.exchange.label()}: not JSON ({exc}): {text[:300]!r}")
            return
        self.capture.add_server_message(msg, self.exchange)

    def finish(self) -> None:
        self.exchange.completed = True
        if self.json and self.buf.strip():
            self._message(bytes(self.buf).decode("utf-8", "replace"))
        elif self.sse and self.buf.strip():
            self.capture.problems.append(f"{self.exchange.label()}: stream ended inside a line: "
                                         f"{bytes(self.buf)[:300]!r}")


class _TeeStream(httpx2.AsyncByteStream):
    def __init__(self, inner, parser: _BodyParser):
        self.inner, self.parser = inner, parser

    async def __aiter__(self):
        async for chunk in self.inner:
            self.parser.feed(chunk)
            yield chunk
        self.parser.finish()

    async def aclose(self) -> None:
        if not self.parser.exchange.completed:
            self.parser.exchange.closed_early = True
        await self.inner.aclose()


class TeeTransport(httpx2.AsyncBaseTransport):
    """An httpx2 transport that records what goes over the real one (see the module docstring)."""

    def __init__(self, capture: WireCapture):
        self.capture = capture
        self.inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            body = request.content
        except httpx2.RequestNotRead:
            body = b""
        client_messages = []
        if body:
            try:
                decoded = json.loads(body)
            except ValueError:
                decoded = None
            for m in decoded if isinstance(decoded, list) else [decoded]:
                if isinstance(m, dict):
                    client_messages.append(m)
                    if "method" in m and "id" in m:
                        self.capture.request_methods[m["id"]] = m["method"]
        exchange = Exchange(request.method, urlsplit(str(request.url)).path,
                            {k.lower(): v for k, v in request.headers.items()}, client_messages)
        self.capture.exchanges.append(exchange)
        try:
            response = await self.inner.handle_async_request(request)
        except BaseException:
            exchange.abandoned = True
            raise
        exchange.status = response.status_code
        exchange.content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if response.headers.get("content-encoding", "identity").lower() != "identity":
            self.capture.problems.append(f"{exchange.label()}: content-encoding "
                                         f"{response.headers['content-encoding']} (not read by this capture)")
        response.stream = _TeeStream(response.stream, _BodyParser(self.capture, exchange))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def check_wire(capture: WireCapture, revision: str) -> list[str]:
    """Every message mcpd sent, against `revision`'s schema: the failures, one string each."""
    import mcp_wire   # beside this file; imported here so a missing checker fails only these tests

    failures = list(capture.problems)
    if not capture.server_messages:
        failures.append("the capture holds no server message at all (the wire check would be vacuous)")
    for s in capture.server_messages:
        method = capture.method_of(s.message)
        try:
            mcp_wire.check_server_message(revision, s.message, method)
        except AssertionError as exc:
            failures.append(f"[{s.http}] answering {method!r}: {exc}")
    return failures


# ----------------------------------------------------------------------------------------------
# The five ways to connect
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Mode:
    id: str
    kind: str                   # "client" | "session" | "sse"
    revision: str
    client_mode: str | None = None


MODES = [
    Mode("auto-2026-07-28", "client", "2026-07-28", client_mode="auto"),
    Mode("legacy-2025-11-25", "client", "2025-11-25", client_mode="legacy"),
    Mode("session-2025-06-18", "session", "2025-06-18"),
    Mode("session-2025-03-26", "session", "2025-03-26"),
    Mode("sse-2024-11-05", "sse", "2024-11-05"),
]
REVISION_ORDER = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"]


def at_least(revision: str, other: str) -> bool:
    return REVISION_ORDER.index(revision) >= REVISION_ORDER.index(other)


@pytest.fixture(params=MODES, ids=[m.id for m in MODES])
def mode(request) -> Mode:
    return request.param


async def initialize_pinned(session: ClientSession, revision: str) -> types.InitializeResult:
    """ClientSession.initialize() with `revision` offered instead of the SDK's newest one: the same
    initialize request, adopt() of its result, and notifications/initialized."""
    result = await session.send_request(
        types.InitializeRequest(params=types.InitializeRequestParams(
            protocol_version=revision,
            capabilities=types.ClientCapabilities(),
            client_info=types.Implementation(name="mcpd-sdk-test", version="1.0.0"),
        )),
        types.InitializeResult,
    )
    assert result.protocol_version == revision, \
        f"initialize offering {revision}: mcpd answered protocolVersion {result.protocol_version!r}"
    session.adopt(result)
    await session.send_notification(types.InitializedNotification())
    return result


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {ALPHA}"}


@asynccontextmanager
async def connect(mode: Mode, port: int, capture: WireCapture):
    """Yields the SDK object whose list_tools/call_tool/read_resource/get_prompt the tests use
    (a Client, or a ClientSession), after checking the negotiated revision."""
    base = f"http://127.0.0.1:{port}"
    timeout = httpx2.Timeout(TIMEOUT, read=60.0)
    if mode.kind == "sse":
        def factory(headers=None, timeout=None, auth=None):
            return httpx2.AsyncClient(headers=headers, timeout=timeout, auth=auth,
                                      transport=TeeTransport(capture))
        async with sse_client(f"{base}/sse", headers=_auth(), timeout=TIMEOUT, sse_read_timeout=60.0,
                              httpx_client_factory=factory) as (read, write):
            async with ClientSession(read, write, read_timeout_seconds=TIMEOUT) as session:
                await initialize_pinned(session, mode.revision)
                assert session.protocol_version == mode.revision
                yield session
        return
    async with httpx2.AsyncClient(headers=_auth(), timeout=timeout, transport=TeeTransport(capture)) as http:
        transport = streamable_http_client(f"{base}/mcp", http_client=http)
        if mode.kind == "client":
            # cache=None: every call must reach mcpd (the default cache may answer from memory).
            async with Client(transport, mode=mode.client_mode, read_timeout_seconds=TIMEOUT,
                              cache=None) as client:
                assert client.protocol_version == mode.revision, \
                    f"Client(mode={mode.client_mode!r}) negotiated {client.protocol_version}, " \
                    f"expected {mode.revision}"
                yield client
        else:
            async with transport as (read, write):
                async with ClientSession(read, write, read_timeout_seconds=TIMEOUT) as session:
                    await initialize_pinned(session, mode.revision)
                    assert session.protocol_version == mode.revision
                    yield session


def check_negotiation_on_wire(mode: Mode, capture: WireCapture) -> None:
    if mode.client_mode == "auto":
        discovers = capture.client_messages("server/discover")
        assert discovers, "auto mode sent no server/discover"
        answers = [s.message for d in discovers for s in capture.responses_to(d["id"])]
        ok = [a for a in answers if "result" in a]
        assert ok, f"server/discover was not answered with a result: {answers}"
        assert mode.revision in ok[-1]["result"].get("supportedVersions", []), ok[-1]
        assert not capture.client_messages("initialize"), "auto mode fell back to initialize"
        return
    inits = capture.client_messages("initialize")
    assert len(inits) == 1, f"expected one initialize request, captured {inits}"
    assert inits[0]["params"]["protocolVersion"] == mode.revision, inits[0]
    answers = capture.responses_to(inits[0]["id"])
    assert len(answers) == 1, f"initialize answered {len(answers)} times: {answers}"
    assert answers[0].message.get("result", {}).get("protocolVersion") == mode.revision, answers[0]


def run_scenario(mode: Mode, m, scenario) -> WireCapture:
    """Connect in `mode`, run `scenario(api, capture)`, then check every captured server message
    against the negotiated revision (also when the scenario failed: both are reported)."""
    capture = WireCapture()

    async def main():
        with anyio.fail_after(SCENARIO_TIMEOUT):
            async with connect(mode, m.port, capture) as api:
                check_negotiation_on_wire(mode, capture)
                await scenario(api, capture)

    error: BaseException | None = None
    try:
        anyio.run(main)
    except BaseException as exc:  # noqa: BLE001 - re-raised below with the wire findings added
        error = exc
    failures = check_wire(capture, mode.revision)
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]      # the SDK's task groups wrap the test's own failure
    if error is not None:
        if failures:
            error.add_note(f"wire check ({mode.revision}) also failed:\n" + "\n".join(failures))
        error.add_note(m.diag(2000))
        raise error
    assert not failures, f"messages mcpd sent in {mode.id} are invalid for {mode.revision}:\n" \
        + "\n".join(failures) + m.diag(2000)
    return capture


def text_of(result) -> str:
    assert not result.is_error, f"tool call failed: {result}"
    assert len(result.content) == 1 and result.content[0].type == "text", result.content
    return result.content[0].text


# ----------------------------------------------------------------------------------------------
# The tests
# ----------------------------------------------------------------------------------------------

def test_wire_capture_finds_invalid_messages():
    """The capture and check themselves (no mcpd): SSE framing split across chunks, a JSON body,
    and invalid messages of each kind are all reported."""
    capture = WireCapture()
    capture.request_methods.update({1: "tools/list", 2: "tools/call"})
    sse = Exchange("POST", "/mcp", {}, [], 200, "text/event-stream")
    parser = _BodyParser(capture, sse)
    body = (b": comment\r\nid: 7\r\nevent: message\r\ndata: \r\n\r\n"      # priming event: skipped
            b'event: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress",'
            b'"params":{"progress":1}}\n\n'                                  # no progressToken
            b'data: {"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"x"}]}}\n\n'  # no inputSchema
            b"event: endpoint\ndata: /messages?sessionId=1\n\n"             # only /sse has it
            b"data: not json\n\n")
    for i in range(0, len(body), 7):
        parser.feed(body[i:i + 7])
    parser.finish()
    js = Exchange("POST", "/mcp", {}, [], 200, "application/json")
    parser = _BodyParser(capture, js)
    parser.feed(b'{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"ok"}]}}')
    parser.finish()
    assert [s.message.get("id") for s in capture.server_messages] == [None, 1, 2]
    failures = check_wire(capture, "2025-06-18")
    assert len(failures) == 4, failures
    assert "SSE event 'endpoint'" in failures[0] and "not JSON" in failures[1]
    assert "progressToken" in failures[2] and "tools/list" in failures[3] and "inputSchema" in failures[3]
    assert check_wire(WireCapture(), "2025-06-18") == [
        "the capture holds no server message at all (the wire check would be vacuous)"]


def test_tools_resource_and_prompt(mcpd, mode):
    async def scenario(api, capture):
        tools = await api.list_tools()
        names = [t.name for t in tools.tools]
        assert {"echo", "countdown"} <= set(names), names
        echo = next(t for t in tools.tools if t.name == "echo")
        assert echo.input_schema.get("properties", {}).get("message", {}).get("type") == "string", echo

        message = f"héllo from the SDK at {mode.revision} ✓"
        assert text_of(await api.call_tool("echo", {"message": message})) == message

        res = await api.read_resource("server://status")
        assert len(res.contents) == 1, res
        content = res.contents[0]
        assert str(content.uri) == "server://status", content
        assert content.mime_type == "application/json", content
        status = json.loads(content.text)
        assert status.get("status") == "healthy", status

        prompt = await api.get_prompt("greeting", {"name": "Ada Lovelace"})
        assert prompt.messages, prompt
        text = prompt.messages[0].content
        assert text.type == "text" and "Ada Lovelace" in text.text, prompt

        for method in ("tools/list", "tools/call", "resources/read", "prompts/get"):
            sent = capture.client_messages(method)
            assert sent and all(capture.responses_to(r["id"]) for r in sent), \
                f"no captured response to {method}: the wire check would miss it"

    run_scenario(mode, mcpd, scenario)


def test_countdown_progress(mcpd, mode):
    async def scenario(api, capture):
        got: list[tuple[float, float | None, str | None]] = []

        async def on_progress(progress, total, message):
            got.append((progress, total, message))

        result = await api.call_tool("countdown", {"seconds": 2}, progress_callback=on_progress)
        assert text_of(result) == "done"
        with anyio.fail_after(2):           # the SDK hands each notification to a task of its own
            while len(got) < 2:
                await anyio.sleep(0.02)
        await anyio.sleep(0.2)
        assert len(got) == 2, f"expected 2 progress callbacks, got {got}"
        assert got[0][0] < got[1][0], f"progress must increase: {got}"
        for progress, total, message in got:
            if at_least(mode.revision, "2025-03-26"):
                assert isinstance(message, str) and message.strip(), f"progress without message: {got}"
            if total is not None:
                assert progress <= total, got

        # On the wire: both notifications echo the request's token and precede its response.
        call = capture.client_messages("tools/call")[-1]
        token = call["params"]["_meta"]["progressToken"]
        progress = [s for s in capture.notifications("notifications/progress")
                    if s.message["params"].get("progressToken") == token]
        responses = capture.responses_to(call["id"])
        assert len(progress) == 2, f"expected 2 notifications/progress for token {token!r}: " \
            f"{[s.message for s in capture.notifications('notifications/progress')]}"
        assert len(responses) == 1, responses
        assert all(p.seq < responses[0].seq for p in progress), "progress after the response"
        if not at_least(mode.revision, "2025-03-26"):
            assert all("message" not in p.message["params"] for p in progress), \
                f"2024-11-05 progress notifications have no message field: {[p.message for p in progress]}"

    run_scenario(mode, mcpd, scenario)


async def ctl_status(m) -> dict:
    return await anyio.to_thread.run_sync(m.ctl_status)


async def poll_ctl(m, predicate, timeout: float, what: str) -> dict:
    status = None
    with anyio.move_on_after(timeout):
        while True:
            status = await ctl_status(m)
            if predicate(status):
                return status
            await anyio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last mcpctl status: {status}")


IN_FLIGHT = ("pending", "running", "reserved")


def test_cancel_running_call(mcpd, mode):
    async def scenario(api, capture):
        before = await ctl_status(mcpd)
        assert not [c for c in before["calls"] if c["state"] in IN_FLIGHT], before
        counters0 = before["counters"]

        scope = anyio.CancelScope()
        outcome: dict[str, Any] = {}

        async def call():
            with scope:
                outcome["result"] = await api.call_tool("countdown", {"seconds": 30})
            outcome["cancelled"] = scope.cancelled_caught

        async with anyio.create_task_group() as tg:
            tg.start_soon(call)

            def started(s):
                assert not outcome, f"countdown(30) ended before it was cancelled: {outcome}"
                return any(c["tool"] == "countdown" and c["state"] == "running" and c["worker_pid"]
                           for c in s["calls"])
            running = await poll_ctl(mcpd, started, 5, "the countdown to run in a worker")
            entry = next(c for c in running["calls"] if c["tool"] == "countdown")
            assert entry["owner"] == "token-1", entry
            scope.cancel()
        assert outcome == {"cancelled": True}, f"the call was not cancelled client-side: {outcome}"

        # mcpd cancelled the call in its worker: the call table counts it, nothing is in flight and
        # the worker that ran it no longer does.
        def settled(s):
            c = s["counters"]
            ours = [x for x in s["calls"] if x["call_id"] == entry["call_id"]]
            worker = [w for w in s["workers"] if w["pid"] == entry["worker_pid"]]
            return (c["calls_cancelled"] == counters0["calls_cancelled"] + 1
                    and not [x for x in s["calls"] if x["state"] in IN_FLIGHT]
                    and all(x["state"] == "cancelled" for x in ours)
                    and all(w["current_call_id"] != entry["call_id"] for w in worker))
        after = await poll_ctl(mcpd, settled, 5,
                               f"call {entry['call_id']} to be counted cancelled with no call in flight")
        c0, c1 = counters0, after["counters"]
        assert c1["calls_finished"] == c0["calls_finished"], (c0, c1)
        assert c1["calls_failed"] == c0["calls_failed"], (c0, c1)
        assert c1["workers_crashed"] == c0["workers_crashed"], (c0, c1)

        # The SDK's cancellation reached mcpd the way this revision spells it.
        call_msg = [c for c in capture.client_messages("tools/call")
                    if c["params"]["name"] == "countdown"][-1]
        cancels = capture.client_messages("notifications/cancelled")
        if mode.revision == "2026-07-28":
            assert not cancels, f"the 2026 client POSTed notifications/cancelled: {cancels}"
            post = next(ex for ex in capture.exchanges if call_msg in ex.client_messages)
            assert (post.abandoned or post.closed_early) and not capture.responses_to(call_msg["id"]), \
                f"the SDK did not close the call's request before its response: {post}"
        else:
            assert [c["params"]["requestId"] for c in cancels] == [call_msg["id"]], cancels

        # The connection survives its cancelled call.
        assert text_of(await api.call_tool("echo", {"message": "still here"})) == "still here"

    run_scenario(mode, mcpd, scenario)
