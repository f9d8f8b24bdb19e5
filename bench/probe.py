"""Measurements of bench/run.sh that wrk cannot take: memory of a process tree, readiness,
worker spawn time, cancel_all latency and idle SSE streams. Standard library only; every
subcommand prints one line of `key=value` pairs (run.sh reads them) and explains itself on stderr.

    probe.py rss-tree PID OUT           sample the summed VmRSS of PID and its descendants every
                                        100 ms until SIGTERM, then write the peak (kB) to OUT
    probe.py ready-time RUNS -- CMD...  exec CMD with NOTIFY_SOCKET on a datagram socket we listen
                                        on; milliseconds from just before exec to READY=1 (median)
    probe.py spawn-time TABLE SAMPLES   SIGKILL an idle mcp-worker of the call table at TABLE and
                                        time its replacement from spawn to ready, from the table
    probe.py cancel-all HOST PORT TOKEN CALLS
                                        start CALLS long countdown calls, stream every one, then
                                        time POST /mcp/cancel_all until the last `cancelled` event
    probe.py sse-idle HOST PORT TOKEN STREAMS PID
                                        open STREAMS idle GET /sse streams; supervisor PID's VmRSS
                                        before and with them open
"""

from __future__ import annotations

import asyncio
import http.client
import json
import mmap
import os
import resource
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time


def say(text: str) -> None:
    print(f"probe: {text}", file=sys.stderr, flush=True)


def status_kb(pid: int, field: str) -> int:
    """A `kB` field of /proc/PID/status (VmRSS, VmHWM), 0 when the process is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def process_tree(root: int) -> list[int]:
    """ROOT and every live descendant, from the parent pids in /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields start after the last ')'.
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


# ---------------------------------------------------------------------------------------------
# rss-tree
# ---------------------------------------------------------------------------------------------

def rss_tree(root: int, out: str) -> None:
    peak = peak_processes = 0
    stop = False

    def finish(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)
    while not stop:
        tree = process_tree(root)
        total = sum(status_kb(pid, "VmRSS") for pid in tree)
        if total > peak:
            peak, peak_processes = total, len(tree)
        time.sleep(0.1)
    with open(out, "w", encoding="ascii") as f:
        f.write(f"peak_kb={peak} processes={peak_processes}\n")


# ---------------------------------------------------------------------------------------------
# ready-time
# ---------------------------------------------------------------------------------------------

def ready_time(runs: int, command: list[str]) -> None:
    figures = []
    for run in range(runs):
        with tempfile.TemporaryDirectory(prefix="mcpd-bench-notify.") as tmp:
            path = os.path.join(tmp, "notify")
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(path)
            env = dict(os.environ, NOTIFY_SOCKET=path)
            started = time.monotonic()
            proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            ready_at = None
            deadline = started + 30
            try:
                while ready_at is None and time.monotonic() < deadline:
                    sock.settimeout(max(0.01, deadline - time.monotonic()))
                    try:
                        message = sock.recv(4096).decode("utf-8", "replace")
                    except socket.timeout:
                        break
                    if "READY=1" in message.split("\n"):
                        ready_at = time.monotonic()
            finally:
                proc.send_signal(signal.SIGTERM)
                try:
                    _, err = proc.communicate(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    _, err = proc.communicate()
                sock.close()
            if ready_at is None:
                say(f"no READY=1 within 30 s; mcpd said: {err.decode(errors='replace')[-2000:]}")
                sys.exit(1)
            figures.append((ready_at - started) * 1000)
            say(f"run {run + 1}: READY=1 {figures[-1]:.1f} ms after exec")
    print(f"ready_ms={statistics.median(figures):.1f} runs={runs} "
          f"min_ms={min(figures):.1f} max_ms={max(figures):.1f}")


# ---------------------------------------------------------------------------------------------
# spawn-time: the call table's worker slots (Sources/CallTable/Layout.swift, layout version 1)
# ---------------------------------------------------------------------------------------------

TABLE_MAGIC = 0x3154_424C_4450_434D
WORKER_IDLE, WORKER_BUSY = 2, 3


class WorkerSlots:
    def __init__(self, path: str):
        with open(path, "rb") as f:
            self.map = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
        magic, version = struct.unpack_from("<QI", self.map, 0)
        if magic != TABLE_MAGIC or version != 1:
            raise SystemExit(f"probe: {path} is not a layout-1 call table")
        self.count, self.size = struct.unpack_from("<II", self.map, 24)
        self.offset = struct.unpack_from("<Q", self.map, 48)[0]

    def workers(self) -> list[tuple[int, int, int]]:
        """(pid, state, spawned at ms) of every slot that holds a spawned worker."""
        found = []
        for i in range(self.count):
            base = self.offset + i * self.size
            pid, state = struct.unpack_from("<II", self.map, base)
            if pid and state:
                found.append((pid, state, struct.unpack_from("<Q", self.map, base + 32)[0]))
        return found


def spawn_time(table: str, samples: int) -> None:
    slots = WorkerSlots(table)
    figures, worker_rss = [], []
    for sample in range(samples):
        deadline = time.monotonic() + 20
        victim = None
        while victim is None and time.monotonic() < deadline:
            idle = [pid for pid, state, _ in slots.workers() if state == WORKER_IDLE]
            if idle:
                victim = idle[0]
            else:
                time.sleep(0.05)
        if victim is None:
            raise SystemExit("probe: no idle worker in the call table within 20 s")
        worker_rss.append(status_kb(victim, "VmRSS"))
        before = {pid for pid, _, _ in slots.workers()}
        os.kill(victim, signal.SIGKILL)  # a worker of the mcpd this benchmark started
        newcomer, spawned_ms = None, 0
        while time.monotonic() < deadline:
            for pid, state, spawned in slots.workers():
                if pid not in before:
                    newcomer, spawned_ms = pid, spawned
                    if state in (WORKER_IDLE, WORKER_BUSY):
                        figures.append(time.time() * 1000 - spawned_ms)
                        break
            else:
                time.sleep(0.0002)
                continue
            break
        else:
            raise SystemExit(f"probe: no replacement worker got ready within 20 s (newcomer {newcomer})")
        say(f"sample {sample + 1}: worker {newcomer} ready {figures[-1]:.1f} ms after its spawn")
        time.sleep(1.2)  # past the pool's crash back-off, and lets the machine settle
    print(f"spawn_ms={statistics.median(figures):.1f} samples={samples} min_ms={min(figures):.1f} "
          f"max_ms={max(figures):.1f} worker_rss_kb={int(statistics.median(worker_rss))}")


# ---------------------------------------------------------------------------------------------
# cancel-all
# ---------------------------------------------------------------------------------------------

def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def open_stream(host: str, port: int, request: bytes):
    """A connection that sent REQUEST and read an answer's head; (reader, writer, head bytes)."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    return reader, writer, head


def cancel_all(host: str, port: int, token: str, calls: int) -> None:
    raise_fd_limit()
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn = http.client.HTTPConnection(host, port, timeout=30)
    call_ids = []
    body = json.dumps({"tool": "countdown", "input": {"seconds": 600}})
    for _ in range(calls):
        conn.request("POST", "/mcp/execute", body, auth)
        answer = conn.getresponse()
        data = answer.read()
        if answer.status != 200:
            raise SystemExit(f"probe: execute answered {answer.status}: {data[:300]!r}")
        call_ids.append(json.loads(data)["call_id"])
    say(f"{calls} countdown calls started")

    async def run():
        streams = await asyncio.gather(*(
            open_stream(host, port, (f"GET /mcp/stream/{cid} HTTP/1.1\r\nHost: {host}\r\n"
                                     f"Authorization: Bearer {token}\r\n\r\n").encode())
            for cid in call_ids))
        bad = [head[:80] for _, _, head in streams if not head.startswith(b"HTTP/1.1 200")]
        if bad:
            raise SystemExit(f"probe: {len(bad)} streams not opened, e.g. {bad[0]!r}")
        await asyncio.sleep(0.5)  # every stream subscribed, the running calls' first partials out
        say(f"{calls} streams open; POST /mcp/cancel_all")
        ended: list[tuple[float, bool]] = []

        async def until_terminal(reader):
            seen = b""
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    ended.append((time.monotonic(), False))
                    return
                seen = seen[-64:] + chunk
                if b"event: cancelled" in seen:
                    ended.append((time.monotonic(), True))
                    return
                if b"event: final" in seen or b"event: error" in seen:
                    ended.append((time.monotonic(), False))
                    return

        watchers = [asyncio.create_task(until_terminal(r)) for r, _, _ in streams]
        started = time.monotonic()
        reader, writer = await asyncio.open_connection(host, port)
        writer.write((f"POST /mcp/cancel_all HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
                      "Content-Length: 0\r\n\r\n").encode())
        head = await reader.readuntil(b"\r\n\r\n")
        answered = time.monotonic()
        if not head.startswith(b"HTTP/1.1 200"):
            raise SystemExit(f"probe: cancel_all answered {head[:80]!r}")
        await asyncio.wait_for(asyncio.gather(*watchers), timeout=60)
        writer.close()
        for _, w, _ in streams:
            w.close()
        cancelled = sum(1 for _, ok in ended if ok)
        last = max(t for t, _ in ended)
        print(f"cancel_all_ms={(last - started) * 1000:.1f} answer_ms={(answered - started) * 1000:.1f} "
              f"calls={calls} cancelled_events={cancelled}")

    asyncio.run(run())


# ---------------------------------------------------------------------------------------------
# sse-idle
# ---------------------------------------------------------------------------------------------

def sse_idle(host: str, port: int, token: str, count: int, pid: int) -> None:
    raise_fd_limit()
    idle_kb = status_kb(pid, "VmRSS")
    request = (f"GET /sse HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
               "Accept: text/event-stream\r\n\r\n").encode()

    async def run():
        gate = asyncio.Semaphore(200)  # connects in flight at once: stays within the listen backlog

        async def one():
            async with gate:
                try:
                    reader, writer, head = await asyncio.wait_for(open_stream(host, port, request), 30)
                except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as exc:
                    return None, repr(exc)
                if not head.startswith(b"HTTP/1.1 200"):
                    writer.close()
                    return None, head[:60].decode(errors="replace")
                return writer, None

        results = await asyncio.gather(*(one() for _ in range(count)))
        writers = [w for w, _ in results if w is not None]
        failures = [e for w, e in results if w is None]
        if failures:
            say(f"{len(failures)} of {count} streams not opened, e.g. {failures[0]}")
        await asyncio.sleep(2)  # let the supervisor settle with every stream open
        open_kb, hwm_kb = status_kb(pid, "VmRSS"), status_kb(pid, "VmHWM")
        print(f"idle_rss_kb={idle_kb} streams={len(writers)} streams_rss_kb={open_kb} streams_hwm_kb={hwm_kb}")
        for w in writers:
            w.close()

    asyncio.run(run())


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise SystemExit(__doc__)
    command, args = argv[1], argv[2:]
    if command == "rss-tree" and len(args) == 2:
        rss_tree(int(args[0]), args[1])
    elif command == "ready-time" and len(args) >= 3 and args[1] == "--":
        ready_time(int(args[0]), args[2:])
    elif command == "spawn-time" and len(args) == 2:
        spawn_time(args[0], int(args[1]))
    elif command == "cancel-all" and len(args) == 4:
        cancel_all(args[0], int(args[1]), args[2], int(args[3]))
    elif command == "sse-idle" and len(args) == 5:
        sse_idle(args[0], int(args[1]), args[2], int(args[3]), int(args[4]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
