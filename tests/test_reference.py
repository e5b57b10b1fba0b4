"""The reference interpreter reads DESIGN.md's Semantics literally.

These pin the cases the analyzer's witnesses and the compiled runtime are checked
against: malformed requests, undeclared envs, first match, the default, topic
wildcards and network containment (including IPv4-mapped addresses and absent cidrs).
"""

from __future__ import annotations

import pytest

from dualgate.compiler.frontend.loader import load_policy_text
from dualgate.compiler.ir import Policy, TopicPattern
from dualgate.compiler.reference import Request, evaluate, pattern_matches
from dualgate.runtime.vocabulary import Decision

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
