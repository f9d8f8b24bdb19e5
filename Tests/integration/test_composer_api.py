"""Seed 001's composer API on a real mcpd: every `POST /mcp/tools/{admin_tool}` endpoint with good
and bad input, the exact response envelopes, roles from a tokens file, X-API-Key, GET /health and
/health/detailed; and that every change shows at once in MCP tools/list, /mcp/manifest and
prompts/list.

Member servers here are stdio ones (fixtures/hostile_stdio_server.py, stdlib Python, starts in
milliseconds) registered through register_mcp_server; remote members have their own file.

Assumptions beyond the contract:
- call_tool's `data` is the CallToolResult object (`content`, optional `isError`), and `content`
  equals its content; a successful echo has no isError true.
- /mcp/manifest lists exactly the tools composer list_tools lists (MCP tools/list may add the
  composer's own operations for owner/admin callers, so it is compared as a superset).
- prompts/get answers one `user` message whose text is the template with every {{variable}}
  replaced; a missing required argument is JSON-RPC error -32602.
- get_all_prompts returns the prompt objects with the fields they were added with
  (name, description, template, arguments).
- the detailed health may carry more keys than the seed's (e.g. a timestamp); GET /health has
  exactly the seed's four.
- a malformed (non-JSON) body is 400 INVALID_CONFIGURATION.
"""

from __future__ import annotations

import json
import uuid

import pytest

from conftest import wait_until
from mcp_http import StreamableClient
from toolhost import (FIXTURES, PYTHON, ROLE_TOKENS, composer, composer_call, composer_data,
                      composer_err, composer_ok, composer_tools, is_iso, is_number, manifest,
                      processes_running, role_tokens_file, sdk_tools,
                      stat_fields, text_blocks, wait_gone, wait_tools, write_json)

HOSTILE = str(FIXTURES / "hostile_stdio_server.py")
ENV_SECRET = "env-secret-7f3a9c"
SERVER_KEYS = {"id", "type", "description", "status", "health", "last_check", "response_time",
               "tools_count", "created_at"}
TOOL_CONFIG_KEYS = {"name", "server_id", "source", "description", "original_description", "enabled",
                    "available", "inputSchema"}


def hostile_registration(server_id: str, state_dir) -> dict:
    # `process`: the test interpreter (a venv over /root/.pyenv) and the state directory are
    # root's alone, and a strict sandbox under a root mcpd runs as nobody (test_sandbox.py).
    return {"id": server_id, "type": "stdio", "command": PYTHON, "args": [HOSTILE],
            "env": {"HOSTILE_STATE_DIR": str(state_dir), "HOSTILE_MARK": ENV_SECRET},
            "description": "Hostile test server", "sandbox": "process"}


def mcp_tool_names(m) -> set[str]:
    return {t["name"] for t in StreamableClient(m, "2025-11-25").result("tools/list")["tools"]}


def mcp_tool(m, name: str) -> dict | None:
    for t in StreamableClient(m, "2025-11-25").result("tools/list")["tools"]:
        if t["name"] == name:
            return t
    return None


# --- health ----------------------------------------------------------------------------------

def test_health_is_public_and_has_the_seed_shape(mcpd):
    r = mcpd.get("/health", token=None)
    assert r.status == 200, r
    body = r.json()
    assert set(body) == {"status", "timestamp", "version", "uptime"}, body
    assert body["status"] == "healthy"
    assert is_iso(body["timestamp"]), body
    assert isinstance(body["version"], str) and body["version"], body
    assert isinstance(body["uptime"], int) and 0 <= body["uptime"] < 120, body


def test_health_detailed_needs_credentials_and_lists_members(mcpd_factory, tmp_path):
    config = write_json(tmp_path / "c.json", {"mcpServers": {"hs": {
        "command": PYTHON, "args": [HOSTILE], "env": {"HOSTILE_STATE_DIR": str(tmp_path / "st")},
        "sandbox": "process"}}})
    m = mcpd_factory("--config", config)
    composer_err(m.get("/health/detailed", token=None), 401, "AUTHENTICATION_FAILED")
    composer_err(m.get("/health/detailed", token="not-a-token"), 401, "AUTHENTICATION_FAILED")
    r = m.get("/health/detailed")
    assert r.status == 200, r
    body = r.json()
    assert {"status", "composer", "member_servers"} <= set(body), body
    assert isinstance(body["status"], str) and body["status"], body
    assert body["composer"]["status"] == "running", body
    assert isinstance(body["composer"]["uptime"], int) and isinstance(body["composer"]["version"], str), body
    members = {s["id"]: s for s in body["member_servers"]}
    assert set(members) == {"hs"}, body
    assert set(members["hs"]) == {"id", "status", "last_check", "response_time"}, members
    assert members["hs"]["status"] in ("healthy", "unhealthy", "unknown"), members
    wait_tools(m, {"hs__ok"})

    def healthy():
        s = {x["id"]: x for x in m.get("/health/detailed").json()["member_servers"]}["hs"]
        return s if s["status"] == "healthy" else None
    s = wait_until(healthy, 10, 0.1, message="the stdio member to be healthy")
    assert is_iso(s["last_check"]) and (s["response_time"] is None or is_number(s["response_time"])), s


# --- envelopes, unknown operations, bad bodies ---------------------------------------------------

def test_unknown_admin_tool_is_tool_not_found(mcpd):
    err = composer_err(composer(mcpd, "frobnicate_everything"), 404, "TOOL_NOT_FOUND")
    assert "frobnicate_everything" in err["message"], err


def test_malformed_body_is_invalid_configuration(mcpd):
    composer_err(composer(mcpd, "add_prompts", body=b"{not json"), 400, "INVALID_CONFIGURATION")
    composer_err(composer(mcpd, "add_prompts", body=b"[1, 2]"), 400, "INVALID_CONFIGURATION")


def test_list_tools_matches_the_manifest_and_mcp(mcpd):
    body = composer_ok(composer(mcpd, "list_tools"))
    tools = body["content"]
    assert all(set(t) == {"name", "description", "inputSchema"} for t in tools), tools
    names = [t["name"] for t in tools]
    assert len(names) == len(set(names)), names
    assert {"echo", "countdown", "openai_chat"} <= set(names), names
    assert set(names) == set(manifest(mcpd)), "list_tools and /mcp/manifest disagree"
    assert set(names) <= set(sdk_tools(mcpd)), "a composer tool is missing from MCP tools/list"
    echo = next(t for t in tools if t["name"] == "echo")
    assert echo["inputSchema"]["properties"]["message"]["type"] == "string", echo


def test_call_tool_echo(mcpd):
    body = composer_ok(composer_call(mcpd, "echo", {"message": "héllo composer"}))
    assert body["content"] == [{"type": "text", "text": "héllo composer"}], body
    data = body["data"]
    assert isinstance(data, dict) and data.get("content") == body["content"], body
    assert data.get("isError", False) is False, body


def test_call_tool_countdown_finishes(mcpd):
    body = composer_ok(composer_call(mcpd, "countdown", {"seconds": 1}))
    assert text_blocks(body["content"]) == "done", body


@pytest.mark.parametrize("payload,status,code", [
    ({"arguments": {"message": "no name"}}, 400, "INVALID_CONFIGURATION"),
    ({"name": "no_such_tool_anywhere", "arguments": {}}, 404, "TOOL_NOT_FOUND"),
    ({"name": "echo", "arguments": {"message": 5}}, 400, "INVALID_CONFIGURATION"),
    ({"name": "echo", "arguments": {}}, 400, "INVALID_CONFIGURATION"),
    ({"name": "echo", "arguments": "message=hi"}, 400, "INVALID_CONFIGURATION"),
], ids=["missing-name", "unknown-tool", "wrong-type", "missing-required", "arguments-not-object"])
def test_call_tool_errors(mcpd, payload, status, code):
    composer_err(composer(mcpd, "call_tool", body=payload), status, code)


# --- servers -------------------------------------------------------------------------------------

def test_register_stdio_server_and_manage_it(mcpd, tmp_path):
    state = tmp_path / "hs"
    r = composer(mcpd, "register_mcp_server", hostile_registration("h1", state))
    body = composer_ok(r)
    assert body["content"] == [{"type": "text", "text": "Server registered successfully"}], body
    server = body["data"]
    assert SERVER_KEYS <= set(server), server
    assert server["id"] == "h1" and server["type"] == "stdio" and server["status"] == "active", server
    assert server["command"] == PYTHON and server["args"] == [HOSTILE], server
    assert server["description"] == "Hostile test server", server
    assert server["health"] in ("unknown", "healthy"), server
    assert is_iso(server["created_at"]), server
    assert ENV_SECRET not in r.body.decode(), "env values must never be returned"

    wait_tools(mcpd, {"h1__ok", "h1__crash"})
    assert {"h1__ok", "h1__slow"} <= mcp_tool_names(mcpd)
    assert {"h1__ok", "h1__slow"} <= set(composer_tools(mcpd))
    text = text_blocks(composer_ok(composer_call(mcpd, "h1__ok", {"message": "via composer"}))["content"])
    assert text.startswith("ok via composer pid="), text

    listed = composer_ok(composer(mcpd, "list_member_servers"))
    assert len(listed["content"]) == 1 and listed["content"][0]["type"] == "text", listed
    assert json.loads(listed["content"][0]["text"]) == listed["data"], listed
    mine = [s for s in listed["data"] if s["id"] == "h1"]
    assert len(mine) == 1 and mine[0]["tools_count"] == 11, listed["data"]
    assert ENV_SECRET not in json.dumps(listed), "env values must never be listed"

    health = composer_ok(composer(mcpd, "member_health"))
    assert json.loads(health["content"][0]["text"]) == health["data"], health
    item = next(h for h in health["data"] if h["id"] == "h1")
    assert set(item) == {"id", "status", "last_check", "response_time"}, item

    # Tool configurations.
    cfg = composer_data(composer(mcpd, "get_tool_config_by_name", {"tool_name": "h1__ok"}))
    assert TOOL_CONFIG_KEYS <= set(cfg), cfg
    assert cfg["name"] == "h1__ok" and cfg["server_id"] == "h1" and cfg["source"] == "stdio", cfg
    assert cfg["description"] == cfg["original_description"] == "Answers ok with the pid.", cfg
    assert cfg["enabled"] is True and cfg["available"] is True, cfg
    assert cfg["inputSchema"]["properties"]["message"]["type"] == "string", cfg
    by_server = composer_data(composer(mcpd, "get_tool_config_by_server", {"server_id": "h1"}))
    assert sorted(c["name"] for c in by_server) == sorted(f"h1__{t}" for t in (
        "ok", "info", "crash", "hang", "slow", "flood_stderr", "change_tools", "progress",
        "background_child", "fail", "tool_error")), by_server
    assert all(c["server_id"] == "h1" and c["source"] == "stdio" for c in by_server), by_server

    # Deactivate: the tools vanish everywhere and calls are refused; activate brings them back.
    pids = [p for p in processes_running(HOSTILE) if stat_fields(p) and stat_fields(p)["ppid"] == mcpd.pid]
    assert pids, "no running process of the stdio member"
    off = composer_ok(composer(mcpd, "deactivate_mcp_server", {"server_id": "h1"}))
    assert off["data"]["id"] == "h1" and off["data"]["status"] == "inactive", off
    assert not {n for n in manifest(mcpd) if n.startswith("h1__")}, "tools of an inactive server listed"
    assert not {n for n in mcp_tool_names(mcpd) if n.startswith("h1__")}
    assert not {n for n in composer_tools(mcpd) if n.startswith("h1__")}
    composer_err(composer_call(mcpd, "h1__ok", {}), 404, "TOOL_NOT_FOUND")
    on = composer_ok(composer(mcpd, "activate_mcp_server", {"server_id": "h1"}))
    assert on["data"]["status"] == "active", on
    wait_tools(mcpd, {"h1__ok"})
    assert text_blocks(composer_ok(composer_call(mcpd, "h1__ok", {}))["content"]).startswith("ok pid=")

    # Delete: gone from every list, its processes end, and it is unknown afterwards.
    pids = [p for p in processes_running(HOSTILE) if stat_fields(p) and stat_fields(p)["ppid"] == mcpd.pid]
    gone = composer_ok(composer(mcpd, "delete_mcp_server", {"server_id": "h1"}))
    assert gone["data"] == {"deleted": True, "server_id": "h1"}, gone
    assert not {n for n in manifest(mcpd) if n.startswith("h1__")}
    assert "h1" not in {s["id"] for s in composer_data(composer(mcpd, "list_member_servers"))}
    wait_gone(pids, 10, "the deleted stdio server's processes")
    for op in ("delete_mcp_server", "activate_mcp_server", "deactivate_mcp_server"):
        err = composer_err(composer(mcpd, op, {"server_id": "h1"}), 404, "SERVER_NOT_FOUND")
        assert "h1" in err["message"], err
    composer_err(composer(mcpd, "get_tool_config_by_server", {"server_id": "h1"}), 404, "SERVER_NOT_FOUND")
    composer_err(composer(mcpd, "get_tool_config_by_name", {"tool_name": "h1__ok"}), 404, "TOOL_NOT_FOUND")


@pytest.mark.parametrize("arguments,field", [
    ({"id": "bad__id", "type": "http", "endpoint": "http://127.0.0.1:9/mcp"}, "id"),
    ({"id": "-leading-dash", "type": "http", "endpoint": "http://127.0.0.1:9/mcp"}, "id"),
    ({"id": "has space", "type": "http", "endpoint": "http://127.0.0.1:9/mcp"}, "id"),
    ({"type": "http", "endpoint": "http://127.0.0.1:9/mcp"}, "id"),
    ({"id": "ftp1", "type": "ftp", "endpoint": "ftp://127.0.0.1/"}, "type"),
    ({"id": "noendpoint", "type": "http"}, "endpoint"),
    ({"id": "badurl", "type": "http", "endpoint": "not a url"}, "endpoint"),
    ({"id": "nocommand", "type": "stdio"}, "command"),
    ({"id": "badargs", "type": "stdio", "command": "/bin/true", "args": "-v"}, "args"),
    ({"id": "magic", "type": "http", "endpoint": "http://127.0.0.1:9/mcp", "auth_strategy": "magic"},
     "auth_strategy"),
    ({"id": "notoken", "type": "http", "endpoint": "http://127.0.0.1:9/mcp", "auth_strategy": "bearer",
      "auth": {}}, "auth"),
], ids=["double-underscore", "leading-dash", "space", "no-id", "bad-type", "no-endpoint", "bad-url",
        "no-command", "args-not-list", "bad-auth-strategy", "bearer-without-token"])
def test_register_rejects_bad_fields(mcpd, arguments, field):
    err = composer_err(composer(mcpd, "register_mcp_server", arguments), 400, "INVALID_CONFIGURATION")
    named = json.dumps(err["details"]) + err["message"]
    assert field in named, f"the error should name {field!r}: {err}"
    assert not [s for s in composer_data(composer(mcpd, "list_member_servers"))
                if s["id"] == arguments.get("id")], "a rejected server was registered"


def test_register_duplicate_id_is_rejected(mcpd, tmp_path):
    composer_ok(composer(mcpd, "register_mcp_server", hostile_registration("dup", tmp_path / "a")))
    err = composer_err(composer(mcpd, "register_mcp_server", hostile_registration("dup", tmp_path / "b")),
                       400, "INVALID_CONFIGURATION")
    assert "dup" in err["message"] + json.dumps(err["details"]), err
    assert [s["id"] for s in composer_data(composer(mcpd, "list_member_servers"))].count("dup") == 1


@pytest.mark.parametrize("op,arguments", [
    ("delete_mcp_server", {"server_id": "nope"}),
    ("activate_mcp_server", {"server_id": "nope"}),
    ("deactivate_mcp_server", {"server_id": "nope"}),
    ("get_tool_config_by_server", {"server_id": "nope"}),
])
def test_unknown_server_is_server_not_found(mcpd, op, arguments):
    composer_err(composer(mcpd, op, arguments), 404, "SERVER_NOT_FOUND")


# --- tool settings -------------------------------------------------------------------------------

def test_builtin_tool_config(mcpd):
    cfg = composer_data(composer(mcpd, "get_tool_config_by_name", {"tool_name": "echo"}))
    assert TOOL_CONFIG_KEYS <= set(cfg), cfg
    assert cfg["name"] == "echo" and cfg["server_id"] is None and cfg["source"] == "builtin", cfg
    assert cfg["enabled"] is True and cfg["available"] is True, cfg
    composer_err(composer(mcpd, "get_tool_config_by_name", {"tool_name": "nope"}), 404, "TOOL_NOT_FOUND")


def test_update_description_shows_everywhere_at_once(mcpd):
    original = manifest(mcpd)["echo"]["description"]
    new = f"Echo, described anew {uuid.uuid4().hex[:6]}"
    cfg = composer_data(composer(mcpd, "update_tool_description", {"tool_name": "echo", "description": new}))
    assert cfg["name"] == "echo" and cfg["description"] == new, cfg
    assert cfg["original_description"] == original, cfg
    assert manifest(mcpd)["echo"]["description"] == new
    assert mcp_tool(mcpd, "echo")["description"] == new
    assert composer_tools(mcpd)["echo"]["description"] == new
    assert sdk_tools(mcpd)["echo"].description == new
    composer_err(composer(mcpd, "update_tool_description", {"tool_name": "nope", "description": "x"}),
                 404, "TOOL_NOT_FOUND")
    composer_err(composer(mcpd, "update_tool_description", {"tool_name": "echo", "description": 5}),
                 400, "INVALID_CONFIGURATION")


def test_disable_and_enable_tools(mcpd):
    data = composer_data(composer(mcpd, "disable_tools", {"tool_names": ["echo", "countdown"]}))
    assert sorted(data["disabled"]) == ["countdown", "echo"], data
    assert not {"echo", "countdown"} & set(manifest(mcpd))
    assert not {"echo", "countdown"} & mcp_tool_names(mcpd)
    assert not {"echo", "countdown"} & set(composer_tools(mcpd))
    composer_err(composer_call(mcpd, "echo", {"message": "x"}), 404, "TOOL_NOT_FOUND")
    r = mcpd.execute("echo", {"message": "x"})
    assert r.status == 404 and r.json()["error"]["code"] == "TOOL_NOT_FOUND", r
    msg = StreamableClient(mcpd, "2025-11-25").rpc("tools/call", {"name": "echo", "arguments": {"message": "x"}},
                                                    expect_error=-32602)
    assert "echo" in msg["error"]["message"], msg
    cfg = composer_data(composer(mcpd, "get_tool_config_by_name", {"tool_name": "echo"}))
    assert cfg["enabled"] is False, cfg

    data = composer_data(composer(mcpd, "enable_tools", {"tool_names": ["echo"]}))
    assert data == {"enabled": ["echo"]}, data
    assert "echo" in manifest(mcpd) and "countdown" not in manifest(mcpd)
    assert text_blocks(composer_ok(composer_call(mcpd, "echo", {"message": "back"}))["content"]) == "back"


def test_disable_with_an_unknown_name_changes_nothing(mcpd):
    err = composer_err(composer(mcpd, "disable_tools", {"tool_names": ["echo", "no_such_tool"]}),
                       404, "TOOL_NOT_FOUND")
    assert "no_such_tool" in err["message"] + json.dumps(err["details"]), err
    assert "echo" in manifest(mcpd), "disable_tools changed something although it failed"
    composer_err(composer(mcpd, "enable_tools", {"tool_names": ["no_such_tool"]}), 404, "TOOL_NOT_FOUND")
    composer_err(composer(mcpd, "disable_tools", {"tool_names": "echo"}), 400, "INVALID_CONFIGURATION")


# --- prompts ---------------------------------------------------------------------------------------

PROMPT = {
    "name": "greet_user",
    "description": "Greets a user somewhere",
    "template": "Hello {{name}}, welcome to {{place}}!",
    "arguments": [
        {"name": "name", "type": "string", "required": True, "description": "Who to greet"},
        {"name": "place", "type": "string", "required": True, "description": "Where they are"},
    ],
}


def test_add_prompts_then_list_and_get_over_mcp(mcpd):
    data = composer_data(composer(mcpd, "add_prompts", {"prompt_config": [PROMPT]}))
    assert data == {"added": ["greet_user"]}, data

    c = StreamableClient(mcpd, "2025-11-25")
    prompts = {p["name"]: p for p in c.result("prompts/list")["prompts"]}
    assert "greet_user" in prompts and "greeting" in prompts, prompts
    listed = prompts["greet_user"]
    assert listed["description"] == "Greets a user somewhere", listed
    assert [(a["name"], a.get("required"), a.get("description")) for a in listed["arguments"]] == [
        ("name", True, "Who to greet"), ("place", True, "Where they are")], listed

    got = c.result("prompts/get", {"name": "greet_user", "arguments": {"name": "Ada", "place": "Paris"}})
    assert len(got["messages"]) == 1, got
    message = got["messages"][0]
    assert message["role"] == "user", got
    assert message["content"] == {"type": "text", "text": "Hello Ada, welcome to Paris!"}, got
    c.rpc("prompts/get", {"name": "greet_user", "arguments": {"name": "Ada"}}, expect_error=-32602)

    body = composer_ok(composer(mcpd, "get_all_prompts"))
    assert len(body["content"]) == 1 and json.loads(body["content"][0]["text"]) == body["data"], body
    mine = [p for p in body["data"] if p["name"] == "greet_user"]
    assert len(mine) == 1, body["data"]
    assert {k: mine[0].get(k) for k in ("name", "description", "template")} == \
        {k: PROMPT[k] for k in ("name", "description", "template")}, mine
    assert [a["name"] for a in mine[0]["arguments"]] == ["name", "place"], mine


def test_add_prompts_rejects_bad_items(mcpd):
    composer_err(composer(mcpd, "add_prompts", {"prompt_config": []}), 400, "INVALID_CONFIGURATION")
    composer_err(composer(mcpd, "add_prompts", {"prompt_config": [{"name": "no_template"}]}),
                 400, "INVALID_CONFIGURATION")
    composer_err(composer(mcpd, "add_prompts", {"prompt_config": [{"template": "no name"}]}),
                 400, "INVALID_CONFIGURATION")
    names = {p["name"] for p in composer_data(composer(mcpd, "get_all_prompts"))}
    assert "no_template" not in names


# --- roles and credentials -----------------------------------------------------------------------

@pytest.fixture
def roles_mcpd(mcpd_factory, tmp_path):
    return mcpd_factory("--tokens-file", role_tokens_file(tmp_path / "tokens"), tokens=())


def test_no_or_unknown_credentials_are_401(roles_mcpd):
    for token in (None, "not-a-configured-token"):
        err = composer_err(composer(roles_mcpd, "list_tools", token=token), 401, "AUTHENTICATION_FAILED")
        assert err["message"], err
    composer_err(composer(roles_mcpd, "list_tools", token=None, headers={"X-API-Key": "wrong"}),
                 401, "AUTHENTICATION_FAILED")
    assert roles_mcpd.get("/health", token=None).status == 200


def test_viewer_may_read_only(roles_mcpd):
    viewer = ROLE_TOKENS["viewer"]
    for op, args in (("list_tools", {}), ("list_member_servers", {}), ("member_health", {}),
                     ("get_all_prompts", {}), ("get_tool_config_by_name", {"tool_name": "echo"})):
        composer_ok(composer(roles_mcpd, op, args, token=viewer))
    composer_err(composer_call(roles_mcpd, "echo", {"message": "x"}, token=viewer), 403, "PERMISSION_DENIED")
    for op, args in (("register_mcp_server", {"id": "v1", "type": "http", "endpoint": "http://127.0.0.1:9/mcp"}),
                     ("disable_tools", {"tool_names": ["echo"]}),
                     ("update_tool_description", {"tool_name": "echo", "description": "viewer was here"}),
                     ("add_prompts", {"prompt_config": [PROMPT]}),
                     ("add_tools", {"tools": [{"name": "t", "tool_type": "curl",
                                               "curl_config": {"value": "curl http://127.0.0.1:9/"}}]}),
                     ("delete_mcp_server", {"server_id": "whatever"})):
        composer_err(composer(roles_mcpd, op, args, token=viewer), 403, "PERMISSION_DENIED")
    # Nothing changed.
    assert manifest(roles_mcpd, token=ROLE_TOKENS["owner"])["echo"]["description"] != "viewer was here"


def test_member_may_call_but_not_manage(roles_mcpd):
    member = ROLE_TOKENS["member"]
    body = composer_ok(composer_call(roles_mcpd, "echo", {"message": "member call"}, token=member))
    assert body["content"] == [{"type": "text", "text": "member call"}]
    composer_err(composer(roles_mcpd, "disable_tools", {"tool_names": ["echo"]}, token=member),
                 403, "PERMISSION_DENIED")
    composer_err(composer(roles_mcpd, "add_prompts", {"prompt_config": [PROMPT]}, token=member),
                 403, "PERMISSION_DENIED")
    assert "echo" in composer_tools(roles_mcpd, token=member)


def test_admin_and_owner_may_manage(roles_mcpd):
    for role in ("admin", "owner"):
        prompt = dict(PROMPT, name=f"prompt_by_{role}")
        data = composer_data(composer(roles_mcpd, "add_prompts", {"prompt_config": [prompt]},
                                      token=ROLE_TOKENS[role]))
        assert data == {"added": [f"prompt_by_{role}"]}
    names = {p["name"] for p in composer_data(composer(roles_mcpd, "get_all_prompts", token=ROLE_TOKENS["viewer"]))}
    assert {"prompt_by_admin", "prompt_by_owner"} <= names


def test_x_api_key_is_accepted(roles_mcpd):
    r = composer(roles_mcpd, "disable_tools", {"tool_names": ["countdown"]}, token=None,
                 headers={"X-API-Key": ROLE_TOKENS["admin"]})
    assert composer_data(r) == {"disabled": ["countdown"]}
    r = composer(roles_mcpd, "list_tools", token=None, headers={"X-API-Key": ROLE_TOKENS["viewer"]})
    assert "countdown" not in {t["name"] for t in composer_ok(r)["content"]}
    composer_err(composer(roles_mcpd, "enable_tools", {"tool_names": ["countdown"]}, token=None,
                          headers={"X-API-Key": ROLE_TOKENS["viewer"]}), 403, "PERMISSION_DENIED")
    r = roles_mcpd.get("/health/detailed", token=None, headers={"X-API-Key": ROLE_TOKENS["viewer"]})
    assert r.status == 200 and r.json()["composer"]["status"] == "running", r
