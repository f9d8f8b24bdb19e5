"""Checks every JSON-RPC message an MCP server sent against the published schema of the protocol
revision in use (mcp-schema/<revision>/schema.json beside this file; see its README.md).

    check_server_message(revision, message, method=None) -> list[str]

raises AssertionError, saying where and why, when `message` is not something a server may send in
`revision`, and returns the names of the schema definitions it was checked against. `message` is a
decoded JSON value (or the JSON text, str or bytes):

- a response to a request whose method was `method`: the envelope (JSONRPCResponse and JSONRPCError
  up to 2025-06-18, JSONRPCResultResponse and JSONRPCErrorResponse from 2025-11-25), then a result
  against the method's own result definition (`result_definitions(revision)`; a method the revision
  does not define, or method=None, gets the envelope only), and an error whose code has a
  definition of its own (2025-11-25's URLElicitationRequiredError, 2026-07-28's ParseError,
  HeaderMismatchError, UnsupportedProtocolVersionError, ...) against that definition too;
- a notification (method, no id) against the definition ServerNotification lists for its method;
- a request (method and id) against the one ServerRequest lists for its method (2026-07-28 has no
  ServerRequest: a server asks the client for input in an InputRequiredResult instead);
- a list: a JSON-RPC batch, which only 2025-03-26 has (JSONRPCBatchResponse, JSONRPCBatchRequest),
  checked as a whole and element by element; `method` is then one method for every response, or a
  mapping from request id to method.

Where a method allows several results the message itself says which applies: 2026-07-28's
`resultType` "input_required" selects InputRequiredResult, anything else the method's own result;
in 2025-11-25 a result with `task`, to a request that may be task-augmented (its params have
`task`), is a CreateTaskResult.

Besides the schemas, a few rules that their descriptions or JSON-RPC 2.0 state in prose are
checked, each named as such in the failure: a response carries `result` or `error`, not both; a
batch is not empty; in 2026-07-28 `resultType` is one of the values ResultType's description lists
("complete", "input_required"), "input_required" only for a method whose *ResultResponse allows
InputRequiredResult, and an InputRequiredResult has `inputRequests` or `requestState`.

`format` keywords are annotations only (jsonschema's default): not checked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

import jsonschema
import referencing
from jsonschema.exceptions import ValidationError

SCHEMA_DIR = Path(__file__).resolve().with_name("mcp-schema")
SUPPORTED_REVISIONS = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"]

_MAX_ERRORS = 6          # schema errors listed in one failure
_MAX_MESSAGE_CHARS = 1500


def check_server_message(revision: str, message: dict | list | str | bytes,
                         method: str | Mapping[str | int, str] | None = None) -> list[str]:
    """Raise AssertionError unless `message` is valid for a server to send in `revision`.

    `method` is the method of the request a response answers (str), or for a batch a mapping
    from request id to method; it is ignored for notifications and requests. Returns the names
    of the definitions the message was checked against, in order."""
    rev = _revision(revision)
    if isinstance(message, (str, bytes, bytearray)):
        try:
            message = json.loads(message)
        except ValueError as exc:
            raise AssertionError(f"MCP {revision}: the server sent no JSON ({exc}): {message[:300]!r}") from None
    checker = _Check(rev, message)
    if isinstance(message, list):
        checker.batch(method)
    else:
        checker.single(message, method if not isinstance(method, Mapping) else None, "$")
    return checker.checked


def check_definition(revision: str, definition: str, instance, where: str = "$") -> None:
    """Raise AssertionError unless `instance` is valid against the schema's `definition`."""
    rev = _revision(revision)
    _Check(rev, instance).against(definition, instance, where, f"{where} is not a valid {definition}")


def result_definitions(revision: str) -> dict[str, tuple[str, ...]]:
    """Method of each request a client may send -> the definitions a server's result may match."""
    return dict(_revision(revision).results)


def server_notification_definitions(revision: str) -> dict[str, str]:
    """Method -> definition, for the notifications ServerNotification lists."""
    return dict(_revision(revision).server_notifications)


def server_request_definitions(revision: str) -> dict[str, str]:
    """Method -> definition, for the requests ServerRequest lists (none in 2026-07-28)."""
    return dict(_revision(revision).server_requests or {})


# ----------------------------------------------------------------------------------------------
# One revision's schema: definitions, validators (compiled once) and the method maps read off it.
# ----------------------------------------------------------------------------------------------

_revisions: dict[str, "_Revision"] = {}


def _revision(revision: str) -> "_Revision":
    rev = _revisions.get(revision)
    if rev is None:
        if revision not in SUPPORTED_REVISIONS:
            raise ValueError(f"unknown MCP revision {revision!r}; supported: {SUPPORTED_REVISIONS}")
        rev = _revisions[revision] = _Revision(revision)
    return rev


class _Revision:
    def __init__(self, name: str):
        self.name = name
        self.path = SCHEMA_DIR / name / "schema.json"
        self.doc = json.loads(self.path.read_text(encoding="utf-8"))
        # draft-07 files keep their definitions in "definitions", 2020-12 ones in "$defs".
        self.defs_key = "$defs" if "$defs" in self.doc else "definitions"
        self.defs: dict = self.doc[self.defs_key]
        self.uri = f"urn:mcp-schema:{name}"
        resource = referencing.Resource.from_contents(self.doc)   # its $schema picks the draft
        self.registry = referencing.Registry().with_resource(self.uri, resource)
        self.validator_class = jsonschema.validators.validator_for(self.doc)
        self._validators: dict[str, jsonschema.protocols.Validator] = {}

        self.result_envelope = self._first("JSONRPCResultResponse", "JSONRPCResponse")
        self.error_envelope = self._first("JSONRPCErrorResponse", "JSONRPCError")
        self.batch_response = "JSONRPCBatchResponse" if "JSONRPCBatchResponse" in self.defs else None
        self.batch_request = "JSONRPCBatchRequest" if "JSONRPCBatchRequest" in self.defs else None
        self.request_defs = {self._method(n): n for n in self.defs
                             if n.endswith("Request") and self._method(n) is not None}
        self.client_requests = self._union("ClientRequest")
        self.server_requests = self._union("ServerRequest") if "ServerRequest" in self.defs else None
        self.server_notifications = self._union("ServerNotification")
        self.results = {m: self._result_defs(n) for m, n in self.client_requests.items()}
        self.error_codes = self._error_codes()
        self.result_types = self._result_types()

    # -- reading the schema ---------------------------------------------------------------------
    def _first(self, *names: str) -> str:
        for n in names:
            if n in self.defs:
                return n
        raise KeyError(f"{self.path}: none of {names}")

    def ref_name(self, schema: dict) -> str | None:
        ref = schema.get("$ref", "")
        prefix = f"#/{self.defs_key}/"
        return ref[len(prefix):] if ref.startswith(prefix) else None

    def resolve(self, schema: dict) -> dict:
        name = self.ref_name(schema)
        return self.defs[name] if name else schema

    def _method(self, name: str) -> str | None:
        method = self.defs[name].get("properties", {}).get("method", {})
        return method.get("const")

    def _union(self, name: str) -> dict[str, str]:
        """method -> definition for a union of requests or notifications (a single one in
        2026-07-28's ClientNotification)."""
        schema = self.defs[name]
        members = [self.ref_name(s) for s in schema["anyOf"]] if "anyOf" in schema else [name]
        out = {}
        for m in members:
            method = self._method(m)
            assert method is not None, f"{self.path}: {name} member {m} has no method const"
            out[method] = m
        return out

    def _result_defs(self, request: str) -> tuple[str, ...]:
        stem = request[:-len("Request")]
        envelope = self.defs.get(stem + "ResultResponse")     # 2026-07-28 names them per method
        if envelope is not None:
            result = envelope["properties"]["result"]
            return tuple(self.ref_name(s) for s in result.get("anyOf", [result]))
        if stem + "Result" in self.defs:
            names = (stem + "Result",)
            params = self.resolve(self.defs[request].get("properties", {}).get("params", {}))
            if "task" in params.get("properties", {}) and "CreateTaskResult" in self.defs:
                names += ("CreateTaskResult",)              # a task-augmented request (2025-11-25)
            return names
        return ("EmptyResult",)                              # ping, logging/setLevel, subscribe, ...

    def _error_codes(self) -> dict[int, tuple[str, bool]]:
        """JSON-RPC error code -> (definition, whether it describes the whole message rather than
        the error object), for the definitions that fix a code with a const."""
        out = {}
        for name, schema in self.defs.items():
            props = schema.get("properties", {})
            code = props.get("code", {}).get("const")
            if isinstance(code, int) and "message" in props:
                out.setdefault(code, (name, False))          # ParseError, InternalError, ...
                continue
            for part in props.get("error", {}).get("allOf", []):
                code = part.get("properties", {}).get("code", {}).get("const")
                if isinstance(code, int):
                    out[code] = (name, True)                 # UnsupportedProtocolVersionError, ...
        return out

    def _result_types(self) -> tuple[str, ...] | None:
        """The values ResultType's description lists (2026-07-28: complete, input_required)."""
        schema = self.defs.get("ResultType")
        if schema is None:
            return None
        values = re.findall(r"^(\w+) - ", schema.get("description", ""), re.M)
        assert values, f"{self.path}: ResultType's description lists no values"
        return tuple(values)

    # -- validation -----------------------------------------------------------------------------
    def validator(self, definition: str):
        v = self._validators.get(definition)
        if v is None:
            if definition not in self.defs:
                raise KeyError(f"MCP {self.name} has no definition {definition!r}")
            schema = {"$ref": f"{self.uri}#/{self.defs_key}/{definition}"}
            v = self._validators[definition] = self.validator_class(schema, registry=self.registry)
        return v


# ----------------------------------------------------------------------------------------------
# Checking one message
# ----------------------------------------------------------------------------------------------

class _Check:
    def __init__(self, rev: _Revision, message):
        self.rev = rev
        self.message = message
        self.checked: list[str] = []

    def fail(self, what: str, details: list[str] | None = None):
        text = json.dumps(self.message, ensure_ascii=False, sort_keys=True)
        if len(text) > _MAX_MESSAGE_CHARS:
            text = text[:_MAX_MESSAGE_CHARS] + f"... ({len(text)} chars)"
        lines = [f"MCP {self.rev.name}: {what}"] + [f"  {d}" for d in details or []]
        lines.append(f"  message: {text}")
        raise AssertionError("\n".join(lines))

    def against(self, definition: str, instance, where: str, what: str) -> None:
        self.checked.append(definition)
        errors = list(self.rev.validator(definition).iter_errors(instance))
        if errors:
            self.fail(what, _describe(self.rev, errors, where))

    def passes(self, definition: str, instance) -> bool:
        return self.rev.validator(definition).is_valid(instance)

    # -- kinds of message -----------------------------------------------------------------------
    def batch(self, method) -> None:
        rev, batch = self.rev, self.message
        if rev.batch_response is None:
            self.fail("a JSON-RPC batch (array), which this revision does not have "
                      "(only 2025-03-26 defines JSONRPCBatchResponse)")
        if not batch:
            self.fail("JSON-RPC 2.0: an empty batch array (a server sends nothing instead)")
        responses = [isinstance(m, dict) and "method" not in m for m in batch]
        definition = rev.batch_response if all(responses) else rev.batch_request
        self.against(definition, batch, "$", f"the batch is not a valid {definition}")
        for i, element in enumerate(batch):
            m = method
            if isinstance(method, Mapping):
                m = method.get(element.get("id")) if isinstance(element, dict) else None
            self.single(element, m, f"$[{i}]")

    def single(self, message, method: str | None, where: str) -> None:
        if not isinstance(message, dict):
            self.fail(f"{_at(where)}a JSON-RPC message is an object, not {type(message).__name__}")
        if "method" in message:
            if "id" in message:
                self.request(message, where)
            else:
                self.notification(message, where)
        elif "result" in message and "error" in message:
            self.fail(f"{_at(where)}JSON-RPC 2.0: a response has either result or error, not both")
        elif "error" in message:
            self.error_response(message, where)
        elif "result" in message:
            self.result_response(message, method, where)
        else:
            self.fail(f"{_at(where)}neither a request, a notification nor a response "
                      "(no method, result or error)")

    def request(self, message: dict, where: str) -> None:
        rev = self.rev
        at = _at(where)
        self.against("JSONRPCRequest", message, where, f"{at}request is not a valid JSONRPCRequest")
        if rev.server_requests is None:
            self.fail(f"{at}a request from the server ({message['method']!r}), but this revision "
                      "defines none (no ServerRequest; a server asks for input with an "
                      "InputRequiredResult)")
        definition = rev.server_requests.get(message["method"])
        if definition is None:
            self.fail(f"{at}{message['method']!r} is not a request a server may send "
                      f"(ServerRequest: {', '.join(sorted(rev.server_requests))})")
        self.against(definition, message, where,
                     f"{at}{message['method']} request is not a valid {definition}")

    def notification(self, message: dict, where: str) -> None:
        rev = self.rev
        at = _at(where)
        self.against("JSONRPCNotification", message, where,
                     f"{at}notification is not a valid JSONRPCNotification")
        definition = rev.server_notifications.get(message["method"])
        if definition is None:
            self.fail(f"{at}{message['method']!r} is not a notification a server may send "
                      f"(ServerNotification: {', '.join(sorted(rev.server_notifications))})")
        self.against(definition, message, where,
                     f"{at}{message['method']} notification is not a valid {definition}")

    def error_response(self, message: dict, where: str) -> None:
        rev = self.rev
        at = _at(where)
        self.against(rev.error_envelope, message, where,
                     f"{at}error response is not a valid {rev.error_envelope}")
        code = message["error"]["code"]
        if code in rev.error_codes:
            definition, whole = rev.error_codes[code]
            if whole:
                self.against(definition, message, where,
                             f"{at}error response with code {code} is not a valid {definition}")
            else:
                self.against(definition, message["error"], f"{where}.error",
                             f"{at}error object with code {code} is not a valid {definition}")

    def result_response(self, message: dict, method: str | None, where: str) -> None:
        rev = self.rev
        label = f"{_at(where)}{method or 'a'} response"
        self.against(rev.result_envelope, message, where,
                     f"{label} is not a valid {rev.result_envelope}")
        result = message["result"]
        allowed = rev.results.get(method) if method is not None else None
        result_type = result.get("resultType")
        if rev.result_types is not None and result_type not in rev.result_types:
            self.fail(f"{label}: resultType {result_type!r} is none of {list(rev.result_types)} "
                      "(ResultType's description)")
        if allowed is None:
            return                                           # unknown method: the envelope only
        candidates = list(allowed)
        if "InputRequiredResult" in candidates:
            if result_type == "input_required":
                candidates = ["InputRequiredResult"]
            else:
                candidates.remove("InputRequiredResult")
        elif result_type == "input_required":
            self.fail(f"{label}: resultType 'input_required', but {method} results are only "
                      f"{' or '.join(allowed)}")
        if "CreateTaskResult" in candidates:
            if "task" in result:
                candidates = ["CreateTaskResult"]
            else:
                candidates.remove("CreateTaskResult")
        where_result = f"{where}.result"
        if len(candidates) > 1 and any(self.passes(c, result) for c in candidates):
            self.checked.extend(candidates)
            return
        self.against(candidates[0], result, where_result,
                     f"{label}: result is not a valid {candidates[0]}")
        if candidates[0] == "InputRequiredResult" and not (
                "inputRequests" in result or "requestState" in result):
            self.fail(f"{label}: an InputRequiredResult has neither inputRequests nor requestState "
                      "(InputRequiredResult's description: at least one MUST be present)")


# ----------------------------------------------------------------------------------------------
# Failure messages: the errors that matter, where they are, under which variant of a union.
# ----------------------------------------------------------------------------------------------

def _describe(rev: _Revision, errors: list[ValidationError], where: str) -> list[str]:
    leaves: list[tuple[ValidationError, str]] = []
    for e in errors:
        leaves.extend(_leaves(rev, e, ""))
    leaves.sort(key=lambda pair: (len(pair[0].absolute_path), _path(pair[0].absolute_path, where)))
    lines = []
    for e, variant in leaves[:_MAX_ERRORS]:
        at = _path(e.absolute_path, where)
        lines.append(f"at {at}{variant}: {e.message}")
    if len(leaves) > _MAX_ERRORS:
        lines.append(f"... and {len(leaves) - _MAX_ERRORS} more")
    return lines


def _leaves(rev: _Revision, error: ValidationError, variant: str):
    """The errors under `error`: an anyOf/oneOf is descended into when the instance picks one
    variant, i.e. every other variant fails a `const` on one of its direct properties (a `type`
    or `method` discriminator)."""
    if error.validator not in ("anyOf", "oneOf") or not error.context:
        yield error, variant
        return
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    options = error.validator_value

    def name(i):
        return rev.ref_name(options[i]) or f"variant {i}"

    def mismatched(subs):
        base = len(error.absolute_path)
        return any(s.validator == "const" and len(s.absolute_path) == base + 1 for s in subs)

    matching = [i for i, subs in branches.items() if not mismatched(subs)]
    if len(matching) == 1:
        i = matching[0]
        for sub in branches[i]:
            yield from _leaves(rev, sub, f" (as {name(i)})")
        return
    if not matching:
        expected = sorted({repr(s.validator_value) for subs in branches.values() for s in subs
                           if s.validator == "const"})
        error.message = (f"matches no variant of {', '.join(name(i) for i in branches)} "
                         f"(their discriminators: {', '.join(expected)})")
    else:
        firsts = [f"{name(i)}: {branches[i][0].message}" for i in matching[:4]]
        error.message = f"{error.message}; " + "; ".join(firsts)
    yield error, variant


def _at(where: str) -> str:
    return "" if where == "$" else f"{where}: "


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _path(path, where: str) -> str:
    out = where
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT.match(part):
            out += f".{part}"
        else:
            out += f"[{json.dumps(part)}]"
    return out
