"""Remote MCP servers as members (issue 4): fixtures/remote_member.py (the official SDK over
Streamable HTTP or legacy SSE, behind a bearer / API-key / basic credential check) registered
through composer register_mcp_server and through POST /v1/mcps; its tools namespaced and called
through the composer, MCP (the official SDK), the execute API and /v1/mcp/invoke; health checks
that notice a dead member and its return on the same port; and upstream secrets that never leave
mcpd (no read API, no log line).

Assumptions beyond the contract:
- an MCP created through /v1 is namespaced by its generated id (`mcp_…__get_weather`).
- composer call_tool's `data` carries the member's structuredContent unchanged.
- the execute API's final event text for a remote tool is the member's text block (the JSON of
  the structured result, as the SDK writes it).
- a call to a dead member ends, on the execute stream, with an `error` event of kind
  `connection_failed`; over MCP with an isError result.
- a member that answers 401 (wrong credentials) is unhealthy and contributes no tools.
- with --health-interval 0.5 a member's death is noticed within 5 s, and its return within 5 s.
"""

from __future__ import annotations

import json

import pytest

from conftest import wait_until
from toolhost import (basic, composer, composer_call, composer_data, composer_err, composer_ok,
                      composer_tools, create_mcp, error_event, final_text, is_iso, manifest,
                      module_programs, programs, sdk, sdk_call, sdk_text, sdk_tools, text_blocks,  # noqa: F401
                      v1, v1_data, v1_err, v1_ok, wait_tools, well_formed)

SECRET = "member-bearer-9c2f41d7"
TOOLS = ("get_weather", "add", "sleep", "whoami")
LOCATIONS = [{"uri": "weather://locations/sf", "name": "San Francisco"},
             {"uri": "weather://locations/nyc", "name": "New York City"}]


def weather(location: str) -> dict:
    return {"location": location, "temperature": 50 + len(location), "unit": "fahrenheit",
            "conditions": "Partly cloudy"}


@pytest.fixture(scope="module")
def member(module_programs):
    return module_programs("remote_member.py", "--bearer", SECRET)


def register(m, server_id: str, endpoint: str, strategy: str = "bearer", auth=None, type_="http",
             description: str = "Weather member"):
    args = {"id": server_id, "type": type_, "endpoint": endpoint, "auth_strategy": strategy,
            "description": description}
    if strategy != "none":
        args["auth"] = auth if auth is not None else {"token": SECRET}
    return composer(m, "register_mcp_server", args)


def namespaced(server_id: str) -> set[str]:
    return {f"{server_id}__{t}" for t in TOOLS}


def member_status(m, server_id: str) -> str | None:
    r = m.get("/health/detailed")
    assert r.status == 200, r
    for s in r.json()["member_servers"]:
        if s["id"] == server_id:
            return s["status"]
    return None


def wait_health(m, server_id: str, wanted: str, timeout: float = 5.0) -> None:
    wait_until(lambda: member_status(m, server_id) == wanted, timeout, 0.1,
               message=f"{server_id} to be {wanted} in /health/detailed")


# --- registration and calls --------------------------------------------------------------------

def test_register_through_composer_and_call_everywhere(mcpd_factory, member):
    m = mcpd_factory("--health-interval", "0.5")
    r = register(m, "weather", member.url("/mcp"))
    body = composer_ok(r)
    assert body["content"] == [{"type": "text", "text": "Server registered successfully"}], body
    server = body["data"]
    assert server["id"] == "weather" and server["type"] == "http", server
    assert server["endpoint"] == member.url("/mcp") and server["status"] == "active", server
    assert server["health"] in ("unknown", "healthy") and is_iso(server["created_at"]), server
    assert SECRET not in r.body.decode(), "the registration answer shows the upstream token"

    wait_tools(m, namespaced("weather"))
    assert namespaced("weather") <= set(sdk_tools(m))
    assert namespaced("weather") <= set(composer_tools(m))
    assert not set(TOOLS) & set(manifest(m)), "member tools must not appear un-namespaced"
    schema = composer_tools(m)["weather__get_weather"]["inputSchema"]
    assert schema["required"] == ["location"] and schema["properties"]["location"]["type"] == "string", schema

    called = composer_ok(composer_call(m, "weather__get_weather", {"location": "Paris"}))
    assert json.loads(text_blocks(called["content"])) == weather("Paris"), called
    assert called["data"].get("structuredContent") == weather("Paris"), called
    assert called["data"].get("isError", False) is False, called

    result = sdk_call(m, "weather__get_weather", {"location": "San Francisco, CA"})
    assert not result.is_error, result
    assert result.structured_content == weather("San Francisco, CA"), result
    assert json.loads(sdk_text(result)) == weather("San Francisco, CA")
    assert sdk_text(sdk_call(m, "weather__add", {"a": 40, "b": 2})) == "42"

    events = m.run("weather__get_weather", {"location": "Oslo"}, timeout=20)
    well_formed(events)
    assert json.loads(final_text(events)) == weather("Oslo"), events

    stats = member.get_json("/__stats")
    assert stats["last_authorization"] == f"Bearer {SECRET}", stats
    assert stats["tool_calls"].get("get_weather", 0) >= 3, stats

    cfg = composer_data(composer(m, "get_tool_config_by_name", {"tool_name": "weather__add"}))
    assert cfg["server_id"] == "weather" and cfg["source"] == "remote" and cfg["enabled"] is True, cfg
    wait_health(m, "weather", "healthy")


def test_register_through_v1_and_call_everywhere(mcpd, member):
    created = create_mcp(mcpd, "Weather API", member.url("/mcp"), description="Weather data",
                         auth_type="bearer", auth_token=SECRET)
    mcp_id = created["id"]
    wait_tools(mcpd, namespaced(mcp_id))

    inv = v1_data(v1(mcpd, "POST", "/mcp/invoke", {"mcp_id": mcp_id, "tool": "get_weather",
                                                   "arguments": {"location": "San Francisco, CA"}}))
    assert inv["result"] == weather("San Francisco, CA"), inv
    assert text_blocks(composer_ok(composer_call(mcpd, f"{mcp_id}__add", {"a": 20, "b": 22}))["content"]) == "42"
    assert sdk_text(sdk_call(mcpd, f"{mcp_id}__add", {"a": 1, "b": 2})) == "3"

    tested = v1_data(v1(mcpd, "POST", f"/mcps/{mcp_id}/test"))
    assert tested["reachable"] is True and tested["tools_count"] == 4 and tested["resources_count"] == 1, tested
    assert isinstance(tested["latency_ms"], (int, float)), tested

    res = v1_data(v1(mcpd, "POST", "/mcp/resources", {"mcp_id": mcp_id, "uri": "weather://locations"}))
    assert [c["uri"] for c in res["contents"]] == ["weather://locations"], res
    assert json.loads(res["contents"][0]["text"]) == LOCATIONS, res

    servers = {s["id"]: s for s in composer_data(composer(mcpd, "list_member_servers"))}
    assert servers[mcp_id]["endpoint"] == member.url("/mcp") and servers[mcp_id]["tools_count"] == 4, servers


def test_api_key_and_basic_strategies(mcpd, programs):
    keyed = programs("remote_member.py", "--api-key", "X-Member-Key:k-123", "--name", "keyed")
    default_header = programs("remote_member.py", "--api-key", "X-API-Key:k-default", "--name", "defaulted")
    basic_member = programs("remote_member.py", "--basic", "alice:s3cr3t", "--name", "basic-one")
    composer_ok(register(mcpd, "keyed", keyed.url("/mcp"), "api_key", {"header": "X-Member-Key", "key": "k-123"}))
    composer_ok(register(mcpd, "defaulted", default_header.url("/mcp"), "api_key", {"key": "k-default"}))
    composer_ok(register(mcpd, "basicm", basic_member.url("/mcp"), "basic",
                         {"username": "alice", "password": "s3cr3t"}))
    wait_tools(mcpd, {"keyed__whoami", "defaulted__whoami", "basicm__whoami"})
    for server_id, name in (("keyed", "keyed"), ("defaulted", "defaulted"), ("basicm", "basic-one")):
        body = composer_ok(composer_call(mcpd, f"{server_id}__whoami", {}))
        assert text_blocks(body["content"]) == name, body
    assert basic_member.get_json("/__stats")["last_authorization"] == basic("alice", "s3cr3t")
    for p in (keyed, default_header, basic_member):
        assert p.get_json("/__stats")["unauthorized"] == 0


def test_wrong_credentials_make_an_unhealthy_member_without_tools(mcpd_factory, member):
    m = mcpd_factory("--health-interval", "0.5")
    composer_ok(register(m, "wrongtoken", member.url("/mcp"), auth={"token": "not-the-token"}))
    wait_health(m, "wrongtoken", "unhealthy")
    assert not [n for n in manifest(m) if n.startswith("wrongtoken__")]
    v1_err(v1(m, "POST", "/mcp/invoke", {"mcp_id": "wrongtoken", "tool": "add", "arguments": {"a": 1, "b": 1}}),
           404, "not_found")


def test_legacy_sse_member(mcpd, programs):
    sse_member = programs("remote_member.py", "--transport", "sse", "--bearer", SECRET, "--name", "sse-one")
    composer_ok(register(mcpd, "ssem", sse_member.url("/sse"), type_="sse"))
    created = create_mcp(mcpd, "SSE member", sse_member.url("/sse"), transport="sse",
                         auth_type="bearer", auth_token=SECRET)
    wait_tools(mcpd, {"ssem__whoami", f"{created['id']}__whoami"})
    assert text_blocks(composer_ok(composer_call(mcpd, "ssem__whoami", {}))["content"]) == "sse-one"
    inv = v1_data(v1(mcpd, "POST", "/mcp/invoke", {"mcp_id": created["id"], "tool": "get_weather",
                                                   "arguments": {"location": "Lyon"}}))
    assert inv["result"] == weather("Lyon"), inv
    res = v1_data(v1(mcpd, "POST", "/mcp/resources", {"mcp_id": created["id"], "uri": "weather://locations"}))
    assert json.loads(res["contents"][0]["text"]) == LOCATIONS, res


# --- health: death and recovery ------------------------------------------------------------------

def test_member_death_is_noticed_and_recovery_too(mcpd_factory, programs):
    m = mcpd_factory("--health-interval", "0.5")
    member = programs("remote_member.py", "--bearer", SECRET)
    composer_ok(register(m, "weather", member.url("/mcp")))
    mcp_id = create_mcp(m, "Weather API", member.url("/mcp"), auth_type="bearer", auth_token=SECRET)["id"]
    wait_tools(m, namespaced("weather") | namespaced(mcp_id))
    wait_health(m, "weather", "healthy")
    wait_health(m, mcp_id, "healthy")
    listed = v1_ok(v1(m, "GET", "/mcps?health=healthy"), paginated=True)["data"]
    assert {mcp_id, "weather"} <= {x["id"] for x in listed}, listed

    port = member.port
    member.kill()
    wait_health(m, "weather", "unhealthy")
    wait_health(m, mcp_id, "unhealthy")
    unhealthy = {x["id"] for x in v1_ok(v1(m, "GET", "/mcps?health=unhealthy"), paginated=True)["data"]}
    assert {mcp_id, "weather"} <= unhealthy, unhealthy
    detailed = m.get("/health/detailed").json()
    item = next(s for s in detailed["member_servers"] if s["id"] == "weather")
    assert item["status"] == "unhealthy" and is_iso(item["last_check"]), item
    health = {h["id"]: h for h in composer_data(composer(m, "member_health"))}
    assert health["weather"]["status"] == "unhealthy", health

    err = composer_err(composer_call(m, "weather__get_weather", {"location": "Paris"}), 502,
                       "SERVER_CONNECTION_FAILED")
    assert err["message"], err
    v1_err(v1(m, "POST", "/mcp/invoke", {"mcp_id": mcp_id, "tool": "get_weather",
                                         "arguments": {"location": "Paris"}}), 502, "mcp_unreachable")
    failed = sdk_call(m, "weather__add", {"a": 1, "b": 1})
    assert failed.is_error, failed
    events = m.run("weather__add", {"a": 1, "b": 1}, timeout=20)
    well_formed(events)
    assert error_event(events)["kind"] == "connection_failed", events

    member.start(port=port)
    wait_health(m, "weather", "healthy")
    wait_health(m, mcp_id, "healthy")
    assert text_blocks(composer_ok(composer_call(m, "weather__add", {"a": 2, "b": 2}))["content"]) == "4"
    inv = v1_data(v1(m, "POST", "/mcp/invoke", {"mcp_id": mcp_id, "tool": "get_weather",
                                               "arguments": {"location": "Rome"}}))
    assert inv["result"] == weather("Rome"), inv


# --- secrets -----------------------------------------------------------------------------------

def test_secrets_never_appear_in_reads_or_logs(mcpd_factory, member):
    m = mcpd_factory("--health-interval", "0.5", "--log-level", "debug")
    composer_ok(register(m, "weather", member.url("/mcp")))
    mcp_id = create_mcp(m, "Weather API", member.url("/mcp"), auth_type="bearer", auth_token=SECRET)["id"]
    wait_tools(m, namespaced("weather") | namespaced(mcp_id))
    composer_ok(composer_call(m, "weather__whoami", {}))
    v1_data(v1(m, "POST", "/mcp/invoke", {"mcp_id": mcp_id, "tool": "add", "arguments": {"a": 1, "b": 2}}))
    v1_data(v1(m, "POST", f"/mcps/{mcp_id}/test"))
    wait_health(m, "weather", "healthy")

    reads = [
        m.get("/health/detailed"), m.get("/mcp/manifest"),
        v1(m, "GET", "/mcps"), v1(m, "GET", f"/mcps/{mcp_id}"), v1(m, "GET", "/mcps/weather"),
        composer(m, "list_member_servers"), composer(m, "member_health"), composer(m, "list_tools"),
        composer(m, "get_tool_config_by_server", {"server_id": "weather"}),
        composer(m, "get_tool_config_by_server", {"server_id": mcp_id}),
        composer(m, "get_tool_config_by_name", {"tool_name": "weather__add"}),
    ]
    for r in reads:
        assert r.status == 200, r
        assert SECRET not in r.body.decode(), f"the upstream secret is in a read answer: {r!r}"
    listed = sdk(m, lambda c: c.list_tools())
    assert SECRET not in listed.model_dump_json()
    log = m.stderr_text()
    assert log.strip(), "mcpd logged nothing at debug level"
    assert SECRET not in log, "the upstream secret is in mcpd's log"
