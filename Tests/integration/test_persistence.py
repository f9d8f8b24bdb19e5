"""Run-time registrations survive mcpd (issue 4): a remote member (composer and /v1), curl tools,
an OpenAPI tool set, prompts, a disabled tool, description overrides and a deactivated server are
all back, exactly, after `kill -9` and a restart on the same --state-dir, and they work (the
upstream credentials came back too). A burst of registrations cut by `kill -9` loses nothing that
was acknowledged. The state file is 0600 and the only place an upstream secret is written.

Assumptions beyond the contract:
- "exactly" means: composer list_tools (names, descriptions, schemas), get_all_prompts, MCP
  prompts/list, tool configs, and the server objects / /v1 items minus what is learned at run time
  (health, last_check, response_time, last_active, request_count; an inactive server's
  tools_count) are equal before and after.
- no file under the state or runtime directory other than state.json holds a secret.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import threading
import time

from conftest import free_port, wait_until
from mcp_http import StreamableClient
from toolhost import (composer, composer_call, composer_data, composer_err, composer_ok, create_mcp,
                      programs, text_blocks, v1, v1_data, v1_ok, wait_tools)  # noqa: F401

SECRET = "persisted-member-secret-b71c"
PET_TOKEN = "persisted-pet-token-42aa"
VOLATILE = {"health", "last_check", "response_time", "last_active", "request_count", "health_checked_at"}
MEMBER_TOOLS = ("get_weather", "add", "sleep", "whoami")


def petstore(base: str) -> dict:
    return {"openapi": "3.0.1", "info": {"title": "Petstore", "version": "1"}, "servers": [{"url": base}],
            "paths": {"/pets": {"get": {"operationId": "listPets",
                                        "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer"}}],
                                        "responses": {"200": {"description": "ok"}}}},
                      "/pets/{petId}": {"get": {"operationId": "showPetById",
                                                "parameters": [{"name": "petId", "in": "path", "required": True,
                                                                "schema": {"type": "integer"}}],
                                                "responses": {"200": {"description": "ok"}}}}}}


PROMPT = {"name": "persisted_prompt", "description": "Survives restarts",
          "template": "Dear {{who}}, it is still here.",
          "arguments": [{"name": "who", "type": "string", "required": True, "description": "Addressee"}]}


def strip(obj: dict) -> dict:
    """Without what is learned at run time; an inactive server is not contacted, so its tool count
    is learned only once it is activated again."""
    volatile = VOLATILE | ({"tools_count"} if obj.get("status") == "inactive" else set())
    return {k: v for k, v in obj.items() if k not in volatile}


def snapshot(m, tool_names) -> dict:
    tools = sorted(composer_ok(composer(m, "list_tools"))["content"], key=lambda t: t["name"])
    configs = {n: composer_data(composer(m, "get_tool_config_by_name", {"tool_name": n})) for n in tool_names}
    servers = sorted((strip(s) for s in composer_data(composer(m, "list_member_servers"))), key=lambda s: s["id"])
    registry = sorted((strip(x) for x in v1_ok(v1(m, "GET", "/mcps?per_page=100"), paginated=True)["data"]),
                      key=lambda x: x["id"])
    prompts = sorted(composer_data(composer(m, "get_all_prompts")), key=lambda p: p["name"])
    mcp_prompts = sorted(StreamableClient(m, "2025-11-25").result("prompts/list")["prompts"], key=lambda p: p["name"])
    return {"tools": tools, "configs": configs, "servers": servers, "registry": registry,
            "prompts": prompts, "mcp_prompts": mcp_prompts}


def kill9(m) -> None:
    m.expect_exit = None
    m.zombies_are_leaks = False
    m.send_signal(signal.SIGKILL)
    m.stop(send=False)


def files_under(path) -> list:
    out = []
    for dirpath, _, names in os.walk(path):
        out += [os.path.join(dirpath, n) for n in names]
    return out


def test_everything_is_back_after_kill_9(mcpd_factory, programs, tmp_path):
    member = programs("remote_member.py", "--bearer", SECRET)
    pets = programs("upstream_http.py", "--auth", f"bearer:{PET_TOKEN}")
    state = tmp_path / "state"
    flags = ("--state-dir", state, "--health-interval", "0.5")
    m1 = mcpd_factory(*flags)

    composer_ok(composer(m1, "register_mcp_server", {"id": "weather", "type": "http", "endpoint": member.url("/mcp"),
                                                     "auth_strategy": "bearer", "auth": {"token": SECRET},
                                                     "description": "Weather member"}))
    composer_ok(composer(m1, "register_mcp_server", {"id": "dormant", "type": "http", "endpoint": member.url("/mcp"),
                                                     "auth_strategy": "bearer", "auth": {"token": SECRET}}))
    mcp_id = create_mcp(m1, "Registry member", member.url("/mcp"), description="from /v1",
                        auth_type="bearer", auth_token=SECRET)["id"]
    composer_ok(composer(m1, "add_tools", {"tools": [
        {"name": "city_weather", "tool_type": "curl", "description": "Weather by city",
         "curl_config": {"value": f"curl '{pets.base}/weather?q={{{{city}}}}'"}}]}))
    composer_ok(composer(m1, "add_tools_from_openapi", {
        "openapi_spec": petstore(pets.base), "auth_config": {"auth_strategy": "bearer", "auth": {"token": PET_TOKEN}}}))
    composer_ok(composer(m1, "add_prompts", {"prompt_config": [PROMPT]}))
    wanted = {f"weather__{t}" for t in MEMBER_TOOLS} | {f"{mcp_id}__{t}" for t in MEMBER_TOOLS} | \
        {"city_weather", "listPets", "showPetById"}
    wait_tools(m1, wanted | {"dormant__add"})
    composer_ok(composer(m1, "deactivate_mcp_server", {"server_id": "dormant"}))
    composer_ok(composer(m1, "disable_tools", {"tool_names": ["weather__add", "listPets"]}))
    composer_ok(composer(m1, "update_tool_description", {"tool_name": "weather__get_weather",
                                                          "description": "Persisted description"}))
    composer_ok(composer(m1, "update_tool_description", {"tool_name": "echo", "description": "Persisted echo"}))
    v1_data(v1(m1, "PATCH", f"/mcps/{mcp_id}", {"name": "Renamed member"}))
    enabled = wanted - {"weather__add", "listPets"}
    wait_tools(m1, enabled)
    watched = ["weather__add", "weather__get_weather", "listPets", "showPetById", "city_weather", "echo",
               f"{mcp_id}__whoami"]
    before = snapshot(m1, watched)
    assert before["configs"]["weather__add"]["enabled"] is False
    assert before["configs"]["weather__get_weather"]["description"] == "Persisted description"

    kill9(m1)
    m2 = mcpd_factory(*flags)
    wait_tools(m2, enabled)
    box = {}

    def same():
        box["after"] = snapshot(m2, watched)
        return box["after"] == before
    try:
        wait_until(same, 15, 0.2, message="the restarted mcpd to show the same registrations")
    except BaseException:
        after = box.get("after", {})
        diffs = {k: (before[k], after.get(k)) for k in before if before[k] != after.get(k)}
        raise AssertionError(f"state differs after restart: {json.dumps(diffs, indent=1)[:4000]}") from None

    # Everything works, with the credentials that came back from the state file.
    called = composer_ok(composer_call(m2, "weather__get_weather", {"location": "Bern"}))
    assert json.loads(text_blocks(called["content"]))["location"] == "Bern", called
    inv = v1_data(v1(m2, "POST", "/mcp/invoke", {"mcp_id": mcp_id, "tool": "add", "arguments": {"a": 3, "b": 4}}))
    assert inv["result"] == {"result": 7}, inv
    assert "Dear Ada, it is still here." in json.dumps(
        StreamableClient(m2, "2025-11-25").result("prompts/get", {"name": "persisted_prompt", "arguments": {"who": "Ada"}}))
    assert composer_ok(composer_call(m2, "showPetById", {"petId": 1}))
    assert [r["headers"].get("authorization") for r in pets.get_json("/__log") if r["path"] == "/pets/1"][-1] == \
        f"Bearer {PET_TOKEN}"
    assert composer_ok(composer_call(m2, "city_weather", {"city": "Basel"}))
    composer_err(composer_call(m2, "weather__add", {"a": 1, "b": 1}), 404, "TOOL_NOT_FOUND")
    composer_err(composer_call(m2, "listPets", {}), 404, "TOOL_NOT_FOUND")
    composer_err(composer_call(m2, "dormant__add", {"a": 1, "b": 1}), 404, "TOOL_NOT_FOUND")
    assert member.get_json("/__stats")["unauthorized"] == 0, "a restored member lost its credentials"

    # The state file: 0600, the secrets in it, and nowhere else.
    state_file = state / "state.json"
    mode = stat.S_IMODE(state_file.stat().st_mode)
    assert mode == 0o600, f"state.json has mode {oct(mode)}"
    text = state_file.read_text()
    json.loads(text)
    assert SECRET in text and PET_TOKEN in text, "the upstream credentials are not in the state file"
    for path in files_under(state) + files_under(m1.runtime_dir) + files_under(m2.runtime_dir):
        if os.path.samefile(path, state_file):
            continue
        data = open(path, "rb").read()
        assert SECRET.encode() not in data and PET_TOKEN.encode() not in data, f"a secret is in {path}"
    for m in (m1, m2):
        log = m.stderr_text()
        assert SECRET not in log and PET_TOKEN not in log, "a secret is in mcpd's log"


def test_acknowledged_registrations_survive_a_kill_mid_burst(mcpd_factory, tmp_path):
    state = tmp_path / "state"
    m1 = mcpd_factory("--state-dir", state)
    dead = f"http://127.0.0.1:{free_port()}/mcp"
    acked_tools, acked_mcps, attempted_tools = [], [], []
    stop = threading.Event()

    def add_tools():
        for i in range(80):
            if stop.is_set():
                return
            name = f"burst_{i:03d}"
            attempted_tools.append(name)
            try:
                r = composer(m1, "add_tools", {"tools": [{"name": name, "tool_type": "curl",
                                                          "curl_config": {"value": f"curl {dead}/{i}"}}]}, timeout=5)
            except Exception:  # noqa: BLE001 - mcpd was killed under this request
                return
            if r.status == 200:
                acked_tools.append(name)

    def create_mcps():
        for i in range(80):
            if stop.is_set():
                return
            try:
                r = v1(m1, "POST", "/mcps", {"name": f"burst mcp {i}", "endpoint_url": dead}, timeout=5)
            except Exception:  # noqa: BLE001
                return
            if r.status == 201:
                acked_mcps.append(r.json()["data"]["id"])

    threads = [threading.Thread(target=add_tools), threading.Thread(target=create_mcps)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: len(acked_tools) >= 15 and len(acked_mcps) >= 15, 30, 0.005,
                   message="15 acknowledged registrations of each kind")
        kill9(m1)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert len(acked_tools) < 80 or len(acked_mcps) < 80, "the kill did not land mid-burst"

    m2 = mcpd_factory("--state-dir", state)
    json.loads((state / "state.json").read_text())
    names = {t["name"] for t in composer_ok(composer(m2, "list_tools"))["content"]}
    burst = {n for n in names if n.startswith("burst_")}
    missing = set(acked_tools) - burst
    assert not missing, f"acknowledged tools lost by the kill: {sorted(missing)}"
    assert burst <= set(attempted_tools), burst - set(attempted_tools)
    ids = {x["id"] for x in v1_ok(v1(m2, "GET", "/mcps?per_page=100"), paginated=True)["data"]}
    lost = set(acked_mcps) - ids
    assert not lost, f"acknowledged MCPs lost by the kill: {sorted(lost)}"
    # The restarted instance keeps working and persisting.
    composer_ok(composer(m2, "add_tools", {"tools": [{"name": "after_restart", "tool_type": "curl",
                                                      "curl_config": {"value": f"curl {dead}/x"}}]}))
    assert "after_restart" in json.loads((state / "state.json").read_text()).__repr__()


def test_config_file_tools_and_run_time_tools_both_come_back(mcpd_factory, tmp_path):
    """The configuration file's tools are shared and come back from the file; run-time tools come
    back from the state file. Neither is lost, nor doubled, by a restart."""
    state = tmp_path / "state"
    dead = f"http://127.0.0.1:{free_port()}"
    config = tmp_path / "mcpd.json"
    config.write_text(json.dumps({"tools": [{"name": "from_file", "tool_type": "curl",
                                             "curl_config": {"value": f"curl {dead}/f"}}]}))
    m1 = mcpd_factory("--state-dir", state, "--config", config)
    composer_ok(composer(m1, "add_tools", {"tools": [{"name": "at_run_time", "tool_type": "curl",
                                                      "curl_config": {"value": f"curl {dead}/r"}}]}))
    assert "from_file" not in (state / "state.json").read_text(), "a file tool was copied into the state"
    kill9(m1)
    m2 = mcpd_factory("--state-dir", state, "--config", config)
    names = [t["name"] for t in composer_ok(composer(m2, "list_tools"))["content"]]
    assert names.count("from_file") == 1 and names.count("at_run_time") == 1, names
    assert "state problem" not in m2.stderr_text(), m2.stderr_text()[-2000:]
