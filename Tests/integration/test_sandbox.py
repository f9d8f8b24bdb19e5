"""Sandbox levels against hostile tools (issue 5).

One mcpd serves fixtures/sandbox_probe_server.py three ways: `probe` at per-call (each call in a
fresh strict sandbox, destroyed after it) with tight limits, `keep` at strict (a warm server) with
a read-write path bound in, and `net` at strict with the network allowed. The probe runs under the
system python: a strict sandbox under a root mcpd runs as nobody, who cannot reach the test venv's
interpreter in /root.

Every attempt must end with a clear error or a result showing the kernel refused it; afterwards
the supervisor answers /healthz and a normal echo call, and no process the tool started remains.
The state directory and the "outside" directory live in /var/tmp with permissive modes, so that
only the sandbox (not file permissions or the private /tmp) stands between the tool and them.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from conftest import MCPD, wait_until
from toolhost import (FIXTURES, FORK_SERVER, cmdline, error_event, final_text, fork_servers, processes_running, start_mcpd,
                      wait_tools, write_json)

PROBE = str(FIXTURES / "sandbox_probe_server.py")
SYSTEM_PYTHON = "/usr/bin/python3"
PROBE_TOOLS = {f"{server}__whoami" for server in ("probe", "keep", "net")}

pytestmark = pytest.mark.skipif(not os.path.exists(SYSTEM_PYTHON), reason="needs the system python3")


def probe_entry(sandbox, **extra) -> dict:
    """The probe server at this policy, with its own directory bound in read-only: a checkout under
    /tmp (as a CI clone may be) would otherwise be hidden by the sandbox's private /tmp."""
    policy = dict(sandbox)
    policy["paths"] = list(policy.get("paths", [])) + [{"path": str(FIXTURES), "mode": "ro"}]
    return {"command": SYSTEM_PYTHON, "args": ["-I", PROBE], "sandbox": policy, **extra}


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    base = tmp_path_factory.mktemp("sandbox")
    outside = Path(tempfile.mkdtemp(prefix="mcpd-sandbox-", dir="/var/tmp"))
    state = outside / "state"
    state.mkdir()
    (state / "secret.txt").write_text("state-secret-6c1f\n")
    shared = outside / "shared"
    shared.mkdir()
    for path in (outside, state, shared):
        os.chmod(path, 0o777)
    os.chmod(state / "secret.txt", 0o644)
    config = write_json(base / "servers.json", {"mcpServers": {
        "probe": probe_entry({"level": "per-call", "limits": {
            "processes": 32, "addressSpaceBytes": 512 << 20, "fileSizeBytes": 4 << 20, "cpuSeconds": 60}},
            deadline_seconds=5, min_instances=1, max_instances=2),
        "keep": probe_entry({"level": "strict", "paths": [{"path": str(shared), "mode": "rw"}]}),
        "net": probe_entry({"level": "strict", "network": True}),
    }})
    m = start_mcpd(base / "mcpd", "--config", config, "--state-dir", state, "--cancel-grace", "0.5")
    wait_tools(m, PROBE_TOOLS, timeout=30)
    m.outside, m.state, m.shared = outside, state, shared
    yield m
    m.stop()
    shutil.rmtree(outside, ignore_errors=True)


def attempt(m, tool: str, arguments=None, server: str = "probe") -> dict:
    events = m.run(f"{server}__{tool}", arguments or {}, timeout=30)
    return json.loads(final_text(events))


def assert_healthy(m) -> None:
    assert m.get("/healthz", token=None).status == 200
    assert final_text(m.run("echo", {"message": "still here"})) == "still here"
    assert attempt(m, "whoami")["refused"] is False


def assert_none_left(marker: str) -> None:
    wait_until(lambda: not processes_running(marker), 10, message=f"processes marked {marker} to be gone")


def marker() -> str:
    return f"mcpd-sandbox-{uuid.uuid4().hex[:12]}"


# --- what a strict sandbox looks like ---------------------------------------------------------

def test_strict_sandbox_has_its_own_pids_host_name_and_unprivileged_user(host):
    seen = attempt(host, "whoami", server="keep")
    assert seen["hostname"] == "mcpd-sandbox"
    assert seen["pid"] < 10 and max(seen["proc"]) < 10, seen          # only its own pid namespace
    assert host.pid not in seen["proc"]
    if os.geteuid() == 0:
        assert seen["uid"] == 65534, seen                               # never root's files


def test_reading_secrets_and_other_processes_is_refused(host):
    for path in ("/etc/shadow", str(host.state / "secret.txt"),
                 f"/proc/{host.pid}/environ", f"/proc/{host.pid}/cmdline"):
        for server in ("probe", "keep"):
            seen = attempt(host, "read_file", {"path": path}, server)
            assert seen["refused"], f"{server} read {path}: {seen}"
    workers = [k.pid for k in host.worker_children()]
    assert workers
    for pid in workers:
        seen = attempt(host, "read_file", {"path": f"/proc/{pid}/environ"})
        assert seen["refused"] and "ENOENT" in seen["detail"], seen
    assert_healthy(host)


def test_writing_outside_the_bound_paths_is_refused(host):
    for path in ("/etc/mcpd-sandbox-escape", str(host.outside / "escape.txt"), PROBE + ".escape"):
        seen = attempt(host, "write_file", {"path": path}, "keep")
        assert seen["refused"], f"wrote {path}: {seen}"
        assert not os.path.exists(path)
    # The bound read-write path is writable and shared with the host; the private /tmp is not.
    assert attempt(host, "write_file", {"path": str(host.shared / "ok.txt")}, "keep") == \
        {"refused": False, "detail": "written"}
    assert (host.shared / "ok.txt").read_text() == "written from the sandbox\n"
    name = f"/tmp/{marker()}"
    assert attempt(host, "write_file", {"path": name}, "keep")["refused"] is False
    assert not os.path.exists(name)
    assert_healthy(host)


def test_network_is_denied_unless_the_policy_allows_it(host):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
        port = listener.getsockname()[1]
        for server in ("probe", "keep"):
            seen = attempt(host, "connect", {"port": port}, server)
            assert seen["refused"] and "ECONNREFUSED" in seen["detail"], seen
        with pytest.raises(BlockingIOError):
            listener.accept()
        # The same attempt from a server whose policy allows the network reaches the listener.
        assert attempt(host, "connect", {"port": port}, "net") == {"refused": False, "detail": "connected"}
        listener.setblocking(True)
        listener.settimeout(5)
        peer, _ = listener.accept()
        peer.close()
    assert_healthy(host)


def test_ptrace_of_a_sibling_is_refused(host):
    tag = marker()
    for server in ("probe", "keep"):
        seen = attempt(host, "ptrace_sibling", {"marker": tag}, server)
        assert seen["refused"] and "EPERM" in seen["detail"], seen
    assert_none_left(tag)
    assert_healthy(host)


def test_namespace_creation_and_mounting_are_refused_by_seccomp(host):
    for name in ("unshare", "mount"):
        seen = attempt(host, "syscall", {"name": name}, "keep")
        assert seen["refused"] and "EPERM" in seen["detail"], f"{name}: {seen}"
    assert_healthy(host)


def landlock_abi() -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    return max(0, libc.syscall(444, None, 0, 1))  # landlock_create_ruleset(NULL, 0, VERSION)


@pytest.mark.skipif(landlock_abi() == 0, reason="the kernel has no Landlock")
def test_landlock_refuses_writes_the_mount_view_would_allow(host):
    # The sandbox's own /proc is mounted read-write, and /proc/self/comm is the process's own:
    # only Landlock, which allows writes under /tmp and the bound rw paths alone, says no.
    seen = attempt(host, "write_file", {"path": "/proc/self/comm"}, "keep")
    assert seen["refused"] and "EACCES" in seen["detail"], seen
    assert_healthy(host)


# --- exhausting the host ----------------------------------------------------------------------

def test_fork_bomb_is_stopped_and_its_children_die_with_the_call(host):
    tag = marker()
    seen = attempt(host, "fork_bomb", {"marker": tag, "attempts": 400})
    assert seen["refused"] and "EAGAIN" in seen["detail"], seen
    assert seen["forked"] < 32, seen
    assert_none_left(tag)
    assert_healthy(host)


def test_memory_bomb_is_refused(host):
    seen = attempt(host, "memory_bomb", {"megabytes": 8192})
    assert seen["refused"] and seen["detail"] == "MemoryError", seen
    assert seen["megabytes"] < 512, seen
    assert_healthy(host)


def test_huge_file_is_cut_at_the_size_limit(host):
    seen = attempt(host, "huge_file", {"path": "/tmp/huge", "megabytes": 64})
    assert seen["refused"] and "EFBIG" in seen["detail"], seen
    assert seen["megabytes"] <= 4, seen
    assert_healthy(host)


def test_cpu_spin_past_the_deadline_is_ended(host):
    events = host.run("probe__cpu_spin", {}, timeout=30)
    assert error_event(events)["kind"] == "deadline_exceeded", events
    wait_until(lambda: not any(p for p in processes_running(PROBE) if cpu_busy(p)), 10,
               message="the spinning probe to be gone")
    assert_healthy(host)


def cpu_busy(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] == "R"


# --- outliving the call -----------------------------------------------------------------------

def test_background_child_is_killed_after_the_call(host):
    tag = marker()
    seen = attempt(host, "background_child", {"marker": tag})
    assert seen["refused"] is False and seen["detail"].startswith("left "), seen
    assert_none_left(tag)
    assert_healthy(host)


def test_holding_the_socket_after_cancel_does_not_keep_the_call_or_the_process(host):
    tag = marker()
    call_id = host.start_call("probe__hold_socket", {"marker": tag})
    wait_until(lambda: processes_running(tag), 10, message="the socket holder to start")
    assert host.cancel(call_id).status == 200
    assert host.wait_status(call_id, "cancelled", timeout=10)["status"] == "cancelled"
    assert_none_left(tag)
    assert_healthy(host)


# --- configuration ----------------------------------------------------------------------------

def test_a_malformed_sandbox_policy_is_refused_with_its_field(host):
    r = host.post_json("/mcp/tools/register_mcp_server", {"arguments": {
        "id": "badbox", "type": "stdio", "command": SYSTEM_PYTHON, "args": [PROBE],
        "sandbox": {"level": "jail"}}})
    body = r.json()
    assert r.status == 400 and body["success"] is False, body
    assert "sandbox" in json.dumps(body["error"]), body


def test_an_unknown_sandbox_level_flag_stops_mcpd_at_once():
    out = subprocess.run([str(MCPD), "--sandbox", "jail"], capture_output=True, text=True, timeout=20)
    assert out.returncode != 0
    assert "--sandbox must be one of none, process, strict, per-call" in out.stderr


@pytest.mark.parametrize("level", ["strict", "per-call"])
def test_builtin_workers_run_sandboxed_at_the_flag_level(mcpd_factory, level):
    m = mcpd_factory("--sandbox", level, "--workers-min", "1", "--workers-spare", "1")
    first = {k.pid for k in m.worker_children() if k.comm != FORK_SERVER}
    for i in range(3):
        assert final_text(m.run("echo", {"message": f"call {i}"})) == f"call {i}"
    # The worker runs as pid 1 of its namespaces under a waiter; the kernel says what it may do.
    # A per-call worker just spawned may not have forked into its namespaces yet, or may still be
    # entering them (seccomp is the last step): wait for one that finished entering.
    def entered_worker_status():
        for w in m.worker_children():
            for pid in children_pids(w.pid):
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except FileNotFoundError:
                    continue
                if "Seccomp:\t2" in status:
                    return status
        return None
    status = wait_until(entered_worker_status, 10, message="a worker under seccomp inside its namespaces")
    assert "NoNewPrivs:\t1" in status, status
    assert "CapEff:\t0000000000000000" in status, status
    if level == "per-call":
        # Each call's process was destroyed after it: none of the first workers remains.
        wait_until(lambda: not (first & {k.pid for k in m.worker_children()}), 10,
                   message="the per-call workers to be replaced")


def test_per_call_workers_are_forked_by_one_fork_server_and_are_mcpds_children(mcpd_factory):
    """A per-call pool forks its workers from one pre-started mcp-worker instead of exec-ing each:
    every call still runs in a fresh process, sandboxed, in its own process group, and mcpd (not
    the fork server) is its parent, so it reaps and signals it as any worker."""
    m = mcpd_factory("--sandbox", "per-call", "--workers-min", "1", "--workers-spare", "1")
    server = wait_until(lambda: fork_servers(m), 10, message="the per-call pool's fork server")
    assert len(server) == 1, server
    ran_in = set()
    for i in range(4):
        assert final_text(m.run("echo", {"message": f"call {i}"})) == f"call {i}"
        status = m.ctl_status()
        ran_in |= {w["pid"] for w in status["workers"]}
    assert fork_servers(m) == server, "one server serves every fork"
    workers = wait_until(lambda: [k for k in m.worker_children() if k.comm == "mcp-worker"], 10,
                         message="a warm per-call worker")
    for w in workers:
        assert w.ppid == m.pid
        assert os.getpgid(w.pid) == w.pid
        assert "--fork-server" in cmdline(w.pid), "forked from the server, not spawned"
    # The call table lists the workers, never the fork server (it runs no call).
    assert server[0].pid not in ran_in
    assert ran_in, "mcpctl lists the warm worker"


def test_a_killed_fork_server_is_replaced_and_no_call_fails(mcpd_factory):
    m = mcpd_factory("--sandbox", "per-call", "--workers-min", "1", "--workers-spare", "1")
    first = wait_until(lambda: fork_servers(m), 10, message="the per-call pool's fork server")[0]
    os.kill(first.pid, signal.SIGKILL)
    for i in range(3):
        assert final_text(m.run("echo", {"message": f"after {i}"})) == f"after {i}"
    replaced = wait_until(lambda: [s for s in fork_servers(m) if s.pid != first.pid], 10,
                          message="a new fork server")
    assert len(replaced) == 1, replaced
    m.wait_no_zombies()


def children_pids(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def zombies_left_to_init(uid: int) -> list[int]:
    """Zombie processes of `uid` waiting for PID 1 to reap them."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            owner = Path(f"/proc/{entry}").stat().st_uid
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] == "Z" and fields[1] == "1" and owner == uid:
            found.append(int(entry))
    return found


def test_per_call_sandboxes_leave_no_zombie_to_init(mcpd_factory):
    """A per-call worker ends with SIGKILL to its process group, which orphans pid 1 of its
    namespaces. mcpd is the subreaper of what it starts and reaps them. Left to the host's init
    (slow to reap on this VM; mcpd itself in a container), they piled up until the sandboxes' uid
    reached RLIMIT_NPROC and new sandboxes could not fork."""
    sandbox_uid = 65534 if os.geteuid() == 0 else os.geteuid()
    before = set(zombies_left_to_init(sandbox_uid))
    m = mcpd_factory("--sandbox", "per-call", "--workers-min", "2")
    for i in range(30):
        assert final_text(m.run("echo", {"message": f"call {i}"})) == f"call {i}"
    assert not set(zombies_left_to_init(sandbox_uid)) - before


def test_generated_tools_run_in_strict_workers_with_network(mcpd_factory):
    """A curl tool is code mcpd generated from a command line: it runs in a strict mcp-worker that
    keeps the network (that is what it is for), not in the built-in pool."""
    import http.server
    import threading

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b'{"greeting": "hello from upstream"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    try:
        m = mcpd_factory()
        r = m.post_json("/mcp/tools/add_tools", {"arguments": {"tools": [{
            "name": "greet", "tool_type": "curl",
            "curl_config": {"value": f"curl http://127.0.0.1:{upstream.server_address[1]}/greet"}}]}})
        assert r.status == 200, r
        assert "hello from upstream" in final_text(m.run("greet", {}))
        strict = [k.pid for k in m.worker_children()
                  if any('"level":"strict"' in a and '"network":true' in a for a in cmdline(k.pid))]
        assert len(strict) == 1, [cmdline(k.pid) for k in m.worker_children()]
        inner = wait_until(lambda: children_pids(strict[0]), 10, message="the generated tools' worker")
        assert "Seccomp:\t2" in Path(f"/proc/{inner[0]}/status").read_text()
    finally:
        upstream.shutdown()
