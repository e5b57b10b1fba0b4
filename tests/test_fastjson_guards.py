"""``dualgate.runtime.fastjson``'s guard against deep nesting: a value nested deeper than
Python recurses, yet within what orjson reads (1,024 levels), makes the float walk of
``read_fast`` raise ``RecursionError``; the reader then leaves the text to ``json.loads``
(``UNREAD``) instead of raising, and the callers (the decision server's body, ``eval
--input``'s lines) read what the standard library reads."""

from __future__ import annotations

import json

import pytest

from dualgate.compiler.cli import evaluate
from dualgate.runtime import fastjson
from dualgate.runtime.fastjson import UNREAD, read_fast, read_fast_large
from dualgate.server.requests import BadRequestError, parse_batch

pytestmark = pytest.mark.skipif(not fastjson.AVAILABLE, reason="orjson is not installed")

#: Deep enough that the walk recurses past Python's limit, yet within orjson's; and
#: 1,024, the deepest orjson reads.
DEPTHS = (500, 1000, 1024)


def _nested(depth: int, inner: bytes = b"1") -> bytes:
    return b"[" * depth + inner + b"]" * depth


@pytest.mark.parametrize("depth", DEPTHS)
def test_the_walk_recurses_too_deep_and_read_fast_leaves_the_text(depth: int) -> None:
    import orjson

    data = _nested(depth)
    value = orjson.loads(data)  # orjson reads it ...
    with pytest.raises(RecursionError):  # ... the walk for floats cannot: the guard's case
        fastjson._holds_float(value)
    assert read_fast(data) is UNREAD
    assert read_fast(b'{"topic":' + data + b',"env":"dev"}') is UNREAD


def test_past_orjson_depth_both_readers_leave_the_text() -> None:
    assert read_fast(_nested(1025)) is UNREAD
    assert read_fast_large(_nested(1025)) is UNREAD


def test_read_fast_large_reads_deep_nesting_without_a_walk() -> None:
    """The large reader checks bytes, not the value: nesting costs it no recursion."""
    data = _nested(500, b'"x"')
    assert read_fast_large(data) == json.loads(data)


@pytest.mark.parametrize("depth", (*DEPTHS, 1025, 5000))
def test_a_deep_server_body_reads_as_the_standard_library_reads_it(depth: int) -> None:
    """A topic nested ``depth`` deep: the item the standard library reads (a list, which
    the runtime denies as an invalid topic), or the same 400 when it cannot read it."""
    body = b'{"requests":[{"topic":' + _nested(depth) + b',"env":"dev"}]}'
    try:
        expected: object = json.loads(body)["requests"][0]["topic"]
    except RecursionError:
        with pytest.raises(BadRequestError, match="nested too deeply") as refused:
            parse_batch(body, 10)
        assert refused.value.status == 400
        return
    [(topic, env, cidr, gate, job_id)] = parse_batch(body, 10)
    assert (topic == expected, env, cidr, gate, job_id) == (True, "dev", None, "server", None)


@pytest.mark.parametrize("depth", (*DEPTHS, 1025))
def test_a_deep_input_line_reads_as_the_standard_library_reads_it(depth: int) -> None:
    line = b'{"topic":' + _nested(depth) + b',"env":"dev"}'
    fast = evaluate._Requests().parse(line, True)
    assert fast == evaluate._Requests(fast=False).parse(line, True)
