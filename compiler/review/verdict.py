"""The verdict: every lint finding and change of a review judged at its enforcement level.

A finding *blocks* when its level is hard-mandatory, or soft-mandatory and no valid waiver
covers it; the review is blocked when any finding blocks. Waivers lift only soft-mandatory
findings; a waiver that lifts none is reported as unused. Everything here is plain data
with a JSON form, which the report writers in ``compiler/reports`` render.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from dualgate.compiler.codes import Severity
from dualgate.compiler.diagnostics import Diagnostic
from dualgate.compiler.diff import Change, Outcome, PolicyDiff, PolicyRef
from dualgate.compiler.frontend.source import Span
from dualgate.compiler.ir import Policy
from dualgate.compiler.review.git import Status
from dualgate.compiler.review.levels import Level, LevelRule, Subject, level_for
from dualgate.compiler.review.replay import ReplayLog, ReplayResult
from dualgate.compiler.review.waiver_regions import WaiverRegions
from dualgate.compiler.review.waivers import Waiver, WaiverFile, WaiverProblem
from dualgate.runtime.vocabulary import TierName

Check = Literal["lint", "decision", "tier", "deleted"]
#: The checks of one file, in report order (JUnit has one test case per file and check).
CHECKS: tuple[Check, ...] = ("lint", "decision", "tier", "deleted")
Standing = Literal["blocking", "waived", "advisory"]


@dataclass(frozen=True)
class Finding:
    """One judged item: a lint diagnostic, a change, or a deleted file."""

    check: Check
    level: Level
    message: str
    span: Span | None
    waiver: str | None = None
    direction: str | None = None
    change: Change | None = None
    diagnostic: Diagnostic | None = None

    @property
    def standing(self) -> Standing:
        if self.waiver is not None:
            return "waived"
        return "blocking" if self.level.blocks else "advisory"

    def to_json(self) -> dict[str, Any]:
        span = self.span
        return {
            "check": self.check,
            "level": str(self.level),
            "status": self.standing,
            "direction": self.direction,
            "waiver": self.waiver,
            "message": self.message,
            "code": self.diagnostic.code.code if self.diagnostic else None,
            "path": span.path if span else None,
            "line": span.line if span else None,
            "column": span.column if span else None,
            "end_line": span.end_line if span else None,
            "end_column": span.end_column if span else None,
            "change": self.change.to_json() if self.change else None,
        }


@dataclass(frozen=True)
class FileReview:
    """What the review found in one changed policy file."""

    path: str
    status: Status
    policy: str | None
    findings: tuple[Finding, ...]
    base: PolicyRef | None = None
    head: PolicyRef | None = None
    diff: PolicyDiff | None = None
    replay: ReplayResult | None = None
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "status": self.status,
            "policy": self.policy,
            "notes": list(self.notes),
            "findings": [f.to_json() for f in self.findings],
            "diff": self.diff.to_json(self.base, self.head)
            if self.diff is not None and self.base is not None and self.head is not None
            else None,
            "replay": self.replay.to_json() if self.replay is not None else None,
        }


@dataclass(frozen=True)
class Review:
    """The whole review: per-file results, the waivers and their use, the replay log."""

    revision: str
    commit: str
    files: tuple[FileReview, ...]
    waivers: WaiverFile | None = None
    unused: tuple[WaiverProblem, ...] = ()
    replay: ReplayLog | None = None
    levels: tuple[LevelRule, ...] = ()

    @property
    def findings(self) -> list[Finding]:
        return [f for file in self.files for f in file.findings]

    @property
    def blocked(self) -> bool:
        return any(f.standing == "blocking" for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        counts = {standing: 0 for standing in ("blocking", "waived", "advisory")}
        for finding in self.findings:
            counts[finding.standing] += 1
        waivers = self.waivers
        problems = [*(waivers.problems if waivers else ()), *self.unused]
        return {
            "verdict": "blocked" if self.blocked else "pass",
            "base": {"revision": self.revision, "commit": self.commit},
            "summary": {"files": len(self.files), **counts,
                        "waiver_problems": len(problems)},
            "files": [file.to_json() for file in self.files],
            "waivers": {
                "path": waivers.path if waivers else None,
                "valid": [w.to_json() for w in waivers.waivers] if waivers else [],
                "used": sorted({f.waiver for f in self.findings if f.waiver}),
                "problems": [p.to_json() for p in problems],
            },
            "replay": self.replay.to_json() if self.replay is not None else None,
            "levels": [rule.describe() for rule in self.levels],
        }


def lint_findings(diagnostics: Sequence[Diagnostic]) -> list[Finding]:
    """Errors in the head policy are hard-mandatory; warnings are advisory; info is left out."""
    return [
        Finding("lint", Level.HARD_MANDATORY if d.is_error else Level.ADVISORY,
                f"{d.code.code} ({d.code.name}) {d.message}", d.span, diagnostic=d)
        for d in diagnostics if d.severity is not Severity.INFO
    ]


def change_findings(
    diff: PolicyDiff, base: Policy, head: Policy, *, configured: tuple[LevelRule, ...],
    waivers: Sequence[Waiver], path: str, now: datetime, new: bool = False,
) -> list[Finding]:
    """Each change of ``diff`` at its level, with the first waiver that lifts it.

    A change is judged by the riskier of its two tiers, except in a ``new`` file, whose
    base (nothing deployed) puts every topic in the high tier: there the head's tier
    counts, and the move out of the high tier is judged as the tier change it is.
    """
    regions = WaiverRegions(base, head, diff, now)
    found = []
    for change in diff.changes:
        tier = change.head.tier if new else change.riskiest_tier
        subject = Subject(change.kind, change.direction, tier, change.protected)
        level = level_for(subject, configured)
        waiver = None
        if level.waivable:
            rules = (change.base.rule, change.head.rule)
            waiver = next((w.id for w in waivers if w.matches(head.name, change.env, rules)
                           and (w.topic is None or regions.covers(w.topic, change))), None)
        found.append(Finding(
            change.kind, level, describe(change), _change_span(change, base, head, path),
            waiver, change.direction, change=change,
        ))
    return found


def deletion_finding(
    policy: str | None, path: str, configured: tuple[LevelRule, ...],
    waivers: Sequence[Waiver],
) -> Finding:
    """A deleted file: every request it governed is now unknown to the gate."""
    level = level_for(Subject("deleted", "loosening", TierName.HIGH, True), configured)
    waiver = None
    if level.waivable and policy is not None:
        waiver = next((w.id for w in waivers if w.covers_deletion(policy)), None)
    name = f"policy `{policy}`" if policy else "the policy"
    return Finding(
        "deleted", level,
        f"{name} is deleted: every request it decided is now unknown to the gate, which "
        "decides by its fallback (deny, or the tier's fail mode)",
        Span(path, 1, 1, 1, 1), waiver, "loosening",
    )


def unused_waivers(waivers: Sequence[Waiver], findings: Sequence[Finding]) -> list[WaiverProblem]:
    """The valid waivers that lifted no finding."""
    used = {f.waiver for f in findings}
    return [
        WaiverProblem("unused", f"waiver `{w.id}` covers no blocking change", w.span, w.id)
        for w in waivers if w.id not in used
    ]


def describe(change: Change) -> str:
    """The change in one sentence, with its witness and the rules on both sides."""
    witness = change.witness
    if change.kind == "tier":
        return (
            f"{change.direction}: topic `{witness.topic}` moves from tier "
            f"{change.base.tier} (fails {change.base.fail_mode}) to {change.head.tier} "
            f"(fails {change.head.fail_mode})"
        )
    env = "envs neither policy declares" if change.env is None else f"env `{change.env}`"
    if change.protected:
        env += " (protected)"
    cidr = "" if witness.cidr is None else f", cidr `{witness.cidr}`"
    return (
        f"{change.direction} in {env}: `{witness.topic}`{cidr} was {change.base.decision} "
        f"{_by(change.base)}, now {change.head.decision} {_by(change.head)} "
        f"(tier {change.riskiest_tier})"
    )


def _by(outcome: Outcome) -> str:
    if outcome.rule is not None:
        where = f" ({outcome.location})" if outcome.location else ""
        return f"by rule `{outcome.rule}`{where}"
    return "by the default" if outcome.reason == "default" else "as an unknown env"


def _change_span(change: Change, base: Policy, head: Policy, path: str) -> Span:
    """The head rule's line; the base rule's line for a rule head no longer decides by;
    for a tier change the head's (else the base's) tier or override; else the file's top."""
    if change.kind == "decision":
        span = change.head.rule_span or change.base.rule_span or head.default_decision_span
    else:
        span = _tier_span(head, change.head.tier) or _tier_span(base, change.base.tier)
    return span if span is not None else Span(path, 1, 1, 1, 1)


def _tier_span(policy: Policy, tier: TierName) -> Span | None:
    override = next((o.span for o in policy.overrides if o.tier is tier and o.span), None)
    declared = next((t.span for t in policy.tiers if t.name is tier and t.span), None)
    return override or declared
