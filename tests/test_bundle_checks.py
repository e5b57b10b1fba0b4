"""The loader's C-level checks refuse exactly what a plain check of each item refuses.

``dualgate.runtime.validation`` checks large columns of a bundle in a few passes over
joined texts (a byte deletion for the characters, one line per condition, string
searches for empty topic segments) instead of one regular expression per item. These
properties compare the loader with the obvious item-by-item check: the same bundles are
refused, for the same reason.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dualgate.runtime import BundleError, load_bundle
from dualgate.runtime.bundle_format import CONTENT_KEY, envelope
from dualgate.runtime.networks import parse_network
from dualgate.runtime.vocabulary import MAX_TOPIC_SEGMENTS, TOPIC
from tests.profiles import examples
from tests.test_bundle import small_document

DOCUMENT = small_document()
ENVS = {env["name"] for env in DOCUMENT[CONTENT_KEY]["envs"]}
ALLOWED = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.*:/, -")
CONDITION = re.compile(r"(?:topic|env|cidr in|cidr not in) .*[^ ]")
FRAGMENTS = ["topic a.b", "topic payments.**", "env production", "env not dev", "env staging",
             "env not", "env", "cidr in 10.0.0.0/8", "cidr not in 10.0.0.1/8",
             "cidr in ::/0, 10.0.0.0/8", "cidr in", " and ", "and", " ", "not ", ", ", ",",
             "\n", "é", "topic", "x"]


def loaded(edit: Any) -> str | None:
    """The refusal of the small bundle after ``edit`` of its content, None if it loads."""
    document = copy.deepcopy(DOCUMENT)
    edit(document[CONTENT_KEY])
    try:
        load_bundle(envelope(document[CONTENT_KEY]))
    except BundleError as error:
        return str(error)
    return None


def expected_for_conditions(per_rule: list[str]) -> str | None:
    """What an item-by-item check of the conditions column refuses (a fragment of it)."""
    if any(character not in ALLOWED for rule in per_rule for character in rule):
        return "no condition has"
    written = " and ".join(rule for rule in per_rule if rule)
    conditions = written.split(" and ") if written else []
    if not all(CONDITION.fullmatch(condition) for condition in conditions):
        return "no list of conditions"
    named: set[str] = set()
    networks: set[str] = set()
    for condition in conditions:
        if condition.startswith("env "):
            rest = condition[len("env "):]
            named.update((rest[len("not "):] if rest.startswith("not ") else rest).split(", "))
        for form in ("cidr in ", "cidr not in "):
            if condition.startswith(form):
                networks.update(condition[len(form):].split(", "))
    if not named <= ENVS:
        return f"names env `{min(named - ENVS)}`"
    if any(parse_network(network) is None for network in networks):
        return "which is no network"
    return None


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(st.lists(st.sampled_from(FRAGMENTS), max_size=6).map("".join),
                min_size=3, max_size=3))
def test_rule_conditions_are_refused_as_an_item_by_item_check_refuses(
        per_rule: list[str]) -> None:
    def edit(content: dict[str, Any]) -> None:
        content["rules"]["conditions"] = per_rule

    refusal, expected = loaded(edit), expected_for_conditions(per_rule)
    if expected is None:
        assert refusal is None
    else:
        assert refusal is not None and expected in refusal, (refusal, expected)


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(st.text(alphabet="ab_-.\n éZ9*", max_size=8), min_size=1, max_size=4))
def test_literal_topics_are_refused_exactly_when_one_is_no_topic(topics: list[str]) -> None:
    refusal = loaded(lambda content: content["table"]["topics"]["exact"].update(
        dict.fromkeys(topics, 0)))
    if all(TOPIC.fullmatch(topic) for topic in topics):
        assert refusal is None
    else:
        assert refusal is not None and "something else than topics" in refusal


@pytest.mark.parametrize("dots", [MAX_TOPIC_SEGMENTS - 2, MAX_TOPIC_SEGMENTS - 1,
                                  MAX_TOPIC_SEGMENTS, MAX_TOPIC_SEGMENTS + 3])
@pytest.mark.parametrize("segment", ["a", "ab"])
def test_a_literal_topic_of_too_many_segments_is_refused(dots: int, segment: str) -> None:
    topic = ".".join([segment] * (dots + 1))
    refusal = loaded(lambda content: content["table"]["topics"]["exact"].update({topic: 0}))
    if dots < MAX_TOPIC_SEGMENTS:
        assert refusal is None
    else:
        assert refusal is not None and "longer than a request's" in refusal
