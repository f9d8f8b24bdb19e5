"""Stdio MCP servers as members (issue 4): mcpd started with `--config` in seed 004's
`{"mcpServers": …}` format runs real stdio servers (mcp-server-time, mcp-server-git from PyPI, and
fixtures/hostile_stdio_server.py), lists their tools namespaced `<server>__<tool>` everywhere, calls
them over MCP (the official SDK), the execute API and the composer, and survives their misbehaviour:
crashes, hangs that ignore cancellation and SIGTERM, stderr floods, tool-list changes, progress,
and grandchildren left behind at shutdown.

Assumptions beyond the contract (the server engineer should match these or tell the tests' owner):
- the `--cancel-grace` flag also bounds the stdio cancel path: after notifications/cancelled, a
  process that has not answered within the grace gets SIGTERM (its group), then SIGKILL after
  another grace; with --cancel-grace 0.5 a process ignoring both is gone within 10 s.
- a stdio call's failures surface on the execute stream as `error` events whose `kind` is the
  worker failure kind of the contract (`worker_crashed` for a crash, `mcp_error` for a JSON-RPC
  error), and over MCP as an isError result whose text contains the upstream message.
- a stdio server that honours notifications/cancelled (answers at once) is NOT killed.
- a stderr line of a stdio server is logged as a JSON log line with fields `server` and `stderr`
  (the contract's `{"server", "pid", "stderr"}`), and a 16 MiB stderr flood grows mcpd's own log
  by less than 4 MiB (rate limiting).
- MCP sessions get notifications/tools/list_changed on their GET stream when a member's tool list
  changes (a separate test, so the rest does not depend on it).
- a server id containing "__" in --config makes mcpd refuse to start (non-zero exit, the id in
  its message), even when the file has good servers too.
- registry (/v1/mcps) lists stdio members with endpoint_url null; composer's server object has
  type "stdio" and the command.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import uuid
from datetime import datetime, timezone

import pytest

from conftest import HttpConnection, assert_error, wait_until
from mcp_http import StreamableClient, request_body
from toolhost import (FIXTURES, PYTHON, composer, composer_data, composer_ok, composer_tools,
                      error_event, final_text, group_members, log_lines, manifest,
                      processes_running, read_int, running, sdk, sdk_call, sdk_text, sdk_tools,
                      start_mcpd, stat_fields, text_blocks, v1, v1_ok, wait_gone, wait_tools,
                      well_formed, write_json)

HOSTILE = str(FIXTURES / "hostile_stdio_server.py")
TIME_TOOLS = {"time__get_current_time", "time__convert_time"}
GIT_TOOLS = {"git__git_status", "git__git_log", "git__git_diff_unstaged", "git__git_show"}
HOSTILE_TOOLS = {f"hostile__{t}" for t in ("ok", "info", "crash", "hang", "slow", "flood_stderr",
                                            "change_tools", "progress", "background_child", "fail",
                                            "tool_error")}
COMMIT_MESSAGE = "initial commit for the mcpd stdio tests"


def make_git_repo(path):
    path.mkdir(parents=True)
    env = {**os.environ, "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    run = lambda *a: subprocess.run(["git", *a], cwd=path, env=env, check=True, capture_output=True)  # noqa: E731
    run("init", "-q", "-b", "main")
    (path / "tracked.txt").write_text("hello\n")
    run("add", "tracked.txt")
    run("commit", "-q", "-m", COMMIT_MESSAGE)
    (path / "untracked-file.txt").write_text("new\n")
    return path


def hostile_entry(state_dir, cwd, **extra) -> dict:
    # `process`: these tests look at the server's processes from outside (pids, process groups)
    # and at the files it writes in a root-owned test directory; test_sandbox.py covers `strict`.
    return {"command": PYTHON, "args": [HOSTILE],
            "env": {"HOSTILE_STATE_DIR": str(state_dir), "HOSTILE_MARK": "mark-42"},
            "cwd": str(cwd), "sandbox": "process", **extra}


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    """One mcpd with the time, git and hostile servers, shared by the module's read-mostly tests."""
    base = tmp_path_factory.mktemp("stdio")
    repo = make_git_repo(base / "repo")
    state = base / "hostile-state"
    state.mkdir()
    workdir = base / "hostile-cwd"
    workdir.mkdir()
    config = write_json(base / "servers.json", {"mcpServers": {
        # `process`: a strict sandbox runs as nobody under a root mcpd, and the test interpreter
        # (a venv over /root/.pyenv) and pytest's directories are root's alone; test_sandbox.py
        # runs servers under `strict` with the system python.
        "time": {"command": PYTHON, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"],
                 "sandbox": "process"},
        "git": {"command": PYTHON, "args": ["-m", "mcp_server_git", "--repository", str(repo)],
                "sandbox": "process"},
        "hostile": hostile_entry(state, workdir),
    }})
    m = start_mcpd(base / "mcpd", "--config", config, "--cancel-grace", "0.5")
    wait_tools(m, TIME_TOOLS | GIT_TOOLS | HOSTILE_TOOLS, timeout=30)
    m.repo, m.hostile_state, m.hostile_cwd = repo, state, workdir
    yield m
    m.stop()


# --- listing ---------------------------------------------------------------------------------

def test_tools_are_namespaced_in_mcp_manifest_and_composer(host):
    expected = TIME_TOOLS | GIT_TOOLS | HOSTILE_TOOLS
    via_sdk = sdk_tools(host)
    assert expected <= set(sdk_tools(host, mode="auto")), "missing at 2026-07-28 (stateless)"
    via_manifest = manifest(host)
    via_composer = composer_tools(host)
    for name, listing in (("MCP tools/list", set(via_sdk)), ("/mcp/manifest", set(via_manifest)),
                          ("composer list_tools", set(via_composer))):
        assert expected <= listing, f"{name} lacks {sorted(expected - listing)}"
        assert {"echo", "countdown"} <= listing, f"{name} lost the built-in tools"
        # Nothing un-namespaced leaks from a member.
        assert not {"get_current_time", "git_status", "ok", "crash"} & listing, f"{name}: {sorted(listing)}"
    # The member's own schema and description come through unchanged.
    schema = via_sdk["time__get_current_time"].input_schema
    assert schema["properties"]["timezone"]["type"] == "string", schema
    assert schema.get("required") == ["timezone"], schema
    assert via_manifest["time__get_current_time"]["input_schema"]["required"] == ["timezone"]
    assert via_composer["time__get_current_time"]["inputSchema"]["required"] == ["timezone"]
    assert via_sdk["hostile__crash"].description == "Exits the process in the middle of the call."
    assert via_composer["hostile__ok"]["description"] == "Answers ok with the pid."


def test_stdio_servers_in_composer_and_registry(host):
    servers = {s["id"]: s for s in composer_data(composer(host, "list_member_servers"))}
    assert {"time", "git", "hostile"} <= set(servers), servers
    t = servers["time"]
    assert t["type"] == "stdio" and t["command"] == PYTHON, t
    assert t["args"] == ["-m", "mcp_server_time", "--local-timezone", "UTC"], t
    assert t["status"] == "active" and t["tools_count"] == 2, t
    assert servers["hostile"]["tools_count"] >= len(HOSTILE_TOOLS), servers["hostile"]
    # env values are never shown (they may hold secrets).
    assert "mark-42" not in json.dumps(servers), servers["hostile"]

    cfg = composer_data(composer(host, "get_tool_config_by_name", {"tool_name": "time__convert_time"}))
    assert cfg["server_id"] == "time" and cfg["source"] == "stdio" and cfg["enabled"] is True, cfg
    assert cfg["name"] == "time__convert_time", cfg
    assert set(cfg["inputSchema"]["properties"]) == {"source_timezone", "time", "target_timezone"}, cfg

    listed = v1_ok(v1(host, "GET", "/mcps?per_page=100"), paginated=True)["data"]
    by_name = {m.get("id"): m for m in listed}
    assert "time" in by_name, listed
    assert by_name["time"]["endpoint_url"] is None, by_name["time"]


# --- real servers from PyPI ------------------------------------------------------------------

def test_time_server_over_mcp_sdk(host):
    result = sdk_call(host, "time__get_current_time", {"timezone": "UTC"})
    assert not result.is_error, result
    data = json.loads(sdk_text(result))
    assert data["timezone"] == "UTC", data
    when = datetime.fromisoformat(data["datetime"])
    assert abs((when - datetime.now(timezone.utc)).total_seconds()) < 300, data

    converted = sdk_call(host, "time__convert_time", {"source_timezone": "UTC", "time": "12:00",
                                                      "target_timezone": "Asia/Tokyo"})
    assert not converted.is_error, converted
    body = json.loads(sdk_text(converted))
    assert body["target"]["timezone"] == "Asia/Tokyo", body
    assert body["target"]["datetime"].split("T")[1].startswith("21:00"), body


def test_time_server_over_execute_and_stream(host):
    events = host.run("time__get_current_time", {"timezone": "Europe/Paris"}, timeout=20)
    well_formed(events)
    data = json.loads(final_text(events))
    assert data["timezone"] == "Europe/Paris", data
    assert data["day_of_week"] in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
                                   "Saturday", "Sunday"), data


def test_member_input_is_validated_by_mcpd(host):
    r = host.execute("time__get_current_time", {})
    assert_error(r, 422, "VALIDATION_ERROR")
    r = host.execute("time__get_current_time", {"timezone": 5})
    assert_error(r, 422, "VALIDATION_ERROR")


def test_git_server_over_mcp_execute_and_composer(host):
    repo = str(host.repo)
    status = sdk_call(host, "git__git_status", {"repo_path": repo})
    assert not status.is_error, status
    assert "untracked-file.txt" in sdk_text(status), sdk_text(status)

    events = host.run("git__git_log", {"repo_path": repo, "max_count": 5}, timeout=20)
    well_formed(events)
    assert COMMIT_MESSAGE in final_text(events), events

    body = composer_ok(composer(host, "call_tool", body={"name": "git__git_status",
                                                         "arguments": {"repo_path": repo}}))
    assert "untracked-file.txt" in text_blocks(body["content"]), body
    # The member's own refusal is a tool result, not a transport failure.
    outside = sdk_call(host, "git__git_status", {"repo_path": "/etc"})
    assert outside.is_error and "outside" in sdk_text(outside), outside


# --- hostile server: ordinary behaviour ------------------------------------------------------

def test_env_cwd_and_process_group_are_applied(host):
    info = json.loads(sdk_text(sdk_call(host, "hostile__info")))
    assert info["env"]["HOSTILE_MARK"] == "mark-42", info
    assert os.path.realpath(info["cwd"]) == os.path.realpath(host.hostile_cwd), info
    assert info["pgid"] == info["pid"], f"a stdio server runs in its own process group: {info}"
    assert info["ppid"] == host.pid, f"the stdio server is mcpd's child: {info}"


def test_jsonrpc_error_and_tool_error(host):
    failed = sdk_call(host, "hostile__fail")
    assert failed.is_error and "deliberate failure" in sdk_text(failed), failed
    events = host.run("hostile__fail", {})
    well_formed(events)
    err = error_event(events)
    assert err["kind"] == "mcp_error" and "deliberate failure" in err["message"], err

    said_no = sdk_call(host, "hostile__tool_error")
    assert said_no.is_error and sdk_text(said_no) == "tool said no", said_no


def test_progress_notifications_reach_the_mcp_client(host):
    c = StreamableClient(host, "2025-11-25")
    body = request_body("tools/call", {"name": "hostile__progress", "arguments": {"steps": 3},
                                       "_meta": {"progressToken": "p-stdio"}}, request_id="prog-1")
    with host.conn(15) as conn:
        head, sse = c.open("POST", body, conn=conn, timeout=15)
        assert sse is not None, f"expected an event stream: {head!r}"
        msgs = [e.json() for e in sse.read_to_end(15) if not e.is_priming]
    *notes, last = msgs
    assert last["id"] == "prog-1" and last["result"]["content"] == [{"type": "text", "text": "progressed 3"}], msgs
    progress = [n["params"] for n in notes if n.get("method") == "notifications/progress"]
    assert [p["progressToken"] for p in progress] == ["p-stdio"] * 3, msgs
    assert [p["progress"] for p in progress] == [1, 2, 3], msgs
    assert [p.get("message") for p in progress] == ["step 1/3", "step 2/3", "step 3/3"], msgs


# --- hostile server: crash, hang, cancel, flood ------------------------------------------------

def test_crash_fails_the_call_and_the_next_call_works(host):
    events = host.run("hostile__crash", {}, timeout=20)
    well_formed(events)
    err = error_event(events)
    assert err["kind"] == "worker_crashed", err
    crashed = read_int(host.hostile_state / "crash.pid")
    wait_gone([crashed], 5, "the crashed stdio process")

    # Over MCP too: an isError result, not a hang nor a transport error.
    result = sdk_call(host, "hostile__crash")
    assert result.is_error, result

    text = sdk_text(sdk_call(host, "hostile__ok", {"message": "again"}))
    assert text.startswith("ok again pid="), text
    assert int(text.rsplit("=", 1)[1]) not in (crashed, read_int(host.hostile_state / "crash.pid")), text


def test_hang_ignoring_cancel_and_sigterm_is_killed(host):
    pid_file = host.hostile_state / "hang.pid"
    pid_file.unlink(missing_ok=True)
    call_id = host.start_call("hostile__hang", {})
    pid = read_int(pid_file)
    assert running(pid)
    host.wait_status(call_id, "running")
    r = host.cancel(call_id)
    assert r.status == 200 and r.json()["status"] == "cancelled", r
    events = host.stream(call_id)
    assert events[-1].event == "cancelled", events
    # It ignores notifications/cancelled and SIGTERM: only the SIGKILL after the grace ends it.
    wait_gone([pid], 10, "the hung stdio process")
    text = sdk_text(sdk_call(host, "hostile__ok"))
    assert text.startswith("ok pid=") and int(text.split("=")[1]) != pid, text


def test_cancel_is_forwarded_and_an_obedient_server_survives(host):
    (host.hostile_state / "slow.cancelled").unlink(missing_ok=True)
    (host.hostile_state / "slow.pid").unlink(missing_ok=True)
    call_id = host.start_call("hostile__slow", {"seconds": 60})
    pid = read_int(host.hostile_state / "slow.pid")
    host.wait_status(call_id, "running")
    started = time.monotonic()
    assert host.cancel(call_id).status == 200
    events = host.stream(call_id)
    assert events[-1].event == "cancelled", events
    assert time.monotonic() - started < 5
    reason = wait_until(lambda: (host.hostile_state / "slow.cancelled").exists() and
                        (host.hostile_state / "slow.cancelled").read_text() or None,
                        5, message="the stdio server to receive notifications/cancelled")
    assert isinstance(reason, str)
    # It answered the cancellation at once, so it is still alive well after the grace period.
    time.sleep(1.5)
    assert running(pid), "a stdio server that honoured notifications/cancelled was killed"


def test_mcp_cancellation_reaches_the_stdio_server(host):
    """notifications/cancelled from an MCP client ends the call, and mcpd passes it on to the stdio
    server (which then answers at once and stays alive)."""
    (host.hostile_state / "slow.cancelled").unlink(missing_ok=True)
    (host.hostile_state / "slow.pid").unlink(missing_ok=True)
    c = StreamableClient(host, "2025-11-25")
    with host.conn(15) as conn:
        conn.send(c.raw("POST", request_body("tools/call", {"name": "hostile__slow", "arguments": {"seconds": 60}},
                                             request_id="to-cancel")))
        pid = read_int(host.hostile_state / "slow.pid")
        r = c.post({"jsonrpc": "2.0", "method": "notifications/cancelled",
                    "params": {"requestId": "to-cancel", "reason": "the user changed their mind"}})
        assert r.status == 202, r
        wait_until(lambda: (host.hostile_state / "slow.cancelled").exists(), 5,
                   message="the stdio server to receive notifications/cancelled")
    assert running(pid)
    assert sdk_text(sdk_call(host, "hostile__ok")).startswith("ok pid=")


def test_stderr_flood_does_not_block_mcpd(host):
    size_before = len(host.stderr_text())
    latencies = []
    stop = threading.Event()

    def poll_health():
        while not stop.is_set():
            t0 = time.monotonic()
            with HttpConnection("127.0.0.1", host.port, timeout=5) as c:
                assert c.request("GET", "/healthz").status == 200
            latencies.append(time.monotonic() - t0)
            time.sleep(0.05)

    poller = threading.Thread(target=poll_health, daemon=True)
    poller.start()
    try:
        events = host.run("hostile__flood_stderr", {"megabytes": 16}, timeout=60)
    finally:
        stop.set()
        poller.join(10)
    well_formed(events)
    assert final_text(events) == "flooded 16 MiB"
    assert latencies and max(latencies) < 1.0, f"mcpd stalled during the flood: max {max(latencies):.2f}s"
    grown = len(host.stderr_text()) - size_before
    assert grown < 4 << 20, f"a 16 MiB stderr flood grew mcpd's log by {grown} bytes"
    # mcpd is still fully responsive afterwards.
    assert sdk_text(sdk_call(host, "hostile__ok")).startswith("ok pid=")


def test_stderr_lines_are_logged_with_the_server_id(host):
    def found():
        for line in log_lines(host):
            if line.get("server") == "hostile" and "started in" in str(line.get("stderr", "")):
                return line
        return None
    line = wait_until(found, 5, message="a logged stderr line of the hostile server")
    assert str(line.get("pid", "")).isdigit(), line


def test_tool_list_change_is_picked_up(host):
    name = f"late_{uuid.uuid4().hex[:8]}"
    result = sdk_call(host, "hostile__change_tools", {"name": name})
    assert sdk_text(result) == f"tools changed: {name}", result
    tools = wait_tools(host, {f"hostile__{name}"}, timeout=10)
    assert tools[f"hostile__{name}"]["description"].startswith("Added at run time"), tools
    assert f"hostile__{name}" in sdk_tools(host)
    assert f"hostile__{name}" in composer_tools(host)
    assert sdk_text(sdk_call(host, f"hostile__{name}")) == f"late {name}"


def test_tool_list_change_is_announced_to_mcp_sessions(host):
    c = StreamableClient(host, "2025-11-25")
    name = f"late_{uuid.uuid4().hex[:8]}"
    with host.conn(15) as conn:
        head, sse = c.open("GET", None, conn=conn)
        assert sse is not None, head
        r = host.run("hostile__change_tools", {"name": name})
        assert final_text(r) == f"tools changed: {name}"
        deadline = time.monotonic() + 10
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, "no notifications/tools/list_changed on the session's GET stream"
            ev = sse.next_event(remaining)
            assert ev is not None, "the GET stream ended"
            if not ev.is_priming and ev.json().get("method") == "notifications/tools/list_changed":
                break
    listed = {t["name"] for t in c.result("tools/list")["tools"]}
    assert f"hostile__{name}" in listed, listed


# --- pool settings from the config ------------------------------------------------------------

def distinct_slow_pids(state) -> set[int]:
    lines = (state / "calls.log").read_text().split("\n")
    return {int(line.split()[0]) for line in lines if line.endswith(" slow")}


def run_parallel(m, tool, inputs, timeout=20.0):
    """Starts every call at once, then reads every stream; (elapsed seconds, [events])."""
    t0 = time.monotonic()
    ids = [m.start_call(tool, i) for i in inputs]
    results = [m.stream(cid, timeout=timeout) for cid in ids]
    return time.monotonic() - t0, results


def test_pool_settings_from_the_config(mcpd_factory, tmp_path):
    one_per_process = tmp_path / "one"
    shared = tmp_path / "shared"
    config = write_json(tmp_path / "pool.json", {"mcpServers": {
        "capped": hostile_entry(one_per_process, tmp_path, min_instances=1, max_instances=2),
        "shared": hostile_entry(shared, tmp_path, min_instances=1, max_instances=1, concurrent=True,
                                max_concurrent_calls=8),
        "strict": hostile_entry(tmp_path / "strict", tmp_path, deadline_seconds=1),
        "off": hostile_entry(tmp_path / "off", tmp_path, disabled=True),
    }})
    m = mcpd_factory("--config", config)
    wait_tools(m, {"capped__slow", "shared__slow", "strict__slow"})
    assert not [n for n in manifest(m) if n.startswith("off__")], "a disabled server's tools are listed"
    assert not (tmp_path / "off").exists(), "a disabled server was started"

    # One call per process, two processes at most: three 1 s calls take two rounds.
    elapsed, results = run_parallel(m, "capped__slow", [{"seconds": 1}] * 3)
    assert all(final_text(r) == "slept 1" for r in results), results
    assert 1.9 <= elapsed < 4.5, f"three calls on two single-call processes took {elapsed:.2f}s"
    assert len(distinct_slow_pids(one_per_process)) == 2, (one_per_process / "calls.log").read_text()

    # One concurrent process takes all three at once.
    elapsed, results = run_parallel(m, "shared__slow", [{"seconds": 1}] * 3)
    assert all(final_text(r) == "slept 1" for r in results), results
    assert elapsed < 2.6, f"three calls on one concurrent process took {elapsed:.2f}s (not concurrent?)"
    assert len(distinct_slow_pids(shared)) == 1

    # deadline_seconds bounds a call of that server.
    events = m.run("strict__slow", {"seconds": 30}, timeout=15)
    well_formed(events)
    assert error_event(events)["kind"] == "deadline_exceeded", events


# --- shutdown and supervisor death -----------------------------------------------------------

def _small_config(tmp_path, state):
    return write_json(tmp_path / "small.json", {"mcpServers": {
        "time": {"command": PYTHON, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"],
                 "sandbox": "process"},
        "hostile": hostile_entry(state, tmp_path),
    }})


def test_sigterm_leaves_no_stdio_process_nor_grandchild(mcpd_factory, tmp_path):
    state = tmp_path / "hs"
    m = mcpd_factory("--config", _small_config(tmp_path, state))
    wait_tools(m, {"time__get_current_time", "hostile__background_child"}, timeout=30)
    text = sdk_text(sdk_call(m, "hostile__background_child"))
    grandchild = int(text.split()[1])
    server_pid = read_int(state / "background_child.pid")
    assert running(grandchild) and stat_fields(grandchild)["pgrp"] == server_pid, \
        "the grandchild shares the stdio server's process group"
    stdio_pids = [p for p in processes_running(HOSTILE) + processes_running("mcp_server_time")
                  if stat_fields(p) and stat_fields(p)["ppid"] == m.pid]
    assert len(stdio_pids) >= 2, stdio_pids
    m.stop()      # SIGTERM; also fails if any direct child of mcpd survives
    wait_gone(stdio_pids + [grandchild], 5, "stdio processes and the grandchild after mcpd's exit")
    assert group_members(server_pid) == [], "a process of the stdio server's group survived"


def test_supervisor_death_ends_stdio_servers(mcpd_factory, tmp_path):
    """kill -9 of mcpd: the stdio servers see EOF on stdin (or PDEATHSIG) and exit."""
    state = tmp_path / "hs"
    m = mcpd_factory("--config", _small_config(tmp_path, state))
    wait_tools(m, {"time__get_current_time", "hostile__ok"}, timeout=30)
    stdio_pids = [p for p in processes_running(HOSTILE) + processes_running("mcp_server_time")
                  if stat_fields(p) and stat_fields(p)["ppid"] == m.pid]
    assert len(stdio_pids) >= 2, stdio_pids
    m.expect_exit = None
    m.zombies_are_leaks = False
    m.send_signal(signal.SIGKILL)
    wait_gone(stdio_pids, 10, "stdio servers of a SIGKILLed mcpd")
    m.stop(send=False)


def test_bad_server_in_config_stops_mcpd_with_the_reason(tmp_path):
    """A server id with "__" cannot be namespaced: a configuration file is the operator's to fix, so
    mcpd refuses to start and names the item, instead of serving half of what was declared."""
    import subprocess
    from conftest import MCPD, free_port
    config = write_json(tmp_path / "bad.json", {"mcpServers": {
        "bad__id": {"command": PYTHON, "args": [HOSTILE]},
        "good": {"command": PYTHON, "args": [HOSTILE]}}})
    proc = subprocess.run([str(MCPD), "--listen", f"127.0.0.1:{free_port()}", "--config", str(config),
                           "--runtime-dir", str(tmp_path / "run"), "--state-dir", str(tmp_path / "state")],
                          capture_output=True, text=True, timeout=20)
    assert proc.returncode != 0, proc
    assert "bad__id" in proc.stderr and str(config) in proc.stderr, proc.stderr
