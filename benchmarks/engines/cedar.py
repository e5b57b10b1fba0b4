"""Cedar (``cedarpy``): one ``permit`` policy per rule, the smallest satisfied index wins.

Cedar has no rule order and only permit/forbid, so each rule ``i`` becomes the i-th
policy of the set (Cedar names it ``policy{i}``), every one a ``permit`` whose ``when``
clause is the rule's conditions; the answer's ``reasons`` list every satisfied policy,
and the smallest index is the first match (the decision and rule id come from the rule
table). A last policy, after the rules, is satisfied by an env the policy does not
declare: it wins over every rule.

The request goes in the context, prepared in Python on every decision:

- ``topic``: the topic, compared with ``==`` for literal patterns;
- ``n`` and ``f``: its number of segments and its *segment facts*, ``"i:seg"`` counted
  from the start (0, 1, ...) and from the end (-1, -2, ...). Cedar has no segment-aware
  glob (``like``'s ``*`` crosses dots), so a pattern with wildcards becomes a length
  test and ``f.containsAll`` of its literal segments: ``svc1.*.read`` is ``n == 3`` and
  facts ``0:svc1``, ``2:read``; ``svc1.**`` is ``n >= 1`` and ``0:svc1`` (so it also
  matches ``svc1`` itself); ``**.read`` is ``n >= 1`` and ``-1:read``. This is exact for
  patterns with at most one `**`; a pattern with two cannot be written this way
  (``UntranslatableError``);
- ``env``: the env, tested with ``==`` or ``[...].contains``;
- ``cidr`` (only when the request has one): an ``ip`` extension value. ``isInRange`` is
  subnet-or-equal, as ``cidr in`` is; Cedar refuses IPv4-mapped IPv6 addresses, so the
  request network is unmapped in Python first. ``cidr in`` is ``context has cidr &&
  (...)``, ``cidr not in`` its negation (true without a cidr).
"""

from __future__ import annotations

import json
from typing import Any

from dualgate.compiler.ir import CidrCondition, Condition, EnvCondition, Policy, TopicPattern
from dualgate.compiler.topics import ANY, SINGLE
from engines import (
    UNKNOWN_ENV,
    Decisions,
    Outcome,
    UntranslatableError,
    is_literal,
    request_network,
)

_SCOPE = {"principal": 'Agent::"agent"', "action": 'Action::"submit"', "resource": 'Job::"job"'}


def _split_at_any(pattern: TopicPattern) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """For a pattern with exactly one `**`: the segments before and after it; None
    without one; ``UntranslatableError`` with more (a segment automaton is needed)."""
    segments = pattern.segments
    count = segments.count(ANY)
    if count == 0:
        return None
    if count > 1:
        raise UntranslatableError(f"topic pattern `{pattern.text}` has more than one `**`")
    at = segments.index(ANY)
    return segments[:at], segments[at + 1:]


def _pattern(pattern: TopicPattern) -> str:
    if is_literal(pattern):
        return f"context.topic == {json.dumps(pattern.text)}"
    split = _split_at_any(pattern)
    if split is None:
        length = f"context.n == {len(pattern.segments)}"
        facts = [f"{i}:{s}" for i, s in enumerate(pattern.segments) if s != SINGLE]
    else:
        before, after = split
        length = f"context.n >= {len(before) + len(after)}"
        facts = [f"{i}:{s}" for i, s in enumerate(before) if s != SINGLE]
        facts += [f"{i - len(after)}:{s}" for i, s in enumerate(after) if s != SINGLE]
    if not facts:
        return length
    return f"{length} && context.f.containsAll({json.dumps(facts)})"


def _condition(condition: Condition) -> str:
    if isinstance(condition, EnvCondition):
        envs = condition.envs
        test = (f"context.env == {json.dumps(envs[0])}" if len(envs) == 1
                else f"{json.dumps(list(envs))}.contains(context.env)")
    elif isinstance(condition, CidrCondition):
        ranges = " || ".join(f'context.cidr.isInRange(ip("{n}"))' for n in condition.networks)
        test = f"context has cidr && ({ranges})"
    else:
        test = " || ".join(f"({_pattern(p)})" for p in condition.patterns)
    return f"!({test})" if condition.negated else f"({test})"


def translate(policy: Policy) -> str:
    """The Cedar policy set: rule ``i`` is ``policy{i}``, then the undeclared-env guard."""
    lines = []
    for rule in policy.rules:
        when = " && ".join(_condition(c) for c in rule.conditions)
        lines.append(f"permit(principal, action, resource) when {{ {when} }};" if when
                     else "permit(principal, action, resource);")
    if policy.envs:
        declared = json.dumps(list(policy.env_names))
        lines.append(f"permit(principal, action, resource) when {{ !{declared}"
                     ".contains(context.env) };")
    return "\n".join(lines) + "\n"


class CedarEngine:
    def __init__(self, policy: Policy) -> None:
        import cedarpy

        self._authorize = cedarpy.is_authorized
        self._policies = cedarpy.PolicySet.from_str(translate(policy))
        self._entities = cedarpy.Entities.from_json_str("[]")
        self._decisions = Decisions(policy)
        self._guard = f"policy{len(policy.rules)}" if policy.envs else None

    def decide(self, topic: str, env: str, cidr: str | None) -> Outcome:
        segments = topic.split(".")
        n = len(segments)
        facts = [f"{i}:{s}" for i, s in enumerate(segments)]
        facts += [f"{i - n}:{s}" for i, s in enumerate(segments)]
        context: dict[str, Any] = {"topic": topic, "n": n, "f": facts, "env": env}
        if cidr is not None:
            context["cidr"] = {"__extn": {"fn": "ip", "arg": str(request_network(cidr))}}
        answer = self._authorize({**_SCOPE, "context": context}, self._policies,
                                 self._entities)
        reasons = answer.diagnostics.reasons
        if self._guard is not None and self._guard in reasons:
            return UNKNOWN_ENV
        return self._decisions.of(min((int(r[6:]) for r in reasons), default=None))


def build(policy: Policy) -> CedarEngine:
    return CedarEngine(policy)
