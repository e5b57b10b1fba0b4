"""The reference interpreter reads docs/design.md's Semantics literally.

These pin the cases the analyzer's witnesses and the compiled runtime are checked
against: malformed requests, undeclared envs, first match, the default, topic
wildcards and network containment (including IPv4-mapped addresses and absent cidrs,
and a request equal to a rule's network), tier resolution, fail modes and overrides over
time, and negated conditions. They are written out by hand, so that a bug the reference
shares with the compiler (a tier order, a wildcard constant) cannot hide here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dualgate.compiler.frontend.loader import load_policy_text
from dualgate.compiler.ir import Policy, TopicPattern
from dualgate.compiler.reference import Request, evaluate, pattern_matches, request_network
from dualgate.runtime.vocabulary import Decision, FailMode, TierName

POLICY = """\
policy reference
envs production (protected), staging
default_decision deny

rule deny-public-ingress
  when topic infra.security_group.update
   and cidr not in 10.0.0.0/8, fc00::/7
  then deny

rule allow-internal-updates
  when topic infra.*.update
  then allow

rule throttle-staging
  when env staging
  then throttle
"""


@pytest.fixture(scope="module")
def policy() -> Policy:
    result = load_policy_text(POLICY, "reference.policy")
    assert result.policy is not None, result.diagnostics
    return result.policy


@pytest.mark.parametrize(
    ("request_", "decision", "rule", "reason"),
    [
        (Request("infra.security_group.update", "production", "10.1.2.3"),
         Decision.ALLOW, "allow-internal-updates", "rule"),
        (Request("infra.security_group.update", "production", None),
         Decision.DENY, "deny-public-ingress", "rule"),
        (Request("infra.security_group.update", "production", "203.0.113.0/24"),
         Decision.DENY, "deny-public-ingress", "rule"),
        (Request("infra.security_group.update", "production", "::ffff:10.0.0.1"),
         Decision.ALLOW, "allow-internal-updates", "rule"),
        (Request("infra.security_group.update", "production", "fd00::1"),
         Decision.ALLOW, "allow-internal-updates", "rule"),
        (Request("infra.security_group.update", "production", "10.0.0.0/7"),
         Decision.DENY, "deny-public-ingress", "rule"),
        (Request("infra.db.delete", "staging"), Decision.THROTTLE, "throttle-staging", "rule"),
        (Request("infra.db.delete", "production"), Decision.DENY, None, "default"),
        (Request("infra.db.delete", "prod"), Decision.DENY, None, "unknown-env"),
        (Request("infra..delete", "production"), Decision.DENY, None, "invalid-topic"),
        (Request("", "production"), Decision.DENY, None, "invalid-topic"),
        (Request("infra.db.delete", "production", "10.0.0.1/8"),
         Decision.DENY, None, "invalid-cidr"),
        (Request("infra.db.delete", "production", "not-a-network"),
         Decision.DENY, None, "invalid-cidr"),
    ],
)
def test_evaluate(
    policy: Policy, request_: Request, decision: Decision, rule: str | None, reason: str
) -> None:
    result = evaluate(policy, request_)
    assert (result.decision, result.rule, result.reason) == (decision, rule, reason)


def test_a_policy_without_envs_accepts_any_env() -> None:
    result = load_policy_text("policy p\nrule r\n  then allow\n")
    assert result.policy is not None
    assert evaluate(result.policy, Request("a.b", "anything")).rule == "r"


@pytest.mark.parametrize(
    ("pattern", "topic", "matches"),
    [
        ("job.*", "job.a", True),
        ("job.*", "job.a.b", False),
        ("job.**", "job", True),
        ("job.**", "job.a.b", True),
        ("**.read", "read", True),
        ("a.**.b", "a.b", True),
        ("a.**.b", "a.x.y.b", True),
        ("a.**.b", "a.x.y", False),
        ("*.**", "a", True),
        ("**.**", "a.b.c", True),
        ("a.*.*", "a.b", False),
        ("Job", "job", False),
    ],
)
def test_pattern_matching_is_segment_wise_and_whole_topic(
    pattern: str, topic: str, matches: bool
) -> None:
    assert pattern_matches(TopicPattern.parse(pattern), topic) is matches


def test_request_renders_for_messages() -> None:
    assert str(Request("a.b", "dev")) == "topic `a.b`, env `dev`, no cidr"
    assert Request("a.b", "dev", "10.0.0.1").to_json() == {
        "topic": "a.b", "env": "dev", "cidr": "10.0.0.1"
    }


TIERS = """\
policy tiers
envs prod (protected), dev
default_tier medium
tier low topics **.read, db.** fail_mode open
tier medium topics db.*.write fail_mode open
tier high topics db.*.drop, db.**.write fail_mode closed
override tier low fail_mode open until 2026-06-01T00:00:00Z reason "expired"
override tier medium fail_mode open until 2026-06-01T12:00:00Z reason "INC-7"

rule deny-outside
  when topic db.** and cidr not in 10.0.0.0/8
  then deny

rule approve-not-dev
  when env not dev and topic not **.read
  then require_human

rule allow-net
  when cidr in 10.0.0.0/8
  then allow
"""
#: Before the medium override expires (at noon) and after it.
MORNING = datetime(2026, 6, 1, 9, tzinfo=UTC)
NOON = datetime(2026, 6, 1, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def tiered() -> Policy:
    result = load_policy_text(TIERS, "tiers.policy")
    assert result.policy is not None, result.diagnostics
    return result.policy


@pytest.mark.parametrize(
    ("topic", "tier"),
    [
        ("x.read", TierName.LOW),  # low only
        ("db.t", TierName.LOW),  # low only
        ("db.t.read", TierName.LOW),  # low twice
        ("db.t.write", TierName.HIGH),  # low, medium and high: high wins
        ("db.a.b.write", TierName.HIGH),  # low and high: high wins over low
        ("db.t.drop", TierName.HIGH),  # low and high
        ("other", TierName.MEDIUM),  # no tier matches: the default tier
    ],
)
def test_the_riskiest_matching_tier_applies(tiered: Policy, topic: str, tier: TierName) -> None:
    assert evaluate(tiered, Request(topic, "dev", "10.0.0.1"), MORNING).tier is tier


def test_only_the_riskiest_tier_decides_between_medium_and_high() -> None:
    """High beats medium and medium beats low, whichever the policy declares first."""
    for order in ("high, medium", "medium, high"):
        first, second = order.split(", ")
        text = (f"policy p\ntier {first} topics a.** fail_mode closed\n"
                f"tier {second} topics a.** fail_mode closed\n"
                "tier low topics a.** fail_mode open\nrule r\n  then allow\n")
        result = load_policy_text(text)
        assert result.policy is not None, result.diagnostics
        assert evaluate(result.policy, Request("a.b", "e")).tier is TierName.HIGH
    text = ("policy p\ntier low topics a.** fail_mode open\n"
            "tier medium topics a.** fail_mode open\nrule r\n  then allow\n")
    result = load_policy_text(text)
    assert result.policy is not None
    assert evaluate(result.policy, Request("a.b", "e")).tier is TierName.MEDIUM


@pytest.mark.parametrize(
    ("topic", "now", "mode"),
    [
        ("x.read", MORNING, FailMode.OPEN),  # declared open, its override long expired
        ("other", MORNING, FailMode.OPEN),  # medium declared open
        ("db.t.write", MORNING, FailMode.CLOSED),  # high: no override
        ("other", NOON - timedelta(microseconds=1), FailMode.OPEN),
        ("other", NOON, FailMode.OPEN),  # the override ends, the declared mode is open too
    ],
)
def test_fail_modes_follow_tiers(tiered: Policy, topic: str, now: datetime,
                                 mode: FailMode) -> None:
    assert evaluate(tiered, Request(topic, "dev"), now).fail_mode is mode


def test_an_override_opens_a_closed_tier_until_it_expires() -> None:
    """Open strictly before ``until``; at ``until`` and after, the declared mode again;
    an undeclared default tier fails closed."""
    text = ("policy p\ndefault_tier low\ntier medium topics a.** fail_mode closed\n"
            'override tier medium fail_mode open until 2026-06-01T12:00:00Z reason "x"\n'
            "rule r\n  then allow\n")
    result = load_policy_text(text)
    assert result.policy is not None, result.diagnostics
    policy = result.policy
    assert evaluate(policy, Request("a.b", "e"), MORNING).fail_mode is FailMode.OPEN
    assert evaluate(policy, Request("a.b", "e"),
                    NOON - timedelta(microseconds=1)).fail_mode is FailMode.OPEN
    assert evaluate(policy, Request("a.b", "e"), NOON).fail_mode is FailMode.CLOSED
    assert evaluate(policy, Request("a.b", "e"), NOON + timedelta(days=1)).fail_mode \
        is FailMode.CLOSED
    other = evaluate(policy, Request("b", "e"), MORNING)
    assert (other.tier, other.fail_mode) == (TierName.LOW, FailMode.CLOSED)


@pytest.mark.parametrize(
    ("request_", "decision", "rule"),
    [
        # cidr not in: outside the network, and absent (no network is in 10/8)
        (Request("db.t", "dev", "192.0.2.1"), Decision.DENY, "deny-outside"),
        (Request("db.t", "dev"), Decision.DENY, "deny-outside"),
        (Request("db.t", "dev", "::1"), Decision.DENY, "deny-outside"),
        # a request equal to the rule's network is inside it (the `<=` boundary)
        (Request("db.t", "dev", "10.0.0.0/8"), Decision.ALLOW, "allow-net"),
        (Request("db.t", "dev", "10.0.0.0/7"), Decision.DENY, "deny-outside"),
        (Request("db.t", "dev", "10.255.255.255"), Decision.ALLOW, "allow-net"),
        # env not dev and topic not **.read
        (Request("db.t", "prod", "10.0.0.1"), Decision.REQUIRE_HUMAN, "approve-not-dev"),
        (Request("db.t.read", "prod", "10.0.0.1"), Decision.ALLOW, "allow-net"),
        (Request("x", "prod"), Decision.REQUIRE_HUMAN, "approve-not-dev"),
        (Request("x.read", "prod"), Decision.DENY, None),
        (Request("x", "dev"), Decision.DENY, None),
    ],
)
def test_negated_conditions(tiered: Policy, request_: Request, decision: Decision,
                            rule: str | None) -> None:
    result = evaluate(tiered, request_, MORNING)
    assert (result.decision, result.rule) == (decision, rule)


@pytest.mark.parametrize(
    ("text", "network"),
    [
        ("10.0.0.1", "10.0.0.1/32"),
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("::ffff:10.0.0.1", "10.0.0.1/32"),
        ("::ffff:0:0/96", "0.0.0.0/0"),
        ("::ffff:0:0/112", "0.0.0.0/16"),
        ("::fffe:0:0/96", "::fffe:0:0/96"),
        ("2001:db8::/32", "2001:db8::/32"),
        ("10.0.0.1/8", None),  # host bits
        ("10.0.0.0/08", None),
        ("10.0.0.0/255.0.0.0", None),
        ("fe80::1%eth0", None),
        ("010.0.0.1", None),
        (" 10.0.0.1", None),
        ("10.0.0.0/33", None),
        ("", None),
    ],
)
def test_request_networks(text: str, network: str | None) -> None:
    found = request_network(text)
    assert (None if found is None else str(found)) == network
