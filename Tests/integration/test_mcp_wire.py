"""Tests of mcp_wire itself (no mcpd needed): valid messages of each revision pass, and messages the
schema of that revision rejects fail with a message that says where and why."""

from __future__ import annotations

import copy
import hashlib
import json
import re

import jsonschema
import pytest

import mcp_wire
from mcp_wire import SUPPORTED_REVISIONS, check_server_message

R2024, R2025_03, R2025_06, R2025_11, R2026 = SUPPORTED_REVISIONS
NEW = R2026   # stateless: resultType, cacheable lists, server/discover, no initialize or ping

# The files as published at modelcontextprotocol/modelcontextprotocol@b0f60ba5 (mcp-schema/README.md).
SCHEMA_SHA256 = {
    R2024: "61cea2392d4f284092d09bc84b9ac488c0d5618ac2b38a56942fc5b99fd960ce",
    R2025_03: "e720669548c8100a4282c49e580efd6ddf7f28899ea786fc8db251dbdb356131",
    R2025_06: "af845e7e5b9d27107d1690f0936022546177a1403e63ffb11470135b296a2e01",
    R2025_11: "268a5f82ba70fd7e4b6dc4aa1e64f116f74b4d0edcb69dc046829c79dd4e97e7",
    R2026: "ef70b61f99b6d2e5e3b46863822eab08dff6a45bedc7a08914e0e5b133f40203",
}

all_revisions = pytest.mark.parametrize("rev", SUPPORTED_REVISIONS)
stateful_revisions = pytest.mark.parametrize("rev", [r for r in SUPPORTED_REVISIONS if r != NEW])


# ----------------------------------------------------------------------------------------------
# Valid messages of each revision
# ----------------------------------------------------------------------------------------------

def complete(rev: str, body: dict, cacheable: bool = False) -> dict:
    """A result body as `rev` wants it: 2026-07-28 requires resultType, and cache hints on lists."""
    body = dict(body)
    if rev == NEW:
        body["resultType"] = "complete"
        if cacheable:
            body.update(cacheScope="private", ttlMs=0)
    return body


def response(result: dict, id=1) -> dict:
    return {"jsonrpc": "2.0", "id": id, "result": result}


def tool(rev: str) -> dict:
    return {"name": "echo", "description": "Echoes its input",
            "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}},
                            "required": ["text"]}}


def valid_results(rev: str) -> dict[str, dict]:
    text = {"type": "text", "text": "hello"}
    results = {
        "tools/list": complete(rev, {"tools": [tool(rev)]}, cacheable=True),
        "tools/call": complete(rev, {"content": [text], "isError": False}),
        "resources/list": complete(rev, {"resources": [{"uri": "file:///a.txt", "name": "a"}]},
                                   cacheable=True),
        "resources/templates/list": complete(rev, {"resourceTemplates": [
            {"uriTemplate": "file:///{path}", "name": "files"}]}, cacheable=True),
        "resources/read": complete(rev, {"contents": [{"uri": "file:///a.txt", "text": "a"}]},
                                   cacheable=True),
        "prompts/list": complete(rev, {"prompts": [{"name": "greet"}]}, cacheable=True),
        "prompts/get": complete(rev, {"messages": [{"role": "user", "content": text}]}),
        "completion/complete": complete(rev, {"completion": {"values": ["a", "b"], "hasMore": False}}),
    }
    if rev == NEW:
        results["server/discover"] = complete(rev, {
            "supportedVersions": [NEW], "capabilities": {"tools": {"listChanged": True}},
            "cacheScope": "public", "ttlMs": 60000})
        results["subscriptions/listen"] = complete(rev, {
            "_meta": {"io.modelcontextprotocol/subscriptionId": "sub-1"}})
    else:
        results["initialize"] = {"protocolVersion": rev, "capabilities": {"tools": {}},
                                 "serverInfo": {"name": "mcpd", "version": "0.1.0"}}
        results["ping"] = {}
        results["logging/setLevel"] = {}
    return results


@all_revisions
def test_schema_files_are_the_published_ones(rev):
    path = mcp_wire.SCHEMA_DIR / rev / "schema.json"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == SCHEMA_SHA256[rev]
    doc = json.loads(path.read_text())
    draft7 = rev in (R2024, R2025_03, R2025_06)
    assert doc["$schema"] == ("http://json-schema.org/draft-07/schema#" if draft7
                              else "https://json-schema.org/draft/2020-12/schema")
    cls = mcp_wire._revision(rev).validator_class
    assert cls is (jsonschema.Draft7Validator if draft7 else jsonschema.Draft202012Validator)
    cls.check_schema(doc)   # the schema itself is valid for its draft


@all_revisions
def test_every_valid_result_passes_against_its_own_definition(rev):
    expected = mcp_wire.result_definitions(rev)
    for method, result in valid_results(rev).items():
        checked = check_server_message(rev, response(result), method)
        envelope = "JSONRPCResultResponse" if rev in (R2025_11, R2026) else "JSONRPCResponse"
        own = [d for d in expected[method] if d not in ("InputRequiredResult", "CreateTaskResult")]
        assert checked == [envelope, *own], (method, checked)


def test_method_to_result_definitions_per_revision():
    common = {"tools/list": ("ListToolsResult",), "resources/list": ("ListResourcesResult",),
              "resources/templates/list": ("ListResourceTemplatesResult",),
              "prompts/list": ("ListPromptsResult",), "completion/complete": ("CompleteResult",)}
    stateful = {**common, "initialize": ("InitializeResult",), "ping": ("EmptyResult",),
                "tools/call": ("CallToolResult",), "resources/read": ("ReadResourceResult",),
                "prompts/get": ("GetPromptResult",), "logging/setLevel": ("EmptyResult",),
                "resources/subscribe": ("EmptyResult",), "resources/unsubscribe": ("EmptyResult",)}
    for rev in (R2024, R2025_03, R2025_06):
        assert mcp_wire.result_definitions(rev) == stateful
    assert mcp_wire.result_definitions(R2025_11) == {
        **stateful, "tools/call": ("CallToolResult", "CreateTaskResult"),
        "tasks/get": ("GetTaskResult",), "tasks/result": ("GetTaskPayloadResult",),
        "tasks/cancel": ("CancelTaskResult",), "tasks/list": ("ListTasksResult",)}
    assert mcp_wire.result_definitions(R2026) == {
        **common, "server/discover": ("DiscoverResult",),
        "subscriptions/listen": ("SubscriptionsListenResult",),
        "tools/call": ("InputRequiredResult", "CallToolResult"),
        "resources/read": ("InputRequiredResult", "ReadResourceResult"),
        "prompts/get": ("InputRequiredResult", "GetPromptResult")}


def test_server_notifications_and_requests_per_revision():
    base = {"notifications/cancelled", "notifications/progress", "notifications/message",
            "notifications/resources/list_changed", "notifications/resources/updated",
            "notifications/prompts/list_changed", "notifications/tools/list_changed"}
    for rev in (R2024, R2025_03, R2025_06):
        assert set(mcp_wire.server_notification_definitions(rev)) == base
    assert set(mcp_wire.server_notification_definitions(R2025_11)) == base | {
        "notifications/tasks/status", "notifications/elicitation/complete"}
    assert set(mcp_wire.server_notification_definitions(R2026)) == base | {
        "notifications/subscriptions/acknowledged"}
    assert set(mcp_wire.server_request_definitions(R2024)) == {"ping", "sampling/createMessage",
                                                               "roots/list"}
    assert "elicitation/create" in mcp_wire.server_request_definitions(R2025_06)
    assert mcp_wire.server_request_definitions(R2026) == {}


# ----------------------------------------------------------------------------------------------
# Failures
# ----------------------------------------------------------------------------------------------

def fails(rev, message, method=None, *expected: str) -> str:
    """Assert check_server_message rejects the message; every `expected` text is in the failure."""
    with pytest.raises(AssertionError) as info:
        check_server_message(rev, message, method)
    text = str(info.value)
    assert text.startswith(f"MCP {rev}: "), text
    for e in expected:
        assert e in text, f"{e!r} not in failure:\n{text}"
    return text


@all_revisions
def test_tools_list_result_without_tools_fails(rev):
    result = valid_results(rev)["tools/list"]
    del result["tools"]
    fails(rev, response(result), "tools/list", "result is not a valid ListToolsResult",
          "at $.result: 'tools' is a required property")


@all_revisions
def test_tool_without_input_schema_or_with_a_non_object_one_fails(rev):
    result = valid_results(rev)["tools/list"]
    del result["tools"][0]["inputSchema"]
    fails(rev, response(result), "tools/list", "at $.result.tools[0]: 'inputSchema' is a required property")
    result["tools"][0]["inputSchema"] = {"type": "string"}
    fails(rev, response(result), "tools/list", "at $.result.tools[0].inputSchema.type: 'object' was expected")


@all_revisions
def test_text_content_without_text_fails_under_text_content(rev):
    result = valid_results(rev)["tools/call"]
    result["content"] = [{"type": "text", "text": "fine"}, {"type": "text"}]
    fails(rev, response(result), "tools/call", "result is not a valid CallToolResult",
          "at $.result.content[1] (as TextContent): 'text' is a required property")


@all_revisions
def test_content_of_an_unknown_type_fails(rev):
    result = valid_results(rev)["tools/call"]
    result["content"] = [{"type": "html", "text": "<b>x</b>"}]
    fails(rev, response(result), "tools/call", "at $.result.content[0]: matches no variant of TextContent",
          "'text'", "'image'")


@all_revisions
def test_tools_call_result_without_content_fails(rev):
    fails(rev, response(complete(rev, {"isError": True})), "tools/call",
          "at $.result: 'content' is a required property")


@all_revisions
def test_is_error_must_be_a_boolean(rev):
    result = valid_results(rev)["tools/call"]
    result["isError"] = "yes"
    fails(rev, response(result), "tools/call", "at $.result.isError: 'yes' is not of type 'boolean'")


@all_revisions
def test_audio_content_exists_from_2025_03_26(rev):
    result = valid_results(rev)["tools/call"]
    result["content"] = [{"type": "audio", "data": "UklGRg==", "mimeType": "audio/wav"}]
    if rev == R2024:
        fails(rev, response(result), "tools/call", "matches no variant of TextContent, ImageContent, "
                                                   "EmbeddedResource")
    else:
        check_server_message(rev, response(result), "tools/call")
        del result["content"][0]["mimeType"]
        fails(rev, response(result), "tools/call",
              "at $.result.content[0] (as AudioContent): 'mimeType' is a required property")


@all_revisions
def test_resource_link_content_exists_from_2025_06_18(rev):
    result = valid_results(rev)["tools/call"]
    result["content"] = [{"type": "resource_link", "uri": "file:///a.txt", "name": "a"}]
    if rev in (R2024, R2025_03):
        fails(rev, response(result), "tools/call", "matches no variant")
    else:
        check_server_message(rev, response(result), "tools/call")


@all_revisions
def test_structured_content_must_be_an_object_only_in_2025_06_18_and_2025_11_25(rev):
    # 2024-11-05 and 2025-03-26 do not name structuredContent but allow any extra member;
    # 2026-07-28 declares it without a type.
    result = valid_results(rev)["tools/call"]
    result["structuredContent"] = {"echo": "hello"}
    check_server_message(rev, response(result), "tools/call")
    result["structuredContent"] = ["not", "an", "object"]
    if rev in (R2025_06, R2025_11):
        fails(rev, response(result), "tools/call",
              "at $.result.structuredContent: ['not', 'an', 'object'] is not of type 'object'")
    else:
        check_server_message(rev, response(result), "tools/call")


@all_revisions
def test_progress_notification_needs_a_progress_token(rev):
    ok = {"jsonrpc": "2.0", "method": "notifications/progress",
          "params": {"progressToken": "tok-1", "progress": 50, "total": 100, "message": "half"}}
    assert check_server_message(rev, ok) == ["JSONRPCNotification", "ProgressNotification"]
    bad = copy.deepcopy(ok)
    del bad["params"]["progressToken"]
    fails(rev, bad, None, "notifications/progress notification is not a valid ProgressNotification",
          "at $.params: 'progressToken' is a required property")
    bad = copy.deepcopy(ok)
    bad["params"]["progress"] = "50%"
    fails(rev, bad, None, "at $.params.progress: '50%' is not of type 'number'")


@all_revisions
def test_a_notification_needs_the_jsonrpc_member(rev):
    fails(rev, {"method": "notifications/tools/list_changed"}, None,
          "notification is not a valid JSONRPCNotification", "'jsonrpc' is a required property")
    fails(rev, {"jsonrpc": "1.0", "method": "notifications/tools/list_changed"}, None,
          "at $.jsonrpc: '2.0' was expected")


@all_revisions
def test_log_message_level_must_be_a_logging_level(rev):
    ok = {"jsonrpc": "2.0", "method": "notifications/message",
          "params": {"level": "info", "logger": "mcpd", "data": {"event": "started"}}}
    check_server_message(rev, ok)
    bad = copy.deepcopy(ok)
    bad["params"]["level"] = "verbose"
    fails(rev, bad, None, "at $.params.level: 'verbose' is not one of")


@all_revisions
def test_client_notifications_and_unknown_ones_are_not_a_servers(rev):
    fails(rev, {"jsonrpc": "2.0", "method": "notifications/roots/list_changed"}, None,
          "'notifications/roots/list_changed' is not a notification a server may send")
    fails(rev, {"jsonrpc": "2.0", "method": "notifications/mcpd/custom"}, None,
          "is not a notification a server may send", "notifications/progress")


@all_revisions
def test_subscriptions_acknowledged_is_a_2026_07_28_notification(rev):
    message = {"jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
               "params": {"notifications": {"toolsListChanged": True}}}
    if rev == NEW:
        check_server_message(rev, message)
        del message["params"]["notifications"]
        fails(rev, message, None, "'notifications' is a required property")
    else:
        fails(rev, message, None, "is not a notification a server may send")


@all_revisions
def test_response_envelope(rev):
    result = valid_results(rev)["tools/list"]
    fails(rev, {"jsonrpc": "2.0", "result": result}, "tools/list", "'id' is a required property")
    fails(rev, {"jsonrpc": "2.0", "id": None, "result": result}, "tools/list",
          "at $.id: None is not of type 'string', 'integer'")
    fails(rev, {"jsonrpc": "2.0", "id": 1.5, "result": result}, "tools/list", "at $.id: 1.5 is not of type")
    fails(rev, {"id": 1, "result": result}, "tools/list", "'jsonrpc' is a required property")
    fails(rev, {"jsonrpc": "2.0", "id": 1, "result": result, "error": {"code": 1, "message": "x"}},
          "tools/list", "JSON-RPC 2.0: a response has either result or error, not both")
    fails(rev, {"jsonrpc": "2.0", "id": 1}, None, "neither a request, a notification nor a response")
    fails(rev, 42, None, "a JSON-RPC message is an object, not int")


@all_revisions
def test_error_response(rev):
    envelope = "JSONRPCErrorResponse" if rev in (R2025_11, R2026) else "JSONRPCError"
    ok = {"jsonrpc": "2.0", "id": "a", "error": {"code": -32601, "message": "Method not found"}}
    assert check_server_message(rev, ok, "tools/list")[0] == envelope
    fails(rev, {"jsonrpc": "2.0", "id": "a", "error": {"code": "-32601", "message": "x"}}, None,
          f"error response is not a valid {envelope}", "at $.error.code: '-32601' is not of type 'integer'")
    fails(rev, {"jsonrpc": "2.0", "id": "a", "error": {"code": -32601}}, None,
          "at $.error: 'message' is a required property")
    no_id = {"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}}
    if rev in (R2025_11, R2026):    # id became optional on errors
        check_server_message(rev, no_id)
    else:
        fails(rev, no_id, None, "at $: 'id' is a required property")


def test_2026_errors_with_a_code_of_their_own_need_their_data():
    bad = {"jsonrpc": "2.0", "id": 7, "error": {"code": -32022, "message": "Unsupported version"}}
    fails(R2026, bad, None, "error response with code -32022 is not a valid "
                            "UnsupportedProtocolVersionError", "at $.error: 'data' is a required property")
    ok = copy.deepcopy(bad)
    ok["error"]["data"] = {"requested": "1999-01-01", "supported": [R2026]}
    assert check_server_message(R2026, ok) == ["JSONRPCErrorResponse", "UnsupportedProtocolVersionError"]
    ok["error"]["data"] = {"requested": "1999-01-01"}
    fails(R2026, ok, None, "at $.error.data: 'supported' is a required property")
    parse = {"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}}
    assert check_server_message(R2026, parse) == ["JSONRPCErrorResponse", "ParseError"]


def test_2025_11_25_url_elicitation_required_error_needs_its_elicitations():
    bad = {"jsonrpc": "2.0", "id": 7, "error": {"code": -32042, "message": "Needs a URL", "data": {}}}
    fails(R2025_11, bad, None, "URLElicitationRequiredError",
          "at $.error.data: 'elicitations' is a required property")
    assert check_server_message(R2025_06, bad) == ["JSONRPCError"]   # no such code before


@stateful_revisions
def test_initialize_result(rev):
    result = valid_results(rev)["initialize"]
    assert check_server_message(rev, response(result), "initialize")[-1] == "InitializeResult"
    for member in ("protocolVersion", "capabilities", "serverInfo"):
        bad = copy.deepcopy(result)
        del bad[member]
        fails(rev, response(bad), "initialize", f"at $.result: '{member}' is a required property")
    bad = copy.deepcopy(result)
    del bad["serverInfo"]["version"]
    fails(rev, response(bad), "initialize", "at $.result.serverInfo: 'version' is a required property")
    bad = copy.deepcopy(result)
    bad["capabilities"]["tools"] = {"listChanged": "yes"}
    fails(rev, response(bad), "initialize", "at $.result.capabilities.tools.listChanged")


@all_revisions
def test_resources_read_and_prompts_get(rev):
    read = valid_results(rev)["resources/read"]
    read["contents"][0] = {"uri": "file:///a.txt"}          # neither text nor blob
    fails(rev, response(read), "resources/read", "at $.result.contents[0]")
    prompt = valid_results(rev)["prompts/get"]
    prompt["messages"][0]["role"] = "system"
    fails(rev, response(prompt), "prompts/get", "at $.result.messages[0].role: 'system' is not one of")


@all_revisions
def test_unknown_method_checks_the_envelope_only(rev):
    result = complete(rev, {"anything": [1, 2, 3]})
    assert check_server_message(rev, response(result), "mcpd/unknown") == [
        "JSONRPCResultResponse" if rev in (R2025_11, R2026) else "JSONRPCResponse"]
    assert len(check_server_message(rev, response(result))) == 1          # method=None alike
    fails(rev, {"jsonrpc": "2.0", "id": 1, "result": [1]}, "mcpd/unknown", "at $.result: [1] is not of type 'object'")


@stateful_revisions
def test_ping_result_is_an_empty_result(rev):
    assert check_server_message(rev, response({}), "ping")[-1] == "EmptyResult"
    fails(rev, response([]), "ping", "at $.result: [] is not of type 'object'")


# ----------------------------------------------------------------------------------------------
# 2026-07-28: resultType, input-required results, cache hints, server/discover, subscriptions
# ----------------------------------------------------------------------------------------------

def test_2026_every_result_needs_a_known_result_type():
    result = valid_results(NEW)["tools/call"]
    del result["resultType"]
    fails(NEW, response(result), "tools/call", "is not a valid JSONRPCResultResponse",
          "at $.result: 'resultType' is a required property")
    fails(NEW, response({}), None, "'resultType' is a required property")
    result["resultType"] = "done"
    fails(NEW, response(result), "tools/call",
          "resultType 'done' is none of ['complete', 'input_required'] (ResultType's description)")
    # Earlier revisions know no resultType: any value is an extra member.
    check_server_message(R2025_11, response({"content": [], "resultType": "done"}), "tools/call")


def test_2026_input_required_results():
    elicit = {"method": "elicitation/create",
              "params": {"mode": "form", "message": "Which city?",
                         "requestedSchema": {"type": "object",
                                             "properties": {"city": {"type": "string"}}}}}
    ok = {"resultType": "input_required", "inputRequests": {"city": elicit}, "requestState": "s1"}
    for method in ("tools/call", "prompts/get", "resources/read"):
        assert check_server_message(NEW, response(ok), method) == [
            "JSONRPCResultResponse", "InputRequiredResult"]
    state_only = {"resultType": "input_required", "requestState": "opaque"}
    check_server_message(NEW, response(state_only), "tools/call")
    fails(NEW, response({"resultType": "input_required"}), "tools/call",
          "an InputRequiredResult has neither inputRequests nor requestState")
    bad = copy.deepcopy(ok)
    del bad["inputRequests"]["city"]["params"]["message"]
    fails(NEW, response(bad), "tools/call", "result is not a valid InputRequiredResult",
          '$.result.inputRequests.city')
    bad = copy.deepcopy(ok)
    bad["inputRequests"]["city"] = {"method": "tools/list"}
    fails(NEW, response(bad), "tools/call", "matches no variant of CreateMessageRequest, "
                                            "ListRootsRequest, ElicitRequest")
    # Only tools/call, prompts/get and resources/read may ask for input.
    fails(NEW, response(dict(valid_results(NEW)["tools/list"], resultType="input_required",
                             requestState="s")), "tools/list",
          "resultType 'input_required', but tools/list results are only ListToolsResult")
    # A complete result is held to the method's own definition, not to InputRequiredResult.
    fails(NEW, response({"resultType": "complete", "requestState": "s"}), "tools/call",
          "result is not a valid CallToolResult", "'content' is a required property")


def test_2026_list_and_read_results_need_cache_hints():
    for method in ("tools/list", "resources/list", "resources/templates/list", "resources/read",
                   "prompts/list", "server/discover"):
        for member in ("cacheScope", "ttlMs"):
            result = valid_results(NEW)[method]
            del result[member]
            fails(NEW, response(result), method, f"at $.result: '{member}' is a required property")
        result = valid_results(NEW)[method]
        result["cacheScope"] = "shared"
        fails(NEW, response(result), method, "at $.result.cacheScope: 'shared' is not one of")
        result = valid_results(NEW)[method]
        result["ttlMs"] = -1
        fails(NEW, response(result), method, "at $.result.ttlMs: -1 is less than the minimum of 0")


def test_2026_server_discover_result():
    result = valid_results(NEW)["server/discover"]
    assert check_server_message(NEW, response(result), "server/discover")[-1] == "DiscoverResult"
    for member in ("supportedVersions", "capabilities"):
        bad = copy.deepcopy(result)
        del bad[member]
        fails(NEW, response(bad), "server/discover", f"'{member}' is a required property")
    bad = copy.deepcopy(result)
    bad["supportedVersions"] = NEW
    fails(NEW, response(bad), "server/discover", "at $.result.supportedVersions: '2026-07-28' is not of type 'array'")
    bad = copy.deepcopy(result)
    bad["_meta"] = {"io.modelcontextprotocol/serverInfo": {"name": "mcpd"}}
    fails(NEW, response(bad), "server/discover",
          '$.result._meta["io.modelcontextprotocol/serverInfo"]: \'version\' is a required property')


def test_2026_subscriptions_listen_result_needs_the_subscription_id():
    result = valid_results(NEW)["subscriptions/listen"]
    assert check_server_message(NEW, response(result), "subscriptions/listen")[-1] == "SubscriptionsListenResult"
    fails(NEW, response(complete(NEW, {"_meta": {}})), "subscriptions/listen",
          "at $.result._meta: 'io.modelcontextprotocol/subscriptionId' is a required property")
    fails(NEW, response(complete(NEW, {})), "subscriptions/listen", "'_meta' is a required property")


def test_2026_completion_values_are_at_most_100():
    hundred_one = {"completion": {"values": [str(i) for i in range(101)]}}
    fails(NEW, response(complete(NEW, hundred_one)), "completion/complete",
          "at $.result.completion.values: [")
    check_server_message(R2025_11, response(hundred_one), "completion/complete")   # prose only there


def test_2026_has_no_initialize_nor_ping_and_no_server_requests():
    # Unknown to the revision: the envelope only (a result still needs resultType).
    assert check_server_message(NEW, response({"resultType": "complete"}), "initialize") == [
        "JSONRPCResultResponse"]
    fails(NEW, {"jsonrpc": "2.0", "id": 5, "method": "ping"}, None,
          "a request from the server ('ping'), but this revision defines none")


# ----------------------------------------------------------------------------------------------
# Server-to-client requests, 2025-11-25 tasks, batches
# ----------------------------------------------------------------------------------------------

@stateful_revisions
def test_server_requests(rev):
    ping = {"jsonrpc": "2.0", "id": "s1", "method": "ping"}
    assert check_server_message(rev, ping) == ["JSONRPCRequest", "PingRequest"]
    sampling = {"jsonrpc": "2.0", "id": 2, "method": "sampling/createMessage",
                "params": {"messages": [{"role": "user", "content": {"type": "text", "text": "hi"}}],
                           "maxTokens": 100}}
    check_server_message(rev, sampling)
    del sampling["params"]["maxTokens"]
    fails(rev, sampling, None, "sampling/createMessage request is not a valid CreateMessageRequest",
          "at $.params: 'maxTokens' is a required property")
    fails(rev, {"jsonrpc": "2.0", "id": 3, "method": "tools/list"}, None,
          "'tools/list' is not a request a server may send")
    fails(rev, {"jsonrpc": "2.0", "id": None, "method": "ping"}, None,
          "request is not a valid JSONRPCRequest", "at $.id: None is not of type")


def test_2025_11_25_task_augmented_tools_call():
    task = {"taskId": "t1", "status": "working", "createdAt": "2026-01-01T00:00:00Z",
            "lastUpdatedAt": "2026-01-01T00:00:00Z", "ttl": None}
    assert check_server_message(R2025_11, response({"task": task}), "tools/call")[-1] == "CreateTaskResult"
    bad = copy.deepcopy(task)
    bad["status"] = "paused"
    fails(R2025_11, response({"task": bad}), "tools/call", "at $.result.task.status: 'paused' is not one of")
    # Before 2025-11-25 there are no tasks: a task-only result is a CallToolResult without content.
    fails(R2025_06, response({"task": task}), "tools/call", "'content' is a required property")


def test_2025_03_26_batches():
    batch = [response(valid_results(R2025_03)["tools/list"], id=1), response({}, id="p"),
             {"jsonrpc": "2.0", "id": 3, "error": {"code": -32601, "message": "nope"}}]
    checked = check_server_message(R2025_03, batch, {1: "tools/list", "p": "ping"})
    assert checked == ["JSONRPCBatchResponse", "JSONRPCResponse", "ListToolsResult",
                       "JSONRPCResponse", "EmptyResult", "JSONRPCError"]
    bad = copy.deepcopy(batch)
    del bad[0]["result"]["tools"][0]["name"]
    fails(R2025_03, bad, {1: "tools/list"}, "$[0]: tools/list response: result is not a valid "
                                            "ListToolsResult", "at $[0].result.tools[0]: 'name' is a required property")
    bad = copy.deepcopy(batch)
    bad[1]["jsonrpc"] = "1.0"
    fails(R2025_03, bad, None, "the batch is not a valid JSONRPCBatchResponse", "at $[1]")
    fails(R2025_03, [], None, "JSON-RPC 2.0: an empty batch array")
    requests = [{"jsonrpc": "2.0", "id": 1, "method": "ping"},
                {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}]
    assert check_server_message(R2025_03, requests)[0] == "JSONRPCBatchRequest"
    for rev in (R2024, R2025_06, R2025_11, R2026):
        fails(rev, batch, None, "a JSON-RPC batch (array), which this revision does not have")


# ----------------------------------------------------------------------------------------------
# The API around it
# ----------------------------------------------------------------------------------------------

def test_json_text_is_accepted_and_non_json_fails():
    text = json.dumps(response(valid_results(R2025_06)["tools/list"]))
    assert check_server_message(R2025_06, text, "tools/list")[-1] == "ListToolsResult"
    assert check_server_message(R2025_06, text.encode(), "tools/list")[-1] == "ListToolsResult"
    fails(R2025_06, b"{not json", None, "the server sent no JSON")


def test_unknown_revision_is_a_usage_error():
    with pytest.raises(ValueError, match="unknown MCP revision '2099-01-01'"):
        check_server_message("2099-01-01", {})


def test_check_definition_and_validator_cache():
    mcp_wire.check_definition(R2025_06, "Tool", tool(R2025_06))
    with pytest.raises(AssertionError, match=re.escape("at $.tool: 'name' is a required property")):
        mcp_wire.check_definition(R2025_06, "Tool", {"inputSchema": {"type": "object"}}, "$.tool")
    rev = mcp_wire._revision(R2026)
    assert rev.validator("CallToolResult") is rev.validator("CallToolResult")
    assert mcp_wire._revision(R2026) is rev


def test_failure_lists_at_most_a_few_errors_and_a_truncated_message():
    result = {"tools": [{"description": "x" * 3000}] * 10}
    text = fails(R2025_06, response(result), "tools/list", "... and ")
    assert len(text) < 3000
