"""cancel and cancel_all on running and queued calls, ended calls left alone, and owners kept apart."""

import time

from conftest import ALPHA, BETA, assert_error, assert_well_formed


def test_cancel_running_call(mcpd):
    call_id = mcpd.start_call("countdown", {"seconds": 30})
    mcpd.wait_status(call_id, "running", timeout=3)
    with mcpd.conn() as c:
        _, sse = c.open_stream(call_id)
        assert sse.next_event(5).event == "partial"
        r = mcpd.cancel(call_id)
        cancelled_at = time.monotonic()
        assert r.status == 200, r
        assert r.json() == {"call_id": call_id, "status": "cancelled"}
        events = sse.read_until_terminal(5)
    assert time.monotonic() - cancelled_at < 1.5, "the call must end cancelled at once"
    assert_well_formed(events)
    assert events[-1].event == "cancelled"
    assert all(e.event == "partial" for e in events[:-1])
    status = mcpd.call(call_id)
    assert status["status"] == "cancelled" and status["worker_pid"] is None
    assert mcpd.stream(call_id)[-1].event == "cancelled"   # replay


def test_cancelled_cooperative_worker_is_kept(mcpd_factory):
    """countdown honours cancellation, so its worker is idle again within the grace and not killed."""
    m = mcpd_factory("--workers-min", "1", "--workers-max", "1", "--cancel-grace", "1")
    call_id = m.start_call("countdown", {"seconds": 30})
    pid = m.wait_status(call_id, "running", timeout=3)["worker_pid"]
    assert m.cancel(call_id).status == 200
    time.sleep(1.5)
    assert m.readyz().json()["workers"]["total"] == 1, "the pool outgrew --workers-max 1 after a cancel"
    assert {k.pid for k in m.worker_children()} == {pid}, "the cancelled, cooperative worker was replaced"
    nxt = m.start_call("countdown", {"seconds": 1})
    assert m.wait_status(nxt, "running", timeout=3)["worker_pid"] == pid
    assert m.stream(nxt, timeout=10)[-1].data["text"] == "done"


def test_cancel_queued_call(mcpd_factory):
    m = mcpd_factory("--workers-min", "1", "--workers-max", "1")
    running = m.start_call("countdown", {"seconds": 2})
    m.wait_status(running, "running", timeout=3)
    queued = m.start_call("countdown", {"seconds": 2})
    assert m.call(queued)["status"] == "pending"
    r = m.cancel(queued)
    assert r.status == 200 and r.json() == {"call_id": queued, "status": "cancelled"}, r
    events = m.stream(queued)
    assert_well_formed(events)
    assert [e.event for e in events] == ["cancelled"], "a queued call never ran, so no partials"
    assert m.call(queued)["status"] == "cancelled"
    # The running call is untouched and the cancelled one never runs.
    assert m.call(running)["status"] == "running"
    assert [e.data["text"] for e in m.stream(running, timeout=10)] == ["2", "1", "done"]
    time.sleep(0.3)
    assert m.call(queued)["status"] == "cancelled"
    assert ready_busy(m) == 0


def ready_busy(m):
    return m.readyz().json()["workers"]["busy"]


def test_cancel_all_cancels_only_the_callers_calls(mcpd_factory):
    m = mcpd_factory("--workers-min", "2", "--workers-max", "2")
    other = m.start_call("countdown", {"seconds": 2}, token=BETA)
    m.wait_status(other, "running", token=BETA, timeout=3)
    mine_running = m.start_call("countdown", {"seconds": 30}, token=ALPHA)
    m.wait_status(mine_running, "running", timeout=3)
    mine_queued = m.start_call("countdown", {"seconds": 30}, token=ALPHA)
    assert m.call(mine_queued)["status"] == "pending"
    r = m.cancel_all(ALPHA)
    assert r.status == 200, r
    body = r.json()
    assert set(body) == {"cancelled", "call_ids"}
    assert body["cancelled"] == 2
    assert sorted(body["call_ids"]) == sorted([mine_running, mine_queued])
    for cid in (mine_running, mine_queued):
        assert m.stream(cid)[-1].event == "cancelled"
        assert m.call(cid)["status"] == "cancelled"
    assert m.call(other, token=BETA)["status"] == "running"
    events = m.stream(other, token=BETA, timeout=10)
    assert [e.data["text"] for e in events] == ["2", "1", "done"]
    assert m.call(other, token=BETA)["status"] == "finished"


def test_cancel_all_with_nothing_to_cancel(mcpd):
    done = mcpd.start_call("echo", {"message": "x"})
    mcpd.wait_status(done, "finished")
    r = mcpd.cancel_all()
    assert r.status == 200 and r.json() == {"cancelled": 0, "call_ids": []}
    assert mcpd.call(done)["status"] == "finished"


def test_cancel_finished_call_leaves_it_finished(mcpd):
    call_id = mcpd.start_call("echo", {"message": "done already"})
    mcpd.stream(call_id)
    r = mcpd.cancel(call_id)
    assert r.status == 200 and r.json() == {"call_id": call_id, "status": "finished"}, r
    assert mcpd.call(call_id)["status"] == "finished"
    events = mcpd.stream(call_id)
    assert [(e.event, e.data["text"]) for e in events] == [("final", "done already")]


def test_cancel_errored_call_leaves_it_error(mcpd_factory):
    m = mcpd_factory("--tool-deadline", "countdown=0.5")
    call_id = m.start_call("countdown", {"seconds": 3})
    assert m.stream(call_id, timeout=5)[-1].event == "error"
    r = m.cancel(call_id)
    assert r.status == 200 and r.json() == {"call_id": call_id, "status": "error"}, r
    assert m.call(call_id)["status"] == "error"


def test_cancel_twice_reports_cancelled(mcpd):
    call_id = mcpd.start_call("countdown", {"seconds": 30})
    assert mcpd.cancel(call_id).json()["status"] == "cancelled"
    r = mcpd.cancel(call_id)
    assert r.status == 200 and r.json() == {"call_id": call_id, "status": "cancelled"}
    assert [e.event for e in mcpd.stream(call_id)][-1] == "cancelled"


def test_other_owner_cannot_see_stream_or_cancel(mcpd):
    call_id = mcpd.start_call("countdown", {"seconds": 2}, token=ALPHA)
    mcpd.wait_status(call_id, "running", timeout=3)
    assert_error(mcpd.cancel(call_id, token=BETA), 404, "CALL_NOT_FOUND")
    assert_error(mcpd.get(f"/mcp/calls/{call_id}", token=BETA), 404, "CALL_NOT_FOUND")
    with mcpd.conn() as c:
        head, sse = c.open_stream(call_id, token=BETA)
        assert sse is None
        assert_error(head, 404, "CALL_NOT_FOUND")
    r = mcpd.cancel_all(BETA)
    assert r.status == 200 and r.json() == {"cancelled": 0, "call_ids": []}
    assert mcpd.call(call_id)["status"] == "running"
    assert [e.data["text"] for e in mcpd.stream(call_id, timeout=10)] == ["2", "1", "done"]
    # Still invisible to the other owner once it ended.
    assert_error(mcpd.cancel(call_id, token=BETA), 404, "CALL_NOT_FOUND")
    assert_error(mcpd.get(f"/mcp/calls/{call_id}", token=BETA), 404, "CALL_NOT_FOUND")
