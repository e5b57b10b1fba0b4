"""Reading decision requests from HTTP bodies: one-line errors, never an exception.

``parse_single`` reads the body of ``POST /v1/decide``; it is strict, so that a client's
bug shows up as a 400 at once: the body must be a JSON object with string ``topic`` and
``env``, and optionally ``cidr`` (a string or null), ``gate`` (a short lowercase word;
null or absent: ``server``) and ``job_id`` (a string or null); any other key is refused.

``parse_batch`` reads the body of ``POST /v1/decide/batch``, ``{"requests": [...]}``.
The envelope is as strict; each item is read the way ``dualgate eval --input`` reads a
line: an item that is no object of the known keys (or whose ``gate`` or ``job_id`` is of
the wrong kind) is a ``str`` naming its fault, to be denied as ``malformed-request``,
and ``topic``, ``env`` and ``cidr`` of any JSON kind go to the runtime, which denies a
malformed value with its reason (``invalid-topic``, ...).

Both raise ``BadRequestError`` (with the HTTP status to answer) and nothing else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, NamedTuple

from dualgate.runtime.fastjson import UNREAD, read_fast

_orjson_loads: Callable[[bytes], Any] | None
try:
    from orjson import loads as _orjson_loads
except ImportError:  # a dependency of dualgate; without it the general reading serves
    _orjson_loads = None

#: The keys a request may carry.
REQUEST_KEYS = ("topic", "env", "cidr", "gate", "job_id")
_KEYS = frozenset(REQUEST_KEYS)
_PLAIN_KEYS = frozenset(("topic", "env", "cidr"))
_KEYS_TEXT = "`topic`, `env`, `cidr`, `gate` and `job_id`"
#: The gate a request names when it names none.
DEFAULT_GATE = "server"
#: A gate name: a short lowercase word, so that the ``gate`` label of the metrics stays
#: bounded and readable (the same shape as a gate's ``cause`` word).
GATE_NAME = re.compile(r"[a-z][a-z0-9-]{0,31}")
#: Gate names already checked against ``GATE_NAME`` (bounded: past it, each is checked).
_gates_seen: set[str] = {DEFAULT_GATE}
_MAX_GATES_SEEN = 256
#: The longest ``job_id`` kept: a decision-log line stays bounded.
MAX_JOB_ID = 256
#: Longest user input quoted in an error message.
_SHOWN = 60

_KINDS = {dict: "an object", list: "an array", str: "a string", int: "a number",
          float: "a number", bool: "a boolean", type(None): "null"}


class BadRequestError(Exception):
    """A body that is no request: ``str(error)`` says why in one line, ``status`` is the
    HTTP status to answer with (400, or 413 for a batch over the limit)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class DecideRequest(NamedTuple):
    """One request to decide: the runtime's three attributes as the client gave them,
    the gate it names (for metrics and the decision log) and its job id."""

    topic: object
    env: object
    cidr: object
    gate: str
    job_id: str | None


#: A request's values as a batch item carries them (a ``DecideRequest`` is one too): a
#: plain tuple costs a third of a named one to build.
RequestValues = tuple[object, object, object, str, str | None]


def parse_single(body: bytes) -> DecideRequest:
    """The request in a ``POST /v1/decide`` body; ``BadRequestError`` if it is none."""
    value = _json(body)
    if type(value) is not dict:
        raise BadRequestError(f"the body is {_kind(value)}, not an object of {_KEYS_TEXT}")
    fault = _unknown_key(value)
    if fault is None:
        for key in ("topic", "env"):
            if key not in value:
                fault = f"`{key}` is missing"
                break
            if type(value[key]) is not str:
                fault = f"`{key}` must be a string, not {_kind(value[key])}"
                break
    if fault is None and value.get("cidr") is not None and type(value["cidr"]) is not str:
        fault = f"`cidr` must be a string or null, not {_kind(value['cidr'])}"
    if fault is not None:
        raise BadRequestError(fault)
    request = _request(value)
    if isinstance(request, str):
        raise BadRequestError(request)
    return request


def parse_batch(body: bytes, max_batch: int) -> list[RequestValues | str]:
    """The requests in a ``POST /v1/decide/batch`` body, in order, each a request's
    values (``topic, env, cidr, gate, job_id``, as a ``DecideRequest`` holds them) or the
    fault of an item that is none; ``BadRequestError`` when the body is no
    ``{"requests": [...]}`` of at most ``max_batch`` items."""
    requests = _plain_batch(body, max_batch)
    if requests is not None:
        return requests
    value = _json(body)
    if type(value) is not dict:
        raise BadRequestError(f"the body is {_kind(value)}, not an object "
                              '`{"requests": [...]}`')
    unknown = sorted(str(key) for key in value if key != "requests")
    if unknown:
        raise BadRequestError(f"unknown key `{_shown(unknown[0])}` (a batch has only "
                              "`requests`)")
    items = value.get("requests")
    if type(items) is not list:
        what = "missing" if "requests" not in value else f"{_kind(items)}, not an array"
        raise BadRequestError(f"`requests` is {what}")
    if len(items) > max_batch:
        raise BadRequestError(f"a batch holds at most {max_batch} requests, this one "
                              f"{len(items)}", status=413)
    return [_item(item) for item in items]


def _plain_batch(body: bytes, max_batch: int) -> list[RequestValues | str] | None:
    """The requests of a batch whose every item holds only strings (``cidr``, ``gate``
    and ``job_id`` may be null), read by orjson in one go; None for anything else, left
    to the general reading. orjson and ``json.loads`` read such a body alike (they
    differ only in numbers, ``NaN``, lone surrogates and deep nesting, see
    ``dualgate.runtime.fastjson``), so checking the items' types here replaces the walk
    ``read_fast`` makes over the value for floats."""
    if _orjson_loads is None:
        return None
    try:
        value = _orjson_loads(body)
    except ValueError:  # orjson.JSONDecodeError, invalid UTF-8 included
        return None
    if type(value) is not dict or len(value) != 1:
        return None
    items = value.get("requests")
    if type(items) is not list or len(items) > max_batch:
        return None
    requests: list[RequestValues | str] = []
    append = requests.append
    for item in items:
        try:  # a dict's: anything else orjson gives raises TypeError
            topic, env = item["topic"], item["env"]
        except (KeyError, TypeError):
            return None
        cidr = item.get("cidr")
        if type(topic) is not str or type(env) is not str or (
                cidr is not None and type(cidr) is not str):
            return None
        size = len(item)
        if size == 2 or (size == 3 and cidr is not None):
            # The common item, only `topic`, `env` and `cidr`: nothing more to check.
            append((topic, env, cidr, DEFAULT_GATE, None))
            continue
        gate, job_id = item.get("gate"), item.get("job_id")
        if (gate is not None and type(gate) is not str) or (
                job_id is not None and type(job_id) is not str):
            return None
        append(_item(item))
    return requests


def _item(item: object) -> RequestValues | str:
    if type(item) is not dict:
        return f"{_kind(item)}, not an object of {_KEYS_TEXT}"
    fault = _unknown_key(item)
    return _request(item) if fault is None else fault


def _request(value: dict[str, Any]) -> DecideRequest | str:
    """The request of an object whose keys are known, or the fault of its gate or job id."""
    gate = value.get("gate")
    if gate is None:
        gate = DEFAULT_GATE
    elif type(gate) is not str or gate not in _gates_seen:
        if type(gate) is not str or not GATE_NAME.fullmatch(gate):
            shown = f"`{_shown(gate)}`" if type(gate) is str else _kind(gate)
            return (f"`gate` must be a short lowercase word such as `submit` (letters, "
                    f"digits and `-`, at most 32), not {shown}")
        if len(_gates_seen) < _MAX_GATES_SEEN:
            _gates_seen.add(gate)
    job_id = value.get("job_id")
    if job_id is not None and (type(job_id) is not str or len(job_id) > MAX_JOB_ID):
        what = _kind(job_id) if type(job_id) is not str else f"{len(job_id)} characters"
        return f"`job_id` must be a string of at most {MAX_JOB_ID} characters or null, not {what}"
    # The named tuple's own __new__ is Python code: a third of an item's parsing.
    return tuple.__new__(DecideRequest, (value.get("topic"), value.get("env"),
                                         value.get("cidr"), gate, job_id))


def _unknown_key(value: dict[str, Any]) -> str | None:
    if value.keys() <= _KEYS:
        return None
    unknown = sorted(str(key) for key in value.keys() - _KEYS)
    return f"unknown key `{_shown(unknown[0])}` (the keys are {_KEYS_TEXT})"


def _json(body: bytes) -> object:
    if not body.strip():
        raise BadRequestError("the body is empty; send a JSON object")
    # orjson when installed; the standard library reads what it would read differently
    # and words every refusal, so the answer never depends on the parser.
    value = read_fast(body)
    if value is not UNREAD:
        return value
    try:
        return json.loads(body.decode("utf-8"))  # UTF-8 only: no guessing at UTF-16
    except RecursionError:
        raise BadRequestError("the body is not JSON this server reads: nested too deeply") from None
    except UnicodeDecodeError as error:
        raise BadRequestError(f"the body is not UTF-8 text (byte {error.start + 1})") from None
    except json.JSONDecodeError as error:
        raise BadRequestError(f"the body is not JSON: {error.msg[0].lower()}{error.msg[1:]} at "
                         f"line {error.lineno} column {error.colno}") from None
    except ValueError as error:  # an integer too long to read, say
        text = str(error)
        raise BadRequestError("the body is not JSON this server reads: "
                         f"{text[:1].lower()}{text[1:]}") from None


def _kind(value: object) -> str:
    return _KINDS.get(type(value), "a value")


def _shown(text: object) -> str:
    """User input as one printable line: escapes for control characters, cut short."""
    escaped = str(text).encode("unicode_escape").decode("ascii").replace("`", "'")
    return escaped if len(escaped) <= _SHOWN else escaped[:_SHOWN - 3] + "..."
