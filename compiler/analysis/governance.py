"""Governance checks (DG3xx): risk tiers, protected envs, overrides and defaults.

These hold a policy to the rules of the house rather than to its own consistency:
no high-tier action allowed in a protected env without a person, no fail-open
override of the high tier or without a short expiry, conditions that narrow
something, every topic a rule uses classified in a tier, and no default allow.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from datetime import timedelta

from dualgate.compiler.analysis.context import AnalysisContext
from dualgate.compiler.diagnostics import Diagnostic, Related
from dualgate.compiler.ir import (
    CidrCondition,
    EnvCondition,
    Override,
    TopicCondition,
    format_timestamp,
)
from dualgate.compiler.reference import Request
from dualgate.runtime.vocabulary import TierName

_EVERY_NETWORK = (ipaddress.IPv4Network("0.0.0.0/0"), ipaddress.IPv6Network("::/0"))


def check_high_risk_allows(context: AnalysisContext) -> Iterator[Diagnostic]:
    """DG301: a high-tier topic allowed in a protected env."""
    for decider, region in sorted(context.facts.high_risk_allows.items(),
                                  key=lambda item: (item[0] is None, item[0] or 0)):
        request = context.space.request(*region)
        if decider is None:
            subject, span, rules = "the default decision", context.default_span(), []
        else:
            rule_id = context.rule(decider).id
            subject, span, rules = f"rule `{rule_id}`", context.rule_span(decider), [rule_id]
        yield Diagnostic.of(
            "unapproved-high-risk-allow",
            f"{subject} allows high-tier topic `{request.topic}` in protected env "
            f"`{request.env}` without approval",
            span,
            help="decide `require_human` or `deny` for high-tier topics in protected envs "
            "before this point, or classify the topic in a lower tier",
            rules=rules, witness=request.to_json(),
        )


def _tier_request(context: AnalysisContext, tier: TierName) -> Request | None:
    """A request whose topic falls in ``tier`` (the requests an override of it opens)."""
    space = context.space
    for atom, atom_tier in enumerate(space.atom_tiers):
        if atom_tier is tier:
            return space.request(atom, space.envs.all_bits, 1)
    return None


def _override_diagnostic(
    context: AnalysisContext, name: str, message: str, override: Override, help: str,
) -> Diagnostic:
    return Diagnostic.of(
        name, message, context.span_of(override.span), help=help,
        rules=[], witness=context.request_json(_tier_request(context, override.tier)),
    )


def check_overrides(context: AnalysisContext) -> Iterator[Diagnostic]:
    """DG302-DG304: overrides of the high tier, expired ones, and ones open too long."""
    now, limit = context.options.now, context.options.override_window_limit
    for override in context.policy.overrides:
        until = format_timestamp(override.until)
        if override.tier is TierName.HIGH:
            yield _override_diagnostic(
                context, "override-on-high-tier",
                "override opens the high tier, which must always fail closed", override,
                "remove the override; open a lower tier instead if the incident allows",
            )
        if override.until <= now:
            yield _override_diagnostic(
                context, "override-expired",
                f"override of tier `{override.tier}` expired at {until}", override,
                "remove the override",
            )
        elif override.until - now > limit:
            yield _override_diagnostic(
                context, "override-window-too-long",
                f"override of tier `{override.tier}` stays open until {until}, "
                f"{_duration(override.until - now)} from now (limit {_duration(limit)})",
                override,
                "shorten the window; extend it deliberately if the incident lasts",
            )


def _duration(delta: timedelta) -> str:
    """``9 days 4 h``, ``3 h 20 min``: precise enough for a window, short enough to read."""
    days, seconds = delta.days, delta.seconds
    if days >= 1:
        return f"{days} day{'s' if days != 1 else ''}" + (
            f" {seconds // 3600} h" if seconds >= 3600 else "")
    hours, minutes = seconds // 3600, seconds % 3600 // 60
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def check_vacuous_conditions(context: AnalysisContext) -> Iterator[Diagnostic]:
    """DG305: conditions that hold for every topic, every declared env or every network."""
    space = context.space
    declared = set(context.policy.env_names)
    for rule in context.policy.rules:
        for condition in rule.conditions:
            if condition.negated:
                continue
            reason: str | None = None
            help = "delete the condition"
            if isinstance(condition, TopicCondition):
                if space.condition_topics(condition) == space.all_topics:
                    reason = "it matches every topic"
            elif isinstance(condition, EnvCondition):
                if declared and declared <= set(condition.envs):
                    reason = "it lists every declared env"
            else:
                assert isinstance(condition, CidrCondition)
                everything = [n for n in condition.networks if n in _EVERY_NETWORK]
                if everything:
                    reason = (f"`{everything[0]}` matches every IPv{everything[0].version} "
                              "request network")
                    help = ("to catch public ranges write "
                            "`cidr not in 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16`")
            if reason:
                yield Diagnostic.of(
                    "vacuous-condition",
                    f"{condition.attribute} condition of rule `{rule.id}` cannot narrow "
                    f"anything: {reason}",
                    context.span_of(condition.span), help=help,
                    rules=[rule.id], witness=None,
                )


def check_tier_overlaps(context: AnalysisContext) -> Iterator[Diagnostic]:
    """DG306: a topic matched by patterns of two tiers; reported at the lower tier's pattern."""
    space = context.space
    tiers = sorted(context.policy.tiers, key=lambda t: -t.name.risk)
    patterns = [(tier, pattern, set(space.pattern_atoms(pattern.segments)))
                for tier in tiers for pattern in tier.patterns]
    reported: set[tuple[str, str, str, str]] = set()
    for i, (high, high_pattern, high_atoms) in enumerate(patterns):
        for low, low_pattern, low_atoms in patterns[i + 1:]:
            if low.name is high.name:
                continue
            common = high_atoms & low_atoms
            key = (high.name, high_pattern.text, low.name, low_pattern.text)
            if not common or key in reported:
                continue
            reported.add(key)
            topic = space.topics.atoms[min(common)].witness
            yield Diagnostic.of(
                "tier-overlap",
                f"topic pattern `{low_pattern.text}` of tier `{low.name}` overlaps "
                f"`{high_pattern.text}` of tier `{high.name}`: `{topic}` is matched by both "
                f"and belongs to `{high.name}`",
                context.span_of(low_pattern.span or low.span),
                related=[Related(context.span_of(high_pattern.span or high.span),
                                 f"tier `{high.name}` pattern")],
                rules=[], witness=Request(topic, space.envs.names[0]).to_json(),
            )


def check_unclassified_topics(context: AnalysisContext) -> Iterator[Diagnostic]:
    """DG307: a rule whose topic conditions admit topics no tier pattern matches."""
    space = context.space
    for box in space.boxes:
        if box.topics is None or not box.matchable:
            continue
        unclassified = [atom for atom in box.topics if not space.classified(atom)]
        if not unclassified:
            continue
        rule = context.rule(box.rule)
        atom = min(unclassified)
        request = space.request(atom, box.envs, box.cidrs)
        first_topic = next(c for c in rule.conditions if isinstance(c, TopicCondition))
        yield Diagnostic.of(
            "unclassified-topic",
            f"rule `{rule.id}` applies to topics no tier classifies, e.g. "
            f"`{space.topics.atoms[atom].witness}`; they fall into the default tier "
            f"`{context.policy.default_tier}`",
            context.span_of(first_topic.span),
            help="add the topics to a tier",
            rules=[rule.id], witness=request.to_json(),
        )


def check_default_allow(context: AnalysisContext) -> Iterator[Diagnostic]:
    """DG308: ``default_decision allow``, with a request the default allows."""
    if context.policy.default_decision != "allow":
        return
    region = context.facts.default_witness
    request = None if region is None else context.space.request(*region)
    example = f"; e.g. {request} is allowed by it" if request else ""
    yield Diagnostic.of(
        "default-allow",
        f"the policy allows every request no rule decides{example}",
        context.default_span(),
        help="use `default_decision deny` and allow what should be allowed with rules",
        rules=[], witness=context.request_json(request),
    )


__all__ = [
    "check_default_allow",
    "check_high_risk_allows",
    "check_overrides",
    "check_tier_overlaps",
    "check_unclassified_topics",
    "check_vacuous_conditions",
]
