"""The outcome regions of one policy (docs/design.md, "Changes, coverage and the gates").

An outcome region is the set of requests sharing (env, deciding rule or reason, tier).
They are read off the region engine's first-match cells: every cell of a topic class is
decided by one rule (or the default) for every env atom in it, and the class fixes the
tier, so each (cell, env atom) lies inside exactly one region. Requests with an env the
policy does not declare never reach the rules: they form one ``unknown-env`` region per
tier that some topic has.

``env`` is None for "an env the policy does not declare". For a policy that declares
envs those requests are denied as ``unknown-env``; a policy that declares no envs
accepts every env and has no env conditions, so all its envs behave alike and its
rule and default regions carry env None too (it has no ``unknown-env`` region).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dualgate.compiler import ir
from dualgate.compiler.reference import Request, fail_mode_of
from dualgate.compiler.regions import RegionSpace
from dualgate.compiler.regions.bits import bit_indices
from dualgate.runtime.vocabulary import Decision, FailMode, TierName

#: The env an ``unknown-env`` witness names (varied when the policy declares it).
UNDECLARED_ENV = "undeclared"


@dataclass(frozen=True)
class OutcomeRegion:
    """One outcome region and a request in it that the reference interpreter decides so.

    ``reason`` is ``rule`` (``rule`` names the deciding rule), ``default`` or
    ``unknown-env`` (both with ``rule`` None).
    """

    env: str | None
    rule: str | None
    reason: str
    tier: TierName
    decision: Decision
    fail_mode: FailMode
    witness: Request

    @property
    def key(self) -> tuple[str | None, str, TierName]:
        """(env, rule id or reason, tier): the grouping coverage and the diff share."""
        return self.env, self.rule if self.rule is not None else self.reason, self.tier


def undeclared_env(policy: ir.Policy) -> str:
    """An env name the policy does not declare."""
    taken, candidate, counter = set(policy.env_names), UNDECLARED_ENV, 0
    while candidate in taken:
        counter += 1
        candidate = f"{UNDECLARED_ENV}-{counter}"
    return candidate


def outcome_regions(policy: ir.Policy, *, now: datetime,
                    space: RegionSpace | None = None) -> tuple[OutcomeRegion, ...]:
    """Every outcome region of ``policy``, each once, with a witness request.

    Exact: a key is listed exactly when some well-formed request has that outcome under
    the reference semantics, and its witness is such a request. ``now`` decides the
    fail modes (overrides). Ordered by env (declared order, then None), then rule in
    file order (the default and ``unknown-env`` last), then tier from high to low.
    ``space`` reuses a region space already built for ``policy``.
    """
    space = space or RegionSpace(policy)
    rules = policy.rules
    env_names: tuple[str | None, ...] = policy.env_names or (None,)
    modes = {tier: fail_mode_of(policy, tier, now) for tier in TierName}
    # (env atom, rule index or None, tier) -> witness request
    found: dict[tuple[int, int | None, TierName], Request] = {}
    for topic_class in space.classes:
        for cell in topic_class.cells:
            for env in bit_indices(cell.envs):
                key = (env, cell.rule, topic_class.tier)
                if key not in found:
                    found[key] = space.request(topic_class.atoms[0], 1 << env, cell.cidrs)
    regions = [
        OutcomeRegion(
            env=env_names[env],
            rule=None if rule is None else rules[rule].id,
            reason="default" if rule is None else "rule",
            tier=tier,
            decision=policy.default_decision if rule is None else rules[rule].decision,
            fail_mode=modes[tier],
            witness=witness,
        )
        for (env, rule, tier), witness in found.items()
    ]
    if policy.envs:
        regions.extend(_unknown_env_regions(policy, space, modes))
    order = {name: i for i, name in enumerate(env_names)}
    rule_order = {rule.id: i for i, rule in enumerate(rules)}
    reason_order = {"rule": 0, "default": 1, "unknown-env": 2}
    regions.sort(key=lambda r: (
        len(order) if r.env is None else order[r.env], reason_order[r.reason],
        rule_order.get(r.rule or "", 0), -r.tier.risk,
    ))
    return tuple(regions)


def _unknown_env_regions(policy: ir.Policy, space: RegionSpace,
                         modes: dict[TierName, FailMode]) -> list[OutcomeRegion]:
    env = undeclared_env(policy)
    witnesses: dict[TierName, str] = {}
    for atom, tier in enumerate(space.atom_tiers):
        witnesses.setdefault(tier, space.topics.atoms[atom].witness)
    return [
        OutcomeRegion(None, None, "unknown-env", tier, Decision.DENY, modes[tier],
                      Request(topic, env, None))
        for tier, topic in witnesses.items()
    ]


__all__ = ["OutcomeRegion", "outcome_regions", "undeclared_env"]
