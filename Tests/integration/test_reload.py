"""SIGHUP / `systemctl reload` (issue 6): the --config file applied again while serving, announced
to systemd as RELOADING=1 (with MONOTONIC_USEC) … READY=1. New servers start, removed ones stop,
changed ones are replaced while their running calls finish on the old processes, unchanged ones
keep theirs; the file's tools and rate limits change too; open connections and streams are never
closed; a wrong file changes nothing."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from conftest import ALPHA, wait_until
from test_systemd import NotifyListener
from toolhost import final_text, manifest, running, wait_gone, wait_tools, well_formed, write_json

HOSTILE = str(Path(__file__).parent / "fixtures" / "hostile_stdio_server.py")


def server(state_dir: Path, mark: str) -> dict:
    return {"command": sys.executable, "args": [HOSTILE],
            "env": {"HOSTILE_STATE_DIR": str(state_dir), "HOSTILE_MARK": mark}, "cwd": str(state_dir.parent),
            # The venv's python lives under /root (0700), out of a strict sandbox's reach.
            "sandbox": "process"}


def curl_tool(name: str) -> dict:
    return {"name": name, "tool_type": "curl", "curl_config": {"value": "curl http://127.0.0.1:9/never"}}


def ready_count(notify: NotifyListener) -> int:
    return sum(1 for _, message in notify.messages if "READY=1" in message.split("\n"))


def reload(m, notify: NotifyListener, timeout: float = 15.0) -> None:
    """SIGHUP, then wait for the READY=1 that ends the reload."""
    before = ready_count(notify)
    m.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + timeout
    while ready_count(notify) <= before:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no READY=1 after SIGHUP: {notify.messages}"
        notify._drain(remaining)


def info(m, tool: str) -> dict:
    events = m.run(tool, {})
    well_formed(events)
    return json.loads(final_text(events))


def test_reload_adds_removes_replaces_and_keeps(mcpd_factory, tmp_path):
    notify = NotifyListener(tmp_path / "notify.sock")
    try:
        config = tmp_path / "mcpd.json"
        write_json(config, {"mcpServers": {"keep": server(tmp_path / "keep", "k1"),
                                           "gone": server(tmp_path / "gone", "g1"),
                                           "change": server(tmp_path / "change", "c1")},
                            "tools": [curl_tool("old_tool")]})
        m = mcpd_factory("--config", config, env={"NOTIFY_SOCKET": str(notify.path)})
        wait_tools(m, ["keep__info", "gone__info", "change__info", "old_tool"])
        notify.wait_line("READY=1", 10)
        keep_pid = info(m, "keep__info")["pid"]
        gone_pid = info(m, "gone__info")["pid"]
        old_change_pid = info(m, "change__info")["pid"]
        assert info(m, "change__info")["env"]["HOSTILE_MARK"] == "c1"

        # A call running on the server about to change, a stream open on it, and a keep-alive
        # connection opened before the reload: none of them may notice it.
        slow = m.start_call("change__slow", {"seconds": 3})
        m.wait_status(slow, "running", timeout=10)
        streamed: dict = {}
        reader = threading.Thread(target=lambda: streamed.setdefault("events", m.stream(slow, timeout=30)))
        reader.start()
        kept = m.conn(30)
        first = kept.request("GET", "/mcp/manifest", token=ALPHA)
        assert first.status == 200

        write_json(config, {"mcpServers": {"keep": server(tmp_path / "keep", "k1"),
                                           "change": server(tmp_path / "change", "c2"),
                                           "added": server(tmp_path / "added", "a1")},
                            "tools": [curl_tool("new_tool")]})
        reload(m, notify)
        reloading = [line for line in notify.lines() if line.startswith("RELOADING=1")]
        assert reloading, notify.messages
        assert any(line.startswith("MONOTONIC_USEC=") for _, msg in notify.messages if "RELOADING=1" in msg
                   for line in msg.split("\n")), notify.messages

        tools = wait_tools(m, ["added__info", "new_tool"])
        assert not {"gone__info", "old_tool"} & set(tools), sorted(tools)
        assert info(m, "keep__info")["pid"] == keep_pid, "an unchanged server was restarted"
        new_change = info(m, "change__info")
        assert new_change["env"]["HOSTILE_MARK"] == "c2" and new_change["pid"] != old_change_pid
        assert info(m, "added__info")["env"]["HOSTILE_MARK"] == "a1"
        wait_gone([gone_pid], timeout=10, what="the removed server's process")

        # The call that was running on the old process finished there, and its stream with it.
        reader.join(30)
        events = streamed["events"]
        well_formed(events)
        assert events[-1].event == "final" and final_text(events) == "slept 3", events
        wait_gone([old_change_pid], timeout=15, what="the replaced server's old process")

        # The connection opened before the reload still serves.
        again = kept.request("GET", "/mcp/manifest", token=ALPHA)
        assert again.status == 200 and "new_tool" in again.body.decode()
        kept.close()
        assert running(keep_pid)
    finally:
        notify.close()


def test_a_wrong_file_changes_nothing(mcpd_factory, tmp_path):
    notify = NotifyListener(tmp_path / "notify.sock")
    try:
        config = tmp_path / "mcpd.json"
        write_json(config, {"mcpServers": {"one": server(tmp_path / "one", "o1")}})
        m = mcpd_factory("--config", config, env={"NOTIFY_SOCKET": str(notify.path)})
        wait_tools(m, ["one__info"])
        notify.wait_line("READY=1", 10)
        pid = info(m, "one__info")["pid"]
        for broken in ("{not json", json.dumps({"mcpServers": {"one": server(tmp_path / "one", "o2"),
                                                               "bad__id": server(tmp_path / "x", "x")}}),
                       json.dumps({"mcpServers": {}, "tools": [{"name": "t", "tool_type": "soap"}]}),
                       json.dumps({"rateLimits": {"perKey": -5}})):
            config.write_text(broken)
            reload(m, notify)
            assert info(m, "one__info")["pid"] == pid, f"a refused reload touched the server: {broken}"
            assert "one__info" in manifest(m)
        log = m.stderr_text()
        assert log.count("reload refused") == 4, log[-3000:]
        assert m.run("echo", {"message": "still serving"})[-1].event == "final"
    finally:
        notify.close()


def test_reload_changes_rate_limits(mcpd_factory, tmp_path):
    notify = NotifyListener(tmp_path / "notify.sock")
    try:
        config = write_json(tmp_path / "mcpd.json", {"rateLimits": {"perKey": 1000}})
        m = mcpd_factory("--config", config, env={"NOTIFY_SOCKET": str(notify.path)})
        notify.wait_line("READY=1", 10)
        assert m.get("/mcp/manifest").header("x-ratelimit-limit") == "1000"
        write_json(config, {"rateLimits": {"perKey": 5}})
        reload(m, notify)
        statuses = [m.get("/mcp/manifest").status for _ in range(8)]
        assert 429 in statuses, statuses
        assert m.get("/healthz", token=None).status == 200
    finally:
        notify.close()


def test_sighup_without_a_config_file_is_harmless(mcpd_factory, tmp_path):
    notify = NotifyListener(tmp_path / "notify.sock")
    try:
        m = mcpd_factory(env={"NOTIFY_SOCKET": str(notify.path)})
        notify.wait_line("READY=1", 10)
        reload(m, notify)
        assert "nothing to reload" in m.stderr_text()
        assert m.run("echo", {"message": "x"})[-1].event == "final"
        assert os.path.exists(f"/proc/{m.proc.pid}")
    finally:
        notify.close()
