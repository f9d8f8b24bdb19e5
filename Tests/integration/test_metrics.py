"""GET /metrics (issue 6): the Prometheus text format, for owners and admins only; calls counted by
tool, surface and outcome as they happen, latency histograms that add up, and gauges that agree
with the call table (mcpctl) and the live server."""

from __future__ import annotations

import re
import sys
import threading
from pathlib import Path

import pytest

from conftest import assert_error, ctl_workers, wait_until
from mcp_http import stateless_body, stateless_post
from toolhost import ROLE_TOKENS, composer_call, composer_ok, role_tokens_file, write_json

OWNER = ROLE_TOKENS["owner"]
HOSTILE = str(Path(__file__).parent / "fixtures" / "hostile_stdio_server.py")
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(m, token=OWNER) -> dict:
    """{family: {"type", "help", "samples": [(name, {labels}, value)]}}, checking the format."""
    r = m.get("/metrics", token=token)
    assert r.status == 200, r
    assert r.header("content-type").startswith("text/plain; version=0.0.4"), r
    families: dict = {}
    current = None
    for line in r.body.decode().splitlines():
        if line.startswith("# HELP "):
            name, help_text = line[7:].split(" ", 1)
            assert name not in families, f"family {name} twice"
            families[name] = {"help": help_text, "type": None, "samples": []}
            current = name
        elif line.startswith("# TYPE "):
            name, kind = line[7:].split(" ")
            assert name == current and kind in ("counter", "gauge", "histogram"), line
            families[name]["type"] = kind
        else:
            match = SAMPLE.match(line)
            assert match, f"not a sample line: {line!r}"
            name, _, labels, value = match.groups()
            assert current and name.startswith(current), f"{name} outside its family {current}"
            families[current]["samples"].append((name, dict(LABEL.findall(labels or "")), float(value)))
    return families


def value(families, name, **labels) -> float:
    family = name
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] in families:
            family = name[: -len(suffix)]
    for sample_name, sample_labels, v in families.get(family, {}).get("samples", []):
        if sample_name == name and all(sample_labels.get(k) == w for k, w in labels.items()):
            return v
    return 0.0


@pytest.fixture
def roles_mcpd(mcpd_factory, tmp_path):
    return mcpd_factory("--tokens-file", role_tokens_file(tmp_path / "tokens"),
                        "--workers-min", "2", "--tool-deadline", "countdown=1", tokens=())


def test_metrics_are_for_owners_and_admins(roles_mcpd):
    assert_error(roles_mcpd.get("/metrics", token=None), 401, "AUTH_ERROR")
    for role in ("member", "viewer"):
        assert_error(roles_mcpd.get("/metrics", token=ROLE_TOKENS[role]), 403, "AUTHZ_ERROR")
    for role in ("owner", "admin"):
        assert "mcpd_calls_total" in scrape(roles_mcpd, ROLE_TOKENS[role])
    r = roles_mcpd.request("POST", "/metrics", token=OWNER)
    assert r.status == 405, r


def test_calls_are_counted_by_tool_surface_and_outcome(roles_mcpd):
    m = roles_mcpd
    before = scrape(m)
    assert m.run("echo", {"message": "x"}, token=OWNER)[-1].event == "final"
    events = m.run("countdown", {"seconds": 5}, token=OWNER)     # past its 1 s deadline
    assert events[-1].event == "error", events
    cancelled = m.start_call("countdown", {"seconds": 30}, token=OWNER)
    m.wait_status(cancelled, "running", token=OWNER)
    m.cancel(cancelled, token=OWNER)
    body = stateless_body("tools/call", {"name": "echo", "arguments": {"message": "y"}}, request_id=1)
    assert stateless_post(m, body, token=OWNER).status == 200
    composer_ok(composer_call(m, "echo", {"message": "z"}, token=OWNER))

    def delta(**labels):
        return value(scrape(m), "mcpd_calls_total", **labels) - value(before, "mcpd_calls_total", **labels)
    wait_until(lambda: delta(tool="countdown", surface="execute", outcome="cancelled") == 1, timeout=5,
               message="the cancelled call to be counted")
    assert delta(tool="echo", surface="execute", outcome="finished") == 1
    assert delta(tool="countdown", surface="execute", outcome="error") == 1
    assert delta(tool="echo", surface="mcp", outcome="finished") == 1
    assert delta(tool="echo", surface="composer", outcome="finished") == 1

    now = scrape(m)
    assert now["mcpd_call_duration_seconds"]["type"] == "histogram"
    for tool in ("echo", "countdown"):
        buckets = [(s[1]["le"], s[2]) for s in now["mcpd_call_duration_seconds"]["samples"]
                   if s[0] == "mcpd_call_duration_seconds_bucket" and s[1]["tool"] == tool]
        counts = [c for _, c in buckets]
        assert counts == sorted(counts) and buckets[-1][0] == "+Inf", buckets
        assert buckets[-1][1] == value(now, "mcpd_call_duration_seconds_count", tool=tool)
    total_echo = sum(s[2] for s in now["mcpd_calls_total"]["samples"] if s[1]["tool"] == "echo")
    assert value(now, "mcpd_call_duration_seconds_count", tool="echo") == total_echo
    # The deadline-killed countdown ran about a second; echo well under one.
    assert value(now, "mcpd_call_duration_seconds_sum", tool="countdown") >= 0.9


def test_gauges_agree_with_the_call_table_and_the_server(roles_mcpd):
    m = roles_mcpd
    call_id = m.start_call("countdown", {"seconds": 30}, token=OWNER)
    m.wait_status(call_id, "running", token=OWNER)
    streaming = threading.Thread(target=lambda: m.stream(call_id, token=OWNER, timeout=30))
    streaming.start()
    try:
        wait_until(lambda: value(scrape(m), "mcpd_open_streams", surface="execute") >= 1, timeout=5,
                   message="the open stream to show")
        families = scrape(m)
        status = m.ctl_status()
        busy = len([w for w in ctl_workers(status) if w["state"] == "busy"])
        assert value(families, "mcpd_workers", pool="mcp-worker", state="busy") == busy == 1
        assert value(families, "mcpd_calls_in_flight") == 1
        assert value(families, "mcpd_open_connections") >= 2   # the stream and this scrape
        for counter in ("workers_spawned", "workers_killed", "workers_crashed", "workers_recycled"):
            name = {"workers_spawned": "mcpd_worker_spawns_total", "workers_killed": "mcpd_worker_kills_total",
                    "workers_crashed": "mcpd_worker_crashes_total", "workers_recycled": "mcpd_worker_recycles_total"}[counter]
            assert families[name]["type"] == "counter"
            assert value(families, name) == status["counters"][counter], (name, status["counters"])
    finally:
        m.cancel(call_id, token=OWNER)
        streaming.join(10)


def test_member_server_health_is_a_gauge(mcpd_factory, tmp_path):
    config = write_json(tmp_path / "servers.json", {"mcpServers": {"hostile": {
        "command": sys.executable, "args": [HOSTILE], "env": {"HOSTILE_STATE_DIR": str(tmp_path / "hs")},
        "cwd": str(tmp_path), "sandbox": "process"}}})
    m = mcpd_factory("--tokens-file", role_tokens_file(tmp_path / "tokens"), "--config", config,
                     "--health-interval", "0.3", tokens=())
    wait_until(lambda: value(scrape(m), "mcpd_member_server_up", server="hostile") == 1, timeout=15,
               message="the stdio member to show as up")
    families = scrape(m)
    assert value(families, "mcpd_workers", pool="hostile", state="idle") >= 1


def test_rate_limit_rejections_are_counted(mcpd_factory, tmp_path):
    m = mcpd_factory("--tokens-file", role_tokens_file(tmp_path / "tokens"), "--rate-limit-per-key", "3", tokens=())
    statuses = [m.get("/mcp/manifest", token=OWNER).status for _ in range(5)]
    assert statuses.count(429) >= 1, statuses
    families = scrape(m)   # /metrics is a probe: never limited
    assert value(families, "mcpd_rate_limit_rejections_total", surface="execute", limit="request") == statuses.count(429)
