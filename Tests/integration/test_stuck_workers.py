"""Stuck-worker detection from the heartbeats in the call table (issue 6): a worker that stops
stamping its heartbeat — here frozen with SIGSTOP, the way a deadlock or a wedged tool looks from
outside — is killed and replaced after --worker-stuck-timeout; the call it held ends with one
`error` event of kind `worker_stuck`, and the pool serves on."""

from __future__ import annotations

import os
import signal

from conftest import ctl_find_call, ctl_workers, wait_until
from toolhost import error_event, running, wait_gone, well_formed


def test_a_frozen_busy_worker_is_killed_and_its_call_ends_worker_stuck(mcpd_factory):
    m = mcpd_factory("--workers-min", "2", "--workers-max", "2", "--worker-stuck-timeout", "1.5")
    call_id = m.start_call("countdown", {"seconds": 30})
    m.wait_status(call_id, "running", timeout=5)
    pid = ctl_find_call(m.ctl_status(), call_id)["worker_pid"]
    assert pid, m.ctl_status()
    os.kill(pid, signal.SIGSTOP)
    try:
        events = m.stream(call_id, timeout=20)
        well_formed(events)
        error = error_event(events)
        assert error["kind"] == "worker_stuck", events
        assert "heartbeat" in error["message"], error
        wait_gone([pid], timeout=10, what="the stuck worker")
    finally:
        if running(pid):
            os.kill(pid, signal.SIGKILL)
    wait_until(lambda: len([w for w in ctl_workers(m.ctl_status()) if w["state"] in ("idle", "busy")]) == 2,
               timeout=10, message="the pool to be refilled")
    assert m.run("echo", {"message": "after"})[-1].event == "final"
    assert m.ctl_status()["counters"]["workers_killed"] >= 1


def test_a_frozen_idle_worker_is_replaced_without_touching_calls(mcpd_factory):
    m = mcpd_factory("--workers-min", "2", "--workers-max", "2", "--worker-stuck-timeout", "1.5")
    idle = [w["pid"] for w in ctl_workers(m.ctl_status()) if w["state"] == "idle"]
    assert idle, m.ctl_status()
    victim = idle[0]
    os.kill(victim, signal.SIGSTOP)
    try:
        wait_gone([victim], timeout=15, what="the frozen idle worker")
    finally:
        if running(victim):
            os.kill(victim, signal.SIGKILL)
    wait_until(lambda: len([w for w in ctl_workers(m.ctl_status()) if w["state"] == "idle"]) == 2,
               timeout=10, message="a replacement worker")
    assert m.run("echo", {"message": "fine"})[-1].event == "final"


def test_a_long_quiet_call_that_polls_is_not_stuck(mcpd_factory):
    """countdown sleeps between its partials and polls for cancellation, which stamps the heartbeat:
    a call longer than the stuck timeout is not mistaken for a stuck one."""
    m = mcpd_factory("--worker-stuck-timeout", "1.5")
    events = m.run("countdown", {"seconds": 4}, timeout=20)
    well_formed(events)
    assert events[-1].event == "final", events


def test_the_flag_is_validated(mcpd_factory):
    m = mcpd_factory("--worker-stuck-timeout", "-1", wait=False)
    m.expect_exit = 2
    assert m.wait_exit(10) == 2
    assert "--worker-stuck-timeout" in m.stderr_text()
