"""The ``eval --input`` replay loop: read in chunks, parsed lines remembered by their
bytes, shared verdicts encoded once; the answers are those of deciding each line on its
own, in order, whatever the chunk boundaries, the repetitions and the clock."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dualgate.compiler.backend import compile_policy
from dualgate.compiler.cli import evaluate
from dualgate.compiler.frontend.loader import load_policy_text
from dualgate.runtime import Bundle, fastjson, load_bundle
from tests.profiles import examples

POLICY = """\
policy replay
envs production (protected), dev
tier high topics payments.** fail_mode closed
tier medium topics infra.** fail_mode closed
override tier medium fail_mode open until 2026-12-01T12:00:00Z reason "INC-1"

rule deny-public
  when cidr not in 10.0.0.0/8
  then deny

rule allow-dev
  when env dev
  then allow
"""
NOON = datetime(2026, 12, 1, 12, tzinfo=UTC).timestamp()


def load(**options: Any) -> Bundle:
    policy = load_policy_text(POLICY, "replay.policy").policy
    assert policy is not None
    return load_bundle(compile_policy(policy, path="replay.policy"), **options)


@contextmanager
def captured() -> Iterator[io.BytesIO]:
    """Standard output as bytes, as the replay writes it."""
    buffer = io.BytesIO()
    saved = sys.stdout
    sys.stdout = io.TextIOWrapper(buffer, encoding="utf-8", write_through=True)
    try:
        yield buffer
    finally:
        sys.stdout = saved


def replay(bundle: Bundle, data: bytes) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    with captured() as out:
        faults = evaluate._write_json_lines(bundle, io.BytesIO(data), {})
        written = out.getvalue()
    return [json.loads(line) for line in written.splitlines()], faults


def expected(bundle: Bundle, data: bytes) -> list[dict[str, Any]]:
    """Each line decided on its own, as a reader with no cache would."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    answers = []
    for number, raw in enumerate(lines, 1):
        terminated = number < len(lines) or data.endswith(b"\n")
        request = evaluate._request(raw + b"\n" if terminated else raw)
        if isinstance(request, str):
            answers.append(evaluate._malformed(number, request, bundle.content_hash))
        else:
            answers.append(bundle.decide(request.get("topic"), request.get("env"),
                                         request.get("cidr")).to_json())
    return answers


LINES = [
    b'{"topic":"infra.vm.update","env":"dev"}',
    b'{"topic": "infra.vm.update", "env": "production", "cidr": "10.1.2.3"}',
    b'{"topic":"payments.card.charge","env":"production","cidr":"8.8.8.8"}',
    b'{"topic":"infra.vm.update","env":"prod","cidr":null}',
    b'{"topic":"infra..update","env":"dev"}',
    b'{"topic":"infra.vm.update","env":"dev","cdir":"10.0.0.1"}',
    b'{"topic": ',
    b"[1]",
    b"",
    b"  ",
    b'{"topic":"infra.\xff.read","env":"dev"}',
]


@settings(max_examples=examples(60), deadline=None)
@given(st.lists(st.sampled_from(LINES), max_size=40), st.booleans(),
       st.integers(min_value=1, max_value=64), st.integers(min_value=1, max_value=8))
def test_the_replay_answers_each_line_as_deciding_it_alone_would(
        lines: list[bytes], final_newline: bool, chunk: int, remembered: int) -> None:
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    bundle = load(clock=lambda: NOON - 60)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(evaluate, "_CHUNK", chunk)  # lines split across reads
        patch.setattr(evaluate, "_PARSED_LINES", remembered)  # the memory starts over
        answers, faults = replay(bundle, data)
    assert answers == expected(bundle, data)
    assert faults == [(a["line"], a["error"]) for a in answers if "line" in a]


def test_a_line_split_across_reads_is_one_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evaluate, "_CHUNK", 7)
    data = b'{"topic":"infra.vm.update","env":"dev"}\n' * 3 + b'{"topic": '
    answers, faults = replay(load(), data)
    assert [a["reason"] for a in answers] == ["rule"] * 3 + ["malformed-request"]
    # The last line has no newline: its fault's column is counted on the line as it is.
    assert faults == [(4, "not JSON: expecting value at column 11")]


def test_an_override_expiring_during_the_replay_changes_the_later_verdicts() -> None:
    calls = iter(range(10**6))

    def clock() -> float:  # one second per call: the override expires mid-run
        return NOON - 5 + next(calls)

    data = b'{"topic":"infra.vm.update","env":"production","cidr":"10.0.0.1"}\n' * 12
    answers, _ = replay(load(clock=clock), data)
    modes = [a["fail_mode"] for a in answers]
    assert modes[0] == "open" and modes[-1] == "closed"
    assert modes == sorted(modes, key=["open", "closed"].index)


def test_long_lines_and_log_entries_are_decided_but_not_remembered(tmp_path: Path) -> None:
    topic = "infra." + ".".join(["segment"] * 80) + ".update"
    line = json.dumps({"topic": topic, "env": "dev"}).encode()
    assert len(line) > evaluate._PARSED_LINE_BYTES
    requests = evaluate._Requests()
    assert requests.parse(line, True) == (topic, "dev", None)
    assert requests.parsed == {}
    short = b'{"topic":"infra.vm.update","env":"dev"}'
    assert requests.parse(short, True) == ("infra.vm.update", "dev", None)
    assert requests.parsed == {short: ("infra.vm.update", "dev", None)}
    assert isinstance(requests.parse(b'{"cdir": 1}', True), str)
    assert len(requests.parsed) == 1
    entry = b'{"decision_id":"a-1","topic":"infra.vm.update","env":"dev","cidr":null}'
    assert requests.parse(entry, True) == ("infra.vm.update", "dev", None)
    assert len(requests.parsed) == 1


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.integers().map(lambda n: n * 10**18 + 7)  # beyond 64 bits: orjson reads a float
    | st.floats() | st.text(max_size=8) | st.sampled_from(["infra.vm.read", "dev", "\ud800"]),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["topic", "env", "cidr", "decision_id", "cdir"]),
                      inner, max_size=4),
    max_leaves=8)


@st.composite
def _lines(draw: st.DrawFn) -> bytes:
    """JSON lines near requests and entries, then often damaged: a byte inserted (control
    characters, invalid UTF-8, a BOM), the end cut off, or nesting too deep to parse."""
    value = draw(_JSON_VALUES)
    raw = json.dumps(value, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    damage = draw(st.sampled_from(["none", "insert", "cut", "deep"]))
    if damage == "insert":
        at = draw(st.integers(min_value=0, max_value=len(raw)))
        inserted = draw(st.sampled_from([b"\x00", b"\x1f", b"\xff", b"\xef\xbb\xbf", b"\r",
                                         b" ", b",", b"\\"]))
        raw = raw[:at] + inserted + raw[at:]
    elif damage == "cut":
        raw = raw[:draw(st.integers(min_value=0, max_value=len(raw)))]
    elif damage == "deep":
        depth = draw(st.sampled_from([600, 1100, 5000]))
        raw = b"[" * depth + raw + b"]" * depth
    return raw


@pytest.mark.skipif(not fastjson.AVAILABLE, reason="orjson is not installed")
@settings(max_examples=examples(300), deadline=None)
@given(_lines())
def test_a_line_reads_the_same_with_orjson_as_with_the_standard_library(raw: bytes) -> None:
    """orjson only speeds the reading up: every line, valid or not, gives the same request
    or the same fault as the standard library's reading."""
    for terminated in (True, False):
        fast = evaluate._Requests().parse(raw, terminated)
        plain = evaluate._Requests(fast=False).parse(raw, terminated)
        assert fast == plain
