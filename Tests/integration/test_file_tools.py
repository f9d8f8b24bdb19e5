"""The file tools (issue 4, seed 004's filesystem server: read_file, write_file, list_directory)
confined to `--files-root`: round trips over MCP (the official SDK), the execute API and the
composer; refusals of `..`, absolute paths and symlinks that lead outside the root (over MCP an
isError result, over execute an `error` event, both naming the path); and no file tools at all
without --files-root.

Assumptions beyond the contract:
- write_file does not create missing parent directories (the MCP filesystem server's behaviour):
  that is a `not_found` failure.
- a symlink inside the root that points inside the root may be read.
- the composer answers a refused path with 403 PERMISSION_DENIED (the contract's "403-ish"),
  its message naming the path.
- a refusal's message names the path as the caller gave it and says it is outside the root; the
  refused file's content never appears in any answer.
"""

from __future__ import annotations

import json
import os

import pytest

from conftest import assert_error
from toolhost import (composer, composer_call, composer_err, composer_ok, composer_tools,
                      error_event, final_text, manifest, sdk_call, sdk_text, sdk_tools, start_mcpd,
                      text_blocks, well_formed)

SECRET = "TOP SECRET: the outside file"
FILE_TOOLS = {"read_file", "write_file", "list_directory"}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    base = tmp_path_factory.mktemp("files")
    root = base / "root"
    outside = base / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (root / "hello.txt").write_text("hello world\n")
    (root / "sub" / "inner.txt").write_text("inner\n")
    (outside / "secret.txt").write_text(SECRET)
    os.symlink(outside / "secret.txt", root / "link_out.txt")
    os.symlink("../outside", root / "dir_out")
    os.symlink("hello.txt", root / "link_in.txt")
    m = start_mcpd(base / "mcpd", "--files-root", root)
    m.root, m.outside = root, outside
    yield m
    m.stop()


def mcp_refused(m, tool: str, arguments: dict, path: str) -> str:
    result = sdk_call(m, tool, arguments)
    text = sdk_text(result)
    assert result.is_error, f"{tool} {arguments} was not refused: {text!r}"
    assert path in text and "outside" in text, f"the refusal should name {path!r} and say why: {text!r}"
    assert SECRET not in text
    return text


# --- listing -----------------------------------------------------------------------------------

def test_file_tools_are_listed_with_their_schemas(files):
    tools = manifest(files)
    assert FILE_TOOLS <= set(tools), sorted(tools)
    assert tools["read_file"]["input_schema"]["required"] == ["path"], tools["read_file"]
    assert sorted(tools["write_file"]["input_schema"]["required"]) == ["content", "path"], tools["write_file"]
    assert "path" in tools["list_directory"]["input_schema"]["properties"], tools["list_directory"]
    assert not tools["list_directory"]["input_schema"].get("required"), "list_directory's path is optional"
    assert FILE_TOOLS <= set(sdk_tools(files))
    assert FILE_TOOLS <= set(composer_tools(files))


# --- round trips ---------------------------------------------------------------------------------

def test_write_then_read_everywhere(files):
    content = "héllo\nwörld ✓\n"
    written = sdk_call(files, "write_file", {"path": "notes.txt", "content": content})
    assert not written.is_error, written
    assert (files.root / "notes.txt").read_text() == content
    assert sdk_text(sdk_call(files, "read_file", {"path": "notes.txt"})) == content

    events = files.run("read_file", {"path": "notes.txt"})
    well_formed(events)
    assert final_text(events) == content
    body = composer_ok(composer_call(files, "read_file", {"path": "hello.txt"}))
    assert text_blocks(body["content"]) == "hello world\n", body

    # Overwrite, and write into an existing subdirectory.
    assert not sdk_call(files, "write_file", {"path": "notes.txt", "content": "v2"}).is_error
    assert (files.root / "notes.txt").read_text() == "v2"
    events = files.run("write_file", {"path": "sub/new.txt", "content": "in sub"})
    well_formed(events)
    assert events[-1].event == "final", events
    assert (files.root / "sub" / "new.txt").read_text() == "in sub"
    assert sdk_text(sdk_call(files, "read_file", {"path": "./sub/new.txt"})) == "in sub"


def test_list_directory(files):
    text = sdk_text(sdk_call(files, "list_directory", {}))
    lines = set(text.splitlines())
    assert {"[FILE] hello.txt", "[DIR] sub"} <= lines, text
    assert sdk_text(sdk_call(files, "list_directory", {"path": "."})) == text
    sub = files.run("list_directory", {"path": "sub"})
    well_formed(sub)
    assert "[FILE] inner.txt" in final_text(sub).splitlines(), sub


def test_symlink_inside_the_root_may_be_read(files):
    assert sdk_text(sdk_call(files, "read_file", {"path": "link_in.txt"})) == "hello world\n"


def test_missing_file_and_missing_directory(files):
    result = sdk_call(files, "read_file", {"path": "nope.txt"})
    assert result.is_error and "nope.txt" in sdk_text(result), result
    events = files.run("read_file", {"path": "nope.txt"})
    well_formed(events)
    assert error_event(events)["kind"] == "not_found", events
    events = files.run("write_file", {"path": "no_such_dir/x.txt", "content": "x"})
    assert error_event(events)["kind"] == "not_found", events
    assert not (files.root / "no_such_dir").exists()


# --- confinement -------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "../outside/secret.txt",
    "sub/../../outside/secret.txt",
    "link_out.txt",
    "dir_out/secret.txt",
    "/etc/passwd",
    "ABSOLUTE_SECRET",
], ids=["dotdot", "dotdot-via-sub", "symlink-file", "symlink-dir", "absolute", "absolute-secret"])
def test_reading_outside_the_root_is_refused(files, path):
    if path == "ABSOLUTE_SECRET":
        path = str(files.outside / "secret.txt")
    mcp_refused(files, "read_file", {"path": path}, path)
    events = files.run("read_file", {"path": path})
    well_formed(events)
    err = error_event(events)
    assert err["kind"] == "path_outside_root" and path in err["message"], err
    assert SECRET not in json.dumps([e.data for e in events])


@pytest.mark.parametrize("path", ["../escape.txt", "link_out.txt", "dir_out/planted.txt", "/tmp/planted-by-mcpd.txt"],
                         ids=["dotdot", "symlink-file", "symlink-dir", "absolute"])
def test_writing_outside_the_root_is_refused(files, path):
    mcp_refused(files, "write_file", {"path": path, "content": "overwritten"}, path)
    events = files.run("write_file", {"path": path, "content": "overwritten"})
    assert error_event(events)["kind"] == "path_outside_root", events
    assert (files.outside / "secret.txt").read_text() == SECRET, "the outside file was changed"
    assert not (files.outside / "planted.txt").exists()
    assert not (files.root.parent / "escape.txt").exists()
    assert not os.path.exists("/tmp/planted-by-mcpd.txt")


@pytest.mark.parametrize("path", ["..", "../outside", "dir_out", "/"], ids=["parent", "sibling", "symlink-dir", "absolute"])
def test_listing_outside_the_root_is_refused(files, path):
    text = mcp_refused(files, "list_directory", {"path": path}, path)
    assert "secret.txt" not in text


def test_composer_refusal_is_permission_denied(files):
    err = composer_err(composer_call(files, "read_file", {"path": "../outside/secret.txt"}), 403, "PERMISSION_DENIED")
    assert "../outside/secret.txt" in err["message"], err
    assert SECRET not in json.dumps(err)


# --- without --files-root ----------------------------------------------------------------------

def test_without_files_root_the_tools_are_absent(mcpd):
    assert not FILE_TOOLS & set(manifest(mcpd))
    assert not FILE_TOOLS & set(sdk_tools(mcpd))
    assert not FILE_TOOLS & set(composer_tools(mcpd))
    assert_error(mcpd.execute("read_file", {"path": "x"}), 404, "TOOL_NOT_FOUND")
    composer_err(composer_call(mcpd, "read_file", {"path": "x"}), 404, "TOOL_NOT_FOUND")
    composer_err(composer(mcpd, "get_tool_config_by_name", {"tool_name": "read_file"}), 404, "TOOL_NOT_FOUND")
