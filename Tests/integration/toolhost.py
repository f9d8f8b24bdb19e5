"""Helpers shared by the tool-host tests (issue 4: member servers, configured tools, composer and
registry APIs): the fixture programs under fixtures/, the composer (seed 001) and registry (seed
002) envelopes, the official SDK as a synchronous one-shot client, and /proc process-group checks.

Everything here talks to real processes over real sockets; nothing is mocked. mcpd itself is
started with conftest's `Mcpd` (through `mcpd_factory`, or `start_mcpd` below for module-scoped
instances shared by the tests of one file).

Every mcpd gets a `--state-dir` of its own inside its work directory (conftest adds it unless a
test names one, as the persistence tests do to restart on the same state).
"""

from __future__ import annotations

import base64
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import ALPHA, DEFAULT_TOKENS, Mcpd, Response, ctl_workers, json_body, wait_until

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
# The tests' own interpreter (the venv with mcp, mcp-server-time, mcp-server-git): fixture
# programs and stdio member servers run with it.
PYTHON = sys.executable

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def is_iso(value) -> bool:
    return isinstance(value, str) and bool(ISO.match(value))


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# ----------------------------------------------------------------------------------------------
# Fixture programs (fixtures/*.py): start, read the port, stop
# ----------------------------------------------------------------------------------------------

class Program:
    """One fixture program; its first stdout line is the port it listens on."""

    def __init__(self, script: str, *args, port: int = 0, env: dict | None = None,
                 log_dir: Path | None = None, timeout: float = 15.0):
        self.script = script
        self.args = [str(a) for a in args]
        self.env = env
        self.log_dir = log_dir
        self.timeout = timeout
        self.proc: subprocess.Popen | None = None
        self.port = port
        self.start(port)

    def start(self, port: int | None = None) -> "Program":
        """(Re)starts the program, on `port` (default: the port it had, or a free one at first)."""
        port = self.port if port is None else port
        argv = [PYTHON, str(FIXTURES / self.script), str(port), *self.args]
        stderr = subprocess.DEVNULL
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            stderr = open(self.log_dir / f"{Path(self.script).stem}-{os.getpid()}-{time.monotonic_ns()}.log", "wb")
        env = dict(os.environ)
        env.update(self.env or {})
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL,
                                     env=env, start_new_session=True)
        if stderr is not subprocess.DEVNULL:
            stderr.close()
        deadline = time.monotonic() + self.timeout
        line = b""
        fd = self.proc.stdout.fileno()
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.proc.poll() is not None:
                self.kill()
                pytest.fail(f"{self.script} {self.args} did not print its port (got {line!r})")
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                chunk = os.read(fd, 1)
                if not chunk:
                    continue
                line += chunk
        self.port = int(line.strip())
        self.wait_accepting()
        return self

    def wait_accepting(self) -> None:
        import socket
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    pytest.fail(f"{self.script} does not accept on port {self.port}")
                time.sleep(0.02)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "") -> str:
        return self.base + path

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig=signal.SIGKILL) -> None:
        """Ends the program and everything in its session (uvicorn has no helpers, but be sure)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self.proc.stdout.close()

    # -- plain HTTP to the program's own endpoints (/__log, /__stats, /last-auth ...) ---------
    def get_json(self, path: str, headers: dict | None = None):
        return http_json("GET", self.url(path), headers=headers)[1]

    def post_json(self, path: str, body=None, headers: dict | None = None):
        return http_json("POST", self.url(path), body, headers)[1]


def http_json(method: str, url: str, body=None, headers: dict | None = None, timeout: float = 10.0):
    """(status, parsed JSON or None) for one request with urllib (not mcpd: the fixtures)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode("utf-8", "replace")


@pytest.fixture
def programs(tmp_path):
    """start(script, *args, port=0, env=None) -> Program; every one is killed at teardown."""
    started: list[Program] = []

    def start(script, *args, port=0, env=None) -> Program:
        p = Program(script, *args, port=port, env=env, log_dir=tmp_path / "programs")
        started.append(p)
        return p

    yield start
    for p in started:
        p.kill()


@pytest.fixture(scope="module")
def module_programs(tmp_path_factory):
    """Like `programs`, for fixtures shared by a whole test module."""
    started: list[Program] = []
    log_dir = tmp_path_factory.mktemp("programs")

    def start(script, *args, port=0, env=None) -> Program:
        p = Program(script, *args, port=port, env=env, log_dir=log_dir)
        started.append(p)
        return p

    yield start
    for p in started:
        p.kill()


def start_mcpd(workdir: Path, *args, tokens=DEFAULT_TOKENS, env=None) -> Mcpd:
    """An mcpd for a module-scoped fixture (conftest's factory is per test); the caller stops it
    with `m.stop()` (which also checks that none of its children survive)."""
    m = Mcpd(workdir, [str(a) for a in args], tokens, env, None, None)
    m.wait_ready()
    return m


# ----------------------------------------------------------------------------------------------
# Composer API (seed 001): POST /mcp/tools/{admin_tool}
# ----------------------------------------------------------------------------------------------

COMPOSER_OK_KEYS = {"success", "data", "error", "timestamp", "content"}
COMPOSER_ERR_KEYS = {"success", "data", "error", "timestamp"}


def composer(m: Mcpd, tool: str, arguments=None, token: str | None = ALPHA, body=None,
             headers: dict | None = None, timeout: float = 20.0) -> Response:
    """POST /mcp/tools/<tool> with {"arguments": arguments} (or `body` as given)."""
    payload = body if body is not None else {"arguments": {} if arguments is None else arguments}
    hdrs = {"Content-Type": "application/json"}
    hdrs.update(headers or {})
    raw = payload if isinstance(payload, bytes) else json_body(payload)
    return m.request("POST", f"/mcp/tools/{tool}", token=token, headers=hdrs, body=raw, timeout=timeout)


def composer_call(m: Mcpd, name: str, arguments=None, token: str | None = ALPHA, **kw) -> Response:
    """call_tool, whose body is {"name", "arguments"} (seed 001)."""
    return composer(m, "call_tool", body={"name": name, "arguments": arguments or {}}, token=token, **kw)


def composer_ok(resp: Response, status: int = 200) -> dict:
    """The success envelope, exactly: {"success": true, "data", "error": null, "timestamp", "content"}."""
    assert resp.status == status, f"expected {status}, got {resp!r}"
    ctype = (resp.header("content-type") or "").split(";")[0].strip().lower()
    assert ctype == "application/json", resp
    body = resp.json()
    assert isinstance(body, dict) and set(body) == COMPOSER_OK_KEYS, f"success envelope keys {sorted(body)}: {body}"
    assert body["success"] is True and body["error"] is None, body
    assert is_iso(body["timestamp"]), body
    assert isinstance(body["content"], list), body
    return body


def composer_data(resp: Response, status: int = 200):
    return composer_ok(resp, status)["data"]


def composer_err(resp: Response, status: int, code: str) -> dict:
    """The error envelope, exactly: {"success": false, "data": null, "error": {"code", "message",
    "details"}, "timestamp"}; returns the error object."""
    assert resp.status == status, f"expected {status} {code}, got {resp!r}"
    ctype = (resp.header("content-type") or "").split(";")[0].strip().lower()
    assert ctype == "application/json", resp
    body = resp.json()
    assert isinstance(body, dict) and set(body) == COMPOSER_ERR_KEYS, f"error envelope keys {sorted(body)}: {body}"
    assert body["success"] is False and body["data"] is None, body
    assert is_iso(body["timestamp"]), body
    err = body["error"]
    assert isinstance(err, dict) and set(err) == {"code", "message", "details"}, f"error object: {err}"
    assert err["code"] == code, f"expected code {code}: {body}"
    assert isinstance(err["message"], str) and err["message"].strip(), body
    assert isinstance(err["details"], dict), body
    return err


def composer_tools(m: Mcpd, token=ALPHA) -> dict[str, dict]:
    """list_tools content, by name."""
    body = composer_ok(composer(m, "list_tools", token=token))
    return {t["name"]: t for t in body["content"]}


def text_blocks(content: list) -> str:
    return "\n".join(b["text"] for b in content if isinstance(b, dict) and b.get("type") == "text")


# ----------------------------------------------------------------------------------------------
# Registry API (seed 002): /v1
# ----------------------------------------------------------------------------------------------

def v1(m: Mcpd, method: str, path: str, body=None, token: str | None = ALPHA,
       timeout: float = 20.0) -> Response:
    headers = {"Content-Type": "application/json"} if body is not None else None
    raw = None if body is None else (body if isinstance(body, bytes) else json_body(body))
    return m.request(method, "/v1" + path, token=token, headers=headers, body=raw, timeout=timeout)


def v1_ok(resp: Response, status: int = 200, paginated: bool = False) -> dict:
    """{"success": true, "data"} (+ "pagination" on lists, exactly then), as seed 002 shows it; an
    "error": null beside them is tolerated (the contract lists the key). The whole body."""
    assert resp.status == status, f"expected {status}, got {resp!r}"
    ctype = (resp.header("content-type") or "").split(";")[0].strip().lower()
    assert ctype == "application/json", resp
    body = resp.json()
    expected = {"success", "data"} | ({"pagination"} if paginated else set())
    assert isinstance(body, dict) and expected <= set(body) <= expected | {"error"}, \
        f"envelope keys {sorted(body)}: {body}"
    assert body["success"] is True and body.get("error") is None, body
    if paginated:
        assert set(body["pagination"]) == {"page", "per_page", "total", "total_pages"}, body["pagination"]
    return body


def v1_data(resp: Response, status: int = 200):
    return v1_ok(resp, status)["data"]


def v1_err(resp: Response, status: int, code: str) -> dict:
    """{"success": false, "error": {"code", "message"}} (data null or absent); the error object."""
    assert resp.status == status, f"expected {status} {code}, got {resp!r}"
    ctype = (resp.header("content-type") or "").split(";")[0].strip().lower()
    assert ctype == "application/json", resp
    body = resp.json()
    assert isinstance(body, dict) and {"success", "error"} <= set(body) <= {"success", "error", "data"}, body
    assert body["success"] is False and body.get("data") is None, body
    err = body["error"]
    assert isinstance(err, dict) and {"code", "message"} <= set(err) <= {"code", "message", "details"}, err
    assert err["code"] == code, f"expected {code}: {body}"
    assert isinstance(err["message"], str) and err["message"].strip(), body
    return err


MCP_ID = re.compile(r"^mcp_[0-9a-f]{12}$")


def create_mcp(m: Mcpd, name: str, endpoint_url: str, token=ALPHA, **extra) -> dict:
    body = {"name": name, "endpoint_url": endpoint_url, **extra}
    data = v1_data(v1(m, "POST", "/mcps", body, token=token), 201)
    assert MCP_ID.match(data["id"]), data
    return data


# ----------------------------------------------------------------------------------------------
# seed 000 and MCP helpers
# ----------------------------------------------------------------------------------------------

def manifest(m: Mcpd, token=ALPHA) -> dict[str, dict]:
    r = m.get("/mcp/manifest", token=token)
    assert r.status == 200, r
    return {t["name"]: t for t in r.json()["tools"]}


def wait_tools(m: Mcpd, names, timeout: float = 20.0, present: bool = True) -> dict[str, dict]:
    """Polls /mcp/manifest until every name is (or, present=False, none is) listed."""
    names = set(names)
    box = {}

    def check():
        box["tools"] = manifest(m)
        listed = set(box["tools"])
        return names <= listed if present else not (names & listed)
    wait_until(check, timeout, 0.1,
               message=f"tools {sorted(names)} to be {'listed' if present else 'gone'} in /mcp/manifest")
    return box["tools"]


def well_formed(events, first_id: int = 1) -> None:
    """conftest.assert_well_formed, except that a `final` event may carry more than its text: a
    configured tool's result fields (MCP content/structuredContent/isError, an HTTP status …) ride
    along beside `text`, which stays the seed's string."""
    assert events, "no events"
    for i, ev in enumerate(events):
        assert ev.id == first_id + i, f"event ids not consecutive from {first_id}: {events}"
        assert ev.event in ("partial", "final", "error", "cancelled"), f"unknown event {ev}"
        assert isinstance(ev.data, dict) and ev.data.get("type") == ev.event, f"type mismatch in {ev}"
    terminals = [e for e in events if e.event in ("final", "error", "cancelled")]
    assert len(terminals) == 1 and events[-1] is terminals[0], f"terminal events wrong: {events}"
    last = events[-1]
    if last.event == "final":
        assert isinstance(last.data.get("text"), str), last
    elif last.event == "error":
        err = last.data.get("error")
        assert isinstance(err, dict) and isinstance(err.get("kind"), str) \
            and isinstance(err.get("message"), str), last
    else:
        assert isinstance(last.data.get("reason"), str), last
    for ev in events[:-1]:
        assert set(ev.data) == {"type", "text"} and isinstance(ev.data["text"], str), ev


def final_text(events) -> str:
    last = events[-1]
    assert last.event == "final", f"the call did not finish: {events}"
    return last.data["text"]


def error_event(events) -> dict:
    last = events[-1]
    assert last.event == "error", f"expected an error event, got {events}"
    return last.data["error"]


def sdk(m: Mcpd, scenario, token: str = ALPHA, mode: str = "legacy", timeout: float = 30.0):
    """Runs `await scenario(client)` with the official SDK's Client connected to mcpd's /mcp (a
    2025-11-25 session by default); returns what it returns. Exception groups of one are unwrapped
    so a failing assertion reads as itself."""
    import anyio
    import httpx2
    from mcp.client.client import Client
    from mcp.client.streamable_http import streamable_http_client

    async def main():
        with anyio.fail_after(timeout):
            async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"},
                                          timeout=httpx2.Timeout(10.0, read=60.0)) as http:
                transport = streamable_http_client(f"http://127.0.0.1:{m.port}/mcp", http_client=http)
                async with Client(transport, mode=mode, read_timeout_seconds=timeout, cache=None) as client:
                    return await scenario(client)
    try:
        return anyio.run(main)
    except BaseException as exc:  # noqa: BLE001 - re-raised unwrapped
        error = exc
        while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
            error = error.exceptions[0]
        if error is exc:
            raise
        raise error from None


def sdk_tools(m: Mcpd, **kw) -> dict:
    """MCP tools/list through the SDK: {name: Tool}."""
    async def scenario(client):
        return {t.name: t for t in (await client.list_tools()).tools}
    return sdk(m, scenario, **kw)


def sdk_call(m: Mcpd, name: str, arguments=None, **kw):
    """MCP tools/call through the SDK: the CallToolResult."""
    async def scenario(client):
        return await client.call_tool(name, arguments or {})
    return sdk(m, scenario, **kw)


def sdk_text(result) -> str:
    return "\n".join(b.text for b in result.content if getattr(b, "type", None) == "text")


# ----------------------------------------------------------------------------------------------
# Files, tokens, secrets
# ----------------------------------------------------------------------------------------------

def write_json(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2))
    return path


ROLE_TOKENS = {"owner": "owner-token-0001", "admin": "admin-token-0002",
               "member": "member-token-0003", "viewer": "viewer-token-0004"}


def role_tokens_file(path: Path) -> Path:
    """A tokens file with one token per role (`NAME TOKEN [ROLE]`; the owner's line has no role,
    which means owner)."""
    path.write_text("# issue 4 roles\n"
                    f"olivia {ROLE_TOKENS['owner']}\n"
                    f"adam {ROLE_TOKENS['admin']} admin\n"
                    f"mia {ROLE_TOKENS['member']} member\n"
                    f"victor {ROLE_TOKENS['viewer']} viewer\n")
    return path


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def assert_no_secret(text, secrets, where: str) -> None:
    if isinstance(text, (bytes, bytearray)):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        text = json.dumps(text)
    for s in secrets:
        assert s not in text, f"secret {s[:4]}… appears in {where}"


# ----------------------------------------------------------------------------------------------
# Processes (/proc)
# ----------------------------------------------------------------------------------------------

def stat_fields(pid: int) -> dict | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    rpar = raw.rindex(")")
    rest = raw[rpar + 2:].split()
    return {"state": rest[0], "ppid": int(rest[1]), "pgrp": int(rest[2]), "starttime": int(rest[19])}


def running(pid: int) -> bool:
    """The pid exists and is not a zombie."""
    f = stat_fields(pid)
    return f is not None and f["state"] not in ("Z", "X")


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return []
    return [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]


def all_pids() -> list[int]:
    return [int(e) for e in os.listdir("/proc") if e.isdigit()]


def group_members(pgid: int) -> list[int]:
    """Running (non-zombie) processes of process group `pgid`."""
    out = []
    for pid in all_pids():
        f = stat_fields(pid)
        if f is not None and f["pgrp"] == pgid and f["state"] not in ("Z", "X"):
            out.append(pid)
    return out


def processes_running(marker: str) -> list[int]:
    """Running processes whose command line contains `marker` (a path or module name)."""
    me = os.getpid()
    return [pid for pid in all_pids()
            if pid != me and running(pid) and any(marker in a for a in cmdline(pid))]


def descendants(pid: int) -> list[int]:
    """Running descendants of pid (children, grandchildren, ...)."""
    by_parent: dict[int, list[int]] = {}
    for p in all_pids():
        f = stat_fields(p)
        if f is not None and f["state"] not in ("Z", "X"):
            by_parent.setdefault(f["ppid"], []).append(p)
    out, todo = [], [pid]
    while todo:
        for child in by_parent.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def wait_gone(pids, timeout: float = 10.0, what: str = "processes") -> None:
    pids = list(pids)
    wait_until(lambda: not [p for p in pids if running(p)], timeout, 0.05,
               message=f"{what} {pids} to be gone")


def read_int(path: Path, timeout: float = 10.0) -> int:
    """The integer in a file some fixture writes (waits for the file to appear)."""
    def get():
        try:
            text = path.read_text().strip()
        except FileNotFoundError:
            return None
        return int(text) if text else None
    return wait_until(get, timeout, 0.05, message=f"{path} to be written")


def log_lines(m: Mcpd) -> list[dict]:
    """mcpd's structured log (one JSON object a line on stderr); other lines are skipped."""
    out = []
    for line in m.stderr_text().splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


FORK_SERVER = "mcp-fork-server"


def fork_servers(m: Mcpd) -> list:
    """mcpd's fork servers (per-call pools): the children of that name the call table does not list.
    A worker just forked carries the server's name until it renames itself, but mcpd lists it in the
    table before then, so the table is read after the process list."""
    named = [k for k in m.worker_children() if k.comm == FORK_SERVER]
    listed = {w["pid"] for w in ctl_workers(m.ctl_status())}
    return [k for k in named if k.pid not in listed]
