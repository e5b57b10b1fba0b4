"""The reference semantics: docs/design.md's "Semantics" section as a plain interpreter of the IR.

Written for clarity, not speed: every request walks the rules in order and tests each
condition as the design states it. The analyzer's witnesses are checked against it,
and the compiled runtime is differentially tested against it.

It carries its own definitions of what it checks rather than sharing the compiler's
(the literal wildcards `*` and `**`, the tier order, request networks read with
``ipaddress``), so that a bug in a shared piece shows up as a disagreement with it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dualgate.compiler.ir import (
    CidrCondition,
    Condition,
    EnvCondition,
    Policy,
    Rule,
    TopicCondition,
    TopicPattern,
)
from dualgate.runtime.vocabulary import Decision, FailMode, TierName, is_valid_topic

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The design's tier order, lowest risk first (written here, not taken from ``TierName``).
RISK_ORDER = (TierName.LOW, TierName.MEDIUM, TierName.HIGH)
#: The design's wildcards: one segment, and zero or more segments.
ONE_SEGMENT = "*"
ANY_SEGMENTS = "**"
_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


@dataclass(frozen=True)
class Request:
    """A job as a gate sees it: its topic, its env and optionally its network."""

    topic: str
    env: str
    cidr: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"topic": self.topic, "env": self.env, "cidr": self.cidr}

    def __str__(self) -> str:
        cidr = "no cidr" if self.cidr is None else f"cidr `{self.cidr}`"
        return f"topic `{self.topic}`, env `{self.env}`, {cidr}"


@dataclass(frozen=True)
class Evaluation:
    """The reference answer: the decision, the deciding rule's id and why, and the
    topic's tier with its effective fail mode (None for a malformed topic)."""

    decision: Decision
    rule: str | None
    #: "rule", "default", "invalid-topic", "invalid-env", "unknown-env" or "invalid-cidr"
    reason: str
    tier: TierName | None = None
    fail_mode: FailMode | None = None


def evaluate(policy: Policy, request: Request, now: datetime | None = None) -> Evaluation:
    """The decision ``policy`` gives ``request``, by the design's first-match semantics.

    ``now`` (default: the current time) decides which overrides are active.
    """
    if not is_valid_topic(request.topic):
        return Evaluation(Decision.DENY, None, "invalid-topic")
    tier = tier_of(policy, request.topic)
    mode = fail_mode_of(policy, tier, now or datetime.now(UTC))
    if not isinstance(request.env, str):
        return Evaluation(Decision.DENY, None, "invalid-env", tier, mode)
    if policy.envs and request.env not in policy.env_names:
        return Evaluation(Decision.DENY, None, "unknown-env", tier, mode)
    network: Network | None = None
    if request.cidr is not None:
        network = request_network(request.cidr)
        if network is None:
            return Evaluation(Decision.DENY, None, "invalid-cidr", tier, mode)
    rule = first_match(policy, request.topic, request.env, network)
    if rule is None:
        return Evaluation(policy.default_decision, None, "default", tier, mode)
    return Evaluation(rule.decision, rule.id, "rule", tier, mode)


def tier_of(policy: Policy, topic: str) -> TierName:
    """The riskiest tier with a pattern matching ``topic``, else the default tier."""
    matched = [tier.name for tier in policy.tiers
               if any(pattern_matches(p, topic) for p in tier.patterns)]
    return max(matched, key=RISK_ORDER.index) if matched else policy.default_tier


def request_network(text: object) -> Network | None:
    """The network a request's cidr names, or None when it names none.

    ``ipaddress``'s strict syntax (host bits zero; a bare address is a host) without the
    forms the design refuses: a scope id, a netmask for the prefix, a prefix length that
    is not plain digits or has a leading zero. An IPv4-mapped IPv6 network is the IPv4
    network it maps.
    """
    if not isinstance(text, str) or "%" in text:
        return None
    _, slash, prefix = text.partition("/")
    if slash and not (prefix.isascii() and prefix.isdigit() and str(int(prefix)) == prefix):
        return None
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError:
        return None
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96 \
            and network.subnet_of(_IPV4_MAPPED):
        mapped = network.network_address.ipv4_mapped
        assert mapped is not None
        return ipaddress.IPv4Network((mapped, network.prefixlen - 96))
    return network


def fail_mode_of(policy: Policy, tier: TierName, now: datetime) -> FailMode:
    """The tier's fail mode at ``now``: an override open until after ``now`` applies;
    a tier the policy does not declare fails closed."""
    declared = next((t for t in policy.tiers if t.name is tier), None)
    if declared is None:
        return FailMode.CLOSED
    for override in policy.overrides:
        if override.tier is tier and now < override.until:
            return override.fail_mode
    return declared.fail_mode


def first_match(policy: Policy, topic: str, env: str, network: Network | None) -> Rule | None:
    """The first rule whose every condition holds, or None."""
    for rule in policy.rules:
        if matches(rule, topic, env, network):
            return rule
    return None


def matches(rule: Rule, topic: str, env: str, network: Network | None) -> bool:
    """True when every condition of ``rule`` holds (a rule without conditions always does)."""
    return all(holds(condition, topic, env, network) for condition in rule.conditions)


def holds(condition: Condition, topic: str, env: str, network: Network | None) -> bool:
    """Whether one condition holds for a well-formed request."""
    if isinstance(condition, TopicCondition):
        positive = any(pattern_matches(p, topic) for p in condition.patterns)
    elif isinstance(condition, EnvCondition):
        positive = env in condition.envs
    else:
        assert isinstance(condition, CidrCondition)
        positive = network is not None and any(
            network.version == n.version and network.subnet_of(n)  # type: ignore[arg-type]
            for n in condition.networks
        )
    return positive != condition.negated


def pattern_matches(pattern: TopicPattern, topic: str) -> bool:
    """Whole-topic, segment-wise match: `*` is one segment, `**` zero or more."""
    return _match(pattern.segments, tuple(topic.split(".")))


def _match(pattern: tuple[str, ...], segments: tuple[str, ...]) -> bool:
    if not pattern:
        return not segments
    head, rest = pattern[0], pattern[1:]
    if head == ANY_SEGMENTS:
        return any(_match(rest, segments[skip:]) for skip in range(len(segments) + 1))
    if not segments:
        return False
    return (head == ONE_SEGMENT or head == segments[0]) and _match(rest, segments[1:])
