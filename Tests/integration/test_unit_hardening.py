"""systemd/mcpd.service's hardening (issue 5, "The unit"): exposure at or below 2.0 by
`systemd-analyze security`, and the settings that keep the workers' sandbox possible.

These checks need no running systemd: the unit is judged offline (test_systemd_unit.py runs it under
a real one), and the one claim that matters most — a worker can still make an unprivileged user + pid namespace with a fresh /proc
under the unit's /proc, /dev and /sys — is checked by recreating those mounts by hand (as root, in
a private mount namespace) and running what a strict worker does (`unshare -Urpmnif --mount-proc`)
as an unprivileged user. A negative control proves the check can fail: with a read-only
/proc/sys bind (what ProtectKernelTunables= does without ProcSubset=pid) the kernel refuses.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "mcpd.service"


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "[")):
            continue
        key, _, value = line.partition("=")
        settings.setdefault(key, []).append(value)
    return settings


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed (make deps)")
def test_systemd_analyze_rates_the_unit_at_most_2_0():
    done = subprocess.run(["bash", str(ROOT / ".ci" / "unit-security.sh")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "unit-security: ok" in done.stdout, done.stdout


def test_the_unit_keeps_what_the_sandbox_needs():
    s = unit_settings()
    assert s["Delegate"] == ["yes"], s.get("Delegate")
    allowed = " ".join(v for v in s["SystemCallFilter"] if not v.startswith("~")).split()
    for needed in ("@system-service", "@mount", "seccomp", "landlock_create_ruleset", "landlock_add_rule",
                   "landlock_restrict_self"):
        assert needed in allowed, (needed, allowed)
    assert set("user pid net mnt ipc".split()) <= set(" ".join(s["RestrictNamespaces"]).split())
    # Each of these would break the sandbox (see the unit's comments).
    for breaking in ("ProtectControlGroups", "MemoryDenyWriteExecute", "PrivateNetwork"):
        assert breaking not in s or s[breaking] == ["no"], breaking
    # ProtectKernelTunables=/ProtectKernelLogs= over-mount /proc unless /proc is subset=pid.
    if s.get("ProtectKernelTunables") == ["yes"] or s.get("ProtectKernelLogs") == ["yes"]:
        assert s.get("ProcSubset") == ["pid"], "ProtectKernel{Tunables,Logs}= need ProcSubset=pid"
    assert "AF_UNIX" in s["RestrictAddressFamilies"][0] and "AF_INET" in s["RestrictAddressFamilies"][0]
    assert s["CapabilityBoundingSet"] == [""] and s["NoNewPrivileges"] == ["yes"]


def nested_fresh_proc(setup: str) -> subprocess.CompletedProcess:
    """As root in a private mount namespace: `setup`, then as nobody a user+pid+mount+net+ipc+uts
    namespace that mounts a fresh /proc and reads /proc/meminfo from it."""
    worker = ("unshare -Urpmnif --mount-proc sh -c "
              "'test -r /proc/meminfo && test -d /proc/sys && echo fresh-proc-ok'")
    script = f"set -e; {setup}; setpriv --reuid=65534 --regid=65534 --clear-groups {worker}"
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                          capture_output=True, text=True, timeout=60)


def namespaces_usable() -> str | None:
    if os.geteuid() != 0:
        return "needs root to recreate the unit's mounts"
    for tool in ("unshare", "setpriv"):
        if shutil.which(tool) is None:
            return f"{tool} not installed"
    baseline = nested_fresh_proc("true")
    if "fresh-proc-ok" not in baseline.stdout:
        return f"unprivileged user namespaces are not available here: {baseline.stderr.strip()}"
    return None


@pytest.fixture(scope="module")
def namespaces():
    why = namespaces_usable()
    if why:
        pytest.skip(why)


# ProtectProc=invisible + ProcSubset=pid (a new procfs on /proc), ProtectKernelTunables= (/sys
# read-only; its /proc/sys etc. binds are skipped because subset=pid has no such files),
# ProtectKernelLogs= (/proc/kmsg absent too), PrivateDevices= (a tmpfs /dev).
UNIT_VIEW = ("mount -t proc -o hidepid=invisible,subset=pid proc /proc; "
             "test ! -e /proc/sys; test ! -e /proc/kmsg; "
             "mount --bind /sys /sys; mount -o remount,bind,ro /sys; "
             "mount -t tmpfs -o mode=755 tmpfs /dev; touch /dev/null")


def test_a_worker_gets_a_fresh_proc_under_the_units_mounts(namespaces):
    done = nested_fresh_proc(UNIT_VIEW)
    assert "fresh-proc-ok" in done.stdout, done.stdout + done.stderr


def test_negative_control_a_read_only_proc_sys_bind_breaks_it(namespaces):
    done = nested_fresh_proc("mount --bind /proc/sys /proc/sys; mount -o remount,bind,ro /proc/sys")
    assert "fresh-proc-ok" not in done.stdout, done.stdout
    assert "not permitted" in done.stderr.lower(), done.stderr
