"""Whether a waiver's topic pattern covers *every* request of a change, exactly.

A change is a group of requests (docs/design.md, "Changes"), and its witness is one of them: a
pattern that matches the witness need not match the rest of the group. To decide coverage
exactly, both policies are *equalized* on the pattern's topics: a first rule deciding
them alike (deny) is put in front of both rule lists, and the pattern joins the high tier
of both. Requests outside the pattern keep their outcomes, so they keep their change keys;
requests inside it no longer change. A change is covered exactly when its key is gone
from the diff of the equalized pair. This reuses the semantic diff, once per pattern.

One case cannot be equalized this way without side effects: a policy with an override on
the high tier (declaring the tier would activate the override for other topics, and an
open high tier on one side only keeps the pattern's topics changed). There the pattern
covers nothing, the safe answer; such a policy is a lint error (DG302) and blocks anyway.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dualgate.compiler.diff import Change, PolicyDiff, diff_policies
from dualgate.compiler.ir import Policy, Rule, Tier, TopicCondition, TopicPattern
from dualgate.runtime.vocabulary import Decision, FailMode, TierName

ChangeKey = tuple[Any, ...]


def change_key(change: Change) -> ChangeKey:
    """The key the diff groups ``change`` by (docs/design.md, "Changes")."""
    if change.kind == "decision":
        return ("decision", change.env, change.base.decider, change.head.decider,
                change.base.tier, change.head.tier)
    return ("tier", change.base.tier, change.base.fail_mode, change.head.tier,
            change.head.fail_mode)


class WaiverRegions:
    """Answers "does this topic pattern cover all of this change?" for one policy pair."""

    def __init__(self, base: Policy, head: Policy, diff: PolicyDiff, now: datetime) -> None:
        self._base, self._head, self._now = base, head, now
        self._keys = {change_key(c) for c in diff.changes}
        self._left: dict[str, frozenset[ChangeKey] | None] = {}

    def covers(self, pattern: TopicPattern, change: Change) -> bool:
        """True when every request of ``change`` has a topic ``pattern`` matches."""
        left = self._left_outside(pattern)
        return left is not None and change_key(change) not in left

    def _left_outside(self, pattern: TopicPattern) -> frozenset[ChangeKey] | None:
        """The change keys that remain once the pattern's topics are equalized."""
        if pattern.text not in self._left:
            rule_id = _fresh_id(self._base, self._head)
            base = _equalized(self._base, pattern, rule_id)
            head = _equalized(self._head, pattern, rule_id)
            self._left[pattern.text] = None if base is None or head is None else frozenset(
                change_key(c) for c in diff_policies(base, head, now=self._now).changes)
        return self._left[pattern.text]


def _equalized(policy: Policy, pattern: TopicPattern, rule_id: str) -> Policy | None:
    tiers = list(policy.tiers)
    if any(o.tier is TierName.HIGH for o in policy.overrides):
        return None
    high = next((i for i, t in enumerate(tiers) if t.name is TierName.HIGH), None)
    if high is None:
        tiers.append(Tier(name=TierName.HIGH, patterns=(pattern,), fail_mode=FailMode.CLOSED))
    else:
        tiers[high] = tiers[high].model_copy(
            update={"patterns": (*tiers[high].patterns, pattern)})
    first = Rule(id=rule_id, conditions=(TopicCondition(patterns=(pattern,)),),
                 decision=Decision.DENY)
    return policy.model_copy(update={"rules": (first, *policy.rules), "tiers": tuple(tiers)})


def _fresh_id(base: Policy, head: Policy) -> str:
    """A rule id neither policy uses, so the equalizing rule's key cannot collide."""
    taken = {r.id for r in (*base.rules, *head.rules)}
    number = 0
    while f"waiver-region-{number}" in taken:
        number += 1
    return f"waiver-region-{number}"
