"""``eval --input`` reads a line in the compact layout of the decision log's writer with
one match instead of a full parse (``_Requests.compact``). Whatever a line holds, the
request or the fault is the one the standard library's reading gives (``_Requests(fast=
False).parse``, the reference); the lines the writer writes take the fast path."""

from __future__ import annotations

import io
import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dualgate.compiler.cli import evaluate
from dualgate.runtime.telemetry import CallableSink, DecisionLog, GateMetrics
from dualgate.runtime.telemetry.decision_log import DECISION_FIELDS, SHARED_FIELDS
from tests.profiles import examples
from tests.strategies import texts
from tests.test_eval_replay import NOON, expected, load, replay

#: Characters the writer writes as they are (it escapes the rest, DEL included).
_PLAIN = "".join(chr(code) for code in range(0x20, 0x7f) if chr(code) not in '"\\')
_WORDS = st.sampled_from(["infra.vm.update", "payments.card.charge", "dev", "production",
                          "10.1.2.3", "8.8.8.8", "::1", "infra..update", ""])
_PLAIN_TEXT = _WORDS | st.text(alphabet=_PLAIN, max_size=12)
#: A request value as a job may give it: mostly plain text, sometimes anything.
_VALUES = (_PLAIN_TEXT | _PLAIN_TEXT | texts(8) | st.none() | st.integers()
           | st.floats(allow_nan=False, allow_infinity=False) | st.booleans())
_SCALARS = (st.none() | st.booleans() | st.integers()
            | st.floats(allow_nan=False, allow_infinity=False))


@st.composite
def _shared(draw: st.DrawFn) -> tuple[object, ...]:
    """The shared fields of a gate's entry: words as the gates write them, or anything."""
    def word(*choices: str) -> st.SearchStrategy[object]:
        return st.sampled_from(choices) | st.none() | texts(6) | _SCALARS

    fields = {
        "gate": draw(word("submit", "dispatch", "server")),
        "decision": draw(word("allow", "deny", "require_human")),
        "rule": draw(word("deny-public", "allow-dev")),
        "reason": draw(word("rule", "default", "malformed-request", "unknown-env")),
        "tier": draw(word("high", "medium")), "fail_mode": draw(word("open", "closed")),
        "bypass": draw(st.booleans() | st.none()),
        "bundle": draw(word("e7b8156b14c2f14d")), "policy": draw(word("infra", "replay")),
        "approval": draw(st.none() | st.fixed_dictionaries(
            {"token_id": texts(6), "approver": texts(6)})),
        "action": draw(word("admit", "refuse", "hold")), "cause": draw(word("timeout")),
    }
    return tuple(fields[key] for key in SHARED_FIELDS)


_DECISIONS = st.tuples(_shared(), st.none() | _PLAIN_TEXT | texts(6) | st.integers(),
                       _VALUES, _VALUES, _VALUES | st.none(), st.none() | _PLAIN_TEXT | texts(6))


def written(decisions: list[tuple[Any, ...]], entries: list[dict[str, Any]]) -> list[bytes]:
    """The lines the decision log's writer writes for these gate decisions
    (``record_decision``: shared fields, job id, topic, env, cidr, decision id) and
    these entries (``record``)."""
    lines: list[str] = []
    log = DecisionLog(CallableSink(lines.append), metrics=GateMetrics(use_prometheus=False))
    for shared, job_id, topic, env, cidr, decision_id in decisions:
        log.record_decision(shared, job_id, topic, env, cidr, decision_id=decision_id)
    for entry in entries:
        log.record(entry)
    assert log.flush(5)
    log.close()
    return [line.removesuffix("\n").encode() for line in lines]


def same_as_reference(raw: bytes) -> None:
    """``raw`` reads, with the fast path, exactly as the reference reads it."""
    fast = evaluate._Requests().compact(raw)
    for terminated in (True, False):
        reference = evaluate._Requests(fast=False).parse(raw, terminated)
        assert evaluate._Requests().request(raw, terminated) == reference
        assert fast is None or fast == reference


def _plain(value: object) -> bool:
    return type(value) is str and all(char in _PLAIN for char in value)


@settings(max_examples=examples(150), deadline=None)
@given(st.lists(_DECISIONS, min_size=1, max_size=6))
def test_the_writers_lines_read_as_the_standard_library_reads_them(
        decisions: list[tuple[Any, ...]]) -> None:
    lines = written(decisions, [])
    for raw in lines:
        same_as_reference(raw)
    for raw in lines:
        entry = json.loads(raw)
        head = [entry[key] for key in ("timestamp", "decision_id", "gate", "job_id")]
        if (_plain(entry["topic"]) and _plain(entry["env"])
                and (entry["cidr"] is None or _plain(entry["cidr"]))
                and all(type(value) in {str, type(None)} for value in head)):
            # The layout the writer uses for plain requests: the fast path reads it.
            assert evaluate._Requests().compact(raw) == (
                entry["topic"], entry["env"], entry["cidr"])


@settings(max_examples=examples(60), deadline=None)
@given(st.lists(st.fixed_dictionaries(
    {key: _VALUES for key in ("timestamp", "decision_id", *DECISION_FIELDS)}), max_size=4))
def test_entries_recorded_whole_read_as_the_standard_library_reads_them(
        entries: list[dict[str, Any]]) -> None:
    for raw in written([], entries):
        same_as_reference(raw)


#: Fragments a hostile line may have inserted, appended or put in place of another.
_FRAGMENTS = [
    b"\\", b'"', b",", b":", b" ", b"\r", b"\t", b"\x00", b"\x1f", b"\x7f", b"\xff", b"\xc3",
    b"\xc3\xa9", b"\xef\xbb\xbf", b"{", b"}", b"[", b"]", b"null", b"1", b"1.5", b"-0", b"01",
    b"NaN", b"Infinity", b'\\u0041', b'\\ud800', b"\\x", b"\\n", b'"\\"', b"1" * 4400,
    b'"topic":"x",', b',"topic":"x"', b',"env":1', b',"cidr":"1.2.3.4"', b',"cidr":null',
    b',"tire":"high"', b',"decision_id":"b-2"', b',"approval":{"token_id":"t"}',
    b',"approval":' + b"[" * 3000 + b"]" * 3000, b',"rule":' + b"1" * 4400,
]


@st.composite
def _hostile(draw: st.DrawFn) -> bytes:
    """A line the writer wrote, or a compact request line, then damaged: fragments
    inserted, appended or put in place of a slice, a slice deleted, the end cut, or the entry
    written again with its keys in another order, spaces, or a value of another type."""
    shared, job_id, topic, env, cidr, _ = draw(_DECISIONS)
    if draw(st.booleans()):
        # The same bytes for the same draws: an id given, the time replaced (its width
        # is fixed).
        decision_id = draw(st.sampled_from(["5f0c9a1e2b3d-1f"]) | texts(6))
        [raw] = written([(shared, job_id, topic, env, cidr, decision_id)], [])
        raw = raw[:14] + b"2026-12-01T12:00:00.000000Z" + raw[41:]
    else:
        request = {"topic": topic, "env": env, "cidr": cidr}
        if draw(st.booleans()):
            del request["cidr"]
        raw = json.dumps(request, separators=(",", ":")).encode()
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        how = draw(st.sampled_from(["insert", "append", "replace", "delete", "cut",
                                    "reorder", "spaced", "retype"]))
        at = draw(st.integers(min_value=0, max_value=len(raw)))
        end = draw(st.integers(min_value=at, max_value=min(len(raw), at + 12)))
        fragment = draw(st.sampled_from(_FRAGMENTS))
        if how == "insert":
            raw = raw[:at] + fragment + raw[at:]
        elif how == "append":
            raw += fragment
        elif how == "replace":
            raw = raw[:at] + fragment + raw[end:]
        elif how == "delete":
            raw = raw[:at] + raw[end:]
        elif how == "cut":
            raw = raw[:at]
        else:
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(entry, dict):
                continue
            if how == "reorder":
                keys = list(entry)
                random.Random(draw(st.integers())).shuffle(keys)
                entry = {key: entry[key] for key in keys}
            elif how == "retype":
                entry[draw(st.sampled_from(sorted(entry)))] = draw(_VALUES | st.lists(_SCALARS))
            raw = json.dumps(entry, separators=None if how == "spaced" else (",", ":"),
                             ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    return raw


@settings(max_examples=examples(400), deadline=None)
@given(_hostile())
def test_a_damaged_line_reads_as_the_standard_library_reads_it(raw: bytes) -> None:
    """A line the fast path does not read whole is left to the reference, never read
    wrong: an escape, a key out of order or repeated, a value of another type, a fault."""
    same_as_reference(raw)


@pytest.mark.parametrize("raw", [
    # A request key repeated in the tail replaces the value read first.
    b'{"timestamp":"t","decision_id":"a-1","gate":"g","job_id":null,"topic":"infra.vm.'
    b'update","env":"dev","cidr":null,"decision":"allow","topic":"payments.card.charge"}',
    # A tail that is not the members of an object: no member, or a trailing comma.
    b'{"timestamp":"t","decision_id":"a-1","gate":"g","job_id":null,"topic":"a","env":'
    b'"dev","cidr":null,}',
    b'{"timestamp":"t","decision_id":"a-1","gate":"g","job_id":null,"topic":"a","env":'
    b'"dev","cidr":null,"rule":"r",}',
    # An integer longer than the standard library reads, in the head and in the tail.
    b'{"timestamp":' + b"1" * 4400 + b',"decision_id":"a-1","gate":"g","job_id":null,'
    b'"topic":"a","env":"dev","cidr":null}',
    b'{"timestamp":"t","decision_id":"a-1","gate":"g","job_id":null,"topic":"a","env":'
    b'"dev","cidr":null,"rule":' + b"1" * 4400 + b"}",
    # A request line with a key after its request, without a decision id.
    b'{"topic":"infra.vm.update","env":"dev","cidr":null,"gate":"submit"}',
    # Something after the object.
    b'{"topic":"infra.vm.update","env":"dev"}x',
    b'{"topic":"infra.vm.update","env":"dev","cidr":null}}',
    b'{"topic":"infra.vm.update","env":"dev"} {}',
    b'{"timestamp":"t","decision_id":"a-1","gate":"g","job_id":null,"topic":"a","env":'
    b'"dev","cidr":null}\x00',
    # An escape in the request: read by the reference (it decodes it).
    b'{"topic":"infra.vm.\\u0075pdate","env":"dev"}',
])
def test_what_the_fast_path_must_not_read_is_left_to_the_reference(raw: bytes) -> None:
    assert evaluate._Requests().compact(raw) is None
    same_as_reference(raw)


@pytest.mark.parametrize("raw", [
    b'{"topic":"infra.vm.update","env":"dev"}',
    b'{"topic":"infra.vm.update","env":"dev","cidr":null} \r',
    b'{"timestamp":"t","decision_id":"a-1","gate":"g","job_id":"\\u00e9","topic":"a",'
    b'"env":"dev","cidr":"10.1.2.3","approval":{"token_id":"\xc3\xa9","at":1.5e3}}',
    b'{"timestamp":1,"decision_id":"a-1","gate":null,"job_id":-7,"topic":"a","env":"dev"}',
])
def test_compact_requests_and_entries_take_the_fast_path(raw: bytes) -> None:
    assert evaluate._Requests().compact(raw) is not None
    same_as_reference(raw)


@settings(max_examples=examples(40), deadline=None)
@given(st.lists(_DECISIONS, max_size=8), st.lists(_hostile(), max_size=4),
       st.randoms(use_true_random=False), st.integers(min_value=1, max_value=200),
       st.integers(min_value=1, max_value=4))
def test_the_replay_of_a_log_answers_each_line_as_deciding_it_alone_would(
        decisions: list[tuple[Any, ...]], damaged: list[bytes], order: random.Random,
        chunk: int, remembered: int) -> None:
    """Through the whole loop, with lines split across reads and the memories of lines
    and tails starting over: the verdicts of the reference reading, in order."""
    lines = written(decisions, []) * 2 + damaged
    order.shuffle(lines)
    data = b"".join(line + b"\n" for line in lines)
    bundle = load(clock=lambda: NOON - 60)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(evaluate, "_CHUNK", chunk)
        patch.setattr(evaluate, "_PARSED_LINES", remembered)
        answers, faults = replay(bundle, data)
        readable = [request for _, request, _, _ in
                    evaluate._answers(bundle, io.BytesIO(data))]
    assert answers == expected(bundle, data)
    assert faults == [(a["line"], a["error"]) for a in answers if "line" in a]
    reference = [evaluate._Requests(fast=False).parse(line, True) for line in lines]
    assert readable == [None if isinstance(r, str) else r for r in reference]


def test_a_number_too_long_to_convert_is_a_fault_not_a_traceback() -> None:
    """``json.loads`` raises a plain ValueError past Python's integer-conversion limit."""
    raw = b'{"topic":"infra.vm.update","env":"dev","cidr":' + b"1" * 4400 + b"}"
    fault = evaluate._Requests().request(raw, True)
    assert fault == evaluate._Requests(fast=False).parse(raw, True)
    assert fault == "not a request: a number of more than 4300 digits"


def test_a_long_tail_is_read_but_not_remembered() -> None:
    """The tails remembered are bounded in bytes as lines are: a longer one is checked
    each time it comes, with the same answer."""
    head = (b'{"timestamp":"t","decision_id":"d","gate":"submit","job_id":"j",'
            b'"topic":"infra.vm.update","env":"dev","cidr":null,')
    tail = b'"reason":"' + b"x" * evaluate._PARSED_LINE_BYTES + b'"}'
    requests = evaluate._Requests()
    for _ in range(2):
        assert requests.request(head + tail, True) == ("infra.vm.update", "dev", None)
    assert requests.tails == {}
    requests.request(head + b'"reason":"short"}', True)
    assert list(requests.tails) == [b'"reason":"short"}']
