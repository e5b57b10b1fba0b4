"""What a diff reports: outcomes, changes and their JSON form (docs/design.md, "Changes").

The JSON shape is normative (issue #8): ``base``/``head`` references, the ``changes`` and
a ``summary``. Everything here is plain data; the grouping lives in ``changes``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Literal

from dualgate.compiler.frontend.source import Span
from dualgate.compiler.ir import Policy
from dualgate.compiler.reference import Request
from dualgate.runtime.vocabulary import Decision, FailMode, TierName

ChangeKind = Literal["decision", "tier"]
Direction = Literal["loosening", "tightening"]
#: Why an outcome was decided: by a rule, by the default, or an env the policy does not declare.
Reason = Literal["rule", "default", "unknown-env"]


@dataclass(frozen=True)
class PolicyRef:
    """Which policy a side of the diff is: where it was read, its name, its source's sha256."""

    path: str
    policy: str
    source_sha256: str

    @classmethod
    def of(cls, path: str, policy: Policy, source: bytes) -> PolicyRef:
        """The reference of ``policy`` read from ``source`` (its bytes) at ``path``."""
        return cls(path, policy.name, hashlib.sha256(source).hexdigest())

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "policy": self.policy, "source_sha256": self.source_sha256}


@dataclass(frozen=True)
class Outcome:
    """The outcome of a request under one policy, exactly as the runtime computes it.

    ``rule`` is the deciding rule's id (None unless ``reason`` is "rule"), ``rule_span``
    where that rule was written; ``fail_mode`` is the tier's effective fail mode at the
    diff's ``now``.
    """

    decision: Decision
    rule: str | None
    reason: Reason
    tier: TierName
    fail_mode: FailMode
    rule_span: Span | None = None

    @property
    def decider(self) -> str:
        """The rule id, or the reason when no rule decided (the change key's "rule-or-reason")."""
        return self.rule if self.rule is not None else self.reason

    @property
    def location(self) -> str | None:
        """``path:line:col`` of the deciding rule, or None."""
        span = self.rule_span
        return None if span is None else f"{span.path}:{span.line}:{span.column}"

    def to_json(self) -> dict[str, Any]:
        return {"decision": self.decision.value, "rule": self.rule, "reason": self.reason,
                "tier": self.tier.value, "fail_mode": self.fail_mode.value,
                "location": self.location}


@dataclass(frozen=True)
class Change:
    """One group of requests whose outcome differs between base and head.

    A ``decision`` change holds every request with the same (env, base rule-or-reason,
    head rule-or-reason, base tier, head tier) on which the decisions differ; ``env`` is
    None for the envs neither policy declares, ``protected`` says either policy protects
    the env. A ``tier`` change holds every topic with the same (base tier, base fail mode,
    head tier, head fail mode), where the pair differs; its env is None, protected False,
    and only the outcomes' tier and fail mode are meaningful. ``witness`` is a request of
    the group: the reference interpreter gives it ``base`` under the base policy and
    ``head`` under the head policy (for a tier change: their tier and fail mode).
    """

    kind: ChangeKind
    direction: Direction
    env: str | None
    protected: bool
    base: Outcome
    head: Outcome
    witness: Request
    #: A readable account of the requests the change covers, beside the witness.
    description: str | None = None

    @property
    def tiers(self) -> tuple[TierName, TierName]:
        return self.base.tier, self.head.tier

    @property
    def riskiest_tier(self) -> TierName:
        """The riskier of the two sides' tiers (what ``summary.by_tier`` counts it under)."""
        return max(self.tiers, key=lambda tier: tier.risk)

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"kind": self.kind, "direction": self.direction}
        if self.kind == "decision":
            document.update(env=self.env, protected=self.protected,
                            base=self.base.to_json(), head=self.head.to_json(),
                            witness=self.witness.to_json())
        else:
            document.update(
                base={"tier": self.base.tier.value, "fail_mode": self.base.fail_mode.value},
                head={"tier": self.head.tier.value, "fail_mode": self.head.fail_mode.value},
                witness={"topic": self.witness.topic},
            )
        if self.description is not None:
            document["description"] = self.description
        return document


@dataclass(frozen=True)
class PolicyDiff:
    """Every change between two policies, in report order.

    Guarantee: the changes are exactly the non-empty groups of docs/design.md's definition,
    found over every request (not sampled); a request whose outcome differs in
    decision, tier or effective fail mode lies in one of them. Order: decision changes
    first, protected envs first, then by env, loosening before tightening.
    """

    changes: tuple[Change, ...]

    @property
    def equivalent(self) -> bool:
        """True when every request gets the same decision, tier and fail mode from both."""
        return not self.changes

    def count(self, direction: Direction) -> int:
        return sum(1 for change in self.changes if change.direction == direction)

    def summary(self) -> dict[str, Any]:
        """``equivalent``, the count per direction, and per tier (the riskier side's)."""
        by_tier = {tier.value: {"loosening": 0, "tightening": 0} for tier in TierName}
        for change in self.changes:
            by_tier[change.riskiest_tier.value][change.direction] += 1
        return {"equivalent": self.equivalent, "loosening": self.count("loosening"),
                "tightening": self.count("tightening"), "by_tier": by_tier}

    def to_json(self, base: PolicyRef, head: PolicyRef) -> dict[str, Any]:
        """The diff as the issue's normative JSON document."""
        return {"base": base.to_json(), "head": head.to_json(),
                "changes": [change.to_json() for change in self.changes],
                "summary": self.summary()}
