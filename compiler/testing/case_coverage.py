"""What a policy's test cases cover: its rules, its default, its tier x decision
combinations and its outcome regions.

A rule is covered when it decided a case; the default when it decided one. The outcome
regions (``dualgate.compiler.coverage.outcome_regions``, exact on the region engine) are
keyed by (env, rule-or-reason, tier); a case covers the region whose key its outcome has
(malformed requests, denied before any rule, cover none). The combinations are the
(tier, decision) pairs over the regions; a case exercises its region's pair.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dualgate.compiler.coverage import OutcomeRegion, outcome_regions
from dualgate.compiler.ir import Policy
from dualgate.compiler.testing.runner import CaseResult, Outcome
from dualgate.runtime.vocabulary import Decision, TierName

RegionKey = tuple[str | None, str, TierName]

#: The measures ``--fail-under`` can hold to a percentage.
MEASURES = ("rules", "regions")


@dataclass(frozen=True)
class PolicyCoverage:
    """The coverage of one policy by the cases of every test file that names it."""

    policy: str
    files: tuple[str, ...]
    rules: tuple[str, ...]
    covered_rules: frozenset[str]
    default_exercised: bool
    regions: tuple[OutcomeRegion, ...]
    covered_regions: frozenset[RegionKey]

    @property
    def uncovered_rules(self) -> tuple[str, ...]:
        return tuple(r for r in self.rules if r not in self.covered_rules)

    @property
    def uncovered_regions(self) -> tuple[OutcomeRegion, ...]:
        return tuple(r for r in self.regions if r.key not in self.covered_regions)

    @property
    def combinations(self) -> tuple[tuple[TierName, Decision], ...]:
        """The (tier, decision) pairs the policy can produce, riskiest tier first."""
        pairs = {(r.tier, r.decision) for r in self.regions}
        return tuple(sorted(pairs, key=lambda p: (-p[0].risk, p[1].strictness)))

    @property
    def exercised_combinations(self) -> tuple[tuple[TierName, Decision], ...]:
        pairs = {(r.tier, r.decision) for r in self.regions if r.key in self.covered_regions}
        return tuple(p for p in self.combinations if p in pairs)

    def percent(self, measure: str) -> float:
        """The share of rules or regions covered, in percent (100 when there are none)."""
        total, covered = ((len(self.rules), len(self.covered_rules)) if measure == "rules"
                          else (len(self.regions), len(self.covered_regions)))
        return 100.0 if total == 0 else 100.0 * covered / total

    def to_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "files": list(self.files),
            "rules": {"total": len(self.rules),
                      "covered": [r for r in self.rules if r in self.covered_rules],
                      "uncovered": list(self.uncovered_rules),
                      "percent": round(self.percent("rules"), 1)},
            "default_exercised": self.default_exercised,
            "tier_decisions": {
                "possible": [_combination_json(p) for p in self.combinations],
                "exercised": [_combination_json(p) for p in self.exercised_combinations],
            },
            "regions": {
                "total": len(self.regions), "covered": len(self.covered_regions),
                "percent": round(self.percent("regions"), 1),
                "uncovered": [_region_json(r) for r in self.uncovered_regions],
            },
        }


def region_key(policy: Policy, outcome: Outcome, env: str) -> RegionKey | None:
    """The key of the outcome region a request with ``env`` and ``outcome`` lies in, or
    None for a malformed request (no region holds it)."""
    if outcome.reason not in ("rule", "default", "unknown-env") or outcome.tier is None:
        return None
    region_env = env if policy.envs and outcome.reason != "unknown-env" else None
    return region_env, outcome.rule or outcome.reason, TierName(outcome.tier)


def policy_coverage(policy_path: str, policy: Policy, now: datetime,
                    runs: Iterable[tuple[str, tuple[CaseResult, ...]]]) -> PolicyCoverage:
    """The coverage of ``policy`` by the results of the test files in ``runs`` (path,
    results); ``now`` decides the regions' fail modes."""
    files: list[str] = []
    rules: set[str] = set()
    keys: set[RegionKey] = set()
    default = False
    for path, results in runs:
        files.append(path)
        for result in results:
            if result.actual.reason == "rule" and result.actual.rule is not None:
                rules.add(result.actual.rule)
            default = default or result.actual.reason == "default"
            key = region_key(policy, result.actual, result.case.request.env)
            if key is not None:
                keys.add(key)
    regions = outcome_regions(policy, now=now)
    return PolicyCoverage(
        policy_path, tuple(files), tuple(rule.id for rule in policy.rules),
        frozenset(rules), default, regions, frozenset(keys & {r.key for r in regions}),
    )


def _region_json(region: OutcomeRegion) -> dict[str, Any]:
    return {
        "env": region.env, "rule": region.rule, "reason": region.reason,
        "tier": region.tier.value, "decision": region.decision.value,
        "fail_mode": region.fail_mode.value, "witness": region.witness.to_json(),
    }


def _combination_json(pair: tuple[TierName, Decision]) -> dict[str, str]:
    return {"tier": pair[0].value, "decision": pair[1].value}
