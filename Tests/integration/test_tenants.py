"""Tenants, keys and roles (issue 5, part B) on a real mcpd.

Two tenants share one mcpd: tenant A (a UUID, so seed 003's /mcp/{uuid} path is its own) and
tenant B ("acme-b"). Each registers a stdio member server with the SAME id ("files"), a curl tool
and a prompt with the same names, and a /v1 MCP. The tests prove, through every surface — the
execute API (execute, stream, status, cancel, cancel_all), MCP (sessions, tools/list,
tools/call, prompts, the tenant path), the composer (seed 001) and the registry /v1 (seed 002) —
that neither tenant sees or touches the other's anything: another tenant's ids answer exactly like
ids that never existed. Then roles (viewer cannot call, member cannot manage) and the API key
lifecycle (shown once, works, listed without its secret, revoked → 401 at once, kept hashed across
a restart).
"""

from __future__ import annotations

import hashlib
import json
import stat
import uuid
from pathlib import Path

import pytest

from conftest import assert_error, ctl_find_call, run_mcpctl, wait_until
from mcp_http import StreamableClient, TenantClient, json_body, request_body, send
from toolhost import (FIXTURES, PYTHON, composer, composer_call, composer_data, composer_err,
                      composer_ok, composer_tools, manifest, start_mcpd, v1, v1_data, v1_err,
                      v1_ok)

HOSTILE = str(FIXTURES / "hostile_stdio_server.py")
TENANT_A = str(uuid.UUID("6f1c2a4e-0d7b-4c1e-9a55-3b2f8e7d9c10"))
TENANT_B = "acme-b"
TOKENS = {
    "op": "op-owner-token-000001",          # tenant default: the operator
    "a-own": "a-owner-token-000001", "a-adm": "a-admin-token-000001",
    "a-mem": "a-member-token-000001", "a-view": "a-viewer-token-000001",
    "b-own": "b-owner-token-000001", "b-mem": "b-member-token-000001",
}
A_OWN, A_ADM, A_MEM, A_VIEW = TOKENS["a-own"], TOKENS["a-adm"], TOKENS["a-mem"], TOKENS["a-view"]
B_OWN, B_MEM, OP = TOKENS["b-own"], TOKENS["b-mem"], TOKENS["op"]


def tokens_file(path: Path) -> Path:
    path.write_text(
        "# NAME TOKEN [ROLE [TENANT]]\n"
        f"op {OP} owner\n"
        f"a-own {A_OWN} owner {TENANT_A}\n"
        f"a-adm {A_ADM} admin {TENANT_A}\n"
        f"a-mem {A_MEM} member {TENANT_A}\n"
        f"a-view {A_VIEW} viewer {TENANT_A}\n"
        f"b-own {B_OWN} owner {TENANT_B}\n"
        f"b-mem {B_MEM} member {TENANT_B}\n")
    return path


def stdio_server(server_id: str, mark: str, tmp: Path) -> dict:
    return {"id": server_id, "type": "stdio", "command": PYTHON, "args": [HOSTILE], "min_instances": 1,
            "env": {"HOSTILE_STATE_DIR": str(tmp / f"{server_id}-{mark}"), "HOSTILE_MARK": mark},
            # The venv's python lives under /root (0700), out of a strict sandbox's reach.
            "sandbox": "process"}


def curl_tool(name: str, marker: str) -> dict:
    return {"name": name, "tool_type": "curl", "description": f"lookup of {marker}",
            "curl_config": {"value": f"curl -s http://127.0.0.1:9/{marker}"}}


def info_mark(text: str) -> str:
    return json.loads(text)["env"]["HOSTILE_MARK"]


@pytest.fixture(scope="module")
def m(tmp_path_factory):
    """One mcpd for the module, each tenant's registrations made through its own credentials."""
    tmp = tmp_path_factory.mktemp("tenants")
    inst = start_mcpd(tmp / "mcpd", "--tokens-file", tokens_file(tmp / "tokens"))
    inst.tenant_tmp = tmp
    for token, mark in ((A_OWN, "mark-A"), (B_OWN, "mark-B")):
        composer_ok(composer(inst, "register_mcp_server", stdio_server("files", mark, tmp), token=token))
        composer_ok(composer(inst, "add_tools", {"tools": [curl_tool("lookup", mark)]}, token=token))
        composer_ok(composer(inst, "add_prompts", {"prompt_config": [
            {"name": "greet", "description": f"greeting of {mark}", "template": f"hello from {mark}, {{{{who}}}}",
             "arguments": [{"name": "who", "required": True}]}]}, token=token))
    # Only A has this one: B must not find it by any road.
    composer_ok(composer(inst, "register_mcp_server", stdio_server("private-a", "mark-PA", tmp), token=A_OWN))
    for token, names in ((A_MEM, ["files__info", "private-a__info"]), (B_MEM, ["files__info"])):
        wait_until(lambda: set(names) <= set(manifest(inst, token=token)), 30, message=f"tools {names}")
    yield inst
    inst.stop()


def execute_text(m, tool, arguments, token) -> str:
    call_id = m.start_call(tool, arguments, token=token)
    events = m.stream(call_id, token=token, timeout=20)
    assert events[-1].event == "final", events
    return events[-1].data["text"]


# --- what each tenant sees -------------------------------------------------------------------

def test_each_tenant_sees_the_shared_tools_and_only_its_own(m):
    a, b, op = manifest(m, token=A_MEM), manifest(m, token=B_MEM), manifest(m, token=OP)
    for view in (a, b, op):
        assert {"echo", "countdown"} <= set(view), view.keys()
    assert {"files__info", "lookup", "private-a__info"} <= set(a)
    assert {"files__info", "lookup"} <= set(b) and "private-a__info" not in b
    assert not {"files__info", "lookup", "private-a__info"} & set(op), "the default tenant saw a tenant's tools"
    assert a["lookup"]["description"] == "lookup of mark-A" and b["lookup"]["description"] == "lookup of mark-B"
    # The same through MCP tools/list and the composer's list_tools.
    for token, expected, absent in ((A_MEM, {"files__info", "private-a__info"}, set()),
                                    (B_MEM, {"files__info"}, {"private-a__info"})):
        listed = {t["name"] for t in StreamableClient(m, token=token).result("tools/list")["tools"]}
        assert expected <= listed and not absent & listed, listed
        names = set(composer_tools(m, token=token))
        assert expected <= names and not absent & names, names


def test_the_same_server_id_runs_each_tenants_own_server(m):
    assert info_mark(execute_text(m, "files__info", {}, A_MEM)) == "mark-A"
    assert info_mark(execute_text(m, "files__info", {}, B_MEM)) == "mark-B"
    for token, mark in ((A_MEM, "mark-A"), (B_MEM, "mark-B")):
        result = StreamableClient(m, token=token).result("tools/call", {"name": "files__info", "arguments": {}})
        assert info_mark(result["content"][0]["text"]) == mark, result
        data = composer_data(composer_call(m, "files__info", {}, token=token))
        assert info_mark(data["content"][0]["text"]) == mark, data
        invoked = v1_data(v1(m, "POST", "/mcp/invoke", {"mcp_id": "files", "tool": "info", "arguments": {}}, token=token))
        assert invoked["result"]["env"]["HOSTILE_MARK"] == mark, invoked


def test_prompts_are_the_tenants_own(m):
    for token, mark in ((A_MEM, "mark-A"), (B_MEM, "mark-B")):
        c = StreamableClient(m, token=token)
        got = c.result("prompts/get", {"name": "greet", "arguments": {"who": "x"}})
        assert got["messages"][0]["content"]["text"] == f"hello from {mark}, x", got
        listed = composer_data(composer(m, "get_all_prompts", token=token))
        assert [p["template"] for p in listed if p["name"] == "greet"] == [f"hello from {mark}, {{{{who}}}}"], listed
    names = {p["name"] for p in StreamableClient(m, token=OP).result("prompts/list")["prompts"]}
    assert "greet" not in names, names


# --- calls: execute, stream, status, cancel, cancel_all -------------------------------------------

def test_another_tenants_call_answers_like_a_call_that_never_existed(m):
    call_id = m.start_call("countdown", {"seconds": 20}, token=A_MEM)
    never = str(uuid.uuid4())
    try:
        m.wait_status(call_id, "running", token=A_MEM, timeout=15)
        # mcpctl shows whose it is: the credential's name first, then (as much as fits) its tenant.
        code, out, err = run_mcpctl(["status", "--json"], runtime_dir=m.runtime_dir)
        assert code == 0, err
        owner = ctl_find_call(json.loads(out), call_id)["owner"]
        assert owner.startswith("a-mem@") and TENANT_A.startswith(owner[len("a-mem@"):]) and len(owner) >= 20, owner
        for token in (B_OWN, B_MEM, OP, A_OWN):  # A's owner is another credential: calls are per credential
            for path in (f"/mcp/calls/{{}}", f"/mcp/stream/{{}}"):
                theirs, missing = m.get(path.format(call_id), token=token), m.get(path.format(never), token=token)
                assert_error(theirs, 404, "CALL_NOT_FOUND")
                assert (theirs.status, theirs.json()) == (missing.status, missing.json())
            theirs, missing = m.cancel(call_id, token=token), m.cancel(never, token=token)
            assert_error(theirs, 404, "CALL_NOT_FOUND")
            assert theirs.json() == missing.json()
            assert m.cancel_all(token=token).json() == {"cancelled": 0, "call_ids": []}
        assert m.call(call_id, token=A_MEM)["status"] == "running"
        assert m.cancel_all(token=A_MEM).json() == {"cancelled": 1, "call_ids": [call_id]}
    finally:
        m.cancel(call_id, token=A_MEM)


# --- MCP sessions and the seed-003 tenant path ---------------------------------------------------

def test_another_tenants_mcp_session_is_not_found(m):
    a = StreamableClient(m, token=A_MEM)
    for token in (B_MEM, OP):
        intruder = StreamableClient(m, token=token, initialize=False)
        intruder.session_id = a.session_id
        theirs = intruder.post(request_body("tools/list"))
        intruder.session_id = str(uuid.uuid4())
        missing = intruder.post(request_body("tools/list"))
        assert theirs.status == missing.status == 404, (theirs, missing)
        assert json.loads(theirs.body)["error"]["code"] == json.loads(missing.body)["error"]["code"]
        intruder.session_id = a.session_id
        assert intruder.delete().status == 404
    assert "tools" in a.result("tools/list")  # still A's, still alive


def test_seed_003_path_belongs_to_its_tenant(m):
    c = TenantClient(m, TENANT_A, token=A_MEM)
    assert c.session_id
    # Another tenant's credential on A's path, and A's credential on another id: 403, JSON-RPC shape.
    for token, tenant in ((B_MEM, TENANT_A), (A_MEM, str(uuid.uuid4()))):
        body = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
        r = send(m, "POST", f"/mcp/{tenant}", [("Content-Type", "application/json")], json_body(body), token=token)
        assert r.status == 403, r
        err = r.json()
        assert err["jsonrpc"] == "2.0" and err["error"]["code"] == -32003, err
    # A's session through B's credential: refused before any session is looked up.
    r = c.post(request_body("tools/list"), token=B_MEM)
    assert r.status == 403, r
    # The default tenant (the single-tenant deployment) may use any id, as before tenants.
    assert TenantClient(m, str(uuid.uuid4()), token=OP).session_id


# --- composer (seed 001) ---------------------------------------------------------------------------

def test_composer_cannot_reach_another_tenants_server_or_tools(m):
    for operation, arguments in (("delete_mcp_server", {"server_id": "{}"}),
                                 ("deactivate_mcp_server", {"server_id": "{}"}),
                                 ("activate_mcp_server", {"server_id": "{}"}),
                                 ("get_tool_config_by_server", {"server_id": "{}"})):
        theirs = composer_err(composer(m, operation, {k: v.format("private-a") for k, v in arguments.items()}, token=B_OWN),
                              404, "SERVER_NOT_FOUND")
        missing = composer_err(composer(m, operation, {k: v.format("nope") for k, v in arguments.items()}, token=B_OWN),
                               404, "SERVER_NOT_FOUND")
        assert theirs["message"].replace("private-a", "X") == missing["message"].replace("nope", "X")
    for operation, arguments in (("get_tool_config_by_name", {"tool_name": "private-a__info"}),
                                 ("disable_tools", {"tool_names": ["private-a__info"]}),
                                 ("update_tool_description", {"tool_name": "private-a__info", "description": "pwned"})):
        composer_err(composer(m, operation, arguments, token=B_OWN), 404, "TOOL_NOT_FOUND")
    composer_err(composer_call(m, "private-a__info", {}, token=B_OWN), 404, "TOOL_NOT_FOUND")
    servers = {s["id"] for s in composer_data(composer(m, "list_member_servers", token=B_OWN))}
    assert "files" in servers and "private-a" not in servers, servers
    assert "private-a" not in {s["id"] for s in composer_data(composer(m, "member_health", token=B_OWN))}
    # B's changes to its own "files" leave A's untouched.
    composer_ok(composer(m, "update_tool_description", {"tool_name": "files__info", "description": "B's info"}, token=B_OWN))
    composer_ok(composer(m, "disable_tools", {"tool_names": ["lookup"]}, token=B_OWN))
    try:
        assert manifest(m, token=B_MEM)["files__info"]["description"] == "B's info"
        assert "lookup" not in manifest(m, token=B_MEM)
        a = manifest(m, token=A_MEM)
        assert a["files__info"]["description"] != "B's info" and "lookup" in a
    finally:
        composer_ok(composer(m, "enable_tools", {"tool_names": ["lookup"]}, token=B_OWN))
    # A shared tool is the operator's to change, not a tenant's.
    composer_err(composer(m, "disable_tools", {"tool_names": ["echo"]}, token=B_OWN), 403, "PERMISSION_DENIED")
    assert "echo" in manifest(m, token=A_MEM)
    assert "private-a__info" in manifest(m, token=A_MEM)


def test_composer_register_and_delete_stay_in_the_tenant(m):
    tmp = m.tenant_tmp
    composer_ok(composer(m, "register_mcp_server", stdio_server("scratch", "mark-SB", tmp), token=B_OWN))
    wait_until(lambda: "scratch__info" in manifest(m, token=B_MEM), 30, message="scratch tools")
    assert "scratch__info" not in manifest(m, token=A_MEM)
    # A registers the same id independently, then deletes its own; B's is unaffected.
    composer_ok(composer(m, "register_mcp_server", stdio_server("scratch", "mark-SA", tmp), token=A_OWN))
    wait_until(lambda: "scratch__info" in manifest(m, token=A_MEM), 30, message="A's scratch tools")
    composer_ok(composer(m, "delete_mcp_server", {"server_id": "scratch"}, token=A_OWN))
    assert "scratch__info" not in manifest(m, token=A_MEM)
    assert info_mark(execute_text(m, "scratch__info", {}, B_MEM)) == "mark-SB"
    composer_ok(composer(m, "delete_mcp_server", {"server_id": "scratch"}, token=B_OWN))
    composer_err(composer(m, "delete_mcp_server", {"server_id": "scratch"}, token=B_OWN), 404, "SERVER_NOT_FOUND")


# --- registry /v1 (seed 002) -----------------------------------------------------------------------

def test_v1_mcps_are_the_tenants_own(m):
    made = v1_data(v1(m, "POST", "/mcps", {"name": "reg-a", "endpoint_url": "http://127.0.0.1:9/mcp"}, token=A_OWN), 201)
    mcp_id, never = made["id"], "mcp_000000000000"
    try:
        listed_a = {s["id"] for s in v1_ok(v1(m, "GET", "/mcps?per_page=100", token=A_MEM), paginated=True)["data"]}
        listed_b = v1_ok(v1(m, "GET", "/mcps?per_page=100", token=B_MEM), paginated=True)
        assert mcp_id in listed_a and "private-a" in listed_a
        assert not {mcp_id, "private-a"} & {s["id"] for s in listed_b["data"]}, listed_b
        assert listed_b["pagination"]["total"] == len(listed_b["data"])
        for target in (mcp_id, "private-a"):
            for method, path, body in (("GET", f"/mcps/{{}}", None), ("PATCH", f"/mcps/{{}}", {"name": "pwned"}),
                                       ("DELETE", f"/mcps/{{}}", None), ("POST", f"/mcps/{{}}/test", {})):
                theirs = v1_err(v1(m, method, path.format(target), body, token=B_OWN), 404, "not_found")
                missing = v1_err(v1(m, method, path.format(never), body, token=B_OWN), 404, "not_found")
                assert theirs == missing
            invoke = {"mcp_id": target, "tool": "info", "arguments": {}}
            assert v1_err(v1(m, "POST", "/mcp/invoke", invoke, token=B_OWN), 404, "not_found") == \
                v1_err(v1(m, "POST", "/mcp/invoke", {**invoke, "mcp_id": never}, token=B_OWN), 404, "not_found")
        assert v1_data(v1(m, "GET", f"/mcps/{mcp_id}", token=A_MEM))["name"] == "reg-a"
    finally:
        v1_data(v1(m, "DELETE", f"/mcps/{mcp_id}", token=A_OWN))


def test_v1_stats_count_only_the_tenants_own_calls(m):
    def total(token):
        return v1_data(v1(m, "GET", "/mcps/files", token=token))["stats"]["total_requests"]
    before_a, before_b = total(A_MEM), total(B_MEM)
    for _ in range(3):
        v1_data(v1(m, "POST", "/mcp/invoke", {"mcp_id": "files", "tool": "ok", "arguments": {}}, token=B_MEM))
    wait_until(lambda: total(B_MEM) == before_b + 3, 10, message="B's stats")
    assert total(A_MEM) == before_a


# --- roles -----------------------------------------------------------------------------------------

def test_a_viewer_reads_but_cannot_call(m):
    assert "files__info" in manifest(m, token=A_VIEW)
    assert_error(m.execute("echo", {"message": "x"}, token=A_VIEW), 403, "AUTHZ_ERROR")
    c = StreamableClient(m, token=A_VIEW)
    assert "files__info" in {t["name"] for t in c.result("tools/list")["tools"]}
    assert c.rpc("tools/call", {"name": "echo", "arguments": {"message": "x"}}, expect_error=-32003)
    composer_err(composer_call(m, "echo", {"message": "x"}, token=A_VIEW), 403, "PERMISSION_DENIED")
    v1_err(v1(m, "POST", "/mcp/invoke", {"mcp_id": "files", "tool": "ok", "arguments": {}}, token=A_VIEW), 403, "forbidden")


def test_a_member_calls_but_cannot_manage(m):
    assert execute_text(m, "echo", {"message": "hi"}, A_MEM)
    composer_err(composer(m, "register_mcp_server", stdio_server("nope", "x", m.tenant_tmp), token=A_MEM),
                 403, "PERMISSION_DENIED")
    v1_err(v1(m, "POST", "/mcps", {"name": "x", "endpoint_url": "http://127.0.0.1:9/"}, token=A_MEM), 403, "forbidden")
    v1_err(v1(m, "DELETE", "/mcps/files", token=A_MEM), 403, "forbidden")
    v1_err(v1(m, "POST", "/keys", {"name": "x"}, token=A_MEM), 403, "forbidden")
    v1_err(v1(m, "GET", "/keys", token=A_MEM), 403, "forbidden")


# --- API keys --------------------------------------------------------------------------------------

KEY_VIEW = {"id", "name", "tenant", "role", "created_at", "last_used_at"}


def test_key_lifecycle_shown_once_hashed_revoked_at_once(mcpd_factory, tmp_path):
    state = tmp_path / "state"
    flags = ("--tokens-file", tokens_file(tmp_path / "tokens"), "--state-dir", state)
    m = mcpd_factory(*flags)
    created = v1_data(v1(m, "POST", "/keys", {"name": "ci runner", "role": "member"}, token=A_ADM), 201)
    secret = created.pop("key")
    assert set(created) == KEY_VIEW and created["tenant"] == TENANT_A and created["role"] == "member", created
    assert secret.startswith("mcpd_") and len(secret) >= 40

    # It works, as Bearer and as X-API-Key, as a member of tenant A.
    assert "files__info" not in manifest(m, token=secret)  # nothing registered in this mcpd yet
    call_id = m.start_call("echo", {"message": "by key"}, token=secret)
    assert m.stream(call_id, token=secret)[-1].data["text"] == "by key"
    r = m.request("GET", "/mcp/manifest", token=None, headers={"X-API-Key": secret})
    assert r.status == 200, r
    composer_ok(composer(m, "list_tools", token=None, headers={"X-API-Key": secret}))
    # ... with the member's limits, and in tenant A: B cannot see A's call made with it.
    composer_err(composer(m, "register_mcp_server", stdio_server("k", "k", tmp_path), token=secret), 403, "PERMISSION_DENIED")
    assert_error(m.get(f"/mcp/calls/{call_id}", token=B_OWN), 404, "CALL_NOT_FOUND")

    # Listed without its secret; never shown again; not visible to another tenant.
    listed = v1_data(v1(m, "GET", "/keys", token=A_OWN))
    assert [k["id"] for k in listed] == [created["id"]] and set(listed[0]) == KEY_VIEW, listed
    assert listed[0]["last_used_at"] is not None
    one = v1(m, "GET", f"/keys/{created['id']}", token=A_OWN)
    for body in (json.dumps(listed), one.body.decode()):
        assert secret not in body and hashlib.sha256(secret.encode()).hexdigest() not in body
    assert v1_data(v1(m, "GET", "/keys", token=B_OWN)) == []
    assert v1_err(v1(m, "GET", f"/keys/{created['id']}", token=B_OWN), 404, "not_found") == \
        v1_err(v1(m, "GET", "/keys/key_0000000000000000", token=B_OWN), 404, "not_found")
    v1_err(v1(m, "DELETE", f"/keys/{created['id']}", token=B_OWN), 404, "not_found")
    # An admin grants no more than admin.
    v1_err(v1(m, "POST", "/keys", {"name": "x", "role": "owner"}, token=A_ADM), 403, "forbidden")
    v1_err(v1(m, "POST", "/keys", {"name": "x", "tenant": TENANT_B}, token=A_OWN), 403, "forbidden")
    v1_err(v1(m, "POST", "/keys", {"name": "", "role": "member"}, token=A_OWN), 400, "validation_error")
    v1_err(v1(m, "POST", "/keys", {"name": "x", "role": "root"}, token=A_OWN), 400, "validation_error")

    # Kept across a restart, hashed: the plaintext is nowhere in the state directory.
    m.stop()
    m = mcpd_factory(*flags)
    assert m.run("echo", {"message": "after restart"}, token=secret)[-1].data["text"] == "after restart"
    keys_file = state / "keys.json"
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    assert hashlib.sha256(secret.encode()).hexdigest() in keys_file.read_text()
    for path in state.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), f"plaintext key in {path}"
    assert secret not in m.stderr_text()

    # Revoked: the very next request with it is 401, on every surface.
    assert v1_data(v1(m, "DELETE", f"/keys/{created['id']}", token=A_ADM)) == {"id": created["id"], "revoked": True}
    # Seed 000 answers an unknown bearer token 403 AUTHZ_ERROR: a revoked key is exactly that.
    revoked, unknown = m.get("/mcp/manifest", token=secret), m.get("/mcp/manifest", token="mcpd_" + "0" * 64)
    assert_error(revoked, 403, "AUTHZ_ERROR")
    assert revoked.json() == unknown.json()
    composer_err(composer(m, "list_tools", token=secret), 401, "AUTHENTICATION_FAILED")
    v1_err(v1(m, "GET", "/mcps", token=secret), 401, "unauthorized")
    assert StreamableClient(m, token=secret, initialize=False).post(
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}, session=False, version_header=False).status == 401
    assert v1_data(v1(m, "GET", "/keys", token=A_OWN)) == []
    assert secret not in m.stderr_text()


def test_the_operator_makes_a_tenants_first_key(mcpd_factory, tmp_path):
    m = mcpd_factory("--tokens-file", tokens_file(tmp_path / "tokens"))
    created = v1_data(v1(m, "POST", "/keys", {"name": "b bootstrap", "role": "owner", "tenant": TENANT_B}, token=OP), 201)
    assert created["tenant"] == TENANT_B
    # The key is B's owner: it manages B's keys and sees B's list, not A's or the default's.
    second = v1_data(v1(m, "POST", "/keys", {"name": "b member"}, token=created["key"]), 201)
    assert second["tenant"] == TENANT_B and second["role"] == "member"
    assert {k["id"] for k in v1_data(v1(m, "GET", "/keys", token=created["key"]))} == {created["id"], second["id"]}
    assert {k["id"] for k in v1_data(v1(m, "GET", f"/keys?tenant={TENANT_B}", token=OP))} == {created["id"], second["id"]}
    assert v1_data(v1(m, "GET", "/keys", token=OP)) == []
    v1_err(v1(m, "GET", f"/keys?tenant={TENANT_A}", token=B_OWN), 403, "forbidden")


def test_mcpctl_keys_create_list_revoke(mcpd_factory, tmp_path):
    m = mcpd_factory("--tokens-file", tokens_file(tmp_path / "tokens"))
    admin = tmp_path / "admin-token"
    admin.write_text(A_ADM + "\n")
    base = ["--url", f"http://127.0.0.1:{m.port}", "--token-file", admin]
    code, out, err = run_mcpctl(["keys", "create", "--name", "nightly", "--role", "viewer", *base])
    assert code == 0, err
    secret = out.strip()
    assert secret.startswith("mcpd_") and "\n" not in secret and secret not in err, (out, err)
    key_id = err.split()[1]
    assert key_id.startswith("key_") and f"tenant {TENANT_A}" in err and "role viewer" in err, err
    # The key reads (a viewer) in tenant A.
    assert "echo" in manifest(m, token=secret)
    assert_error(m.execute("echo", {"message": "x"}, token=secret), 403, "AUTHZ_ERROR")

    code, out, err = run_mcpctl(["keys", "list", "--json", *base])
    assert code == 0, err
    listed = json.loads(out)
    assert [(k["id"], k["name"], k["role"], k["tenant"]) for k in listed] == [(key_id, "nightly", "viewer", TENANT_A)]
    assert secret not in out
    code, out, _ = run_mcpctl(["keys", "list", *base])
    assert code == 0 and key_id in out and "nightly" in out and secret not in out, out

    # An admin may not mint an owner; mcpd's refusal is the error, exit status 1.
    code, out, err = run_mcpctl(["keys", "create", "--name", "x", "--role", "owner", *base])
    assert code == 1 and out == "" and "may not create" in err, (code, out, err)

    code, out, err = run_mcpctl(["keys", "revoke", key_id, *base])
    assert (code, out.strip()) == (0, f"revoked {key_id}"), err
    assert m.get("/mcp/manifest", token=secret).status == 403
    code, _, err = run_mcpctl(["keys", "revoke", key_id, *base])
    assert code == 1 and "Key not found" in err, err
    # No credential: a clear usage message, nothing sent.
    code, _, err = run_mcpctl(["keys", "list", "--url", f"http://127.0.0.1:{m.port}"])
    assert code == 1 and "MCPD_TOKEN" in err, err


def test_each_tenants_registrations_come_back_as_its_own_after_a_restart(mcpd_factory, tmp_path):
    state = tmp_path / "state"
    flags = ("--tokens-file", tokens_file(tmp_path / "tokens"), "--state-dir", state)
    m = mcpd_factory(*flags)
    for token, mark in ((A_OWN, "mark-A"), (B_OWN, "mark-B")):
        composer_ok(composer(m, "register_mcp_server", stdio_server("files", mark, tmp_path), token=token))
        composer_ok(composer(m, "add_tools", {"tools": [curl_tool("lookup", mark)]}, token=token))
        composer_ok(composer(m, "add_prompts", {"prompt_config": [
            {"name": "greet", "description": mark, "template": f"hi from {mark}"}]}, token=token))
    composer_ok(composer(m, "update_tool_description", {"tool_name": "lookup", "description": "B's lookup"}, token=B_OWN))
    m.stop()

    m = mcpd_factory(*flags)
    for token, mark in ((A_MEM, "mark-A"), (B_MEM, "mark-B")):
        wait_until(lambda: "files__info" in manifest(m, token=token), 30, message="files tools after restart")
        assert info_mark(execute_text(m, "files__info", {}, token)) == mark
        got = StreamableClient(m, token=token).result("prompts/get", {"name": "greet", "arguments": {}})
        assert got["messages"][0]["content"]["text"] == f"hi from {mark}", got
    assert manifest(m, token=B_MEM)["lookup"]["description"] == "B's lookup"
    assert manifest(m, token=A_MEM)["lookup"]["description"] == "lookup of mark-A"
    assert not {"files__info", "lookup"} & set(manifest(m, token=OP))
    assert "files" not in {s["id"] for s in composer_data(composer(m, "list_member_servers", token=OP))}


@pytest.mark.parametrize("line, complaint", [
    ("x tok-000001 member bad/tenant", "tenant 'bad/tenant'"),
    ("x tok-000001 member " + "t" * 65, "tenant '"),
    ("a/b tok-000001 member t1", "must not contain '/'"),
    ("x tok-000001 superuser t1", "unknown role 'superuser'"),
    ("x tok-000001 member t1 extra", "NAME TOKEN [ROLE [TENANT]]"),
])
def test_a_bad_tokens_file_line_stops_mcpd_with_a_clear_message(mcpd_factory, tmp_path, line, complaint):
    path = tmp_path / "tokens"
    path.write_text(line + "\n")
    m = mcpd_factory("--tokens-file", path, wait=False)
    m.expect_exit = 2
    assert m.proc.wait(timeout=10) == 2
    err = m.stderr_text()
    assert complaint in err and "tok-000001" not in err, err
