"""mcpctl calls / cancel / cancel-all / top (issue 6) against a live mcpd, through the call table
alone: the cancel reaches a running mcp-worker call, a queued call and a call in a stdio server,
each call ends with exactly one `cancelled` event, and the supervisor goes on serving."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from conftest import ALPHA, BETA, ctl_find_call, wait_until
from toolhost import wait_tools, well_formed, write_json

HOSTILE = str(Path(__file__).parent / "fixtures" / "hostile_stdio_server.py")
OPERATOR = "cancelled by the operator"


def cancelled_reason(events) -> str:
    well_formed(events)
    last = events[-1]
    assert last.event == "cancelled", f"expected a cancelled event, got {events}"
    return last.data["reason"]


def test_calls_lists_what_is_in_flight(mcpd):
    call_id = mcpd.start_call("countdown", {"seconds": 30})
    mcpd.wait_status(call_id, "running", timeout=5)
    rc, out, err = mcpd.mcpctl("calls", "--json")
    assert rc == 0, out + err
    calls = json.loads(out)
    mine = [c for c in calls if c["call_id"] == call_id]
    assert len(mine) == 1 and mine[0]["tool"] == "countdown" and mine[0]["state"] == "running", calls
    rc, out, _ = mcpd.mcpctl("calls")
    assert rc == 0 and call_id in out and "countdown" in out, out
    mcpd.cancel(call_id)
    wait_until(lambda: json.loads(mcpd.mcpctl("calls", "--json")[1]) == [], timeout=5,
               message="the cancelled call to leave `mcpctl calls`")


def test_cancel_a_running_call_by_id(mcpd):
    call_id = mcpd.start_call("countdown", {"seconds": 30})
    mcpd.wait_status(call_id, "running", timeout=5)
    rc, out, err = mcpd.mcpctl("cancel", call_id)
    assert rc == 0, out + err
    assert f"cancelled {call_id}" in out, out
    assert cancelled_reason(mcpd.stream(call_id)) == OPERATOR
    assert mcpd.call(call_id)["status"] == "cancelled"
    # The supervisor goes on serving: a new call on the same pool works.
    assert mcpd.run("echo", {"message": "after"})[-1].event == "final"


def test_cancel_a_queued_call_leaves_the_running_one(mcpd_factory):
    m = mcpd_factory("--workers-min", "1", "--workers-max", "1")
    running = m.start_call("countdown", {"seconds": 30})
    m.wait_status(running, "running", timeout=5)
    queued = m.start_call("countdown", {"seconds": 30}, token=BETA)
    assert ctl_find_call(m.ctl_status(), queued)["state"] == "pending"
    rc, out, err = m.mcpctl("cancel", "--call", queued)
    assert rc == 0, out + err
    assert cancelled_reason(m.stream(queued, token=BETA)) == OPERATOR
    assert m.call(running)["status"] == "running", "cancelling the queued call touched the running one"
    m.cancel(running)


def test_cancel_of_an_unknown_call_fails_cleanly(mcpd):
    rc, out, err = mcpd.mcpctl("cancel", "00000000-0000-4000-8000-000000000000")
    assert rc == 1 and "no call" in out, out + err
    rc, out, err = mcpd.mcpctl("cancel")
    assert rc == 2 and "Missing the call id" in err, out + err


def test_cancel_all_ends_every_owners_calls_and_only_those(mcpd_factory):
    m = mcpd_factory("--workers-min", "2", "--workers-max", "4")
    calls = [(m.start_call("countdown", {"seconds": 30}, token=token), token) for token in (ALPHA, BETA, ALPHA)]
    for call_id, token in calls:
        m.wait_status(call_id, "running", timeout=5, token=token)
    rc, out, err = m.mcpctl("cancel-all")
    assert rc == 0, out + err
    assert "3 calls cancelled" in out, out
    for call_id, token in calls:
        assert cancelled_reason(m.stream(call_id, token=token)) == f"{OPERATOR} (cancel-all)"
    # A call started after the cancel-all is not affected by it.
    assert m.run("echo", {"message": "later"})[-1].event == "final"
    later = m.start_call("countdown", {"seconds": 30})
    m.wait_status(later, "running", timeout=5)
    assert m.call(later)["status"] == "running"
    m.cancel(later)


def test_cancel_reaches_a_stdio_server_call(mcpd_factory, tmp_path):
    config = write_json(tmp_path / "servers.json", {"mcpServers": {"hostile": {
        "command": sys.executable, "args": [HOSTILE],
        "env": {"HOSTILE_STATE_DIR": str(tmp_path / "hs")}, "cwd": str(tmp_path),
        # The venv's python lives under /root (0700), out of a strict sandbox's reach.
        "sandbox": "process"}}})
    m = mcpd_factory("--config", config)
    wait_tools(m, ["hostile__slow"])
    call_id = m.start_call("hostile__slow", {"seconds": 60})
    m.wait_status(call_id, "running", timeout=10)
    rc, out, err = m.mcpctl("cancel", call_id)
    assert rc == 0, out + err
    assert cancelled_reason(m.stream(call_id)) == OPERATOR
    # The server was told (notifications/cancelled), as an API cancel would tell it.
    wait_until(lambda: (tmp_path / "hs" / "slow.cancelled").exists(), timeout=10,
               message="the server to hear notifications/cancelled")


def test_top_draws_frames_with_rates(mcpd):
    for n in range(3):
        assert mcpd.run("echo", {"message": f"m{n}"})[-1].event == "final"
    rc, out, err = mcpd.mcpctl("top", "--iterations", "2", "--interval", "0.2")
    assert rc == 0, out + err
    frames = out.split("\n\nmcpd pid ")
    assert len(frames) == 2, out
    assert "rates/s:" in frames[1] and "accepted" in frames[1], frames[1]
    assert "CALLS IN FLIGHT" in out and "HEARTBEAT" in out, out
    rc, out, err = mcpd.mcpctl("top", "--interval", "0")
    assert rc == 2 and "--interval" in err, out + err
