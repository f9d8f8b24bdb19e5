#!/usr/bin/env python3
"""The spawn cost of each sandbox level, two ways (numbers go in the issue report, not CI):

1. the bare layers: `mcp-worker --exec-stdio --sandbox LEVEL -- /bin/true`, spawn to exit, beside
   /bin/true alone (what the shim and the kernel's namespace, mount and filter setup cost);
2. a pool's worker from spawn to its `ready` message, read from mcpd's debug log
   ("worker ready" ... spawn_to_ready_ms) for the built-in pool at each `--sandbox` level.

    python3 bench/sandbox_spawn.py [BIN_DIR]       (default .build/release, else .build/debug)

Run it as the user mcpd runs as; strict needs user namespaces (unprivileged ones if not root).
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def bin_dir() -> Path:
    if len(sys.argv) > 1:
        return Path(sys.argv[1])
    release = ROOT / ".build" / "release"
    return release if (release / "mcpd").exists() else ROOT / ".build" / "debug"


def summary(samples: list[float]) -> str:
    samples = sorted(samples)
    return (f"median {statistics.median(samples):6.2f} ms   p90 {samples[int(len(samples) * 0.9)]:6.2f} ms"
            f"   (n={len(samples)})")


def time_runs(argv: list[str], runs: int = 50) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, check=True)
        out.append((time.perf_counter() - started) * 1000)
    return out


def bare_layers(worker: Path) -> None:
    print("spawn to exit, /bin/true")
    print(f"  directly               {summary(time_runs(['/bin/true']))}")
    for level in ("none", "process", "strict"):
        argv = [str(worker), "--exec-stdio", "--supervisor-pid", str(os.getpid()),
                "--sandbox", json.dumps({"level": level}), "--", "/bin/true", "true"]
        print(f"  through the shim {level:8}{summary(time_runs(argv))}")


def pool_ready(mcpd: Path, workers: int = 4, rounds: int = 3) -> None:
    print(f"built-in pool, spawn to ready ({workers} workers started together, {rounds} rounds)")
    for level in ("none", "process", "strict", "per-call"):
        samples: list[float] = []
        for _ in range(rounds):
            with tempfile.TemporaryDirectory() as work:
                proc = subprocess.Popen([str(mcpd), "--listen", "127.0.0.1:0", "--runtime-dir", work,
                                         "--state-dir", f"{work}/state", "--token", "bench", "--log-level", "debug",
                                         "--sandbox", level, "--workers-min", str(workers), "--workers-max", str(workers)],
                                        stderr=subprocess.PIPE, text=True)
                time.sleep(2)
                proc.send_signal(signal.SIGTERM)
                _, err = proc.communicate(timeout=30)
            for line in err.splitlines():
                if '"worker ready"' in line:
                    samples.append(float(json.loads(line)["spawn_to_ready_ms"]))
        print(f"  --sandbox {level:9}    {summary(samples)}")


if __name__ == "__main__":
    directory = bin_dir()
    print(f"binaries: {directory}")
    bare_layers(directory / "mcp-worker")
    pool_ready(directory / "mcpd")
