"""Configured HTTP tools (issue 4): composer add_tools with curl command lines and
add_tools_from_openapi with OpenAPI 3.0 and 3.1 documents, against fixtures/upstream_http.py; each
tool is listed with the input schema its placeholders / parameters imply and called through the
composer, MCP (the official SDK) and the execute API, and the upstream's request log proves what
went over the wire (method, path, query, headers, body, credentials).

Assumptions beyond the contract:
- curl semantics as curl has them: -d without -X means POST with
  Content-Type application/x-www-form-urlencoded; -G moves -d data into the query; long options
  (--request, --header, --data, --data-raw, --url) work like the short ones; -u sends Basic auth.
- a `{{name}}` placeholder in the URL is percent-encoded when substituted (so "&" stays inside
  the value); in a header or body it is substituted as is.
- a curl/OpenAPI tool's result text is the upstream body; its JSON is what the tests parse.
- an upstream non-2xx answer fails the call: composer 500 TOOL_EXECUTION_FAILED (message
  "HTTP <status>: …"), MCP isError, execute `error` event of kind `upstream_http_error` whose
  message starts "HTTP <status>"; a refused connection is 502 SERVER_CONNECTION_FAILED / kind
  `connection_failed`.
- add_tools is all-or-nothing: one bad item adds none of the batch.
- OpenAPI tools are named by operationId; path, query and header parameters are inputs of the same
  name (integer parameters typed integer), the JSON request body is the input `body` (required
  when the requestBody is), and $ref's are resolved into the input schema (no "$ref" left in it).
- add_tools_from_openapi's `base_url` overrides the document's servers.
"""

from __future__ import annotations

import base64
import copy
import json

import pytest

from conftest import assert_error, free_port
from toolhost import (composer, composer_call, composer_data, composer_err, composer_ok,
                      composer_tools, error_event, final_text, manifest, module_programs,  # noqa: F401
                      sdk_call, sdk_text, sdk_tools, text_blocks, well_formed)

PET_TOKEN = "pet-store-token-31a5"


@pytest.fixture(scope="module")
def up(module_programs):
    """An open upstream (echo, weather, status codes, an unguarded pet store)."""
    return module_programs("upstream_http.py")


@pytest.fixture(scope="module")
def pets(module_programs):
    """A pet store that wants `Authorization: Bearer PET_TOKEN`."""
    return module_programs("upstream_http.py", "--auth", f"bearer:{PET_TOKEN}")


@pytest.fixture(scope="module")
def basic_up(module_programs):
    return module_programs("upstream_http.py", "--auth", "basic:alice:wonder land")


def curl_tool(name: str, command: str, description: str = "") -> dict:
    item = {"name": name, "tool_type": "curl", "curl_config": {"value": command}}
    if description:
        item["description"] = description
    return item


def add_tools(m, *items) -> list[str]:
    body = composer_ok(composer(m, "add_tools", {"tools": list(items)}))
    assert body["content"] and body["content"][0]["type"] == "text", body
    return body["data"]["added"]


def call_json(m, name: str, arguments: dict):
    """composer call_tool; the result text parsed as JSON."""
    body = composer_ok(composer_call(m, name, arguments))
    assert body["data"].get("isError", False) is False, body
    return json.loads(text_blocks(body["content"]))


def last_request(upstream) -> dict:
    log = upstream.get_json("/__log")
    assert log, "the upstream saw no request"
    return log[-1]


# --- curl ------------------------------------------------------------------------------------

def test_placeholder_becomes_the_input_schema_and_calls_work_everywhere(mcpd, up):
    added = add_tools(mcpd, curl_tool("city_weather", f"curl '{up.base}/weather?q={{{{city}}}}'",
                                      "Get weather information") | {"permission": {"user": "read"}})
    assert added == ["city_weather"]

    tool = sdk_tools(mcpd)["city_weather"]
    assert tool.description == "Get weather information"
    assert tool.input_schema["properties"]["city"]["type"] == "string", tool.input_schema
    assert tool.input_schema["required"] == ["city"], tool.input_schema
    assert manifest(mcpd)["city_weather"]["input_schema"]["required"] == ["city"]
    assert composer_tools(mcpd)["city_weather"]["inputSchema"]["properties"]["city"]["type"] == "string"
    cfg = composer_data(composer(mcpd, "get_tool_config_by_name", {"tool_name": "city_weather"}))
    assert cfg["source"] == "curl" and cfg["server_id"] is None and cfg["enabled"] is True, cfg

    assert call_json(mcpd, "city_weather", {"city": "Paris"}) == {"city": "Paris", "temp": 21}
    tricky = "São Paulo & Co"
    result = sdk_call(mcpd, "city_weather", {"city": tricky})
    assert not result.is_error, result
    assert json.loads(sdk_text(result)) == {"city": tricky, "temp": 21}
    seen = last_request(up)
    assert seen["method"] == "GET" and seen["path"] == "/weather" and seen["query"] == {"q": tricky}, seen
    events = mcpd.run("city_weather", {"city": "Lyon"})
    well_formed(events)
    assert json.loads(final_text(events)) == {"city": "Lyon", "temp": 21}

    composer_err(composer_call(mcpd, "city_weather", {}), 400, "INVALID_CONFIGURATION")
    assert_error(mcpd.execute("city_weather", {"town": "Paris"}), 422, "VALIDATION_ERROR")


def test_post_with_json_body_and_headers(mcpd, up):
    add_tools(mcpd, curl_tool(
        "create_item",
        f"curl -X POST '{up.base}/echo/items' -H 'Content-Type: application/json' "
        "-H 'X-Trace: {{trace}}' -d '{\"name\": \"{{name}}\", \"qty\": 2}'"))
    schema = manifest(mcpd)["create_item"]["input_schema"]
    assert set(schema["properties"]) == {"trace", "name"} and sorted(schema["required"]) == ["name", "trace"], schema

    echoed = call_json(mcpd, "create_item", {"trace": "trace-77", "name": "widget"})
    assert echoed["method"] == "POST" and echoed["path"] == "/echo/items", echoed
    assert echoed["headers"]["x-trace"] == "trace-77", echoed
    assert echoed["headers"]["content-type"] == "application/json", echoed
    assert echoed["json"] == {"name": "widget", "qty": 2}, echoed
    assert last_request(up)["json"] == {"name": "widget", "qty": 2}


def test_curl_semantics_data_get_and_long_options(mcpd, up):
    added = add_tools(
        mcpd,
        curl_tool("implied_post", f"curl {up.base}/echo/implied -d 'a=1&b={{{{b}}}}'"),
        curl_tool("long_put", f"curl --request PUT --header 'X-One: 1' --data-raw 'hello {{{{who}}}}' "
                              f"--url {up.base}/echo/put"),
        curl_tool("get_with_data", f"curl -G {up.base}/echo/get -d 'q={{{{q}}}}' -d 'n=5'"))
    assert added == ["implied_post", "long_put", "get_with_data"]

    implied = call_json(mcpd, "implied_post", {"b": "two"})
    assert implied["method"] == "POST" and implied["body"] == "a=1&b=two", implied
    assert implied["headers"]["content-type"] == "application/x-www-form-urlencoded", implied

    put = call_json(mcpd, "long_put", {"who": "world"})
    assert put["method"] == "PUT" and put["path"] == "/echo/put" and put["body"] == "hello world", put
    assert put["headers"]["x-one"] == "1", put

    got = call_json(mcpd, "get_with_data", {"q": "abc"})
    assert got["method"] == "GET" and got["query"] == {"q": "abc", "n": "5"} and got["body"] == "", got


def test_basic_auth_and_bearer_header(mcpd, basic_up, pets):
    add_tools(mcpd,
              curl_tool("secure_echo", f"curl -u 'alice:wonder land' {basic_up.base}/secure/echo"),
              curl_tool("wrong_password", f"curl -u alice:nope {basic_up.base}/secure/echo"),
              curl_tool("pet_by_token", f"curl '{pets.base}/pets/1' -H 'Authorization: Bearer {{{{token}}}}'"))
    echoed = call_json(mcpd, "secure_echo", {})
    expected = "Basic " + base64.b64encode(b"alice:wonder land").decode()
    assert echoed["headers"]["authorization"] == expected, echoed
    err = composer_err(composer_call(mcpd, "wrong_password", {}), 500, "TOOL_EXECUTION_FAILED")
    assert "HTTP 401" in err["message"], err
    assert call_json(mcpd, "pet_by_token", {"token": PET_TOKEN}) == {"id": 1, "name": "Rex", "tag": "dog"}


def test_upstream_error_status_fails_the_call(mcpd, up):
    add_tools(mcpd, curl_tool("not_found", f"curl {up.base}/status/404"),
              curl_tool("unavailable", f"curl {up.base}/status/503"),
              curl_tool("no_content", f"curl -X DELETE {up.base}/status/204"))
    err = composer_err(composer_call(mcpd, "not_found", {}), 500, "TOOL_EXECUTION_FAILED")
    assert "HTTP 404" in err["message"], err
    result = sdk_call(mcpd, "unavailable")
    assert result.is_error and "503" in sdk_text(result), result
    events = mcpd.run("not_found", {})
    well_formed(events)
    e = error_event(events)
    assert e["kind"] == "upstream_http_error" and e["message"].startswith("HTTP 404"), e
    assert '"status": 404' in e["message"], "the message carries the start of the upstream body"
    # 204 is a success with an empty body.
    body = composer_ok(composer_call(mcpd, "no_content", {}))
    assert body["data"].get("isError", False) is False and text_blocks(body["content"]) == "", body


def test_refused_connection_is_server_connection_failed(mcpd):
    add_tools(mcpd, curl_tool("nobody_home", f"curl http://127.0.0.1:{free_port()}/x"))
    composer_err(composer_call(mcpd, "nobody_home", {}), 502, "SERVER_CONNECTION_FAILED")
    events = mcpd.run("nobody_home", {})
    well_formed(events)
    assert error_event(events)["kind"] == "connection_failed", events


@pytest.mark.parametrize("item", [
    curl_tool("unknown_option", "curl --frobnicate http://127.0.0.1:9/"),
    curl_tool("no_url", "curl -X GET"),
    curl_tool("not_curl", "wget http://127.0.0.1:9/"),
    curl_tool("unterminated", "curl 'http://127.0.0.1:9/"),
    curl_tool("empty", ""),
    curl_tool("multipart", "curl -F file=@/etc/passwd http://127.0.0.1:9/"),
    curl_tool("echo", "curl http://127.0.0.1:9/"),
    curl_tool("has space", "curl http://127.0.0.1:9/"),
    curl_tool("dunder__name", "curl http://127.0.0.1:9/"),
    {"name": "soap_tool", "tool_type": "soap", "curl_config": {"value": "curl http://127.0.0.1:9/"}},
    {"name": "no_config", "tool_type": "curl"},
    {"tool_type": "curl", "curl_config": {"value": "curl http://127.0.0.1:9/"}},
], ids=["unknown-option", "missing-url", "not-curl", "unterminated-quote", "empty", "multipart",
        "duplicate-of-builtin", "bad-name", "double-underscore", "unknown-tool-type", "no-curl-config",
        "no-name"])
def test_bad_curl_items_are_invalid_configuration(mcpd, item):
    before = set(manifest(mcpd))
    err = composer_err(composer(mcpd, "add_tools", {"tools": [item]}), 400, "INVALID_CONFIGURATION")
    assert err["message"], err
    assert set(manifest(mcpd)) == before, "a rejected add_tools changed the tool list"


def test_add_tools_is_all_or_nothing(mcpd, up):
    err = composer_err(composer(mcpd, "add_tools", {"tools": [
        curl_tool("good_one", f"curl {up.base}/echo/good"),
        curl_tool("bad_one", "curl --frobnicate http://127.0.0.1:9/")]}), 400, "INVALID_CONFIGURATION")
    assert "bad_one" in err["message"] + json.dumps(err["details"]) or "1" in json.dumps(err["details"]), err
    assert "good_one" not in manifest(mcpd)
    composer_err(composer(mcpd, "add_tools", {"tools": []}), 400, "INVALID_CONFIGURATION")
    # A duplicate within one batch is refused too.
    composer_err(composer(mcpd, "add_tools", {"tools": [curl_tool("twice", f"curl {up.base}/echo/1"),
                                                        curl_tool("twice", f"curl {up.base}/echo/2")]}),
                 400, "INVALID_CONFIGURATION")
    assert "twice" not in manifest(mcpd)


# --- OpenAPI -----------------------------------------------------------------------------------

def petstore_30(base: str) -> dict:
    return {
        "openapi": "3.0.1",
        "info": {"title": "Petstore", "version": "1.0.0"},
        "servers": [{"url": base}],
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "NewPet": {"type": "object", "required": ["name"],
                           "properties": {"name": {"type": "string"}, "tag": {"type": "string"}}},
                "Pet": {"allOf": [{"$ref": "#/components/schemas/NewPet"},
                                  {"type": "object", "properties": {"id": {"type": "integer"}}}]},
            },
        },
        "security": [{"bearerAuth": []}],
        "paths": {
            "/pets": {
                "get": {"operationId": "listPets", "summary": "List all pets",
                        "parameters": [{"name": "limit", "in": "query", "required": False,
                                        "schema": {"type": "integer", "format": "int32"}},
                                       {"name": "tag", "in": "query", "schema": {"type": "string"}}],
                        "responses": {"200": {"description": "pets"}}},
                "post": {"operationId": "createPet", "summary": "Create a pet",
                         "requestBody": {"required": True, "content": {"application/json": {
                             "schema": {"$ref": "#/components/schemas/NewPet"}}}},
                         "responses": {"201": {"description": "created"}}},
            },
            "/pets/{petId}": {
                "parameters": [{"name": "petId", "in": "path", "required": True,
                                "description": "The id of the pet", "schema": {"type": "integer"}}],
                "get": {"operationId": "showPetById", "summary": "Info for a specific pet",
                        "responses": {"200": {"description": "a pet"}}},
                "delete": {"operationId": "deletePet", "summary": "Delete a pet",
                           "responses": {"204": {"description": "deleted"}}},
            },
        },
    }


def test_openapi_30_petstore_with_bearer_auth(mcpd, pets):
    pets.post_json("/__reset")
    body = composer_ok(composer(mcpd, "add_tools_from_openapi", {
        "openapi_spec": petstore_30(pets.base),
        "auth_config": {"auth_strategy": "bearer", "auth": {"token": PET_TOKEN}}}))
    assert sorted(body["data"]["added"]) == ["createPet", "deletePet", "listPets", "showPetById"], body

    tools = sdk_tools(mcpd)
    ls = tools["listPets"].input_schema
    assert ls["properties"]["limit"]["type"] == "integer" and ls["properties"]["tag"]["type"] == "string", ls
    assert not ls.get("required"), ls
    show = tools["showPetById"].input_schema
    assert show["properties"]["petId"]["type"] == "integer" and show["required"] == ["petId"], show
    create = tools["createPet"].input_schema
    assert create["required"] == ["body"], create
    assert "$ref" not in json.dumps(create), f"unresolved $ref in {create}"
    assert create["properties"]["body"]["required"] == ["name"], create
    assert create["properties"]["body"]["properties"]["name"]["type"] == "string", create
    cfg = composer_data(composer(mcpd, "get_tool_config_by_name", {"tool_name": "listPets"}))
    assert cfg["source"] == "openapi", cfg
    assert PET_TOKEN not in json.dumps(cfg), "the OpenAPI credential shows in the tool config"

    assert call_json(mcpd, "listPets", {"limit": 1}) == [{"id": 1, "name": "Rex", "tag": "dog"}]
    seen = last_request(pets)
    assert (seen["method"], seen["path"], seen["query"]) == ("GET", "/pets", {"limit": "1"}), seen
    assert seen["headers"]["authorization"] == f"Bearer {PET_TOKEN}", seen
    assert call_json(mcpd, "listPets", {"tag": "cat"}) == [{"id": 2, "name": "Tom", "tag": "cat"}]

    assert sdk_text(sdk_call(mcpd, "showPetById", {"petId": 2})) == json.dumps({"id": 2, "name": "Tom", "tag": "cat"})
    assert last_request(pets)["path"] == "/pets/2"

    created = call_json(mcpd, "createPet", {"body": {"name": "Bo", "tag": "fish"}})
    assert created == {"id": 3, "name": "Bo", "tag": "fish"}, created
    seen = last_request(pets)
    assert seen["method"] == "POST" and seen["path"] == "/pets", seen
    assert seen["headers"]["content-type"].startswith("application/json"), seen
    assert seen["json"] == {"name": "Bo", "tag": "fish"}, seen

    err = composer_err(composer_call(mcpd, "showPetById", {"petId": 99}), 500, "TOOL_EXECUTION_FAILED")
    assert "HTTP 404" in err["message"], err
    events = mcpd.run("deletePet", {"petId": 3})
    well_formed(events)
    assert events[-1].event == "final", events
    assert last_request(pets)["method"] == "DELETE"
    composer_err(composer_call(mcpd, "showPetById", {"petId": "two"}), 400, "INVALID_CONFIGURATION")
    composer_err(composer_call(mcpd, "createPet", {}), 400, "INVALID_CONFIGURATION")


def test_openapi_without_credentials_meets_the_upstreams_401(mcpd, pets):
    spec = petstore_30(pets.base)
    composer_ok(composer(mcpd, "add_tools_from_openapi", {"openapi_spec": spec}))
    err = composer_err(composer_call(mcpd, "listPets", {}), 500, "TOOL_EXECUTION_FAILED")
    assert "HTTP 401" in err["message"], err


def items_31() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Items", "version": "2.0.0"},
        "servers": [{"url": "http://127.0.0.1:9/not-used"}],
        "components": {
            "securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}},
            "parameters": {
                "RequestId": {"name": "X-Request-Id", "in": "header", "required": True,
                              "schema": {"type": "string"}},
                "ItemId": {"name": "itemId", "in": "path", "required": True, "schema": {"type": "string"}},
            },
            "schemas": {
                "Item": {"type": "object", "required": ["title"],
                         "properties": {"title": {"type": "string"},
                                        "note": {"type": ["string", "null"]},
                                        "labels": {"type": "array", "items": {"$ref": "#/components/schemas/Label"}}}},
                "Label": {"type": "string", "enum": ["red", "green"]},
            },
        },
        "security": [{"key": []}],
        "paths": {
            "/items/{itemId}": {
                "parameters": [{"$ref": "#/components/parameters/ItemId"}],
                "get": {"operationId": "getItem", "description": "Fetch one item",
                        "parameters": [{"$ref": "#/components/parameters/RequestId"},
                                       {"name": "verbose", "in": "query", "schema": {"type": "boolean"}}],
                        "responses": {"200": {"description": "the item"}}},
                "put": {"operationId": "replaceItem",
                        "parameters": [{"$ref": "#/components/parameters/RequestId"}],
                        "requestBody": {"required": True, "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/Item"}}}},
                        "responses": {"200": {"description": "replaced"}}},
            },
        },
    }


def test_openapi_31_with_refs_params_body_and_api_key(mcpd, up):
    body = composer_ok(composer(mcpd, "add_tools_from_openapi", {
        "openapi_spec": items_31(), "base_url": f"{up.base}/echo",
        "auth_config": {"auth_strategy": "api_key", "auth": {"header": "X-Api-Key", "key": "k-31-secret"}}}))
    assert sorted(body["data"]["added"]) == ["getItem", "replaceItem"], body

    tools = {t["name"]: t for t in composer_ok(composer(mcpd, "list_tools"))["content"]}
    get_schema = tools["getItem"]["inputSchema"]
    assert set(get_schema["properties"]) == {"itemId", "X-Request-Id", "verbose"}, get_schema
    assert sorted(get_schema["required"]) == ["X-Request-Id", "itemId"], get_schema
    assert get_schema["properties"]["verbose"]["type"] == "boolean", get_schema
    put_schema = tools["replaceItem"]["inputSchema"]
    assert sorted(put_schema["required"]) == ["X-Request-Id", "body", "itemId"], put_schema
    assert "$ref" not in json.dumps(put_schema), put_schema
    assert put_schema["properties"]["body"]["properties"]["labels"]["items"]["enum"] == ["red", "green"], put_schema
    assert tools["getItem"]["description"].startswith("Fetch one item"), tools["getItem"]

    echoed = call_json(mcpd, "getItem", {"itemId": "abc-1", "X-Request-Id": "req-9", "verbose": True})
    assert echoed["method"] == "GET" and echoed["path"] == "/echo/items/abc-1", echoed
    assert echoed["query"] == {"verbose": "true"}, echoed
    assert echoed["headers"]["x-request-id"] == "req-9", echoed
    assert echoed["headers"]["x-api-key"] == "k-31-secret", echoed

    item = {"title": "Lamp", "note": None, "labels": ["red"]}
    echoed = call_json(mcpd, "replaceItem", {"itemId": "a b/c", "X-Request-Id": "req-10", "body": item})
    assert echoed["method"] == "PUT", echoed
    assert echoed["path"] == "/echo/items/a%20b%2Fc", "path parameters are percent-encoded"
    assert echoed["json"] == item, echoed
    composer_err(composer_call(mcpd, "replaceItem", {"itemId": "x", "X-Request-Id": "r",
                                                    "body": {"title": "t", "labels": ["blue"]}}),
                 400, "INVALID_CONFIGURATION")


@pytest.mark.parametrize("spec", [
    {"swagger": "2.0", "info": {"title": "old", "version": "1"}, "paths": {}},
    {"openapi": "3.0.1", "info": {"title": "no paths", "version": "1"}},
    {"openapi": "3.0.1", "info": {"title": "empty", "version": "1"}, "paths": {}},
    {"openapi": "3.0.1", "info": {"title": "bad ref", "version": "1"}, "servers": [{"url": "http://127.0.0.1:9"}],
     "paths": {"/x": {"get": {"operationId": "badRef", "parameters": [{"$ref": "#/components/parameters/Nope"}],
                              "responses": {"200": {"description": "x"}}}}}},
    "not an object",
], ids=["swagger-2", "no-paths", "no-operations", "dangling-ref", "not-an-object"])
def test_bad_openapi_documents_are_invalid_configuration(mcpd, spec):
    before = set(manifest(mcpd))
    composer_err(composer(mcpd, "add_tools_from_openapi", {"openapi_spec": spec}), 400, "INVALID_CONFIGURATION")
    assert set(manifest(mcpd)) == before


def test_openapi_operation_names_must_not_collide(mcpd, pets):
    spec = petstore_30(pets.base)
    composer_ok(composer(mcpd, "add_tools_from_openapi", {"openapi_spec": spec}))
    again = copy.deepcopy(spec)
    composer_err(composer(mcpd, "add_tools_from_openapi", {"openapi_spec": again}), 400, "INVALID_CONFIGURATION")
