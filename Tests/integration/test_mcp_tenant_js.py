"""Seed 003's own JavaScript client (the MCPClient class of its documentation, copied verbatim into
js/seed003_client.mjs) run with node against the tenant endpoint: initialize, connectStreaming,
tools/list, tools/call echo and ping at 2025-03-26 and 2025-06-18."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from conftest import ALPHA
from mcp_http import wire_tenant

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "js" / "seed003_client.mjs"
SEED = Path("/work/shared/seeds/003_e5692efbba77f50b.txt")
NODE = shutil.which("node")

needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed (the seed-003 JavaScript client needs it)")


def seed_class(text: str) -> str:
    start = text.index("class MCPClient {")
    end = text.index("\n// Usage", start)
    return text[start:end].rstrip("\n")


def test_driver_carries_the_seed_class_verbatim():
    driver = DRIVER.read_text()
    begin = driver.index("// ---- BEGIN seed 003 MCPClient (verbatim) ----\n") + len(
        "// ---- BEGIN seed 003 MCPClient (verbatim) ----\n")
    end = driver.index("// ---- END seed 003 MCPClient ----")
    ours = driver[begin:end].rstrip("\n")
    assert ours.startswith("class MCPClient {") and ours.endswith("}"), ours[:200]
    if not SEED.exists():
        pytest.skip(f"seed 003 not available at {SEED} to compare with")
    assert ours == seed_class(SEED.read_text()), "js/seed003_client.mjs no longer carries seed 003's class verbatim"


@needs_node
@pytest.mark.parametrize("rev", ["2025-03-26", "2025-06-18"])
def test_seed003_javascript_client_against_the_tenant_endpoint(mcpd, rev):
    agency = str(uuid.uuid4())
    proc = subprocess.run([NODE, str(DRIVER), f"http://127.0.0.1:{mcpd.port}", ALPHA, rev, agency],
                          capture_output=True, text=True, timeout=30)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert lines, f"node printed nothing (exit {proc.returncode}); stderr:\n{proc.stderr}"
    out = json.loads(lines[-1])
    assert proc.returncode == 0 and "error" not in out, f"{out}\nstderr:\n{proc.stderr}"

    init = out["initialize"]
    wire_tenant(rev, init, "initialize")
    assert init["result"]["protocolVersion"] == rev, init
    assert isinstance(out["sessionId"], str) and out["sessionId"], out
    assert out["connection"] == ["connected"], f"notifications/connection not seen first: {out}"

    tools = out["toolsList"]
    wire_tenant(rev, tools, "tools/list")
    names = [t["name"] for t in tools["result"]["tools"]]
    assert {"echo", "countdown"} <= set(names), tools

    echo = out["echo"]
    wire_tenant(rev, echo, "tools/call")
    assert echo["result"]["content"][0]["type"] == "text", echo
    assert "Hello MCP!" in echo["result"]["content"][0]["text"], echo

    ping = out["ping"]
    wire_tenant(rev, ping, "ping")
    assert ping["result"]["status"] == "pong" and ping["result"]["timestamp"], ping
    assert [tools["id"], echo["id"], ping["id"]] == [1, 2, 3], out
