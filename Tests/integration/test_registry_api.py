"""Seed 002's registry under /v1 on a real mcpd: list with pagination and filters, create, detail
with statistics computed from real invocations, PATCH, DELETE, /test, /mcp/invoke, /mcp/resources,
roles (tokens file) and the response envelopes. Live MCPs are fixtures/remote_member.py (the
official SDK over Streamable HTTP); dead ones point at a port nothing listens on.

Assumptions beyond the contract:
- an MCP created with POST /v1/mcps is a member server whose id is the generated `mcp_…` id, so
  its tools are `<id>__<tool>` elsewhere; /v1 speaks un-namespaced names.
- without a `status` query the list shows every MCP (the seed's `all`).
- error_rate is failed / total invocations through /v1/mcp/invoke (a 502 counts as failed) as a
  fraction from 0 to 1; avg_latency_ms is the mean of the invocations' latencies in milliseconds
  (so two 50 ms sleeps keep it above 25).
- an unknown or malformed token on /v1 is 401 `unauthorized` like a missing one; viewers may not
  invoke (403 `forbidden`), members may.
- inactive MCPs are still listed (status=inactive) but cannot be invoked (409 mcp_inactive).
"""

from __future__ import annotations

import json
import time

import pytest

from conftest import free_port, wait_until
from toolhost import (MCP_ID, ROLE_TOKENS, create_mcp, is_iso, is_number, manifest, programs,  # noqa: F401
                      role_tokens_file, v1, v1_data, v1_err, v1_ok, wait_tools)

CREATE_KEYS = {"id", "name", "endpoint_url", "description", "status", "health", "created_at"}
DETAIL_KEYS = {"id", "name", "endpoint_url", "description", "status", "health", "created_at",
               "updated_at", "stats", "tools"}
STATS_KEYS = {"total_requests", "requests_today", "error_rate", "avg_latency_ms"}
MEMBER_TOOLS = {"get_weather", "add", "sleep", "whoami"}


def dead_endpoint() -> str:
    return f"http://127.0.0.1:{free_port()}/mcp"


def weather(location: str) -> dict:
    return {"location": location, "temperature": 50 + len(location), "unit": "fahrenheit",
            "conditions": "Partly cloudy"}


def listing(m, query: str = "", token=None) -> dict:
    kw = {} if token is None else {"token": token}
    return v1_ok(v1(m, "GET", "/mcps" + query, **kw), paginated=True)


def detail(m, mcp_id: str) -> dict:
    data = v1_data(v1(m, "GET", f"/mcps/{mcp_id}"))
    assert DETAIL_KEYS <= set(data), f"detail keys {sorted(data)}"
    assert set(data["stats"]) >= STATS_KEYS, data["stats"]
    return data


def wait_member_tools(m, mcp_id: str, timeout: float = 15.0) -> dict:
    return wait_until(lambda: (lambda d: d if {t["name"] for t in d["tools"]} >= MEMBER_TOOLS else None)(detail(m, mcp_id)),
                      timeout, 0.1, message=f"{mcp_id}'s tools to be discovered")


# --- list, pagination, filters ---------------------------------------------------------------

def test_pagination_over_25_mcps(mcpd):
    created = [create_mcp(mcpd, f"Dead MCP {i:02d}", dead_endpoint(), description=f"number {i}")["id"]
               for i in range(25)]
    assert len(set(created)) == 25

    first = listing(mcpd, "?per_page=10")
    assert first["pagination"] == {"page": 1, "per_page": 10, "total": 25, "total_pages": 3}, first["pagination"]
    assert len(first["data"]) == 10
    seen = [x["id"] for x in first["data"]]
    for page, size in ((2, 10), (3, 5)):
        body = listing(mcpd, f"?per_page=10&page={page}")
        assert body["pagination"] == {"page": page, "per_page": 10, "total": 25, "total_pages": 3}
        assert len(body["data"]) == size, body
        seen += [x["id"] for x in body["data"]]
    assert sorted(seen) == sorted(created), "pages must partition the MCPs"
    beyond = listing(mcpd, "?per_page=10&page=4")
    assert beyond["data"] == [] and beyond["pagination"]["total"] == 25, beyond

    default = listing(mcpd)
    assert default["pagination"] == {"page": 1, "per_page": 20, "total": 25, "total_pages": 2}
    assert len(default["data"]) == 20
    everything = listing(mcpd, "?per_page=100")
    assert len(everything["data"]) == 25 and everything["pagination"]["total_pages"] == 1
    item = everything["data"][0]
    assert {"id", "name", "endpoint_url", "description", "status", "health", "created_at"} <= set(item), item
    assert item["status"] == "active" and is_iso(item["created_at"]), item


@pytest.mark.parametrize("query", ["?per_page=0", "?per_page=101", "?per_page=ten", "?page=0",
                                   "?page=-1", "?status=sleeping", "?health=sick"])
def test_bad_list_queries_are_400(mcpd, query):
    err = v1_err(v1(mcpd, "GET", "/mcps" + query), 400, "validation_error")
    assert err["message"], err


def test_status_and_health_filters(mcpd_factory):
    m = mcpd_factory("--health-interval", "0.5")
    ids = [create_mcp(m, f"dead {i}", dead_endpoint())["id"] for i in range(5)]
    for mcp_id in ids[:2]:
        data = v1_data(v1(m, "PATCH", f"/mcps/{mcp_id}", {"status": "inactive"}))
        assert data["status"] == "inactive"
    assert sorted(x["id"] for x in listing(m, "?status=inactive")["data"]) == sorted(ids[:2])
    assert sorted(x["id"] for x in listing(m, "?status=active")["data"]) == sorted(ids[2:])
    assert listing(m, "?status=all")["pagination"]["total"] == 5
    # Dead endpoints turn unhealthy once checked (every 0.5 s).
    wait_until(lambda: {x["id"] for x in listing(m, "?status=active&health=unhealthy")["data"]} == set(ids[2:]),
               10, 0.1, message="the active dead MCPs to be unhealthy")
    assert listing(m, "?health=healthy")["data"] == []
    for x in listing(m, "?health=unhealthy")["data"]:
        assert x["health"] == "unhealthy", x


# --- create ----------------------------------------------------------------------------------

def test_create_answers_201_with_the_seed_shape_and_hides_the_token(mcpd):
    secret = "reg-secret-token-5d1e"
    r = v1(mcpd, "POST", "/mcps", {"name": "Weather API", "endpoint_url": dead_endpoint(),
                                   "description": "Weather data and forecasts",
                                   "auth_type": "bearer", "auth_token": secret})
    data = v1_data(r, 201)
    assert CREATE_KEYS <= set(data), data
    assert MCP_ID.match(data["id"]), data
    assert data["name"] == "Weather API" and data["description"] == "Weather data and forecasts", data
    assert data["status"] == "active" and data["health"] == "unknown", data
    assert is_iso(data["created_at"]), data
    for path in (f"/mcps/{data['id']}", "/mcps", "/mcps?per_page=100"):
        body = v1(mcpd, "GET", path).body.decode()
        assert secret not in body, f"the auth token shows in GET /v1{path}"
    assert secret not in mcpd.get("/health/detailed").body.decode()


@pytest.mark.parametrize("body", [
    {"endpoint_url": "http://127.0.0.1:9/mcp"},
    {"name": "", "endpoint_url": "http://127.0.0.1:9/mcp"},
    {"name": "No URL"},
    {"name": "Bad URL", "endpoint_url": "not a url"},
    {"name": "FTP", "endpoint_url": "ftp://127.0.0.1/mcp"},
    {"name": "Bad auth", "endpoint_url": "http://127.0.0.1:9/mcp", "auth_type": "magic"},
    {"name": "Bearer without token", "endpoint_url": "http://127.0.0.1:9/mcp", "auth_type": "bearer"},
    {"name": "Bad transport", "endpoint_url": "http://127.0.0.1:9/mcp", "transport": "carrier-pigeon"},
    {"name": 5, "endpoint_url": "http://127.0.0.1:9/mcp"},
], ids=["no-name", "empty-name", "no-url", "bad-url", "ftp-url", "bad-auth-type", "bearer-no-token",
        "bad-transport", "name-not-string"])
def test_create_validation(mcpd, body):
    v1_err(v1(mcpd, "POST", "/mcps", body), 400, "validation_error")
    assert listing(mcpd)["pagination"]["total"] == 0, "a rejected MCP was created"


def test_create_with_a_non_json_body_is_400(mcpd):
    v1_err(v1(mcpd, "POST", "/mcps", b"{oops"), 400, "validation_error")


# --- detail, patch, delete -------------------------------------------------------------------

def test_detail_patch_delete(mcpd):
    created = create_mcp(mcpd, "Patchable", dead_endpoint(), description="before")
    mcp_id = created["id"]
    d = detail(mcpd, mcp_id)
    assert d["id"] == mcp_id and d["name"] == "Patchable" and d["description"] == "before", d
    assert d["stats"]["total_requests"] == 0 and d["stats"]["error_rate"] == 0, d
    assert d["tools"] == [], d
    assert is_iso(d["updated_at"]) and d["created_at"] == created["created_at"], d

    time.sleep(1.1)    # timestamps have second resolution at least: updated_at must move
    patched = v1_data(v1(mcpd, "PATCH", f"/mcps/{mcp_id}",
                         {"name": "Patched", "description": "after", "status": "inactive"}))
    assert set(patched) == {"id", "name", "description", "status", "updated_at"}, patched
    assert patched == {"id": mcp_id, "name": "Patched", "description": "after", "status": "inactive",
                       "updated_at": patched["updated_at"]}
    assert is_iso(patched["updated_at"]) and patched["updated_at"] > created["created_at"], patched
    d = detail(mcpd, mcp_id)
    assert (d["name"], d["description"], d["status"]) == ("Patched", "after", "inactive"), d
    assert d["updated_at"] == patched["updated_at"], d

    # A partial PATCH leaves the rest alone.
    again = v1_data(v1(mcpd, "PATCH", f"/mcps/{mcp_id}", {"status": "active"}))
    assert (again["name"], again["description"], again["status"]) == ("Patched", "after", "active"), again

    v1_err(v1(mcpd, "PATCH", f"/mcps/{mcp_id}", {"status": "paused"}), 400, "validation_error")
    v1_err(v1(mcpd, "PATCH", f"/mcps/{mcp_id}", {"name": ""}), 400, "validation_error")
    v1_err(v1(mcpd, "PATCH", "/mcps/mcp_000000000000", {"name": "x"}), 404, "not_found")

    gone = v1_data(v1(mcpd, "DELETE", f"/mcps/{mcp_id}"))
    assert gone == {"deleted": True, "mcp_id": mcp_id}, gone
    err = v1_err(v1(mcpd, "GET", f"/mcps/{mcp_id}"), 404, "not_found")
    assert err["message"], err
    v1_err(v1(mcpd, "DELETE", f"/mcps/{mcp_id}"), 404, "not_found")
    v1_err(v1(mcpd, "POST", f"/mcps/{mcp_id}/test"), 404, "not_found")
    v1_err(v1(mcpd, "POST", "/mcp/invoke", {"mcp_id": mcp_id, "tool": "get_weather", "arguments": {}}),
           404, "not_found")
    assert listing(mcpd)["pagination"]["total"] == 0


def test_unknown_mcp_is_404_everywhere(mcpd):
    for method, path, body in (("GET", "/mcps/mcp_123456789abc", None),
                               ("DELETE", "/mcps/mcp_123456789abc", None),
                               ("POST", "/mcps/mcp_123456789abc/test", None),
                               ("POST", "/mcp/invoke", {"mcp_id": "mcp_123456789abc", "tool": "x", "arguments": {}}),
                               ("POST", "/mcp/resources", {"mcp_id": "mcp_123456789abc", "uri": "weather://locations"})):
        v1_err(v1(mcpd, method, path, body), 404, "not_found")


def test_invoke_and_resources_validation(mcpd):
    mcp_id = create_mcp(mcpd, "x", dead_endpoint())["id"]
    v1_err(v1(mcpd, "POST", "/mcp/invoke", {"tool": "add", "arguments": {}}), 400, "validation_error")
    v1_err(v1(mcpd, "POST", "/mcp/invoke", {"mcp_id": mcp_id, "arguments": {}}), 400, "validation_error")
    v1_err(v1(mcpd, "POST", "/mcp/invoke", {"mcp_id": mcp_id, "tool": "add", "arguments": [1]}),
           400, "validation_error")
    v1_err(v1(mcpd, "POST", "/mcp/resources", {"mcp_id": mcp_id}), 400, "validation_error")


def test_unreachable_mcp_test_is_200_with_reachable_false(mcpd):
    mcp_id = create_mcp(mcpd, "dead", dead_endpoint())["id"]
    data = v1_data(v1(mcpd, "POST", f"/mcps/{mcp_id}/test"))
    assert data["reachable"] is False, data
    assert isinstance(data.get("error"), str) and data["error"], data


def test_inactive_mcp_cannot_be_invoked(mcpd):
    mcp_id = create_mcp(mcpd, "sleepy", dead_endpoint())["id"]
    v1_data(v1(mcpd, "PATCH", f"/mcps/{mcp_id}", {"status": "inactive"}))
    v1_err(v1(mcpd, "POST", "/mcp/invoke", {"mcp_id": mcp_id, "tool": "add", "arguments": {"a": 1, "b": 2}}),
           409, "mcp_inactive")


# --- a live member: tools, invoke, stats, test, resources --------------------------------------

def test_live_mcp_detail_invoke_stats_and_resources(mcpd_factory, programs):
    member = programs("remote_member.py")
    m = mcpd_factory("--health-interval", "0.5")
    mcp_id = create_mcp(m, "Weather API", member.url("/mcp"), description="Weather data")["id"]
    d = wait_member_tools(m, mcp_id)
    tools = {t["name"]: t for t in d["tools"]}
    assert set(tools) == MEMBER_TOOLS, tools
    assert tools["get_weather"]["description"] == "Get current weather for a location.", tools
    assert tools["get_weather"]["input_schema"]["required"] == ["location"], tools
    assert set(tools["get_weather"]) == {"name", "description", "input_schema"}, tools
    assert d["stats"]["total_requests"] == 0 and d["stats"]["requests_today"] == 0, d
    assert f"{mcp_id}__get_weather" in wait_tools(m, {f"{mcp_id}__get_weather"})
    wait_until(lambda: detail(m, mcp_id)["health"] == "healthy", 10, 0.1, message="health to be healthy")
    assert is_iso(detail(m, mcp_id)["health_checked_at"])

    r = v1_data(v1(m, "POST", "/mcp/invoke", {"mcp_id": mcp_id, "tool": "get_weather",
                                               "arguments": {"location": "San Francisco, CA"}}))
    assert set(r) == {"result", "metadata"}, r
    assert r["result"] == weather("San Francisco, CA"), r
    meta = r["metadata"]
    assert set(meta) == {"mcp_id", "tool", "latency_ms", "timestamp"}, meta
    assert meta["mcp_id"] == mcp_id and meta["tool"] == "get_weather", meta
    assert is_number(meta["latency_ms"]) and meta["latency_ms"] >= 0 and is_iso(meta["timestamp"]), meta

    added = v1_data(v1(m, "POST", "/mcp/invoke", {"mcp_id": mcp_id, "tool": "add", "arguments": {"a": 2, "b": 3}}))
    assert added["result"] == {"result": 5}, added
    for _ in range(2):
        slept = v1_data(v1(m, "POST", "/mcp/invoke", {"mcp_id": mcp_id, "tool": "sleep",
                                                       "arguments": {"seconds": 0.05}}))
        assert slept["metadata"]["latency_ms"] >= 45, slept
    assert member.get_json("/__stats")["tool_calls"] == {"get_weather": 1, "add": 1, "sleep": 2}

    stats = detail(m, mcp_id)["stats"]
    assert stats["total_requests"] == 4 and stats["requests_today"] == 4, stats
    assert stats["error_rate"] == 0, stats
    assert is_number(stats["avg_latency_ms"]) and stats["avg_latency_ms"] >= 25, stats
    v1_err(v1(m, "POST", "/mcp/invoke", {"mcp_id": mcp_id, "tool": "no_such_tool", "arguments": {}}),
           404, "not_found")

    tested = v1_data(v1(m, "POST", f"/mcps/{mcp_id}/test"))
    assert tested["reachable"] is True, tested
    assert tested["tools_count"] == 4 and tested["resources_count"] == 1, tested
    assert isinstance(tested["protocol_version"], str) and tested["protocol_version"][:2] == "20", tested
    assert is_number(tested["latency_ms"]) and tested["latency_ms"] >= 0, tested

    res = v1_data(v1(m, "POST", "/mcp/resources", {"mcp_id": mcp_id, "uri": "weather://locations"}))
    assert len(res["contents"]) == 1, res
    content = res["contents"][0]
    assert content["uri"] == "weather://locations" and content["mimeType"] == "application/json", content
    assert json.loads(content["text"]) == [
        {"uri": "weather://locations/sf", "name": "San Francisco"},
        {"uri": "weather://locations/nyc", "name": "New York City"}], content

    listed = {x["id"]: x for x in listing(m)["data"]}
    assert is_iso(listed[mcp_id].get("last_active")), listed[mcp_id]

    # The member dies: invocations fail with 502 and count as errors.
    member.kill()
    v1_err(v1(m, "POST", "/mcp/invoke", {"mcp_id": mcp_id, "tool": "add", "arguments": {"a": 1, "b": 1}}),
           502, "mcp_unreachable")
    stats = detail(m, mcp_id)["stats"]
    assert stats["total_requests"] == 5 and stats["error_rate"] == pytest.approx(0.2, abs=0.001), stats
    down = v1_data(v1(m, "POST", f"/mcps/{mcp_id}/test"))
    assert down["reachable"] is False and down["error"], down


# --- roles -----------------------------------------------------------------------------------

def test_roles_and_credentials(mcpd_factory, tmp_path):
    m = mcpd_factory("--tokens-file", role_tokens_file(tmp_path / "tokens"), tokens=())
    body = {"name": "by role", "endpoint_url": dead_endpoint()}
    for token in (None, "not-a-token"):
        v1_err(v1(m, "GET", "/mcps", token=token), 401, "unauthorized")
        v1_err(v1(m, "POST", "/mcps", body, token=token), 401, "unauthorized")
    for role in ("viewer", "member"):
        v1_err(v1(m, "POST", "/mcps", body, token=ROLE_TOKENS[role]), 403, "forbidden")
    admin_made = v1_data(v1(m, "POST", "/mcps", body, token=ROLE_TOKENS["admin"]), 201)
    owner_made = v1_data(v1(m, "POST", "/mcps", body, token=ROLE_TOKENS["owner"]), 201)
    mcp_id = admin_made["id"]
    for role in ("viewer", "member"):
        token = ROLE_TOKENS[role]
        assert listing(m, token=token)["pagination"]["total"] == 2
        assert v1_data(v1(m, "GET", f"/mcps/{mcp_id}", token=token))["id"] == mcp_id
        v1_err(v1(m, "PATCH", f"/mcps/{mcp_id}", {"name": "nope"}, token=token), 403, "forbidden")
        v1_err(v1(m, "DELETE", f"/mcps/{mcp_id}", token=token), 403, "forbidden")
    invoke = {"mcp_id": "mcp_ffffffffffff", "tool": "add", "arguments": {}}
    v1_err(v1(m, "POST", "/mcp/invoke", invoke, token=ROLE_TOKENS["viewer"]), 403, "forbidden")
    # A member passes the role check and meets the real answer (no such MCP).
    v1_err(v1(m, "POST", "/mcp/invoke", invoke, token=ROLE_TOKENS["member"]), 404, "not_found")
    assert v1_data(v1(m, "PATCH", f"/mcps/{mcp_id}", {"name": "renamed"}, token=ROLE_TOKENS["admin"]))["name"] == "renamed"
    assert v1_data(v1(m, "DELETE", f"/mcps/{owner_made['id']}", token=ROLE_TOKENS["owner"]))["deleted"] is True
    assert listing(m, token=ROLE_TOKENS["viewer"])["pagination"]["total"] == 1


def test_unknown_route_is_404(mcpd):
    v1_err(v1(mcpd, "GET", "/nothing-here"), 404, "not_found")
