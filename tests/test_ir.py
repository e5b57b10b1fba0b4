"""The IR's contract: immutable, validated, equal by meaning (spans ignored)."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta, timezone
from ipaddress import IPv4Network

import pytest
from pydantic import ValidationError

from dualgate.compiler.frontend.source import Span
from dualgate.compiler.ir import (
    CidrCondition,
    EnvCondition,
    Override,
    Policy,
    Rule,
    TopicCondition,
    TopicPattern,
    format_timestamp,
)
from dualgate.runtime.vocabulary import Decision, FailMode, TierName, is_valid_topic

HERE = Span("a.policy", 3, 1, 3, 10)
THERE = Span("b.yaml", 9, 5, 9, 12)


def rule(span: Span | None) -> Rule:
    return Rule(
        id="r",
        conditions=(
            TopicCondition(patterns=(TopicPattern.parse("a.*", span),), span=span),
            EnvCondition(envs=("production",), negated=True, span=span),
        ),
        decision=Decision.DENY,
        span=span,
    )


def test_equality_and_hash_ignore_spans() -> None:
    assert rule(HERE) == rule(THERE) == rule(None)
    assert hash(rule(HERE)) == hash(rule(THERE))
    assert rule(HERE).model_dump() == rule(THERE).model_dump()


def test_equality_sees_every_other_field() -> None:
    base = rule(None)
    assert base != base.model_copy(update={"decision": Decision.ALLOW})
    assert base != base.model_copy(update={"reason": "x"})
    assert base != base.model_copy(update={"conditions": base.conditions[:1]})
    assert TopicPattern.parse("a.b") != TopicPattern.parse("a.*")


def test_nodes_are_immutable() -> None:
    with pytest.raises(FrozenInstanceError):
        rule(None).id = "other"  # type: ignore[misc]


@pytest.mark.parametrize("text", ["", "a..b", "a.b*", "***", "a.", ".a", "a b", "é"])
def test_invalid_topic_patterns_are_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        TopicPattern.parse(text)


def test_patterns_keep_wildcards_as_segments() -> None:
    assert TopicPattern.parse("**.read").segments == ("**", "read")
    assert TopicPattern.parse("db.*.write").text == "db.*.write"


def test_networks_are_strict_and_ipv4_mapped_means_ipv4() -> None:
    condition = CidrCondition(networks=("::ffff:10.0.0.0/104",))  # type: ignore[arg-type]
    assert condition.networks == (IPv4Network("10.0.0.0/8"),)
    with pytest.raises(ValidationError):
        CidrCondition(networks=("10.0.0.1/8",))  # type: ignore[arg-type]


def test_timestamps_must_be_aware() -> None:
    with pytest.raises(ValidationError):
        Override(tier=TierName.LOW, until=datetime(2026, 12, 1), reason="x")
    aware = datetime(2026, 12, 1, tzinfo=UTC)
    assert Override(tier=TierName.LOW, until=aware, reason="x").fail_mode is FailMode.OPEN


def test_names_are_validated() -> None:
    with pytest.raises(ValidationError):
        Policy(name="bad/name")
    with pytest.raises(ValidationError):
        Rule(id="-x", decision=Decision.DENY)


def test_conditions_need_values() -> None:
    with pytest.raises(ValidationError):
        EnvCondition(envs=())


def test_policy_defaults_follow_the_design() -> None:
    policy = Policy(name="p")
    assert policy.default_decision is Decision.DENY
    assert policy.default_tier is TierName.HIGH


def test_strictness_order() -> None:
    ordered = sorted(Decision, key=lambda d: d.strictness)
    assert ordered == [Decision.ALLOW, Decision.THROTTLE, Decision.REQUIRE_HUMAN, Decision.DENY]
    assert TierName.HIGH.risk > TierName.MEDIUM.risk > TierName.LOW.risk


def test_format_timestamp_uses_z_for_utc_and_keeps_offsets() -> None:
    assert format_timestamp(datetime(2026, 12, 1, tzinfo=UTC)) == "2026-12-01T00:00:00Z"
    offset = timezone(timedelta(hours=5, minutes=30))
    assert format_timestamp(datetime(2026, 12, 1, 1, tzinfo=offset)) == (
        "2026-12-01T01:00:00+05:30"
    )


@pytest.mark.parametrize(
    ("topic", "valid"),
    [("a", True), ("infra.resource.delete", True), ("a-b_c.D9", True), ("", False),
     ("a..b", False), ("a.", False), ("a.*", False), ("a b", False), (None, False), (3, False)],
)
def test_request_topic_syntax(topic: object, valid: bool) -> None:
    assert is_valid_topic(topic) is valid


def test_model_validate_is_strict_about_keys_and_the_schema_says_so() -> None:
    with pytest.raises(ValidationError):
        Policy.model_validate({"name": "p", "colour": "red"})
    with pytest.raises(ValidationError):
        Rule.model_validate({"id": "r", "decision": "deny", "conditions": [
            {"attribute": "colour", "values": ["red"]}]})
    schema = Policy.model_json_schema()
    assert schema["additionalProperties"] is False
    assert schema["$defs"]["EnvCondition"]["properties"]["envs"]["minItems"] == 1
    rule_conditions = schema["$defs"]["Rule"]["properties"]["conditions"]["items"]
    assert rule_conditions["discriminator"]["propertyName"] == "attribute"
    name = schema["properties"]["name"]
    assert name["pattern"] == "^[A-Za-z0-9][A-Za-z0-9_.-]*$"


def test_json_round_trip_keeps_meaning_and_drops_spans() -> None:
    near = Rule(id="near", decision=Decision.ALLOW, conditions=(
        CidrCondition(networks=(IPv4Network("10.0.0.0/8"),)),))
    policy = Policy(name="p", rules=(rule(HERE), near), overrides=(Override(
        tier=TierName.LOW, until=datetime(2026, 12, 1, tzinfo=UTC), reason="x", span=HERE),))
    text = policy.model_dump_json()
    assert "a.policy" not in text
    assert '"networks":["10.0.0.0/8"]' in text
    again = Policy.model_validate_json(text)
    assert again == policy
    assert again.rules[0].span is None
    assert Policy.model_validate(policy) is policy
