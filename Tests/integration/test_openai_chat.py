"""The openai_chat tool (issue 4, seed 000) against fixtures/openai_upstream.py, an
OpenAI-compatible /v1/chat/completions server that streams "Echo: <last user message>" in
3-character deltas: seed 000's execute-and-stream walkthrough verbatim, the request template's
fields reaching the upstream, MCP progress notifications, upstream failures as OPENAI_ERROR, the
API key sent upstream as a bearer token and never shown or logged, and the configuration flags
(--openai-base-url, --openai-model, --openai-api-key-file, OPENAI_BASE_URL / OPENAI_API_KEY).

Assumptions beyond the contract:
- over MCP (and composer call_tool) the result is one text block holding the reply text; each
  streamed delta is a notifications/progress whose `message` is the delta (from 2025-03-26 on).
- an upstream failure ends the execute stream with an `error` event whose error has kind
  `openai_error`, code `OPENAI_ERROR` and the upstream's `error.message` as message; over MCP an
  isError result whose text contains that message.
- the API key file may end with a newline, which is not part of the key.
"""

from __future__ import annotations

import json
import secrets
import time

import pytest

from conftest import HttpConnection, free_port, json_body
from mcp_http import StreamableClient, request_body
from toolhost import (composer, composer_call, composer_ok, error_event, manifest, module_programs,  # noqa: F401
                      sdk_call, sdk_text, text_blocks, well_formed)

SEED_TOKEN = "super-secret-token"


@pytest.fixture(scope="module")
def oa(module_programs):
    return module_programs("openai_upstream.py")


@pytest.fixture
def api_key() -> str:
    return "sk-test-" + secrets.token_hex(12)


@pytest.fixture
def chat_mcpd(mcpd_factory, oa, api_key):
    return mcpd_factory("--openai-base-url", f"{oa.base}/v1", "--log-level", "debug",
                        env={"OPENAI_API_KEY": api_key})


def last_upstream_request(oa) -> dict:
    requests = oa.get_json("/requests")
    assert requests, "the upstream saw no completion request"
    return requests[-1]


def reply(message: str) -> str:
    return f"Echo: {message}"


# --- seed 000 --------------------------------------------------------------------------------

def test_seed_000_walkthrough_verbatim(mcpd_factory, oa, api_key):
    m = mcpd_factory("--openai-base-url", f"{oa.base}/v1", tokens=(SEED_TOKEN,),
                     env={"OPENAI_API_KEY": api_key})
    # Step 1: Execute (the seed's curl, byte for byte the same JSON).
    with m.conn() as c:
        r = c.request("POST", "/mcp/execute",
                      headers={"Authorization": f"Bearer {SEED_TOKEN}", "Content-Type": "application/json"},
                      body=json_body({"tool": "openai_chat",
                                      "input": {"messages": [{"role": "user", "content": "Hello"}]},
                                      "request_id": "req-123"}))
    assert r.status == 200, r
    started = r.json()
    assert set(started) == {"call_id", "status"} and started["status"] == "started", started
    call_id = started["call_id"]

    # Step 2: Stream (the seed's Python quick start: print data.get("text") of every data line).
    with HttpConnection("127.0.0.1", m.port, timeout=15) as c:
        head, sse = c.open_stream(call_id, token=SEED_TOKEN)
        assert head.status == 200, head
        events = sse.read_until_terminal(15)
    well_formed(events)
    partials = [e.data["text"] for e in events if e.event == "partial"]
    assert events[-1].event == "final", events
    final = events[-1].data["text"]
    assert final == reply("Hello"), events
    assert "".join(partials) == final, f"partials {partials!r} do not add up to {final!r}"
    assert len([p for p in partials if p]) >= 3, f"expected several partial events: {partials}"

    # The upstream got the key as a bearer token, the default model, a streamed request.
    assert oa.get_json("/last-auth") == {"authorization": f"Bearer {api_key}"}
    body = last_upstream_request(oa)["body"]
    assert body["model"] == "gpt-4o-mini" and body["stream"] is True, body
    assert body["messages"] == [{"role": "user", "content": "Hello"}], body

    # Retrying with the same request_id gives the same call (seed best practice 6).
    again = m.execute("openai_chat", {"messages": [{"role": "user", "content": "Hello"}]},
                      token=SEED_TOKEN, request_id="req-123")
    assert again.status == 200 and again.json()["call_id"] == call_id, again


def test_request_template_fields_reach_the_upstream(chat_mcpd, oa):
    question = "Your question here"
    events = chat_mcpd.run("openai_chat", {
        "messages": [{"role": "system", "content": "You are a medical assistant."},
                     {"role": "user", "content": question}],
        "model": "gpt-4o", "max_tokens": 512, "temperature": 0.2},
        session_id="optional-session-id", request_id="unique-request-id", metadata={})
    well_formed(events)
    assert events[-1].data["text"] == reply(question)
    body = last_upstream_request(oa)["body"]
    assert body["model"] == "gpt-4o" and body["max_tokens"] == 512 and body["temperature"] == 0.2, body
    assert body["messages"] == [{"role": "system", "content": "You are a medical assistant."},
                                {"role": "user", "content": question}], body


def test_manifest_lists_openai_chat_with_its_schema(chat_mcpd):
    tool = manifest(chat_mcpd)["openai_chat"]
    schema = tool["input_schema"]
    assert schema["properties"]["messages"]["type"] == "array", schema
    assert "messages" in schema.get("required", []), schema


def test_bad_input_is_a_validation_error(chat_mcpd):
    r = chat_mcpd.execute("openai_chat", {"messages": "Hello"})
    assert r.status == 422 and r.json()["error"]["code"] == "VALIDATION_ERROR", r


# --- MCP -------------------------------------------------------------------------------------

def test_mcp_progress_carries_the_deltas_then_the_text(chat_mcpd):
    message = "Tell me a story"
    c = StreamableClient(chat_mcpd, "2025-11-25")
    body = request_body("tools/call", {"name": "openai_chat",
                                       "arguments": {"messages": [{"role": "user", "content": message}]},
                                       "_meta": {"progressToken": "chat-1"}}, request_id="chat-call")
    with chat_mcpd.conn(20) as conn:
        head, sse = c.open("POST", body, conn=conn, timeout=20)
        assert sse is not None, f"expected an event stream: {head!r}"
        msgs = [e.json() for e in sse.read_to_end(20) if not e.is_priming]
    *notes, last = msgs
    assert last["id"] == "chat-call", msgs
    assert last["result"]["content"] == [{"type": "text", "text": reply(message)}], last
    assert not last["result"].get("isError"), last
    progress = [n["params"] for n in notes if n.get("method") == "notifications/progress"]
    assert len(progress) >= 3, msgs
    assert all(p["progressToken"] == "chat-1" for p in progress), progress
    assert [p["progress"] for p in progress] == sorted(p["progress"] for p in progress), progress
    assert "".join(p.get("message", "") for p in progress) == reply(message), progress

    result = sdk_call(chat_mcpd, "openai_chat", {"messages": [{"role": "user", "content": "via the SDK"}]})
    assert not result.is_error and sdk_text(result) == reply("via the SDK"), result
    body = composer_ok(composer_call(chat_mcpd, "openai_chat", {"messages": [{"role": "user", "content": "hi"}]}))
    assert text_blocks(body["content"]) == reply("hi"), body


# --- failures ----------------------------------------------------------------------------------

@pytest.mark.parametrize("message,upstream_message", [
    ("please FAIL now", "rate limited by upstream"),
    ("FAIL500 please", "upstream exploded"),
], ids=["429", "500"])
def test_upstream_failure_is_openai_error(chat_mcpd, message, upstream_message):
    call_id = chat_mcpd.start_call("openai_chat", {"messages": [{"role": "user", "content": message}]})
    events = chat_mcpd.stream(call_id)
    well_formed(events)
    err = error_event(events)
    assert err["kind"] == "openai_error" and err.get("code") == "OPENAI_ERROR", err
    assert err["message"] == upstream_message, err
    assert chat_mcpd.call(call_id)["status"] == "error"

    result = sdk_call(chat_mcpd, "openai_chat", {"messages": [{"role": "user", "content": message}]})
    assert result.is_error and upstream_message in sdk_text(result), result


def test_unreachable_upstream_is_openai_error(mcpd_factory, api_key):
    m = mcpd_factory("--openai-base-url", f"http://127.0.0.1:{free_port()}/v1", env={"OPENAI_API_KEY": api_key})
    events = m.run("openai_chat", {"messages": [{"role": "user", "content": "anyone?"}]}, timeout=30)
    well_formed(events)
    err = error_event(events)
    assert err["kind"] == "openai_error" and err.get("code") == "OPENAI_ERROR", err
    assert err["message"], err


def test_cancel_a_streaming_chat(chat_mcpd):
    call_id = chat_mcpd.start_call("openai_chat", {"messages": [{"role": "user", "content": "SLOW " + "x" * 60}]})
    with chat_mcpd.conn(20) as c:
        head, sse = c.open_stream(call_id)
        first = sse.next_event(10)
        assert first is not None and first.event == "partial", first
        t0 = time.monotonic()
        assert chat_mcpd.cancel(call_id).status == 200
        events = sse.read_until_terminal(10)
    assert events[-1].event == "cancelled", events
    assert time.monotonic() - t0 < 3, "cancellation took too long"
    assert chat_mcpd.call(call_id)["status"] == "cancelled"


# --- configuration and secrets -----------------------------------------------------------------

def test_key_file_model_flag_and_base_url_from_env(mcpd_factory, oa, tmp_path):
    key = "sk-file-" + secrets.token_hex(10)
    key_file = tmp_path / "openai.key"
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    m = mcpd_factory("--openai-api-key-file", key_file, "--openai-model", "fixture-model-7",
                     env={"OPENAI_BASE_URL": f"{oa.base}/v1"})
    events = m.run("openai_chat", {"messages": [{"role": "user", "content": "from a file"}]})
    assert events[-1].data["text"] == reply("from a file"), events
    assert oa.get_json("/last-auth") == {"authorization": f"Bearer {key}"}
    assert last_upstream_request(oa)["body"]["model"] == "fixture-model-7"
    m.run("openai_chat", {"messages": [{"role": "user", "content": "m"}], "model": "explicit-model"})
    assert last_upstream_request(oa)["body"]["model"] == "explicit-model"
    assert key not in m.stderr_text()


def test_api_key_never_shown_nor_logged(chat_mcpd, api_key):
    seen = []
    seen.append(chat_mcpd.run("openai_chat", {"messages": [{"role": "user", "content": "secret?"}]}))
    seen.append(chat_mcpd.run("openai_chat", {"messages": [{"role": "user", "content": "FAIL please"}]}))
    reads = [chat_mcpd.get("/mcp/manifest"), chat_mcpd.get("/health/detailed"),
             composer(chat_mcpd, "list_tools"),
             composer(chat_mcpd, "get_tool_config_by_name", {"tool_name": "openai_chat"})]
    for r in reads:
        assert r.status == 200, r
        assert api_key not in r.body.decode(), f"the API key shows in {r!r}"
    for events in seen:
        assert api_key not in json.dumps([e.data for e in events])
    log = chat_mcpd.stderr_text()
    assert log.strip(), "no log at debug level"
    assert api_key not in log, "the OpenAI API key is in mcpd's log"
