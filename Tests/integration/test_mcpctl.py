"""mcpctl against a live mcpd through the shared-memory call table (never HTTP), and the table's
layout itself read independently from Python as the spec describes it."""

import json
import os
import shutil
import signal
import struct
import time

import pytest

from conftest import ALPHA, ctl_find_call, ctl_workers, now_ms, run_mcpctl, wait_until

MAGIC = 0x3154424C4450434D
HEADER_FIELDS = [  # (name, offset, struct code)
    ("magic", 0, "Q"), ("layoutVersion", 8, "I"), ("headerSize", 12, "I"),
    ("callSlotCount", 16, "I"), ("callSlotSize", 20, "I"), ("workerSlotCount", 24, "I"),
    ("workerSlotSize", 28, "I"), ("rateBucketCount", 32, "I"), ("rateBucketSize", 36, "I"),
    ("callSlotsOffset", 40, "Q"), ("workerSlotsOffset", 48, "Q"), ("rateBucketsOffset", 56, "Q"),
    ("totalSize", 64, "Q"), ("supervisorPid", 72, "i"), ("supervisorState", 76, "I"), ("ready", 80, "I"),
    ("supervisorHeartbeatMs", 88, "Q"), ("cancelEpoch", 96, "Q"), ("startedAtMs", 104, "Q"),
    ("queueDepth", 112, "I"), ("queueCapacity", 116, "I"), ("callsAccepted", 120, "Q"),
    ("callsFinished", 128, "Q"), ("callsFailed", 136, "Q"), ("callsCancelled", 144, "Q"),
    ("workersSpawned", 152, "Q"), ("workersCrashed", 160, "Q"), ("workersRecycled", 168, "Q"),
    ("workersKilled", 176, "Q"),
]
CALL_STATES = {0: "free", 1: "pending", 2: "running", 3: "finished", 4: "error", 5: "cancelled",
               6: "reserved"}


def table_path(m):
    return m.runtime_dir / "calltable"


def unpack(buf: bytes, fields) -> dict:
    return {name: struct.unpack_from("<" + code, buf, off)[0] for name, off, code in fields}


def read_header(path) -> dict:
    with open(path, "rb") as f:
        return unpack(f.read(512), HEADER_FIELDS)


def cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("ascii")


def read_call_slots(path, hdr) -> dict[int, dict]:
    """Used call slots by index, each read consistently under its seqlock."""
    out = {}
    fd = os.open(path, os.O_RDONLY)
    try:
        for i in range(hdr["callSlotCount"]):
            off = hdr["callSlotsOffset"] + i * hdr["callSlotSize"]
            for _ in range(1000):
                raw = os.pread(fd, 256, off)
                seq1 = struct.unpack_from("<Q", raw, 0)[0]
                if seq1 % 2:
                    continue
                seq2 = struct.unpack_from("<Q", os.pread(fd, 8, off), 0)[0]
                if seq1 == seq2:
                    break
            else:
                raise AssertionError(f"call slot {i} never stable")
            state = struct.unpack_from("<I", raw, 8)[0]
            if state == 0:
                continue
            out[i] = {
                "state": CALL_STATES.get(state, state),
                "cancelRequested": struct.unpack_from("<I", raw, 12)[0],
                "workerPid": struct.unpack_from("<I", raw, 16)[0],
                "workerSlot": struct.unpack_from("<I", raw, 20)[0],
                "startedAtMs": struct.unpack_from("<Q", raw, 24)[0],
                "deadlineAtMs": struct.unpack_from("<Q", raw, 32)[0],
                "callId": cstr(raw[48:88]), "tool": cstr(raw[88:152]), "owner": cstr(raw[152:184]),
            }
    finally:
        os.close(fd)
    return out


def read_worker_slots(path, hdr) -> dict[int, dict]:
    out = {}
    with open(path, "rb") as f:
        f.seek(hdr["workerSlotsOffset"])
        data = f.read(hdr["workerSlotCount"] * hdr["workerSlotSize"])
    for i in range(hdr["workerSlotCount"]):
        raw = data[i * 128:(i + 1) * 128]
        pid = struct.unpack_from("<I", raw, 0)[0]
        if pid == 0:
            continue
        out[i] = {"pid": pid, "state": struct.unpack_from("<I", raw, 4)[0],
                  "heartbeatMs": struct.unpack_from("<Q", raw, 8)[0],
                  "callsServed": struct.unpack_from("<Q", raw, 16)[0],
                  "currentCallSlot": struct.unpack_from("<I", raw, 24)[0],
                  "spawnedAtMs": struct.unpack_from("<Q", raw, 32)[0]}
    return out


# --- status ----------------------------------------------------------------------------------

def test_status_json_agrees_with_http(mcpd_factory):
    m = mcpd_factory("--workers-min", "2", "--workers-max", "2")
    call_id = m.start_call("countdown", {"seconds": 30})
    http = m.wait_status(call_id, "running", timeout=3)
    status = wait_until(lambda: (s := m.ctl_status()) and len(ctl_workers(s)) == 2 and s, 5,
                        message="mcpctl to show two workers")
    ready = m.readyz().json()["workers"]
    assert len(ctl_workers(status)) == ready["total"] == 2
    assert {w["pid"] for w in ctl_workers(status)} == {k.pid for k in m.worker_children()}
    entry = ctl_find_call(status, call_id)
    assert entry is not None, f"running call missing from mcpctl status: {status}"
    assert entry["tool"] == "countdown"
    assert entry["owner"] == "token-1"
    assert entry["state"] == "running"
    assert entry["worker_pid"] == http["worker_pid"]
    assert m.cancel(call_id).status == 200

    def gone_or_cancelled():
        e = ctl_find_call(m.ctl_status(), call_id)
        return e is None or e["state"] == "cancelled"
    wait_until(gone_or_cancelled, 3, message="the cancelled call to leave the running set")


def test_status_json_shows_queued_and_owner_of_each_call(mcpd_factory):
    m = mcpd_factory("--workers-min", "1", "--workers-max", "1")
    running = m.start_call("countdown", {"seconds": 30}, token=ALPHA)
    m.wait_status(running, "running", timeout=3)
    queued = m.start_call("countdown", {"seconds": 30}, token="beta-token")
    status = m.ctl_status()
    r, q = ctl_find_call(status, running), ctl_find_call(status, queued)
    assert r is not None and q is not None, status
    assert (r["owner"], r["state"]) == ("token-1", "running")
    assert (q["owner"], q["state"]) == ("token-2", "pending")
    assert not q["worker_pid"]
    m.cancel_all(ALPHA)
    m.cancel_all("beta-token")


def test_status_human_output_mentions_the_call(mcpd):
    call_id = mcpd.start_call("countdown", {"seconds": 30})
    mcpd.wait_status(call_id, "running", timeout=3)
    rc, out, err = mcpd.mcpctl("status")
    assert rc == 0, out + err
    assert call_id in out and "countdown" in out, out
    with pytest.raises(ValueError):
        json.loads(out)   # the readable table is not JSON
    mcpd.cancel(call_id)


# --- health ----------------------------------------------------------------------------------

def one_line(out: str) -> str:
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, f"mcpctl health should print one line, printed: {out!r}"
    return lines[0]


def test_health_is_healthy_then_unhealthy_after_stop(mcpd):
    rc, out, err = mcpd.mcpctl("health")
    assert rc == 0, out + err
    assert one_line(out).startswith("healthy")
    rdir = mcpd.runtime_dir
    assert mcpd.stop() == 0
    rc, out, err = run_mcpctl(["health"], rdir)
    assert rc == 1, out + err
    assert one_line(out).startswith("unhealthy")
    if (rdir / "calltable").exists():
        assert read_header(rdir / "calltable")["supervisorState"] == 4


def test_health_unhealthy_after_sigkill_of_mcpd(mcpd):
    mcpd.expect_exit = None
    mcpd.zombies_are_leaks = False
    os.kill(mcpd.pid, signal.SIGKILL)
    mcpd.proc.wait(5)
    rdir = mcpd.runtime_dir

    def unhealthy():
        rc, out, _ = run_mcpctl(["health"], rdir)
        return rc == 1 and out.strip().startswith("unhealthy")
    wait_until(unhealthy, 5, interval=0.2, message="mcpctl health to notice mcpd is dead")
    mcpd.stop(send=False)


def test_health_without_a_table(tmp_path):
    rc, out, err = run_mcpctl(["health"], tmp_path / "empty")
    assert rc == 1, out + err
    assert one_line(out).startswith("unhealthy")


# --- refusing unknown layouts ----------------------------------------------------------------

def test_refuses_a_table_with_garbage(tmp_path):
    bad = tmp_path / "garbage"
    bad.write_bytes(b"NOTMCPD!" + os.urandom(8192))
    for cmd in (["status"], ["status", "--json"], ["health"]):
        rc, out, err = run_mcpctl([*cmd, "--table", bad])
        assert rc == 1, (cmd, rc, out, err)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert run_mcpctl(["status", "--table", empty])[0] == 1


@pytest.mark.parametrize("field,offset,code,value", [
    ("magic", 0, "Q", 0x3254424C4450434D),
    ("layoutVersion", 8, "I", 2),
    ("headerSize", 12, "I", 1024),
    ("callSlotSize", 20, "I", 128),
    ("workerSlotSize", 28, "I", 256),
    ("rateBucketSize", 36, "I", 32),
])
def test_refuses_unknown_layout_fields(mcpd, tmp_path, field, offset, code, value):
    good = tmp_path / "copy"
    shutil.copyfile(table_path(mcpd), good)
    rc, out, err = run_mcpctl(["status", "--table", good])
    assert rc == 0, f"an untouched copy must be readable: {out}{err}"
    bad = tmp_path / "patched"
    data = bytearray(good.read_bytes())
    struct.pack_into("<" + code, data, offset, value)
    bad.write_bytes(bytes(data))
    rc, out, err = run_mcpctl(["status", "--table", bad])
    assert rc == 1, f"mcpctl accepted a table with {field}={value}: {out}{err}"


# --- the table itself ------------------------------------------------------------------------

def test_call_table_layout_and_contents(mcpd_factory):
    m = mcpd_factory("--workers-min", "1", "--workers-max", "1", "--queue-max", "7",
                     "--tool-deadline", "countdown=40")
    path = table_path(m)
    hdr = read_header(path)
    assert hdr["magic"] == MAGIC and path.read_bytes()[:8] == b"MCPDLBT1"
    assert (hdr["layoutVersion"], hdr["headerSize"]) == (1, 512)
    assert (hdr["callSlotSize"], hdr["workerSlotSize"], hdr["rateBucketSize"]) == (256, 128, 64)
    assert hdr["callSlotCount"] >= 1 and hdr["workerSlotCount"] >= 1
    assert hdr["callSlotsOffset"] >= 512 and hdr["callSlotsOffset"] % 128 == 0
    assert hdr["workerSlotsOffset"] >= hdr["callSlotsOffset"] + hdr["callSlotCount"] * 256
    assert hdr["rateBucketsOffset"] >= hdr["workerSlotsOffset"] + hdr["workerSlotCount"] * 128
    assert hdr["totalSize"] >= hdr["rateBucketsOffset"] + hdr["rateBucketCount"] * 64
    assert os.path.getsize(path) >= hdr["totalSize"]
    assert hdr["supervisorPid"] == m.pid
    assert (hdr["supervisorState"], hdr["ready"]) == (2, 1)
    assert hdr["queueCapacity"] == 7
    assert abs(now_ms() - hdr["supervisorHeartbeatMs"]) < 5000
    assert hdr["startedAtMs"] <= now_ms()
    with open(path, "rb") as f:
        f.seek(hdr["rateBucketsOffset"])
        assert f.read(hdr["rateBucketCount"] * 64).count(0) == hdr["rateBucketCount"] * 64

    for i in range(2):
        assert m.run("echo", {"message": f"m{i}"})[-1].event == "final"
    (idle,) = read_worker_slots(path, read_header(path)).values()
    assert idle["state"] == 2 and idle["currentCallSlot"] == 0xFFFFFFFF, idle
    time.sleep(1.2)
    (idle_later,) = read_worker_slots(path, read_header(path)).values()
    assert idle_later["heartbeatMs"] > idle["heartbeatMs"], "an idle worker stopped stamping its heartbeat"
    call_id = m.start_call("countdown", {"seconds": 30})
    pid = m.wait_status(call_id, "running", timeout=3)["worker_pid"]

    hdr = read_header(path)
    assert hdr["callsAccepted"] == 3 and hdr["callsFinished"] == 2, hdr
    assert hdr["workersSpawned"] >= 1
    slots = {i: s for i, s in read_call_slots(path, hdr).items() if s["callId"] == call_id}
    assert len(slots) == 1, f"no single call slot for {call_id}"
    idx, slot = next(iter(slots.items()))
    assert slot["state"] == "running" and slot["workerPid"] == pid, slot
    assert (slot["tool"], slot["owner"], slot["cancelRequested"]) == ("countdown", "token-1", 0)
    assert abs(now_ms() - slot["startedAtMs"]) < 5000
    assert abs((slot["deadlineAtMs"] - slot["startedAtMs"]) - 40000) <= 1000, slot

    workers = read_worker_slots(path, hdr)
    assert {w["pid"] for w in workers.values()} == {k.pid for k in m.worker_children()} == {pid}
    assert slot["workerSlot"] in workers and workers[slot["workerSlot"]]["pid"] == pid
    w = workers[slot["workerSlot"]]
    assert w["state"] == 3 and w["currentCallSlot"] == idx, w
    assert w["callsServed"] in (2, 3), w   # the two echoes, plus the current call if counted at start
    first_beat = w["heartbeatMs"]
    assert abs(now_ms() - first_beat) < 3000
    time.sleep(1.3)
    later = read_worker_slots(path, hdr)[slot["workerSlot"]]["heartbeatMs"]
    assert later > first_beat, "the busy worker stopped stamping its heartbeat"

    assert m.cancel(call_id).status == 200
    wait_until(lambda: read_header(path)["callsCancelled"] == 1, 3, message="callsCancelled == 1")


def test_call_table_counts_crashes(mcpd_factory):
    m = mcpd_factory("--workers-min", "1", "--workers-max", "1")
    path = table_path(m)
    call_id = m.start_call("countdown", {"seconds": 30})
    pid = m.wait_status(call_id, "running", timeout=3)["worker_pid"]
    os.kill(pid, signal.SIGKILL)
    assert m.stream(call_id)[-1].event == "error"
    hdr = wait_until(lambda: (h := read_header(path))["workersCrashed"] == 1 and h, 5,
                     message="workersCrashed == 1")
    assert hdr["callsFailed"] == 1
    wait_until(lambda: read_header(path)["workersSpawned"] >= 2, 5, message="a replacement worker")
