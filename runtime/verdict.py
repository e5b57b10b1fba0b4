"""The answer a gate gets: an immutable decision with the reason for it.

Reasons are machine-readable words, stable across versions:

- ``rule``: a rule decided (``rule`` names it);
- ``default``: no rule matched, the policy's ``default_decision`` applied;
- ``invalid-topic``, ``invalid-env``, ``unknown-env``, ``invalid-cidr``: the request was
  malformed (or its env undeclared) and is denied before any rule is consulted;
- ``malformed-request``: the request was not even an object of attributes (used by
  callers that parse requests, such as ``dualgate eval --input``);
- ``evaluation-error``: the request could not be evaluated at all (an attribute that
  is a string in name only, whose hash or comparison raises): denied, fail closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dualgate.runtime.vocabulary import Decision, FailMode, TierName

RULE = "rule"
DEFAULT = "default"
INVALID_TOPIC = "invalid-topic"
INVALID_ENV = "invalid-env"
UNKNOWN_ENV = "unknown-env"
INVALID_CIDR = "invalid-cidr"
MALFORMED_REQUEST = "malformed-request"
EVALUATION_ERROR = "evaluation-error"

@dataclass(frozen=True, slots=True)
class Verdict:
    """A decision on one job.

    ``tier`` is the risk tier of the job's topic and ``fail_mode`` that tier's effective
    fail mode (overrides applied) at the time of the decision; both are None when the
    topic is malformed. ``bundle`` is the content hash of the bundle that decided.
    """

    decision: Decision
    rule: str | None
    reason: str
    tier: TierName | None
    fail_mode: FailMode | None
    bundle: str

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOW

    def to_json(self) -> dict[str, Any]:
        """The verdict as JSON, as ``dualgate eval --format json`` prints it."""
        return {
            "decision": self.decision.value,
            "rule": self.rule,
            "reason": self.reason,
            "tier": None if self.tier is None else self.tier.value,
            "fail_mode": None if self.fail_mode is None else self.fail_mode.value,
            "bundle": self.bundle,
        }
