"""Request data a gate refuses before doing any work, as an attacker would send it: the
bounds on topics, envs and cidrs, and caches that neither keep refused values nor grow
with the size of what arrives."""

from __future__ import annotations

import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dualgate.compiler.backend import compile_policy
from dualgate.compiler.frontend.loader import load_policy_text
from dualgate.runtime import Bundle, load_bundle
from dualgate.runtime.evaluator import CACHED_TOPIC_LENGTH, REFUSED_TOPICS_KEPT
from dualgate.runtime.vocabulary import (
    MAX_CIDR_LENGTH,
    MAX_ENV_LENGTH,
    MAX_TOPIC_LENGTH,
    MAX_TOPIC_SEGMENTS,
    is_valid_topic,
)
from tests.profiles import examples

POLICY = """\
policy limits
rule allow-internal
  when cidr in 10.0.0.0/8, ::ffff:10.0.0.0/104
  then allow
"""


def load() -> Bundle:
    policy = load_policy_text(POLICY, "limits.policy").policy
    assert policy is not None
    return load_bundle(compile_policy(policy, path="limits.policy"))


def topic_of(length: int, segments: int = 1) -> str:
    """A valid topic of exactly ``length`` characters in ``segments`` segments."""
    base, extra = divmod(length - (segments - 1), segments)
    return ".".join("a" * (base + (i < extra)) for i in range(segments))


def test_distinct_huge_topics_do_not_grow_the_process() -> None:
    """3,000 distinct 100 KB topics: before the bound, the topic cache kept every one
    (some 300 MB); now they are refused by length and nothing stays."""
    bundle = load()
    bundle.decide("warm.up", "any")
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for i in range(3_000):
            topic = f"{i:08d}" + "a" * 100_000
            assert bundle.decide(topic, "any", "10.1.2.3").reason == "invalid-topic"
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - before < 2_000_000
    assert bundle.evaluator.cache_info()["topics"].currsize == 1


def test_a_huge_dotted_topic_is_refused_without_being_looked_at() -> None:
    """A 100 KB topic of 50,000 segments never reaches the cache or the automaton walk."""
    bundle = load()
    walked: list[str] = []
    walk = bundle.evaluator._walk
    bundle.evaluator._walk = lambda topic: walked.append(topic) or walk(topic)  # type: ignore[method-assign]
    verdict = bundle.decide(".".join(["a"] * 50_000), "any")
    assert verdict.reason == "invalid-topic" and verdict.tier is None
    assert walked == []
    assert bundle.evaluator.cache_info()["topics"].misses == 0


def test_refused_topics_and_cidrs_are_never_cached() -> None:
    bundle = load()
    for i in range(100):
        assert bundle.decide(f"a..{i}", "any").reason == "invalid-topic"
        assert bundle.decide("a.b", "any", f"10.0.0.{i + 1}/8").reason == "invalid-cidr"
        assert bundle.decide("a.b", "any", f"300.0.0.{i}").reason == "invalid-cidr"
    info = bundle.evaluator.cache_info()
    assert info["topics"].currsize == 1  # `a.b`, which is valid
    assert info["cidrs"].currsize == 0


def test_only_short_topics_are_cached() -> None:
    bundle = load()
    long = topic_of(CACHED_TOPIC_LENGTH + 1, 3)
    for _ in range(3):
        assert bundle.decide(long, "any", "10.0.0.1").rule == "allow-internal"
    assert bundle.evaluator.cache_info()["topics"].currsize == 0
    bundle.decide(topic_of(CACHED_TOPIC_LENGTH, 3), "any")
    assert bundle.evaluator.cache_info()["topics"].currsize == 1


@pytest.mark.parametrize(("topic", "valid"), [
    (topic_of(MAX_TOPIC_LENGTH, 10), True),
    (topic_of(MAX_TOPIC_LENGTH + 1, 10), False),
    (topic_of(2 * MAX_TOPIC_SEGMENTS - 1, MAX_TOPIC_SEGMENTS), True),
    (topic_of(2 * MAX_TOPIC_SEGMENTS + 1, MAX_TOPIC_SEGMENTS + 1), False),
])
def test_topic_bounds_are_exact_and_shared_with_is_valid_topic(topic: str,
                                                                 valid: bool) -> None:
    bundle = load()
    assert is_valid_topic(topic) is valid
    reasons = {bundle.decide(topic, "any", "10.0.0.1").reason for _ in range(2)}
    assert reasons == ({"rule"} if valid else {"invalid-topic"})


_BUNDLE = load()
#: Letters, digits, the valid punctuation, the dot, and near misses: non-ASCII letters and
#: digits (which str.isalnum accepts), space, other punctuation.
_TOPIC_ALPHABET = "aZ09_-..." + "é\u0661\uff11ß \t/:*"


@settings(max_examples=examples(1500), deadline=None)
@given(st.one_of(st.text(alphabet=_TOPIC_ALPHABET, max_size=12), st.text(max_size=8)))
def test_a_topic_is_refused_exactly_when_it_is_invalid(topic: str) -> None:
    """The evaluator's quick check (ASCII letters, digits and dots, else the regex)
    refuses exactly what ``is_valid_topic`` refuses, and refuses it again from memory."""
    expected = "rule" if is_valid_topic(topic) else "invalid-topic"
    for _ in range(2):
        assert _BUNDLE.decide(topic, "any", "10.0.0.1").reason == expected
    assert (_BUNDLE.tier_of(topic) is None) is (expected == "invalid-topic")


def test_env_and_cidr_bounds() -> None:
    bundle = load()
    assert bundle.decide("a", "e" * MAX_ENV_LENGTH, "10.0.0.1").reason == "rule"
    assert bundle.decide("a", "e" * (MAX_ENV_LENGTH + 1), "10.0.0.1").reason == "invalid-env"
    longest = "0000:0000:0000:0000:0000:ffff:10.0.0.1"
    assert len(longest) <= MAX_CIDR_LENGTH
    assert bundle.decide("a", "any", longest).reason == "rule"
    padded = "10.0.0.1/" + "0" * MAX_CIDR_LENGTH
    assert bundle.decide("a", "any", padded).reason == "invalid-cidr"
    # The valid IPv6 one; a bare IPv4 address is parsed inline and never cached.
    assert bundle.evaluator.cache_info()["cidrs"].currsize == 1


def test_a_refused_topic_is_remembered_apart_from_the_cache_and_bounded() -> None:
    bundle = load()
    bundle.evaluator.clear_caches()
    for _ in range(3):
        assert bundle.decide("a..b", "any").reason == "invalid-topic"
    info = bundle.evaluator.cache_info()
    assert info["refused_topics"] == 1 and info["topics"].currsize == 0
    assert bundle.decide("a.b", "any").reason != "invalid-topic"  # valid ones unaffected
    for i in range(REFUSED_TOPICS_KEPT + 10):
        assert bundle.decide(f"a..{i}", "any").reason == "invalid-topic"
    assert bundle.evaluator.cache_info()["refused_topics"] <= REFUSED_TOPICS_KEPT
    assert bundle.decide("a..b", "any").reason == "invalid-topic"  # forgotten, refused again
    long = "." + topic_of(CACHED_TOPIC_LENGTH, 3)  # too long to be remembered
    before = bundle.evaluator.cache_info()["refused_topics"]
    assert bundle.decide(long, "any").reason == "invalid-topic"
    assert bundle.evaluator.cache_info()["refused_topics"] == before
    bundle.evaluator.clear_caches()
    assert bundle.evaluator.cache_info()["refused_topics"] == 0
