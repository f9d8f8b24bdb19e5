"""The worker pool across process boundaries: concurrency, the bounded queue, growth, recycling,
a worker killed with SIGKILL, per-call deadlines. Worker pids come from mcpctl (shared memory) and
from GET /mcp/calls; liveness and zombies from /proc."""

import os
import shutil
import signal
import subprocess
import threading
import time

from conftest import (ALPHA, WORKER, HttpConnection, assert_error, assert_well_formed, ctl_find_call,
                      ctl_workers, json_body, proc_info, wait_until)


def ctl_worker_pids(m) -> set[int]:
    return {w["pid"] for w in ctl_workers(m.ctl_status())}


def ctl_call(m, call_id) -> dict | None:
    return ctl_find_call(m.ctl_status(), call_id)


def ready_workers(m) -> dict:
    r = m.readyz()
    assert r.status == 200, r
    return r.json()["workers"]


def wait_pool_size(m, size: int, timeout: float = 8.0, exclude=()):
    """Until the pool has `size` live workers (readyz, mcpctl and /proc agree) none of them in `exclude`."""
    def check():
        r = m.readyz()
        if r.status != 200 or r.json()["workers"]["total"] != size:
            return False
        pids = ctl_worker_pids(m)
        kids = {k.pid for k in m.worker_children()}
        if len(pids) != size or pids != kids or pids & set(exclude):
            return False
        return pids
    return wait_until(check, timeout, interval=0.1, message=f"pool of {size} workers")


def test_two_hundred_concurrent_calls_through_four_workers(mcpd_factory):
    m = mcpd_factory("--workers-min", "4", "--workers-max", "4")
    before = wait_pool_size(m, 4)
    n = 200
    barrier = threading.Barrier(n)
    results: dict[int, object] = {}

    def one(i):
        try:
            with HttpConnection("127.0.0.1", m.port, timeout=60) as c:
                body = json_body({"tool": "echo", "input": {"message": f"msg-{i}"}})
                barrier.wait(30)
                r = c.request("POST", "/mcp/execute", headers={"Content-Type": "application/json"},
                              body=body, token=ALPHA, timeout=60)
                if r.status != 200:
                    results[i] = f"execute {r.status} {r.body[:200]!r}"
                    return
                call_id = r.json()["call_id"]
                head, sse = c.open_stream(call_id, timeout=60)
                if sse is None:
                    results[i] = f"stream {head.status}"
                    return
                events = sse.read_until_terminal(60)
                results[i] = (call_id, events)
        except Exception as exc:  # noqa: BLE001 - reported below with its index
            results[i] = f"exception {exc!r}"

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    failures = {i: v for i, v in results.items() if not isinstance(v, tuple)}
    assert len(results) == n and not failures, f"{len(failures)} failed, e.g. {list(failures.items())[:5]}"
    ids = set()
    for i, (call_id, events) in results.items():
        assert_well_formed(events)
        assert events[-1].event == "final" and events[-1].data["text"] == f"msg-{i}", (i, events)
        ids.add(call_id)
    assert len(ids) == n
    # The same four workers served everything: none crashed, none was added.
    assert wait_pool_size(m, 4) == before


def test_queue_full_answers_503_overloaded_with_retry_after(mcpd_factory):
    m = mcpd_factory("--workers-min", "1", "--workers-max", "1", "--queue-max", "2")
    running = m.start_call("countdown", {"seconds": 30})
    m.wait_status(running, "running", timeout=3)
    queued = [m.start_call("countdown", {"seconds": 30}, request_id=f"q{i}") for i in range(2)]
    for q in queued:
        assert m.call(q)["status"] == "pending"
        assert m.call(q)["worker_pid"] is None
    w = ready_workers(m)
    assert w == {"idle": 0, "busy": 1, "total": 1}
    r = m.execute("countdown", {"seconds": 1})
    assert_error(r, 503, "OVERLOADED")
    assert r.header("retry-after") == "1", r
    # A retry of a queued call's request_id is that call, not a new one: no 503.
    again = m.execute("countdown", {"seconds": 30}, request_id="q1")
    assert again.status == 200 and again.json() == {"call_id": queued[1], "status": "pending"}, again
    # Overload is not an HTTP-level error: the connection is not closed on it.
    with m.conn() as c:
        r = c.request("POST", "/mcp/execute", headers={"Content-Type": "application/json"},
                      body=json_body({"tool": "echo", "input": {"message": "x"}}), token=ALPHA)
        assert_error(r, 503, "OVERLOADED")
        assert c.request("GET", "/healthz").status == 200
    # Room again once a queued call is cancelled.
    assert m.cancel(queued[0]).json()["status"] == "cancelled"
    extra = m.start_call("echo", {"message": "fits"})
    assert m.call(extra)["status"] == "pending"
    assert m.cancel_all().json()["cancelled"] == 3
    assert m.stream(extra)[-1].event == "cancelled"


def test_queued_call_runs_when_a_worker_frees_up(mcpd_factory):
    m = mcpd_factory("--workers-min", "1", "--workers-max", "1")
    first = m.start_call("countdown", {"seconds": 1})
    m.wait_status(first, "running", timeout=3)
    second = m.start_call("echo", {"message": "waited"})
    assert m.call(second)["status"] == "pending"
    assert m.stream(first, timeout=10)[-1].data["text"] == "done"
    events = m.stream(second, timeout=10)
    assert_well_formed(events)
    assert events[-1].data == {"type": "final", "text": "waited"}


def test_pool_grows_up_to_max_under_load(mcpd_factory):
    m = mcpd_factory("--workers-min", "1", "--workers-max", "3", "--workers-spare", "0")
    ids = [m.start_call("countdown", {"seconds": 2}) for _ in range(3)]
    pids = set()
    for call_id in ids:
        pids.add(m.wait_status(call_id, "running", timeout=5)["worker_pid"])
    assert len(pids) == 3, "three concurrent calls should run on three distinct workers"
    assert ready_workers(m)["busy"] == 3
    for call_id in ids:
        assert m.stream(call_id, timeout=10)[-1].data["text"] == "done"
    fourth = [m.start_call("countdown", {"seconds": 1}) for _ in range(4)]
    statuses = [m.call(c)["status"] for c in fourth]
    assert statuses.count("pending") >= 1, f"a fourth concurrent call must queue: {statuses}"
    assert ready_workers(m)["total"] <= 3
    m.cancel_all()


def test_spare_workers_are_kept_warm(mcpd_factory):
    m = mcpd_factory("--workers-min", "1", "--workers-max", "4", "--workers-spare", "1")
    busy = m.start_call("countdown", {"seconds": 30})
    m.wait_status(busy, "running", timeout=3)
    wait_until(lambda: ready_workers(m)["idle"] >= 1, 5, message="a spare idle worker")
    assert m.cancel(busy).status == 200


def test_worker_recycled_after_max_calls(mcpd_factory):
    m = mcpd_factory("--workers-min", "1", "--workers-max", "1", "--worker-max-calls", "3")
    initial = wait_pool_size(m, 1)
    first_pid = next(iter(initial))
    first_info = proc_info(first_pid)
    served_by = []
    for i in range(3):
        # Calls 1, 4 and 7 are countdowns (long enough to see their worker); each worker serves 3.
        call_id = m.start_call("countdown", {"seconds": 1})
        served_by.append(m.wait_status(call_id, "running", timeout=5)["worker_pid"])
        assert m.stream(call_id, timeout=10)[-1].data["text"] == "done"
        for j in range(2):
            echo = m.run("echo", {"message": f"e{i}{j}"})
            assert echo[-1].data["text"] == f"e{i}{j}"
    assert served_by[0] == first_pid
    assert len(set(served_by)) == 3, f"with --worker-max-calls 3 calls 1, 4, 7 need fresh workers: {served_by}"
    pids = wait_pool_size(m, 1)
    assert first_pid not in pids, "worker not recycled after --worker-max-calls 3"
    cur = proc_info(first_pid)
    assert cur is None or cur.starttime != first_info.starttime, f"recycled worker still exists: {cur}"
    m.wait_no_zombies()


def test_sigkill_of_a_worker_mid_call(mcpd_factory):
    m = mcpd_factory("--workers-min", "2", "--workers-max", "2")
    wait_pool_size(m, 2)
    call_id = m.start_call("countdown", {"seconds": 30})
    status = m.wait_status(call_id, "running", timeout=3)
    pid = status["worker_pid"]
    ctl = ctl_call(m, call_id)
    assert ctl is not None and ctl["worker_pid"] == pid, f"mcpctl disagrees: {ctl} vs {status}"
    with m.conn() as c:
        head, sse = c.open_stream(call_id)
        first = sse.next_event(5)
        assert first.event == "partial"
        os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()
        events = sse.read_until_terminal(10)
    assert time.monotonic() - killed_at < 5
    assert_well_formed(events)
    last = events[-1]
    assert last.event == "error", events
    assert last.data["error"]["kind"] == "worker_crashed", last
    after = m.call(call_id)
    assert after["status"] == "error" and after["worker_pid"] is None
    pids = wait_pool_size(m, 2, exclude={pid})
    assert pid not in pids
    m.wait_no_zombies()
    info = proc_info(pid)
    assert info is None or info.ppid != m.pid, f"killed worker still parented by mcpd: {info}"
    # The pool serves again.
    assert m.run("echo", {"message": "after crash"})[-1].data["text"] == "after crash"
    # Replay of the crashed call still ends in error.
    assert m.stream(call_id)[-1].event == "error"


def test_sigkill_of_an_idle_worker_is_replaced(mcpd_factory):
    m = mcpd_factory("--workers-min", "2", "--workers-max", "2")
    pids = wait_pool_size(m, 2)
    victim = min(pids)
    os.kill(victim, signal.SIGKILL)
    new = wait_pool_size(m, 2, exclude={victim})
    assert victim not in new
    m.wait_no_zombies()
    assert m.run("echo", {"message": "ok"})[-1].data["text"] == "ok"


def test_tool_deadline_ends_call_with_error_and_replaces_worker(mcpd_factory):
    m = mcpd_factory("--workers-min", "1", "--workers-max", "1", "--tool-deadline", "countdown=1")
    call_id = m.start_call("countdown", {"seconds": 5})
    pid = m.wait_status(call_id, "running", timeout=3)["worker_pid"]
    started = time.monotonic()
    events = m.stream(call_id, timeout=10)
    elapsed = time.monotonic() - started
    assert_well_formed(events)
    assert events[-1].event == "error", events
    assert events[-1].data["error"]["kind"] == "deadline_exceeded", events[-1]
    assert elapsed < 3.5, f"deadline of 1s hit after {elapsed:.2f}s"
    assert [e.data["text"] for e in events[:-1]][:1] == ["5"]
    assert m.call(call_id)["status"] == "error"
    new = wait_pool_size(m, 1, exclude={pid})
    assert pid not in new
    m.wait_no_zombies()
    # Other tools keep the general deadline.
    assert m.run("echo", {"message": "fine"})[-1].data["text"] == "fine"
    assert m.run("countdown", {"seconds": 0})[-1].data["text"] == "done"


def test_call_deadline_accepts_fractions(mcpd_factory):
    m = mcpd_factory("--call-deadline", "0.5")
    started = time.monotonic()
    events = m.run("countdown", {"seconds": 3}, timeout=10)
    assert events[-1].event == "error" and events[-1].data["error"]["kind"] == "deadline_exceeded"
    assert time.monotonic() - started < 2.5


def test_no_live_worker_makes_readyz_unavailable_and_respawns_back_off(mcpd_factory, tmp_path):
    worker = tmp_path / "bin" / "mcp-worker"
    worker.parent.mkdir()
    shutil.copy2(WORKER, worker)
    m = mcpd_factory("--workers-min", "1", "--workers-max", "1", "--worker-path", worker)
    pid = next(iter(wait_pool_size(m, 1)))
    # From now on every spawn fails: the worker executable is replaced by one that exits at once.
    broken = tmp_path / "bin" / "broken"
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(0o755)
    os.replace(broken, worker)
    os.kill(pid, signal.SIGKILL)

    def unavailable():
        r = m.readyz()
        return r.status == 503 and r
    r = wait_until(unavailable, 5, message="readyz 503 with no live worker")
    body = r.json()
    assert body["status"] == "unavailable" and isinstance(body.get("reason"), str), body
    rc, out, err = m.mcpctl("health")
    assert rc == 1 and out.startswith("unhealthy"), out + err
    spawned_before = m.ctl_status()["counters"]["workers_spawned"]
    time.sleep(2.5)
    spawned = m.ctl_status()["counters"]["workers_spawned"] - spawned_before
    assert spawned <= 15, f"{spawned} spawns in 2.5 s: a worker that cannot start needs a backoff"
    m.wait_no_zombies()
    # A working executable again: the pool refills and serves.
    fixed = tmp_path / "bin" / "fixed"
    shutil.copy2(WORKER, fixed)
    os.replace(fixed, worker)
    wait_until(lambda: m.readyz().status == 200, 10, interval=0.1, message="the pool to recover")
    assert m.run("echo", {"message": "back"})[-1].data["text"] == "back"
    m.wait_no_zombies()


def test_worker_is_linked_with_static_swift_stdlib():
    out = subprocess.run(["ldd", str(WORKER)], capture_output=True, text=True).stdout
    assert "libswiftCore" not in out, f"mcp-worker links the Swift runtime dynamically:\n{out}"


def test_worker_max_calls_zero_never_recycles(mcpd_factory):
    m = mcpd_factory("--workers-min", "1", "--workers-max", "1", "--worker-max-calls", "0")
    pids = {w["pid"] for w in ctl_workers(m.ctl_status())}
    for n in range(30):
        assert m.run("echo", {"message": str(n)})[-1].event == "final"
    status = m.ctl_status()
    assert {w["pid"] for w in ctl_workers(status)} == pids
    assert status["counters"]["workers_recycled"] == 0
