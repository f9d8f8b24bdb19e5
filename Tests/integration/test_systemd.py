"""systemd integration without systemd: socket activation through `systemd-socket-activate` (and by
hand), the notify protocol on a NOTIFY_SOCKET the test listens on, and no libsystemd linked."""

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BIN_DIR, MCPD, HttpConnection, free_port, wait_until


class NotifyListener:
    """An AF_UNIX datagram socket standing in for systemd's notify socket."""

    def __init__(self, path: Path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.messages: list[tuple[float, str]] = []

    def close(self):
        self.sock.close()

    def _drain(self, timeout: float) -> bool:
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        self.messages.append((time.monotonic(), data.decode("utf-8", "replace")))
        return True

    def lines(self) -> list[str]:
        return [line for _, m in self.messages for line in m.split("\n") if line]

    def wait_line(self, prefix: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for _, msg in self.messages[seen:]:
                for line in msg.split("\n"):
                    if line.startswith(prefix):
                        return line
            seen = len(self.messages)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {prefix!r} on NOTIFY_SOCKET within {timeout}s; got {self.messages}")
            self._drain(remaining)

    def index_of(self, prefix: str) -> int:
        for i, (_, msg) in enumerate(self.messages):
            if any(line.startswith(prefix) for line in msg.split("\n")):
                return i
        return -1


@pytest.fixture
def notify(tmp_path):
    listener = NotifyListener(tmp_path / "notify.sock")
    yield listener
    listener.close()


ACTIVATE = shutil.which("systemd-socket-activate")


def connect_or_none(port):
    try:
        return HttpConnection("127.0.0.1", port, timeout=15)
    except ConnectionRefusedError:
        return None


@pytest.mark.skipif(ACTIVATE is None, reason="systemd-socket-activate not installed")
def test_socket_activation_with_ready_and_stopping(mcpd_factory, notify):
    port, ignored = free_port(), free_port()
    m = mcpd_factory("--listen", f"127.0.0.1:{ignored}", "--workers-min", "2",
                     wrapper=[ACTIVATE, "-l", f"127.0.0.1:{port}", "-E", f"NOTIFY_SOCKET={notify.path}"],
                     port=port, default_listen=False, wait=False)
    # systemd-socket-activate listens itself and execs mcpd on the first connection attempt.
    first = wait_until(lambda: connect_or_none(port), 5, message="systemd-socket-activate to listen")
    with first:
        first.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        r = first.read_response(timeout=15)
        assert r.status == 200 and r.json() == {"status": "ok"}, r
    assert os.path.realpath(f"/proc/{m.pid}/exe") == os.path.realpath(MCPD)
    ready = notify.wait_line("READY=1", 15)
    assert ready == "READY=1"
    notify.wait_line("STATUS=", 5)
    # READY=1 means listening with the pool's minimum up.
    r = m.readyz()
    assert r.status == 200, r
    assert r.json()["workers"]["total"] >= 2
    m.remember_children()
    # Served on the inherited socket; the --listen address is ignored under socket activation.
    events = m.run("echo", {"message": "activated"})
    assert events[-1].data["text"] == "activated"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", ignored), timeout=1).close()
    assert m.stop() == 0
    notify.wait_line("STOPPING=1", 2)
    assert notify.index_of("READY=1") < notify.index_of("STOPPING=1")


def test_listen_fds_passed_by_hand(mcpd_factory):
    ignored = free_port()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    # bash moves the socket from stdin to fd 3 and execs mcpd with LISTEN_PID set to its own pid.
    wrapper = ["bash", "-c", 'exec 3<&0 0</dev/null; export LISTEN_FDS=1 LISTEN_PID=$$; exec "$@"', "bash"]
    try:
        m = mcpd_factory("--listen", f"127.0.0.1:{ignored}", wrapper=wrapper, stdin=listener.fileno(),
                         port=port, default_listen=False)
    finally:
        listener.close()   # mcpd holds its own copy now
    assert m.run("echo", {"message": "by hand"})[-1].data["text"] == "by hand"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", ignored), timeout=1).close()


def test_listen_fds_for_another_pid_are_ignored(mcpd_factory):
    """LISTEN_PID names another process: the sockets are not ours, so --listen applies."""
    m = mcpd_factory(env={"LISTEN_FDS": "1", "LISTEN_PID": "1"})
    assert m.run("echo", {"message": "own listener"})[-1].data["text"] == "own listener"


def test_notify_ready_status_and_stopping_without_activation(mcpd_factory, notify):
    m = mcpd_factory("--workers-min", "2", env={"NOTIFY_SOCKET": str(notify.path)})
    notify.wait_line("READY=1", 5)
    status = notify.wait_line("STATUS=", 5)
    assert len(status) > len("STATUS="), "STATUS= should carry live counts"
    assert m.stop() == 0
    notify.wait_line("STOPPING=1", 2)


def test_watchdog_pings_when_watchdog_usec_is_set(mcpd_factory, notify):
    m = mcpd_factory(env={"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "600000"})
    notify.wait_line("READY=1", 5)
    start = time.monotonic()
    deadline = start + 2.5
    while time.monotonic() < deadline:
        notify._drain(deadline - time.monotonic())
    pings = [t for t, msg in notify.messages if "WATCHDOG=1" in msg.split("\n") and t >= start]
    assert len(pings) >= 3, f"WATCHDOG_USEC=600000 needs a ping at least every 0.6s; got {notify.messages}"
    gaps = [b - a for a, b in zip(pings, pings[1:])]
    assert max(gaps) < 0.6, f"watchdog gaps {gaps}"
    m.stop()


def test_no_watchdog_pings_without_watchdog_usec(mcpd_factory, notify):
    mcpd_factory(env={"NOTIFY_SOCKET": str(notify.path)})
    notify.wait_line("READY=1", 5)
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        notify._drain(deadline - time.monotonic())
    assert "WATCHDOG=1" not in notify.lines()


@pytest.mark.parametrize("name", ["mcpd", "mcp-worker", "mcpctl"])
def test_no_libsystemd_linked(name):
    path = BIN_DIR / name
    assert path.exists(), path
    out = subprocess.run(["ldd", str(path)], capture_output=True, text=True)
    text = out.stdout + out.stderr
    assert "libsystemd" not in text and "liblzma" not in text, text
