"""`mcpd --conformance-fixtures` through the official Python SDK: the tools, prompts and resources
the MCP conformance suite's server scenarios call, in both eras — a 2025-11-25 session (the tools'
questions reach the client as server-to-client requests) and 2026-07-28 (they come back as
`input_required` results the SDK answers and retries). Every message mcpd sends is checked
against the negotiated revision's schema (the SDK interop tests' wire capture). Without the flag
none of it is listed.
"""

from __future__ import annotations

import json

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client

from conftest import ALPHA
from test_mcp_sdk import TeeTransport, WireCapture, check_wire

TOOLS = ["test_simple_text", "test_image_content", "test_audio_content", "test_embedded_resource",
         "test_multiple_content_types", "test_tool_with_logging", "test_tool_with_progress",
         "test_error_handling", "test_sampling", "test_elicitation", "test_elicitation_sep1034_defaults",
         "test_elicitation_sep1330_enums"]
PROMPTS = ["test_simple_prompt", "test_prompt_with_arguments", "test_prompt_with_embedded_resource",
           "test_prompt_with_image"]


async def sampling(context, params):
    asked = params.messages[0].content.text
    return types.CreateMessageResult(role="assistant", model="test-model",
                                     content=types.TextContent(type="text", text=f"echo of {asked}"))


async def elicitation(context, params):
    assert params.requested_schema["type"] == "object", params
    return types.ElicitResult(action="accept", content={"username": "ada", "email": "ada@example.com"})


def run_with_client(m, client_mode: str, revision: str, scenario, **client_options):
    capture = WireCapture()

    async def main():
        with anyio.fail_after(30):
            http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {ALPHA}"}, timeout=httpx2.Timeout(10, read=30),
                                      transport=TeeTransport(capture))
            async with http:
                transport = streamable_http_client(f"http://127.0.0.1:{m.port}/mcp", http_client=http)
                async with Client(transport, mode=client_mode, cache=None, read_timeout_seconds=20,
                                  **client_options) as client:
                    assert client.protocol_version == revision
                    await scenario(client)

    anyio.run(main)
    failures = check_wire(capture, revision)
    assert not failures, "\n".join(failures) + m.diag(2000)
    return capture


@pytest.mark.parametrize("client_mode,revision", [("legacy", "2025-11-25"), ("auto", "2026-07-28")])
def test_every_fixture_through_the_sdk(mcpd_factory, client_mode, revision):
    m = mcpd_factory("--conformance-fixtures")
    logs: list = []

    async def on_log(params):
        logs.append(params)

    async def scenario(client):
        names = {t.name for t in (await client.list_tools()).tools}
        assert set(TOOLS) <= names, names

        def kinds(result):
            return [block.type for block in result.content]

        simple = await client.call_tool("test_simple_text", {})
        assert kinds(simple) == ["text"] and simple.content[0].text == "This is a simple text response for testing."
        image = await client.call_tool("test_image_content", {})
        assert kinds(image) == ["image"] and image.content[0].mime_type == "image/png"
        audio = await client.call_tool("test_audio_content", {})
        assert kinds(audio) == ["audio"] and audio.content[0].mime_type == "audio/wav"
        embedded = await client.call_tool("test_embedded_resource", {})
        assert kinds(embedded) == ["resource"] and str(embedded.content[0].resource.uri) == "test://embedded-resource"
        assert kinds(await client.call_tool("test_multiple_content_types", {})) == ["text", "image", "resource"]

        failing = await client.call_tool("test_error_handling", {})
        assert failing.is_error and "intentionally" in failing.content[0].text

        progress = []

        async def on_progress(value, total, message):
            progress.append((value, total))
        done = await client.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
        assert not done.is_error and progress == [(0, 100), (50, 100), (100, 100)], progress

        logged = await client.call_tool("test_tool_with_logging", {})
        assert not logged.is_error
        assert [entry.data for entry in logs] == ["Tool execution started", "Tool processing data",
                                                 "Tool execution completed"], logs

        sampled = await client.call_tool("test_sampling", {"prompt": "What is 2+2?"})
        assert sampled.content[0].text == "LLM response: echo of What is 2+2?", sampled
        elicited = await client.call_tool("test_elicitation", {"message": "Who are you?"})
        text = elicited.content[0].text
        assert "action=accept" in text and '"username":"ada"' in text, text
        for tool in ("test_elicitation_sep1034_defaults", "test_elicitation_sep1330_enums"):
            result = await client.call_tool(tool, {})
            assert not result.is_error and "action=accept" in result.content[0].text, result

        prompts = {p.name for p in (await client.list_prompts()).prompts}
        assert set(PROMPTS) <= prompts, prompts
        with_arguments = await client.get_prompt("test_prompt_with_arguments", {"arg1": "a", "arg2": "b"})
        assert with_arguments.messages[0].content.text == "Prompt with arguments: arg1='a', arg2='b'"
        image_prompt = await client.get_prompt("test_prompt_with_image")
        assert image_prompt.messages[0].content.type == "image"
        embedded_prompt = await client.get_prompt("test_prompt_with_embedded_resource", {"resourceUri": "test://x"})
        assert embedded_prompt.messages[0].content.type == "resource"

        resources = {str(r.uri) for r in (await client.list_resources()).resources}
        assert {"test://static-text", "test://static-binary", "test://watched-resource"} <= resources
        text_resource = await client.read_resource("test://static-text")
        assert text_resource.contents[0].text == "This is the content of the static text resource."
        binary = await client.read_resource("test://static-binary")
        assert binary.contents[0].mime_type == "image/png" and binary.contents[0].blob
        templated = await client.read_resource("test://template/42/data")
        assert json.loads(templated.contents[0].text) == {"id": "42", "templateTest": True, "data": "Data for ID: 42"}
        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
        assert "test://template/{id}/data" in templates

    capture = run_with_client(m, client_mode, revision, scenario, sampling_callback=sampling,
                              elicitation_callback=elicitation, logging_callback=on_log, log_level="info")
    if revision == "2026-07-28":
        # No server-to-client request at 2026-07-28: questions came back as input_required results.
        assert not [s for s in capture.server_messages if "method" in s.message and "id" in s.message]
        assert [s for s in capture.server_messages if s.message.get("result", {}).get("resultType") == "input_required"]
    else:
        asked = {s.message["method"] for s in capture.server_messages if "method" in s.message and "id" in s.message}
        assert asked == {"sampling/createMessage", "elicitation/create"}, asked


@pytest.mark.parametrize("client_mode,revision", [("legacy", "2025-11-25"), ("auto", "2026-07-28")])
def test_a_question_the_client_cannot_answer_fails_clearly(mcpd_factory, client_mode, revision):
    """Without a sampling callback the SDK declares no sampling capability: a 2025 session gets a
    tool error, 2026-07-28 the -32021 missing-capability error; the worker is freed either way."""
    m = mcpd_factory("--conformance-fixtures")

    async def scenario(client):
        if revision == "2026-07-28":
            with pytest.raises(Exception) as raised:
                await client.call_tool("test_sampling", {"prompt": "hi"})
            assert getattr(raised.value, "code", None) == -32021 or "-32021" in str(raised.value), raised.value
        else:
            result = await client.call_tool("test_sampling", {"prompt": "hi"})
            assert result.is_error and "sampling" in result.content[0].text, result
        assert (await client.call_tool("test_simple_text", {})).content[0].text.startswith("This is a simple")

    run_with_client(m, client_mode, revision, scenario)


def test_fixtures_are_off_by_default(mcpd):
    async def scenario(client):
        names = {t.name for t in (await client.list_tools()).tools}
        assert not [n for n in names if n.startswith("test_")], names
        resources = {str(r.uri) for r in (await client.list_resources()).resources}
        assert not [r for r in resources if r.startswith("test://")], resources

    run_with_client(mcpd, "legacy", "2025-11-25", scenario)


@pytest.mark.parametrize("client_mode,revision", [("legacy", "2025-11-25"), ("auto", "2026-07-28")])
def test_roots_are_asked_of_the_client(mcpd_factory, client_mode, revision):
    m = mcpd_factory("--conformance-fixtures")

    async def roots(context):
        return types.ListRootsResult(roots=[types.Root(uri="file:///srv/project", name="project")])

    async def scenario(client):
        result = await client.call_tool("test_list_roots", {})
        assert not result.is_error and result.content[0].text == "Roots: file:///srv/project", result

    run_with_client(m, client_mode, revision, scenario, list_roots_callback=roots)
