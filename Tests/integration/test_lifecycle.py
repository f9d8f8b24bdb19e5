"""mcpd's life: start-up options (tokens, listeners, the dev-token guard), SIGTERM/SIGINT drain,
and SIGKILL of mcpd itself taking every worker with it."""

import os
import signal
import subprocess
import time

import pytest

from conftest import (ALPHA, MCPD, ConnectionClosed, HttpConnection, assert_error, clean_env,
                      ctl_find_call, free_port, process_running, wait_until)

DEV_TOKEN = "super-secret-token"


def run_mcpd_expect_exit(args, env=None, timeout=10.0):
    try:
        proc = subprocess.run([str(MCPD), *map(str, args)], capture_output=True, text=True,
                              timeout=timeout, env=clean_env(env), stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"mcpd {args} kept running; expected it to exit ({exc})")
    return proc.returncode, proc.stdout, proc.stderr


# --- command line ----------------------------------------------------------------------------

def test_help_and_version_exit_zero():
    rc, out, err = run_mcpd_expect_exit(["--help"])
    assert rc == 0, err
    text = out + err
    for flag in ("--listen", "--token", "--workers-min", "--max-body", "--runtime-dir", "--drain-timeout"):
        assert flag in text, f"--help does not mention {flag}"
    rc, out, err = run_mcpd_expect_exit(["--version"])
    assert rc == 0 and (out + err).strip(), (rc, out, err)


def test_unknown_option_is_refused(tmp_path):
    rc, out, err = run_mcpd_expect_exit(["--no-such-option", "--runtime-dir", tmp_path])
    assert rc != 0
    assert "no-such-option" in (out + err)


# --- tokens and listeners --------------------------------------------------------------------

def owner_of(m, call_id) -> str:
    entry = ctl_find_call(m.ctl_status(), call_id)
    assert entry is not None, f"{call_id} not in mcpctl status"
    return entry["owner"]


def long_call(m, token):
    call_id = m.start_call("countdown", {"seconds": 30}, token=token)
    m.wait_status(call_id, "running", token=token, timeout=3)
    return call_id


def test_owners_of_token_flags(mcpd):
    a, b = long_call(mcpd, ALPHA), long_call(mcpd, "beta-token")
    assert owner_of(mcpd, a) == "token-1"
    assert owner_of(mcpd, b) == "token-2"
    mcpd.cancel_all(ALPHA)
    mcpd.cancel_all("beta-token")


def test_dev_token_on_loopback(mcpd_factory):
    m = mcpd_factory(tokens=())
    assert m.get("/mcp/manifest", token=DEV_TOKEN).status == 200
    assert_error(m.get("/mcp/manifest", token=ALPHA), 403, "AUTHZ_ERROR")
    call_id = long_call(m, DEV_TOKEN)
    assert owner_of(m, call_id) == "dev"
    m.cancel(call_id, token=DEV_TOKEN)


@pytest.mark.parametrize("extra_listen", [False, True], ids=["only-any", "loopback-plus-any"])
def test_dev_token_refused_on_non_loopback_listener(tmp_path, extra_listen):
    args = []
    if extra_listen:
        args += ["--listen", f"127.0.0.1:{free_port()}"]
    args += ["--listen", f"0.0.0.0:{free_port()}", "--runtime-dir", tmp_path]
    rc, out, err = run_mcpd_expect_exit(args)
    assert rc == 2, f"expected exit 2, got {rc}: {out}{err}"
    text = (out + err).lower()
    assert "super-secret-token" in text or "dev token" in text, f"message does not name the dev token: {out}{err}"


def test_configured_token_allows_non_loopback_listener(mcpd_factory):
    port = free_port()
    m = mcpd_factory("--listen", f"0.0.0.0:{port}", port=port, default_listen=False)
    assert m.get("/healthz", token=None).status == 200


def test_tokens_file(mcpd_factory, tmp_path):
    path = tmp_path / "tokens"
    path.write_text("# operators\nops ops-secret\n\nplain-secret\n   # indented comment\n")
    m = mcpd_factory("--tokens-file", path, tokens=())
    assert m.get("/mcp/manifest", token="ops-secret").status == 200
    assert m.get("/mcp/manifest", token="plain-secret").status == 200
    assert_error(m.get("/mcp/manifest", token="ops"), 403, "AUTHZ_ERROR")
    assert_error(m.get("/mcp/manifest", token="#"), 403, "AUTHZ_ERROR")
    assert_error(m.get("/mcp/manifest", token=DEV_TOKEN), 403, "AUTHZ_ERROR")
    call_id = long_call(m, "ops-secret")
    assert owner_of(m, call_id) == "ops"
    m.cancel(call_id, token="ops-secret")


def test_tokens_from_environment(mcpd_factory):
    m = mcpd_factory(tokens=(), env={"MCPD_TOKENS": "env-a,env-b"})
    a, b = long_call(m, "env-a"), long_call(m, "env-b")
    assert owner_of(m, a) == "env-1"
    assert owner_of(m, b) == "env-2"
    assert_error(m.get("/mcp/manifest", token=DEV_TOKEN), 403, "AUTHZ_ERROR")
    m.cancel_all("env-a")
    m.cancel_all("env-b")


def test_several_listeners(mcpd_factory):
    second = free_port()
    m = mcpd_factory("--listen", f"127.0.0.1:{second}")
    for port in (m.port, second):
        with HttpConnection("127.0.0.1", port) as c:
            assert c.request("GET", "/healthz").json() == {"status": "ok"}


# --- SIGTERM / SIGINT ------------------------------------------------------------------------

def probe_while_draining(port: int) -> None:
    """A new connection is refused, unanswered, or answered 503 draining; never served normally."""
    try:
        c = HttpConnection("127.0.0.1", port, timeout=1.0)
    except OSError:
        return  # listener closed: not accepting
    with c:
        try:
            r = c.request("GET", "/readyz", timeout=1.0)
        except (ConnectionClosed, OSError):
            return
        assert r.status == 503, f"readyz while draining: {r!r}"
        body = r.json()
        assert body["status"] == "draining" and isinstance(body.get("reason"), str), body


def test_sigterm_lets_an_in_flight_call_finish(mcpd_factory):
    m = mcpd_factory("--drain-timeout", "10")
    call_id = m.start_call("countdown", {"seconds": 2})
    keep = m.conn()
    assert keep.request("GET", "/healthz").status == 200
    with m.conn() as c:
        _, sse = c.open_stream(call_id)
        assert sse.next_event(5).data["text"] == "2"
        m.send_signal(signal.SIGTERM)
        probe_while_draining(m.port)
        # An idle keep-alive connection may be closed; if it is still served, nothing new starts.
        try:
            r = keep.request("POST", "/mcp/execute", headers={"Content-Type": "application/json"},
                             body=b'{"tool":"echo","input":{"message":"late"}}', token=ALPHA, timeout=2)
            assert_error(r, 503, "UNAVAILABLE")
        except (ConnectionClosed, OSError):
            pass
        finally:
            keep.close()
        events = sse.read_until_terminal(10)
    assert [e.data["text"] for e in events] == ["2", "1", "done"]
    started = time.monotonic()
    assert m.stop(send=False, timeout=10) == 0
    assert time.monotonic() - started < 5, "mcpd lingered after its last call ended"


def test_a_connection_accepted_before_sigterm_gets_its_first_request_answered(mcpd_factory):
    """A client that connected just before the drain began is about to send its request: mcpd waits
    for it (a second at most) and answers it with Connection: close, instead of closing the new
    connection under it (a reset). A keep-alive connection that already had its answer is closed."""
    m = mcpd_factory()
    with m.conn() as fresh, m.conn() as used:
        assert used.request("GET", "/healthz").status == 200
        time.sleep(0.2)  # both accepted by now
        m.send_signal(signal.SIGTERM)
        time.sleep(0.2)  # the drain has begun
        r = fresh.request("GET", "/healthz", timeout=5)
        assert r.status == 200 and r.json() == {"status": "ok"}, r
        assert (r.header("connection") or "").lower() == "close", r
        assert fresh.wait_closed(5)
        assert used.wait_closed(5), "an idle keep-alive connection was kept open through the drain"
    assert m.stop(send=False, timeout=10) == 0


def test_drain_timeout_cancels_the_rest_with_reason_shutdown(mcpd_factory):
    m = mcpd_factory("--drain-timeout", "1", "--workers-min", "1", "--workers-max", "1")
    running = m.start_call("countdown", {"seconds": 30})
    m.wait_status(running, "running", timeout=3)
    queued = m.start_call("countdown", {"seconds": 30})
    with m.conn() as c1, m.conn() as c2:
        _, s1 = c1.open_stream(running)
        _, s2 = c2.open_stream(queued)
        assert s1.next_event(5).event == "partial"
        sent = time.monotonic()
        m.send_signal(signal.SIGTERM)
        e1 = s1.read_until_terminal(8)
        e2 = s2.read_until_terminal(8)
    for events in (e1, e2):
        assert events[-1].event == "cancelled", events
        assert events[-1].data["reason"] == "shutdown", events[-1]
    assert [e.event for e in e2] == ["cancelled"]
    assert m.stop(send=False, timeout=10) == 0
    elapsed = time.monotonic() - sent
    assert elapsed < 5, f"exit {elapsed:.2f}s after SIGTERM with --drain-timeout 1"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_idle_shutdown_is_prompt_and_clean(mcpd_factory, sig):
    m = mcpd_factory("--workers-min", "3", "--workers-max", "3")
    workers = wait_until(lambda: len(m.worker_children()) == 3 and m.worker_children(), 5,
                         message="three workers")
    started = time.monotonic()
    assert m.stop(sig=sig, timeout=10) == 0
    assert time.monotonic() - started < 3
    assert not any(process_running(w) for w in workers)


# --- SIGKILL of mcpd -------------------------------------------------------------------------

def test_sigkill_of_mcpd_takes_every_worker_down(mcpd_factory):
    m = mcpd_factory("--workers-min", "3", "--workers-max", "3")
    call_id = m.start_call("countdown", {"seconds": 30})
    m.wait_status(call_id, "running", timeout=3)
    workers = wait_until(lambda: len(m.worker_children()) == 3 and m.worker_children(), 5,
                         message="three workers")
    m.expect_exit = None
    m.zombies_are_leaks = False
    os.kill(m.pid, signal.SIGKILL)
    killed = time.monotonic()
    assert m.proc.wait(5) == -signal.SIGKILL
    wait_until(lambda: not any(process_running(w) for w in workers), 2.0, interval=0.02,
               message="every worker to die with mcpd")
    assert time.monotonic() - killed <= 2.0
    m.stop(send=False)


def test_restart_on_the_same_runtime_dir_after_sigkill(mcpd_factory):
    first = mcpd_factory()
    first.start_call("countdown", {"seconds": 30})
    first.expect_exit = None
    first.zombies_are_leaks = False
    os.kill(first.pid, signal.SIGKILL)
    first.proc.wait(5)
    first.stop(send=False)
    second = mcpd_factory(runtime_dir=first.runtime_dir)
    assert second.run("echo", {"message": "again"})[-1].data["text"] == "again"
    rc, out, err = second.mcpctl("health")
    assert rc == 0, out + err


def test_port_in_use_fails_start(mcpd, tmp_path):
    rc, out, err = run_mcpd_expect_exit(["--listen", f"127.0.0.1:{mcpd.port}", "--token", "t",
                                         "--runtime-dir", tmp_path / "other"])
    assert rc != 0
    assert out + err
    assert mcpd.get("/healthz", token=None).status == 200
