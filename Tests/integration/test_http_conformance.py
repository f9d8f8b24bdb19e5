"""HTTP/1.1 conformance of mcpd's listener against RFC 9112, with request smuggling in mind.

A front-end (proxy, load balancer) and mcpd must never disagree about where a request ends: every
ambiguous framing is refused with the status RFC 9112 names, in the seed-000 JSON error shape, and the
connection is closed right after it, so a request smuggled behind the ambiguous one is never served.
Leniencies RFC 9112 merely allows (bare LF, obs-fold, duplicate equal Content-Length …) are refused
or accepted as Sources/HTTP/HTTPRequestParser.swift documents. test_http_protocol.py covers the basics
(CL+TE, malformed request lines, limits, timeouts); this file covers the smuggling corpus.

Every request is raw bytes on a raw socket. One mcpd serves the whole module; after each test it must
still answer /healthz (nothing here may disturb the supervisor).
"""

import os
import resource
import selectors
import socket
import time
from pathlib import Path

import pytest

from conftest import ALPHA, DEFAULT_TOKENS, HttpConnection, Mcpd, assert_error, json_body

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
AUTH = f"Authorization: Bearer {ALPHA}\r\n".encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    m = Mcpd(tmp_path_factory.mktemp("conformance"), (), DEFAULT_TOKENS, None, None, None)
    m.wait_ready()
    yield m
    m.stop()


@pytest.fixture(autouse=True)
def supervisor_unaffected(server):
    yield
    assert server.proc.poll() is None, f"mcpd exited{server.diag()}"
    r = server.get("/healthz", token=None)
    assert r.status == 200 and r.json() == {"status": "ok"}, r


ERROR_CODES = {400: "BAD_REQUEST", 413: "PAYLOAD_TOO_LARGE", 431: "HEADERS_TOO_LARGE",
               501: "NOT_IMPLEMENTED", 505: "HTTP_VERSION_NOT_SUPPORTED"}


def refused(server, raw: bytes, status: int, timeout: float = 10.0):
    """Sends `raw`, expects one HTTP-level error with `status`, then the connection closed with
    nothing more sent: whatever followed the faulty request (a smuggled one) is never answered."""
    with server.conn() as c:
        c.send(raw)
        resp = c.read_response(timeout)
        assert_error(resp, status, ERROR_CODES[status], http_level=True)
        assert c.wait_closed(3.0), "mcpd kept the connection open after a framing error"
    return resp


def served_then_next(server, raw: bytes, status: int = 200):
    """Sends `raw` followed by a pipelined GET /healthz: both are answered, in order, on one connection
    (so the first request's framing consumed exactly its own bytes)."""
    with server.conn() as c:
        c.send(raw + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = c.read_response()
        assert first.status == status, first
        second = c.read_response()
        assert second.status == 200 and second.json() == {"status": "ok"}, second
    return first


def post(headers: bytes, body: bytes = b"", version: bytes = b"HTTP/1.1", host: bool = True) -> bytes:
    return (b"POST /mcp/execute " + version + b"\r\n" + (b"Host: 127.0.0.1\r\n" if host else b"") + AUTH
            + b"Content-Type: application/json\r\n" + headers + b"\r\n" + body)


def get(headers: bytes = b"", target: bytes = b"/healthz", version: bytes = b"HTTP/1.1", host: bool = True) -> bytes:
    return b"GET " + target + b" " + version + b"\r\n" + (b"Host: 127.0.0.1\r\n" if host else b"") + headers + b"\r\n"


def echo(message: str) -> bytes:
    return json_body({"tool": "echo", "input": {"message": message}})


def chunked(body: bytes, size_suffix: bytes = b"") -> bytes:
    return f"{len(body):x}".encode() + size_suffix + b"\r\n" + body + b"\r\n0\r\n\r\n"


# --- Content-Length and Transfer-Encoding together (RFC 9112 §6.3 item 3) --------------------

def test_te_before_cl_with_a_smuggled_request_is_refused_and_closed(server):
    """TE.CL: a front-end going by Content-Length would forward the whole thing as one body, while a
    chunked reader sees an empty body and a second request. mcpd refuses it and reads no further."""
    body = b"0\r\n\r\n" + SMUGGLED
    refused(server, post(b"Transfer-Encoding: chunked\r\n" + f"Content-Length: {len(body)}\r\n".encode(), body), 400)


def test_cl_then_te_with_a_smuggled_request_in_the_chunked_body(server):
    """CL.TE: the smuggled request hides after a short Content-Length inside a chunked body."""
    body = b"0\r\n\r\n" + SMUGGLED
    refused(server, post(b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", body), 400)


# --- Content-Length (RFC 9112 §6.3 item 5, RFC 9110 §8.6) ------------------------------------

def test_duplicate_content_length_with_the_same_value_is_one_length(server):
    body = echo("dup")
    resp = served_then_next(server, post(f"Content-Length: {len(body)}\r\nContent-Length: {len(body)}\r\n".encode(), body))
    assert server.stream(resp.json()["call_id"])[-1].data["text"] == "dup"


def test_duplicate_content_length_with_different_values_is_refused(server):
    body = echo("dup")
    refused(server, post(f"Content-Length: {len(body)}\r\nContent-Length: {len(body) + 5}\r\n".encode(), body + SMUGGLED), 400)


@pytest.mark.parametrize("value", [b"+5", b"0x10", b"5 0", b"", b"5,", b",5", b"5;q", b"\xd9\xa5"],
                         ids=["plus", "hex", "inner-space", "empty", "trailing-comma", "leading-comma",
                              "parameter", "arabic-digit"])
def test_malformed_content_length_is_refused(server, value):
    refused(server, post(b"Content-Length: " + value + b"\r\n", b"hello" + SMUGGLED), 400)


def test_content_length_beyond_any_integer_is_too_large(server):
    refused(server, post(b"Content-Length: 123456789012345678901234567890\r\n", b"{}"), 413)


def test_content_length_with_surrounding_whitespace_is_accepted(server):
    body = echo("ows")
    served_then_next(server, post(f"Content-Length: \t {len(body)} \t\r\n".encode(), body))


# --- Transfer-Encoding (RFC 9112 §6.1, §6.3 item 4) ------------------------------------------

@pytest.mark.parametrize("value", [b"chunked, identity", b"chunked, gzip", b"chunked,chunked"],
                         ids=["chunked-identity", "chunked-gzip", "chunked-twice"])
def test_chunked_not_final_is_refused(server, value):
    """The length cannot be determined: 400 and close (§6.3), not 501."""
    refused(server, post(b"Transfer-Encoding: " + value + b"\r\n", chunked(echo("x")) + SMUGGLED), 400)


def test_chunked_on_two_header_lines_is_refused(server):
    refused(server, post(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", chunked(echo("x"))), 400)


@pytest.mark.parametrize("value", [b"xchunked", b"chunked-false", b"identity", b"chunked;q=1"])
def test_unknown_transfer_coding_is_not_implemented(server, value):
    refused(server, post(b"Transfer-Encoding: " + value + b"\r\n", chunked(echo("x")) + SMUGGLED), 501)


def test_empty_transfer_encoding_is_refused(server):
    body = echo("x")
    refused(server, post(b"Transfer-Encoding: \r\n" + f"Content-Length: {len(body)}\r\n".encode(), body), 400)
    refused(server, post(b"Transfer-Encoding: ,\r\n", chunked(body)), 400)


def test_transfer_encoding_in_http_1_0_is_faulty_framing(server):
    """§6.1: an HTTP/1.0 message with Transfer-Encoding is treated as faulty, even with a length."""
    body = echo("x")
    refused(server, post(b"Transfer-Encoding: chunked\r\n", chunked(body) + SMUGGLED, version=b"HTTP/1.0"), 400)


@pytest.mark.parametrize("value", [b" chunked", b"Chunked", b"chunked ", b"CHUNKED", b", chunked"],
                         ids=["leading-space", "capital", "trailing-space", "upper", "empty-element"])
def test_chunked_spellings_that_are_valid(server, value):
    resp = served_then_next(server, post(b"Transfer-Encoding:" + value + b"\r\n", chunked(echo("te"))))
    assert server.stream(resp.json()["call_id"])[-1].data["text"] == "te"


# --- field syntax (RFC 9112 §5) --------------------------------------------------------------

def test_obs_fold_is_refused(server):
    refused(server, get(b"X-Folded: first\r\n  second\r\n"), 400)


def test_obs_fold_of_transfer_encoding_is_refused(server):
    """A folded Transfer-Encoding is one a lenient front-end might not see as chunked."""
    refused(server, post(b"Transfer-Encoding:\r\n chunked\r\nContent-Length: 3\r\n", b"0\r\n\r\n"), 400)


def test_whitespace_before_the_first_header_is_refused(server):
    refused(server, b"GET /healthz HTTP/1.1\r\n Host: x\r\n\r\n", 400)


@pytest.mark.parametrize("line", [b"Transfer-Encoding : chunked", b"Content-Length\t: 5"],
                         ids=["space-te", "tab-cl"])
def test_whitespace_before_colon_on_framing_headers_is_refused(server, line):
    refused(server, post(line + b"\r\n", chunked(b"hello")), 400)


@pytest.mark.parametrize("name", [b"X(Y)", b"X\x00Y", b"X\x7fY", b"\xc3\x84rger", b"X/Y", b"X\"Y"],
                         ids=["paren", "nul", "del", "non-ascii", "slash", "quote"])
def test_invalid_characters_in_header_names_are_refused(server, name):
    refused(server, get(name + b": v\r\n"), 400)


@pytest.mark.parametrize("value", [b"a\x00b", b"a\x01b", b"a\x7fb", b"a\x1bb"], ids=["nul", "soh", "del", "esc"])
def test_control_characters_in_header_values_are_refused(server, value):
    refused(server, get(b"X-Value: " + value + b"\r\n"), 400)


def test_obs_text_and_tabs_in_header_values_are_accepted(server):
    served_then_next(server, get(b"X-Latin: caf\xe9 \x80\xff\tend\r\n"))


# --- line endings (RFC 9112 §2.2) ------------------------------------------------------------

def test_bare_lf_line_endings_are_refused_at_once(server):
    """Refused when the LF arrives, not after the 10 s header timeout."""
    started = time.monotonic()
    refused(server, b"GET /healthz HTTP/1.1\nHost: x\n\n", 400, timeout=5)
    assert time.monotonic() - started < 4.0


@pytest.mark.parametrize("raw", [
    b"GET /healthz HTTP/1.1\r\nHost: x\nX-Hidden: y\r\n\r\n",
    b"GET /healthz HTTP/1.1\nHost: x\r\n\r\n",
    b"\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
], ids=["in-fields", "after-request-line", "before-request-line"])
def test_a_single_bare_lf_in_the_head_is_refused(server, raw):
    refused(server, raw, 400, timeout=5)


@pytest.mark.parametrize("raw", [
    b"GET /healthz HTTP/1.1\r\nHost: x\rX-Hidden: y\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\r\nHost: x\r\n\r\n",
    b"GET /health\rz HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET\r/healthz HTTP/1.1\r\nHost: x\r\n\r\n",
], ids=["in-value", "end-of-request-line", "in-target", "after-method"])
def test_bare_cr_is_refused(server, raw):
    refused(server, raw, 400)


# --- Host (RFC 9112 §3.2) --------------------------------------------------------------------

def test_http_1_1_without_host_is_refused(server):
    refused(server, get(host=False) + SMUGGLED, 400)


def test_duplicate_host_is_refused(server):
    refused(server, get(b"Host: 127.0.0.1\r\n"), 400)
    refused(server, get(b"Host: evil.example\r\n"), 400)


@pytest.mark.parametrize("value", [b"a b", b"x/y", b"user@127.0.0.1", b"x?y", b"\xc3\xa9"],
                         ids=["space", "slash", "userinfo", "query", "non-ascii"])
def test_invalid_host_is_refused(server, value):
    refused(server, get(b"Host: " + value + b"\r\n", host=False), 400)


def test_http_1_0_without_host_is_served(server):
    with server.conn() as c:
        c.send(b"GET /healthz HTTP/1.0\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.json() == {"status": "ok"}, r


def test_ip_literal_host_with_port_is_accepted(server):
    served_then_next(server, get(b"Host: [::1]:8000\r\n", host=False))


# --- chunked bodies (RFC 9112 §7.1) ----------------------------------------------------------

@pytest.mark.parametrize("size", [b"ffffffffffffffffffffffff", b"10000000000000000", b"7fffffffffffffff"],
                         ids=["24-digits", "2^64", "int64-max"])
def test_chunk_size_overflow_is_too_large_never_wrapped(server, size):
    refused(server, post(b"Transfer-Encoding: chunked\r\n", size + b"\r\nhello\r\n0\r\n\r\n" + SMUGGLED), 413)


@pytest.mark.parametrize("line", [b"-1", b"0x5", b" 5", b"5 5", b"+5", b""],
                         ids=["negative", "0x-prefix", "leading-space", "two-numbers", "plus", "empty"])
def test_malformed_chunk_size_is_refused(server, line):
    refused(server, post(b"Transfer-Encoding: chunked\r\n", line + b"\r\nhello\r\n0\r\n\r\n" + SMUGGLED), 400)


def test_leading_zeros_in_a_chunk_size_are_fine(server):
    body = echo("zeros")
    raw = b"0000000000000000000" + f"{len(body):x}".encode() + b"\r\n" + body + b"\r\n000\r\n\r\n"
    resp = served_then_next(server, post(b"Transfer-Encoding: chunked\r\n", raw))
    assert server.stream(resp.json()["call_id"])[-1].data["text"] == "zeros"


def test_valid_chunk_extensions_are_ignored(server):
    body = echo("ext")
    raw = chunked(body, b' ; a ;b=c; d = "quoted \\" ;value"')
    resp = served_then_next(server, post(b"Transfer-Encoding: chunked\r\n", raw))
    assert server.stream(resp.json()["call_id"])[-1].data["text"] == "ext"


@pytest.mark.parametrize("extension", [b";a\nb", b";a\rb", b";", b";=v", b';a="open', b";a=b c", b";a=\x01"],
                         ids=["bare-lf", "bare-cr", "no-name", "no-name-value", "open-quote", "space-in-value", "control"])
def test_malformed_chunk_extensions_are_refused(server, extension):
    """A bare LF in an extension is the classic chunk smuggling vector: a lenient front-end ends the
    size line there and reads the rest as chunk data."""
    refused(server, post(b"Transfer-Encoding: chunked\r\n", b"5" + extension + b"\r\nhello\r\n0\r\n\r\n" + SMUGGLED), 400)


def test_oversized_chunk_extension_is_refused(server):
    refused(server, post(b"Transfer-Encoding: chunked\r\n", chunked(b"hello", b";e=" + b"x" * 2000)), 400)


def test_chunk_extensions_are_limited_per_request(server):
    """Each line under 1 KiB, but 20 KiB of extensions in all: 413, not an endless read."""
    pieces = b"".join(b"1;e=" + b"x" * 1000 + b"\r\na\r\n" for _ in range(20))
    refused(server, post(b"Transfer-Encoding: chunked\r\n", pieces + b"0\r\n\r\n"), 413)


def test_trailers_are_read_and_ignored(server):
    """Framing fields in the trailer section change nothing: the next pipelined request is served."""
    body = echo("trailers")
    raw = (f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n"
           + b"Content-Length: 1000\r\nTransfer-Encoding: gzip\r\nX-Checksum: abc\r\n\r\n")
    resp = served_then_next(server, post(b"Transfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n", raw))
    assert server.stream(resp.json()["call_id"])[-1].data["text"] == "trailers"


def test_oversized_trailer_section_is_refused(server):
    trailers = b"".join(f"X-T{i}: ".encode() + b"t" * 200 + b"\r\n" for i in range(100))  # ~20 KiB
    refused(server, post(b"Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n0\r\n" + trailers + b"\r\n"), 431)


@pytest.mark.parametrize("trailer", [b"No-Colon", b"Bad Name: v", b"X: a\nSMUGGLED: b", b" folded", b"X: \x00"],
                         ids=["no-colon", "space-in-name", "bare-lf", "obs-fold", "nul"])
def test_malformed_trailers_are_refused(server, trailer):
    refused(server, post(b"Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n0\r\n" + trailer + b"\r\n\r\n" + SMUGGLED), 400)


def test_chunk_data_longer_than_its_size_is_refused(server):
    refused(server, post(b"Transfer-Encoding: chunked\r\n", b"3\r\nhello\r\n0\r\n\r\n" + SMUGGLED), 400)


# --- request-target forms (RFC 9112 §3.2) ----------------------------------------------------

def test_absolute_form_is_accepted_and_its_authority_wins(server):
    target = f"http://127.0.0.1:{server.port}/healthz".encode()
    resp = served_then_next(server, get(b"Host: ignored.example\r\n", target=target, host=False))
    assert resp.json() == {"status": "ok"}


def test_absolute_form_with_userinfo_is_refused(server):
    refused(server, get(target=b"http://user:pw@127.0.0.1/healthz"), 400)


@pytest.mark.parametrize("target", [b"healthz", b"*", b"ftp://x/healthz", b"http:/healthz", b"http:///healthz"],
                         ids=["relative", "asterisk-with-get", "other-scheme", "one-slash", "empty-authority"])
def test_malformed_or_misplaced_targets_are_refused(server, target):
    refused(server, get(target=target), 400)


def test_asterisk_form_for_options_is_a_request_not_a_framing_error(server):
    with server.conn() as c:
        c.send(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n" + get())
        first = c.read_response()
        assert first.status < 500 and first.status != 400, first
        second = c.read_response()
        assert second.status == 200, second


def test_connect_is_not_implemented(server):
    refused(server, b"CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n" + SMUGGLED, 501)


@pytest.mark.parametrize("version,status", [(b"HTTP/1.2", 505), (b"HTTP/2.0", 505), (b"http/1.1", 400),
                                            (b"HTTP/1.10", 400), (b"HTTP/1", 400)])
def test_http_version_forms(server, version, status):
    refused(server, b"GET /healthz " + version + b"\r\nHost: x\r\n\r\n", status)


# --- slowloris ---------------------------------------------------------------------------------

SLOW_CONNECTIONS = 1000


def raise_own_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    if hard < needed:
        if os.geteuid() != 0:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {needed} and not root")
        hard = needed
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, needed), hard))


def open_files_limit(pid: int) -> tuple[int, int]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no 'Max open files' in /proc/PID/limits")


def test_slowloris_does_not_starve_a_normal_client(mcpd_factory):
    """1,000 connections each trickling a request head at a byte a second: a normal client is still
    answered promptly, and the header timeout (10 s by default) reaps every slow connection with 408.
    mcpd is started with a soft open-files limit of 1024 (as a shell would give it) and must raise it
    to its hard limit by itself, or it could not even accept them all."""
    raise_own_fd_limit(SLOW_CONNECTIONS + 400)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    m = mcpd_factory(wrapper=("prlimit", f"--nofile=1024:{hard}", "--"))
    soft_seen, hard_seen = open_files_limit(m.pid)
    assert soft_seen == hard_seen == hard, f"mcpd kept a soft open-files limit of {soft_seen} (hard {hard_seen})"

    selector = selectors.DefaultSelector()
    payload = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"s" * 64
    slow: dict[socket.socket, int] = {}   # socket -> bytes of the payload sent so far
    answers: dict[socket.socket, bytes] = {}
    try:
        for _ in range(SLOW_CONNECTIONS):
            s = socket.create_connection(("127.0.0.1", m.port), timeout=10)
            s.setblocking(False)
            s.send(payload[:1])
            slow[s] = 1
            selector.register(s, selectors.EVENT_READ)
        trickle_started = time.monotonic()
        latencies = []
        next_trickle = trickle_started + 1.0
        next_probe = trickle_started
        reaped_at = None
        while time.monotonic() - trickle_started < 20:
            now = time.monotonic()
            if now >= next_probe:
                # The normal client: a fresh connection and a whole request, answered promptly.
                started = time.monotonic()
                r = m.get("/healthz", token=None, timeout=5)
                latencies.append(time.monotonic() - started)
                assert r.status == 200 and r.json() == {"status": "ok"}, r
                next_probe = time.monotonic() + 0.5
            if now >= next_trickle:
                for s, sent in slow.items():
                    if s not in answers and sent < len(payload):
                        try:
                            s.send(payload[sent:sent + 1])
                            slow[s] = sent + 1
                        except OSError:
                            answers.setdefault(s, b"")
                next_trickle += 1.0
            for key, _ in selector.select(timeout=0.1):
                s = key.fileobj
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                answers[s] = answers.get(s, b"") + data
                if not data:   # closed by mcpd
                    selector.unregister(s)
            if not selector.get_map():   # every slow connection was answered and closed
                reaped_at = time.monotonic() - trickle_started
                break
    finally:
        for s in slow:
            s.close()
        selector.close()

    print(f"slowloris: {SLOW_CONNECTIONS} slow connections reaped {reaped_at:.1f}s after they began; "
          f"{len(latencies)} normal requests, slowest {max(latencies) * 1000:.0f} ms")
    assert reaped_at is not None, f"{len(answers)} of {SLOW_CONNECTIONS} slow connections closed after 20 s"
    statuses = {a.split(b"\r\n", 1)[0] for a in answers.values()}
    assert statuses == {b"HTTP/1.1 408 Request Timeout"}, f"slow connections answered {statuses}"
    assert 9.0 <= reaped_at <= 16.0, f"slow connections reaped {reaped_at:.1f}s after they began (timeout 10 s)"
    assert max(latencies) < 2.0, f"normal requests took up to {max(latencies):.2f}s: {latencies}"
    assert m.get("/healthz", token=None).status == 200


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")   # utime + stime


def test_out_of_descriptors_mcpd_waits_instead_of_spinning(mcpd_factory):
    """With a hard open-files limit it cannot raise, more clients than descriptors leave connections
    in the listen backlog: mcpd must neither crash nor spin on the still-readable listener, and serves
    the waiting clients once descriptors are free again."""
    m = mcpd_factory("--workers-min", "1", "--workers-max", "2", wrapper=("prlimit", "--nofile=64:64", "--"))
    assert open_files_limit(m.pid) == (64, 64)
    clients = []
    try:
        for _ in range(100):
            clients.append(socket.create_connection(("127.0.0.1", m.port), timeout=10))
        time.sleep(0.5)   # mcpd has accepted what it can and hit EMFILE
        cpu_before = process_cpu_seconds(m.pid)
        time.sleep(2.0)
        spent = process_cpu_seconds(m.pid) - cpu_before
        assert spent < 0.5, f"mcpd used {spent:.2f}s of CPU in 2 s while out of descriptors (spinning on accept)"
        # The last client is still in the backlog; once the others go, it is served.
        waiting = clients.pop()
        for s in clients:
            s.close()
        clients = [waiting]
        waiting.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        waiting.settimeout(10)
        answer = b""
        while chunk := waiting.recv(4096):
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    finally:
        for s in clients:
            s.close()
    assert m.get("/healthz", token=None).status == 200
