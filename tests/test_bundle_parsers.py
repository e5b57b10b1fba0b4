"""A bundle reads the same whether orjson is installed or not: orjson only speeds the
parsing up, the standard library words every refusal and reads what orjson is stricter
about, and the runtime imports and loads bundles without it."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dualgate.compiler.backend import compile_policy
from dualgate.compiler.frontend.loader import load_policy_text
from dualgate.runtime import BundleError, fastjson, load_bundle
from dualgate.runtime.bundle_format import FORMAT_VERSION, envelope, serialize
from tests.profiles import examples

POLICY = """\
policy parsers
envs production (protected), dev
tier high topics payments.** fail_mode closed
rule deny-public
  when cidr not in 10.0.0.0/8
  then deny
rule allow-dev
  when env dev
  then allow
"""
REQUESTS = [("payments.refund", "dev", None), ("infra.vm.read", "production", "8.8.8.8"),
            ("infra.vm.read", "dev", "10.1.2.3"), ("x", "qa", None)]


def _bundle_bytes() -> bytes:
    policy = load_policy_text(POLICY, "parsers.policy").policy
    assert policy is not None
    return serialize(compile_policy(policy, source=POLICY.encode(), path="parsers.policy"))


BUNDLE = _bundle_bytes()


def _outcome(data: bytes) -> object:
    """What loading ``data`` gives: the hash and decisions, or the refusal's words."""
    try:
        loaded = load_bundle(data)
    except BundleError as error:
        return str(error)
    return loaded.content_hash, [loaded.decide(*request) for request in REQUESTS]


@st.composite
def _damaged(draw: st.DrawFn) -> bytes:
    """The bundle's bytes with one change: a byte inserted or replaced, the end cut off,
    or a value only one of the parsers reads (NaN, a huge integer, a lone surrogate)."""
    data = BUNDLE
    kind = draw(st.sampled_from(["insert", "replace", "cut", "value"]))
    at = draw(st.integers(min_value=0, max_value=len(data) - 1))
    if kind == "insert":
        return data[:at] + draw(st.sampled_from([b"\xff", b"\x00", b" ", b"[", b"\\"])) + data[at:]
    if kind == "replace":
        return data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1:]
    if kind == "cut":
        return data[:at]
    value = draw(st.sampled_from([b"NaN", b"1" * 30, b'"\\ud800"', b"1e999", b"-0.0"]))
    key = draw(st.sampled_from([b'"format_version":', b'"policy":', b'"protected":']))
    start = data.index(key) + len(key)
    end = min(data.index(b",", start), data.index(b"}", start))
    return data[:start] + value + data[end:]


@pytest.mark.skipif(not fastjson.AVAILABLE, reason="orjson is not installed")
@settings(max_examples=examples(150), deadline=None)
@given(_damaged())
@example(BUNDLE.replace(b'"format_version":%d' % FORMAT_VERSION,
                       b'"format_version":' + b"1" * 30))
def test_a_bundle_loads_or_is_refused_alike_with_either_parser(data: bytes) -> None:
    assert _outcome(data) == _plain_outcome(data)


def _plain_outcome(data: bytes) -> object:
    saved = fastjson._orjson_loads
    fastjson._orjson_loads = None
    try:
        return _outcome(data)
    finally:
        fastjson._orjson_loads = saved


def _integer_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Where ``value`` holds an integer (not a bool), as key paths."""
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _integer_paths(item, (*path, key))]
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in _integer_paths(item, (*path, i))]
    return [path] if type(value) is int else []


CONTENT = json.loads(BUNDLE)["content"]
INTEGER_PATHS = _integer_paths(CONTENT)


@pytest.mark.skipif(not fastjson.AVAILABLE, reason="orjson is not installed")
@settings(max_examples=examples(150), deadline=None)
@given(st.sampled_from(INTEGER_PATHS),
       st.sampled_from([2**64, 2**64 - 1, 2**70, -(2**63) - 1, -(2**63), 10**30]))
@example(("rules", "line", 0), 10**30)  # json.loads reads a line beyond 64 bits
@example(("analysis", "findings", "DG204"), 2**64)  # and a count
def test_an_integer_beyond_64_bits_anywhere_loads_alike_with_either_parser(
        path: tuple[Any, ...], huge: int) -> None:
    """A correctly hashed bundle with a huge integer in place of one of its integers: orjson
    reads it (unguarded) as a float, which the checks refuse; the loader then reads the
    text again, so the bundle loads, or is refused in the same words, as without orjson."""
    content = copy.deepcopy(CONTENT)
    parent = content
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = huge
    data = serialize(envelope(content))
    assert _outcome(data) == _plain_outcome(data)


@pytest.mark.skipif(not fastjson.AVAILABLE, reason="orjson is not installed")
def test_a_huge_line_number_is_accepted_as_json_loads_reads_it() -> None:
    content = copy.deepcopy(CONTENT)
    content["rules"]["line"][0] = 10**30
    data = serialize(envelope(content))
    loaded = load_bundle(data)
    assert loaded.content["rules"]["line"][0] == 10**30
    assert type(loaded.content["rules"]["line"][0]) is int
    assert _outcome(data) == _plain_outcome(data)


def test_the_runtime_loads_a_bundle_without_orjson(tmp_path: Path) -> None:
    path = tmp_path / "parsers.bundle.json"
    path.write_bytes(BUNDLE)
    script = (
        "import sys; sys.modules['orjson'] = None\n"
        "from dualgate.runtime import load_bundle\n"
        "from dualgate.runtime import fastjson\n"
        "assert not fastjson.AVAILABLE\n"
        f"print(load_bundle({str(path)!r}).decide('infra.vm.read', 'dev', '10.1.2.3').rule)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "allow-dev"
