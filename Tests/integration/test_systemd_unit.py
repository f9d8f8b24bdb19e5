"""systemd/mcpd.socket and mcpd.service under a real systemd (issue 6, "Never down").

The machine's PID 1 is not systemd, so the test boots one: Debian's /lib/systemd/systemd as PID 1 of
a pid, mount and cgroup namespace of its own (a "container" in systemd's terms), with copy-on-write
/etc, /var and /usr/local, its own /run and /tmp, and a cgroup v2 tree of its own. deploy/install.sh
installs mcpd into it exactly as on a host, and the tests drive it with systemctl and HTTP:
socket activation on the first connection, the hardened unit (DynamicUser, RootDirectory, the
system call filter, ...) with every sandbox level still working inside it, `systemctl reload`,
`systemctl restart` and a SIGKILLed mcpd without a refused connection or a reset rate limit
(listening socket and call table in systemd's hands), the watchdog restarting an mcpd whose event
loop stopped, and a stop that drains the running call and leaves no process behind.

What systemd would do to the machine it boots on (apply sysctls, load modules, clean /tmp, trigger
udev, ...) is masked: every unit that sysinit.target and the other early targets pull in, except
journald (`journalctl -u mcpd` is part of the diagnostics).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import ALPHA, BIN_DIR, HttpConnection, HttpEndpoint, children_of, free_port, wait_until
from toolhost import final_text, well_formed

ROOT = Path(__file__).resolve().parents[2]
SYSTEMD = Path("/lib/systemd/systemd")
# Where the container sees this checkout (src) and the binaries under test (bin).
SOURCES_IN_CONTAINER = "/run/mcpd-test"

# Run by `unshare --mount` with DIR CGROUP SOURCES BINARIES: a cgroup v2 subtree of its own, then PID 1
# of new pid and cgroup namespaces (whose cgroup root is that subtree), which sets up its file
# systems and becomes systemd.
BOOT = r"""
set -eu
dir=$1
mkdir -p "$dir/cgroup-host"
mount -t cgroup2 cgroup2 "$dir/cgroup-host"
mkdir "$dir/cgroup-host/$2"
echo $$ > "$dir/cgroup-host/$2/cgroup.procs"
umount "$dir/cgroup-host"
exec unshare --pid --fork --cgroup --kill-child -- bash -c '
set -eu
dir=$1
mount -t proc proc /proc
for d in /etc /var /usr/local; do
    name=$(echo "$d" | tr / _)
    mkdir -p "$dir/$name.upper" "$dir/$name.work"
    mount -t overlay overlay -o "lowerdir=$d,upperdir=$dir/$name.upper,workdir=$dir/$name.work" "$d"
done
# The sources and the binaries may be under /tmp, which is replaced next: they are bound into /run.
mount -t tmpfs tmpfs /run
mkdir -p /run/mcpd-test/src /run/mcpd-test/bin
mount --bind "$2" /run/mcpd-test/src
mount --bind "$3" /run/mcpd-test/bin
mount -t tmpfs tmpfs /tmp
# The machine'"'"'s own journal files are not this systemd'"'"'s.
if [ -d /var/log/journal ]; then mount -t tmpfs tmpfs /var/log/journal; fi
mount -t tmpfs tmpfs /sys/fs/cgroup
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mkdir -p /run/systemd/system /etc/systemd/system
printf "[Unit]\nDescription=mcpd under test\n" >/run/systemd/system/mcpd-test.target
for target in sysinit local-fs local-fs-pre sockets basic timers paths; do
    for wanted in /lib/systemd/system/$target.target.wants/* /etc/systemd/system/$target.target.wants/*; do
        unit=${wanted##*/}
        case $unit in "*"|systemd-journald*) continue ;; esac
        ln -sfn /dev/null "/etc/systemd/system/$unit"
    done
done
exec env -i container=mcpd-test PATH=/usr/sbin:/usr/bin:/sbin:/bin /lib/systemd/systemd --unit=mcpd-test.target
' boot "$dir" "$3" "$4"
"""


class Container:
    """systemd as PID 1 of its own namespaces; `sh` runs a command inside them."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.cgroup = f"mcpd-test-{os.getpid()}-{time.monotonic_ns()}"
        self.log = open(workdir / "boot.log", "wb")
        self.unshare = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "--", "bash", "-c", BOOT, "boot",
             str(workdir), self.cgroup, str(ROOT), str(BIN_DIR)],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.pid1 = 0

        def booted() -> bool:
            if self.unshare.poll() is not None:
                pytest.fail(f"the container exited with {self.unshare.returncode}: {self.boot_log()}")
            # PID 1 is unshare's child: bash until it execs systemd.
            for child in children_of(self.unshare.pid):
                if child.comm == "systemd":
                    self.pid1 = child.pid
                    return True
            return False
        try:
            wait_until(booted, 15, message="systemd to start as the container's PID 1")
            wait_until(lambda: Path(f"/proc/{self.pid1}/root/run/systemd/private").exists(), 15,
                       message=f"systemd's control socket{self.boot_log()}")
            state = self.sh("systemctl is-system-running --wait", check=False, timeout=60).stdout.strip()
            # "degraded" would be a masked-away unit's failure, nothing of mcpd's: say which, go on.
            assert state in ("running", "degraded"), f"systemd: {state}\n{self.sh('systemctl --failed', check=False).stdout}"
        except BaseException:
            self.shutdown()
            raise

    def boot_log(self) -> str:
        return (self.workdir / "boot.log").read_text(errors="replace")

    def sh(self, command: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        done = subprocess.run(["nsenter", "-t", str(self.pid1), "-m", "-p", "-C", "--", "bash", "-c", command],
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if check:
            assert done.returncode == 0, f"in the container: {command}\n{done.stdout}{done.stderr}{self.journal()}"
        return done

    def journal(self) -> str:
        done = self.sh("journalctl --no-pager -n 60 -u mcpd.service -u mcpd.socket", check=False, timeout=30)
        return f"\n--- journal (tail):\n{done.stdout}{done.stderr}"

    def show(self, unit: str, *properties: str) -> dict[str, str]:
        out = self.sh(f"systemctl show {unit} " + " ".join(f"-p {p}" for p in properties)).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def main_pid(self) -> int:
        return int(self.show("mcpd.service", "MainPID")["MainPID"])

    def unit_processes(self) -> dict[int, int]:
        """pid → ppid of every process in mcpd.service's cgroup (container pids)."""
        script = ("find /sys/fs/cgroup/system.slice/mcpd.service -name cgroup.procs -exec cat {} + 2>/dev/null |"
                  " while read p; do echo \"$p $(awk '/^PPid:/{print $2}' /proc/$p/status 2>/dev/null)\"; done")
        pairs = [line.split() for line in self.sh(script).stdout.splitlines()]
        return {int(p[0]): int(p[1]) for p in pairs if len(p) == 2}

    def shutdown(self) -> None:
        # Killing PID 1 ends every process of the namespace; killing unshare ends PID 1 too
        # (--kill-child), which covers a systemd that never came up.
        for pid, kill in ((self.pid1, os.kill), (self.unshare.pid, os.killpg)):
            try:
                if pid:
                    kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.unshare.wait(timeout=15)
        self.log.close()
        # The cgroups systemd made are in the machine's cgroup v2 tree; the namespaces' processes are
        # gone, so they can go too (deepest first).
        mount_point = self.workdir / "cgroup-host"
        subprocess.run(["unshare", "--mount", "--", "bash", "-c",
                        f'mount -t cgroup2 cgroup2 "$1" && for _ in 1 2 3 4 5; do '
                        f'find "$1/{self.cgroup}" -depth -type d -exec rmdir {{}} + 2>/dev/null; '
                        f'[ -d "$1/{self.cgroup}" ] || exit 0; sleep 0.2; done; exit 1', "rmdir", str(mount_point)],
                       check=True, timeout=30)


class Service(HttpEndpoint):
    """mcpd as installed in the container, reached through mcpd.socket's port."""

    def __init__(self, container: Container, port: int):
        self.container = container
        self.port = port

    def configure(self, *options: str) -> None:
        """Writes /etc/mcpd/mcpd.env (the test's token and these flags) and restarts mcpd with it."""
        env = f"MCPD_TOKENS={ALPHA}\nMCPD_OPTIONS={' '.join(options)}\n"
        self.since = self.container.sh("date +%s.%N").stdout.strip()
        # reset-failed: these tests restart mcpd more often than systemd's start limit (5 in 10 s).
        self.container.sh(f"printf %s {shlex.quote(env)} >/etc/mcpd/mcpd.env && "
                          "systemctl reset-failed mcpd.service mcpd.socket && systemctl restart mcpd.service")
        self.wait_serving()

    def log(self) -> list[dict]:
        """mcpd's log lines in the journal since the last `configure`."""
        out = self.container.sh(f"journalctl -u mcpd.service --no-pager -o cat --since @{self.since}").stdout
        return [json.loads(line) for line in out.splitlines() if line.startswith("{")]

    def unexpected_warnings(self) -> list[dict]:
        # This machine's cgroup controllers are all bound to cgroup v1, so the delegated v2 subtree
        # has none to enable: mcpd says so once and falls back to rlimits.
        return [entry for entry in self.log() if entry["level"] in ("warn", "error")
                and not entry["msg"].startswith("cgroup v2 delegated but not usable")]

    def wait_serving(self, timeout: float = 20) -> None:
        def serving() -> bool:
            try:
                return self.get("/readyz", token=None, timeout=2).status == 200
            except OSError:
                return False
        wait_until(serving, timeout, message=f"mcpd under systemd to be ready{self.container.journal()}")


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    if not SYSTEMD.exists():
        pytest.skip("systemd is not installed (make deps installs Debian's systemd package)")
    workdir = tmp_path_factory.mktemp("systemd")
    container = Container(workdir)
    try:
        port = free_port()
        container.sh(f"BUILD_DIR={SOURCES_IN_CONTAINER}/bin bash {SOURCES_IN_CONTAINER}/src/deploy/install.sh")
        container.sh("mkdir -p /etc/systemd/system/mcpd.socket.d && printf '[Socket]\\nListenStream=\\n"
                     f"ListenStream=127.0.0.1:{port}\\n' >/etc/systemd/system/mcpd.socket.d/port.conf && "
                     "systemctl daemon-reload && systemctl start mcpd.socket")
        service = Service(container, port)
        service.configure()
        yield service
    finally:
        container.shutdown()


def hammer(service: Service, stop: threading.Event, outcomes: list) -> None:
    """New connections back to back until `stop`; each outcome is (time, status or the error)."""
    while not stop.is_set():
        try:
            with HttpConnection("127.0.0.1", service.port, timeout=15) as c:
                outcomes.append((time.monotonic(), c.request("GET", "/healthz", token=None, timeout=15).status))
        except Exception as exc:  # a refused or reset connection is exactly what is being looked for
            outcomes.append((time.monotonic(), repr(exc)))


def test_the_first_connection_starts_the_hardened_unit(service):
    c = service.container
    c.sh("systemctl stop mcpd.service")
    assert c.sh("systemctl is-active mcpd.service", check=False).stdout.strip() == "inactive"
    assert c.sh("systemctl is-active mcpd.socket").stdout.strip() == "active"

    r = service.get("/healthz", token=None)
    assert r.status == 200 and r.json() == {"status": "ok"}, r
    shown = c.show("mcpd.service", "ActiveState", "SubState", "StatusText", "NFileDescriptorStore", "MainPID")
    assert (shown["ActiveState"], shown["SubState"]) == ("active", "running"), shown
    assert shown["StatusText"].startswith("serving: workers"), shown
    assert shown["NFileDescriptorStore"] == "1", shown   # the call table, FDNAME=callTable

    # DynamicUser=yes: mcpd runs as a uid systemd allocated (61184–65519), never root, and so do its
    # workers.
    uids = {pid: int(c.sh(f"awk '/^Uid:/{{print $2}}' /proc/{pid}/status").stdout) for pid in c.unit_processes()}
    assert len(uids) >= 3 and all(61184 <= uid <= 65519 for uid in uids.values()), uids
    # mcpctl, as root on the host, reads the call table the dynamic user made in /run/mcpd.
    status = json.loads(c.sh("/usr/local/bin/mcpctl status --json").stdout)
    assert status["supervisor"]["pid"] == int(shown["MainPID"]) and status["supervisor"]["alive"], status
    assert {w["pid"] for w in status["workers"]} < set(uids), (status, uids)


@pytest.mark.parametrize("level", ["process", "strict", "per-call"])
def test_every_sandbox_level_works_inside_the_unit(service, level):
    service.configure("--sandbox", level)
    events = service.run("echo", {"message": f"under systemd at {level}"})
    well_formed(events)
    assert final_text(events) == f"under systemd at {level}"
    assert service.unexpected_warnings() == []
    c = service.container
    if level == "per-call":
        # Workers come from the fork server (clone3 is refused under RestrictNamespaces=: the
        # server must fall back to clone, not give up and leave the pool to spawn them).
        assert any(c.sh(f"cat /proc/{pid}/comm").stdout.strip() == "mcp-fork-server" for pid in c.unit_processes())
        for i in range(5):
            assert final_text(service.run("echo", {"message": str(i)})) == str(i)
        assert service.unexpected_warnings() == []
    if level == "strict":
        # Each worker runs as pid 1 of user, pid, mount and network namespaces of its own, under a
        # waiter that mcpd started, and with its seccomp filter on.
        main = c.main_pid()
        processes = c.unit_processes()
        waiters = {pid for pid, ppid in processes.items() if ppid == main}
        workers = [pid for pid, ppid in processes.items() if ppid in waiters]
        assert workers, processes
        for ns in ("user", "pid", "mnt", "net"):
            ours = c.sh(f"readlink /proc/{main}/ns/{ns}").stdout
            theirs = {c.sh(f"readlink /proc/{w}/ns/{ns}").stdout for w in workers}
            assert ours not in theirs, f"{ns}: a worker shares mcpd's namespace {ours}"
        for w in workers:
            assert "Seccomp:\t2" in c.sh(f"cat /proc/{w}/status").stdout


def test_restart_refuses_no_connection_and_keeps_rate_limits(service):
    service.configure("--rate-limit-per-key", "6")
    for _ in range(4):
        r = service.get("/mcp/manifest")
        assert r.status == 200, r
    left_before = int(r.header("x-ratelimit-remaining"))
    assert left_before <= 2, r

    c = service.container
    old_pid = c.main_pid()
    stop, outcomes = threading.Event(), []
    client = threading.Thread(target=hammer, args=(service, stop, outcomes))
    client.start()
    try:
        time.sleep(0.3)
        began = time.monotonic()
        c.sh("systemctl restart mcpd.service")
        ended = time.monotonic()
        time.sleep(0.3)
    finally:
        stop.set()
        client.join(20)
    assert c.main_pid() != old_pid
    assert [o for o in outcomes if o[1] != 200] == [], "connections failed across the restart"
    assert any(began <= t <= ended + 0.1 for t, _ in outcomes), "no request was made during the restart"

    # The buckets came back from the fd store: a reset would show 5 left (6 minus this request).
    r = service.get("/mcp/manifest")
    assert r.status == 200 and int(r.header("x-ratelimit-remaining")) <= left_before, r


def test_reload_applies_the_configuration_without_closing_a_connection(service):
    c = service.container
    def config(tools: list[str]) -> str:
        return json.dumps({"tools": [{"name": name, "tool_type": "curl",
                                      "curl_config": {"value": "curl http://127.0.0.1:9/never"}} for name in tools]})

    c.sh(f"printf %s {shlex.quote(config(['before_reload']))} >/etc/mcpd/config.json")
    service.configure("--config", "/etc/mcpd/config.json")
    pid = c.main_pid()
    with service.conn() as kept:
        names = {t["name"] for t in kept.request("GET", "/mcp/manifest", token=ALPHA).json()["tools"]}
        assert "before_reload" in names, names

        c.sh(f"printf %s {shlex.quote(config(['after_reload']))} >/etc/mcpd/config.json && systemctl reload mcpd.service")

        def reloaded() -> bool:
            names = {t["name"] for t in kept.request("GET", "/mcp/manifest", token=ALPHA).json()["tools"]}
            return "after_reload" in names and "before_reload" not in names
        wait_until(reloaded, 15, message=f"the reloaded configuration on the kept connection{c.journal()}")
    assert c.main_pid() == pid
    shown = c.show("mcpd.service", "ActiveState", "SubState")
    assert (shown["ActiveState"], shown["SubState"]) == ("active", "running"), shown
    assert [e["file"] for e in service.log() if e["msg"] == "configuration reloaded"] == ["/etc/mcpd/config.json"]
    assert service.unexpected_warnings() == []


def test_a_killed_mcpd_is_restarted_with_no_connection_refused_and_no_process_left(service):
    service.configure()
    c = service.container
    old_pid = c.main_pid()
    old_processes = set(c.unit_processes())
    restarts = int(c.show("mcpd.service", "NRestarts")["NRestarts"])
    stop, outcomes = threading.Event(), []
    client = threading.Thread(target=hammer, args=(service, stop, outcomes))
    client.start()
    try:
        time.sleep(0.3)
        c.sh("systemctl kill --signal=SIGKILL --kill-who=main mcpd.service")
        # Restart=on-failure after RestartSec=1: the connections made meanwhile wait in the backlog.
        wait_until(lambda: c.main_pid() not in (0, old_pid), 15, message=f"systemd to restart mcpd{c.journal()}")
        service.wait_serving()
        time.sleep(0.3)
    finally:
        stop.set()
        client.join(20)
    assert int(c.show("mcpd.service", "NRestarts")["NRestarts"]) == restarts + 1
    # The one connection mcpd may have accepted when it was killed dies with it (the client is
    # sequential, so there is at most one); none is refused, and every later one waits and is served.
    failed = [o for o in outcomes if o[1] != 200]
    assert len(failed) <= 1 and not any("Refused" in str(o[1]) for o in failed), failed
    assert max(b[0] - a[0] for a, b in zip(outcomes, outcomes[1:])) >= 0.5, "no request waited for the restart"
    new_pid = c.main_pid()
    now = c.unit_processes()
    assert not (set(now) & old_processes), f"processes of the killed mcpd are still in the unit: {now}"
    assert all(pid == new_pid or ppid == new_pid for pid, ppid in now.items()), now


def test_the_watchdog_restarts_an_mcpd_whose_event_loop_stops(service):
    c = service.container
    # The unit's 30 s, shortened: and the stopped process cannot act on SIGABRT, so systemd's
    # SIGKILL follows after TimeoutAbortSec=.
    c.sh("mkdir -p /etc/systemd/system/mcpd.service.d && printf '[Service]\\nWatchdogSec=1\\nTimeoutAbortSec=1\\n'"
         " >/etc/systemd/system/mcpd.service.d/watchdog-test.conf && systemctl daemon-reload")
    try:
        service.configure()
        assert c.show("mcpd.service", "WatchdogUSec")["WatchdogUSec"] == "1s"
        pid, restarts = c.main_pid(), int(c.show("mcpd.service", "NRestarts")["NRestarts"])
        time.sleep(3)  # mcpd's WATCHDOG=1 pings keep it alive
        assert (c.main_pid(), int(c.show("mcpd.service", "NRestarts")["NRestarts"])) == (pid, restarts), c.journal()

        c.sh(f"kill -STOP {pid}")
        wait_until(lambda: c.main_pid() not in (0, pid), 20, message=f"the watchdog to restart mcpd{c.journal()}")
        service.wait_serving()
        assert "Watchdog timeout" in c.sh("journalctl -u mcpd.service --no-pager -o cat").stdout, c.journal()
        assert all(ppid == c.main_pid() or p == c.main_pid() for p, ppid in c.unit_processes().items())
    finally:
        c.sh("rm /etc/systemd/system/mcpd.service.d/watchdog-test.conf && systemctl daemon-reload")


def test_stop_drains_the_running_call_and_leaves_nothing(service):
    service.configure()
    call_id = service.start_call("countdown", {"seconds": 2})
    streamed = {}
    reader = threading.Thread(target=lambda: streamed.setdefault("events", service.stream(call_id, timeout=30)))
    reader.start()
    service.wait_status(call_id, "running")
    c = service.container
    c.sh("systemctl stop mcpd.service")
    reader.join(30)
    events = streamed.get("events")
    assert events, "the stream ended without events"
    well_formed(events)
    assert final_text(events) == "done", events
    assert c.unit_processes() == {}, "processes left after the stop"
    assert c.sh("systemctl is-active mcpd.socket").stdout.strip() == "active"
    # The socket is still systemd's: the next connection starts mcpd again.
    assert service.get("/healthz", token=None).status == 200
