"""The decision server reads a body exactly as the standard library's ``json.loads``
reads it: orjson (its fast path) only speeds the reading up. Differential properties
over bodies near requests and batches, with the values where the two parsers differ
(integers beyond 64 bits, floats, ``NaN`` and ``Infinity``, duplicate keys, deep
nesting, invalid UTF-8, lone surrogates)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dualgate.runtime import fastjson
from dualgate.runtime.fastjson import UNREAD
from dualgate.server import requests
from dualgate.server.requests import BadRequestError, parse_batch, parse_single
from tests.profiles import examples

pytestmark = pytest.mark.skipif(not fastjson.AVAILABLE, reason="orjson is not installed")

_KEYS = ["topic", "env", "cidr", "gate", "job_id", "colour"]
_SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
            | st.integers().map(lambda n: n * 10**18 + 7)  # beyond 64 bits
            | st.floats() | st.text(max_size=6)
            | st.sampled_from(["infra.vm.read", "production", "10.0.0.0/8", "submit", "job-1",
                               "\ud800", "\udfff", "Not A Word"]))
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.sampled_from(_KEYS), inner, max_size=3),
                       max_leaves=6)
_STRINGS = st.sampled_from(["infra.vm.read", "payments.refund", "production", "staging",
                            "10.1.2.3", "submit", "job-7", "\u00e9t\u00e9"])
#: Items that are requests (strings only): the fast path's own.
_PLAIN_ITEMS = st.fixed_dictionaries(
    {"topic": _STRINGS, "env": _STRINGS},
    optional={"cidr": st.none() | _STRINGS, "gate": st.none() | _STRINGS,
              "job_id": st.none() | _STRINGS})
_ITEMS = _PLAIN_ITEMS | st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=5) | _VALUES


def _dumps(value: Any, ascii_only: bool) -> bytes:
    # ensure_ascii=False writes a lone surrogate as itself: invalid UTF-8 once encoded.
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def _object(pairs: list[tuple[str, bytes]]) -> bytes:
    """A JSON object written by hand, so that it may repeat a key."""
    return b"{" + b",".join(json.dumps(key).encode() + b":" + value
                            for key, value in pairs) + b"}"


@st.composite
def _bodies(draw: st.DrawFn) -> bytes:
    """Batch and single bodies, some with a key repeated, a value nested deeper than
    Python recurses or orjson reads, or damaged (a byte inserted, the end cut off)."""
    ascii_only = draw(st.booleans())
    items = [_dumps(item, ascii_only) for item in draw(st.lists(_ITEMS, max_size=5))]
    if items and draw(st.booleans()):  # an item with a key twice
        at = draw(st.integers(min_value=0, max_value=len(items) - 1))
        key = draw(st.sampled_from(_KEYS))
        items[at] = _object([(key, _dumps(draw(_VALUES), ascii_only)), ("env", b'"dev"'),
                             (key, _dumps(draw(_VALUES), ascii_only))])
    if items and draw(st.booleans()):  # nested: within Python's reach, past it, past orjson's
        depth = draw(st.sampled_from([50, 990, 1010, 1100, 5000]))
        at = draw(st.integers(min_value=0, max_value=len(items) - 1))
        items[at] = _object([("topic", b"[" * depth + b"1" + b"]" * depth), ("env", b'"x"')])
    listed = b"[" + b",".join(items) + b"]"
    shape = draw(st.sampled_from(["batch", "batch", "twice", "extra", "single", "value"]))
    if shape == "batch":
        body = _object([("requests", listed)])
    elif shape == "twice":
        body = _object([("requests", listed), ("requests", b"[" + b",".join(items[:1]) + b"]")])
    elif shape == "extra":
        body = _object([("requests", listed), (draw(st.sampled_from(_KEYS)), b"1")])
    elif shape == "single":
        body = items[0] if items else b"{}"
    else:
        body = _dumps(draw(_VALUES), ascii_only)
    damage = draw(st.sampled_from(["none", "none", "insert", "cut"]))
    if damage == "insert":
        at = draw(st.integers(min_value=0, max_value=len(body)))
        inserted = draw(st.sampled_from([b"\x00", b"\xff", b"\xef\xbb\xbf", b" ", b",",
                                         b"\\", b"NaN", b"Infinity", b"-0", b"1e999"]))
        body = body[:at] + inserted + body[at:]
    elif damage == "cut":
        body = body[:draw(st.integers(min_value=0, max_value=len(body)))]
    return body


@contextmanager
def _standard_library_only() -> Iterator[None]:
    """The server's readers with orjson switched off: ``json.loads`` reads everything."""
    saved = requests._orjson_loads, requests.read_fast
    requests._orjson_loads = None
    requests.read_fast = lambda data: UNREAD
    try:
        yield
    finally:
        requests._orjson_loads, requests.read_fast = saved


def _outcome(parse: Callable[[bytes], object], body: bytes) -> tuple[object, ...]:
    """What reading ``body`` gives: the requests (their ``repr``, which tells 1 from 1.0,
    -0.0 from 0.0 and shows NaN and each value's kind) or the error and its status."""
    try:
        read = parse(body)
    except BadRequestError as error:
        return ("refused", error.status, str(error))
    # A request as a plain tuple: a DecideRequest and the fast path's tuple are alike.
    return ("read", repr([item if isinstance(item, str) else tuple(item)
                          for item in (read if isinstance(read, list) else [read])]))


def _batch(body: bytes) -> object:
    return parse_batch(body, 4)


@settings(max_examples=examples(400), deadline=None)
@given(_bodies())
def test_a_body_reads_as_the_standard_library_reads_it(body: bytes) -> None:
    """Batch and single bodies, valid or not: the same requests, item faults and errors
    with orjson as with ``json.loads`` alone."""
    fast = (_outcome(_batch, body), _outcome(parse_single, body))
    with _standard_library_only():
        plain = (_outcome(_batch, body), _outcome(parse_single, body))
    assert fast == plain


@pytest.mark.parametrize("body", [
    b'{"requests":[{"topic":"a","env":"b","topic":"c"}]}',  # the last of a repeated key
    b'{"requests":[{"topic":"a","env":"b"}],"requests":[]}',
    b'{"requests":[{"topic":18446744073709551616,"env":"b"}]}',  # 2**64: no float
    b'{"requests":[{"topic":1.0,"env":"b"},{"topic":"a","env":"b"}]}',
    b'{"requests":[{"topic":NaN,"env":"b"}]}',
    b'{"requests":[{"topic":"\\ud800","env":"b"}]}',
    b'{"requests":[{"topic":"\xff","env":"b"}]}',
    b'{"requests":[{"topic":' + b"[" * 1010 + b"]" * 1010 + b',"env":"b"}]}',
    b'{"requests":[{"topic":"a","env":"b","gate":7}]}',
    b'{"requests":[{"topic":"a","env":"b","job_id":1e400}]}',
])
def test_the_edges_of_orjson_read_as_the_standard_library_reads_them(body: bytes) -> None:
    fast = _outcome(_batch, body)
    with _standard_library_only():
        assert fast == _outcome(_batch, body)


def test_a_batch_of_plain_requests_takes_the_fast_path() -> None:
    """The common batch is read by orjson alone, as plain tuples of the five values."""
    body = (b'{"requests":[{"topic":"a.b","env":"dev"},{"topic":"a.c","env":"dev",'
            b'"cidr":"10.0.0.1","gate":"submit","job_id":"j-1"},{"topic":"a.d","env":"x",'
            b'"cidr":null}]}')
    assert requests._plain_batch(body, 10) == [
        ("a.b", "dev", None, "server", None), ("a.c", "dev", "10.0.0.1", "submit", "j-1"),
        ("a.d", "x", None, "server", None)]
    # Anything else is left to the general reading: a number, an unknown key's value.
    assert requests._plain_batch(b'{"requests":[{"topic":1,"env":"dev"}]}', 10) is None
    assert requests._plain_batch(b'{"requests":[{"topic":"a","env":"b"}],"x":1}', 10) is None
    assert requests._plain_batch(b'{"requests":[{}, {}]}', 1) is None
