"""Replay: what a change would have done to logged traffic.

A log is JSON Lines: one object per line with ``topic`` and ``env`` (strings) and
optionally ``cidr`` (a string or null), at the top level or under ``input`` (the shape of
a decision log entry). A line may name its ``policy``; it is then replayed only against the
reviewed policy of that name, otherwise against every reviewed policy. Each request is
evaluated under base and head by the reference interpreter, at the review's ``now``.

A request is counted as changed when its decision differs (a *decision* change, counted by
direction, by tier and by env) or its (tier, effective fail mode) differs (a *tier* change,
counted by direction); the directions are the diff's. A line that is no JSON object, or
whose request fields have the wrong types, is a bad line: counted, the first few reported
with their line number, never an exception. So is the entry of a malformed request (a
decision server's batch item that was no request), reported as such.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from dualgate.compiler.ir import Policy
from dualgate.compiler.reference import Evaluation, Request, evaluate
from dualgate.runtime.telemetry.decision_log import MALFORMED_ENTRY, malformed_entry
from dualgate.runtime.vocabulary import FailMode

#: How many bad lines and example requests a report lists (all are counted).
EXAMPLES = 5


class ReplayError(Exception):
    """The log cannot be read at all."""


@dataclass(frozen=True)
class LoggedRequest:
    line: int
    request: Request
    policy: str | None


@dataclass(frozen=True)
class BadLine:
    line: int
    message: str


@dataclass(frozen=True)
class ReplayLog:
    """The requests of a log and its bad lines (``bad`` counts them all)."""

    path: str
    lines: int
    requests: tuple[LoggedRequest, ...]
    bad: int
    bad_examples: tuple[BadLine, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path, "lines": self.lines, "requests": len(self.requests),
            "bad_lines": self.bad,
            "bad_examples": [{"line": b.line, "message": b.message} for b in self.bad_examples],
        }


@dataclass
class ReplayResult:
    """The changes one policy file's change makes to the logged requests."""

    evaluated: int = 0
    changed: int = 0
    decision: dict[str, int] = field(default_factory=lambda: {"loosening": 0, "tightening": 0})
    tier: dict[str, int] = field(default_factory=lambda: {"loosening": 0, "tightening": 0})
    by_tier: dict[str, dict[str, int]] = field(default_factory=dict)
    by_env: dict[str, dict[str, int]] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "evaluated": self.evaluated, "changed": self.changed, "decision": self.decision,
            "tier": self.tier, "by_tier": self.by_tier, "by_env": self.by_env,
            "examples": self.examples,
        }


def read_log(path: Path, display: str) -> ReplayLog:
    """The requests in the log at ``path``; raises :class:`ReplayError` if unreadable."""
    try:
        with path.open("rb") as stream:
            return parse_log(stream.read().split(b"\n"), display)
    except OSError as error:
        raise ReplayError(
            f"cannot read replay log `{display}`: {(error.strerror or str(error)).lower()}"
        ) from None


def parse_log(lines: list[bytes], display: str) -> ReplayLog:
    """The requests of a log given as its lines (blank lines are skipped)."""
    requests: list[LoggedRequest] = []
    bad: list[BadLine] = []
    count = 0
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        count += 1
        entry, problem = _entry(raw, number)
        if entry is None:
            bad.append(BadLine(number, problem))
        else:
            requests.append(entry)
    return ReplayLog(display, count, tuple(requests), len(bad), tuple(bad[:EXAMPLES]))


def _entry(raw: bytes, number: int) -> tuple[LoggedRequest | None, str]:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return None, "not a JSON value"
    if not isinstance(value, dict):
        return None, "not a JSON object"
    if malformed_entry(value):  # a decision server's batch item that was no request
        return None, MALFORMED_ENTRY
    fields = value["input"] if isinstance(value.get("input"), dict) else value
    topic, env, cidr = fields.get("topic"), fields.get("env"), fields.get("cidr")
    if not isinstance(topic, str):
        return None, "`topic` is missing or not a string"
    if not isinstance(env, str):
        return None, "`env` is missing or not a string"
    if cidr is not None and not isinstance(cidr, str):
        return None, "`cidr` is not a string"
    policy = value.get("policy")
    return LoggedRequest(number, Request(topic, env, cidr),
                         policy if isinstance(policy, str) else None), ""


def replay(log: ReplayLog, name: str, base: Policy, head: Policy, now: datetime) -> ReplayResult:
    """The changes from ``base`` to ``head`` (the policy named ``name``) on the log."""
    result = ReplayResult()
    for entry in log.requests:
        if entry.policy is not None and entry.policy != name:
            continue
        result.evaluated += 1
        before, after = evaluate(base, entry.request, now), evaluate(head, entry.request, now)
        kinds: list[tuple[str, str]] = []
        if before.decision is not after.decision:
            direction = ("loosening" if after.decision.strictness < before.decision.strictness
                         else "tightening")
            kinds.append(("decision", direction))
            result.decision[direction] += 1
            tier = _riskier(before, after)
            _count(result.by_tier, tier, direction)
            _count(result.by_env, entry.request.env, direction)
        if (before.tier, before.fail_mode) != (after.tier, after.fail_mode):
            direction = "loosening" if _tier_loosens(before, after) else "tightening"
            kinds.append(("tier", direction))
            result.tier[direction] += 1
        if kinds:
            result.changed += 1
            if len(result.examples) < EXAMPLES:
                result.examples.append({
                    "line": entry.line, "request": entry.request.to_json(),
                    "changes": [{"kind": k, "direction": d} for k, d in kinds],
                    "base": _outcome(before), "head": _outcome(after),
                })
    return result


def _riskier(before: Evaluation, after: Evaluation) -> str:
    tiers = [t for t in (before.tier, after.tier) if t is not None]
    return str(max(tiers, key=lambda t: t.risk)) if tiers else "none"


def _tier_loosens(before: Evaluation, after: Evaluation) -> bool:
    if before.tier is None or after.tier is None:
        return False
    return after.tier.risk < before.tier.risk or (
        before.fail_mode is FailMode.CLOSED and after.fail_mode is FailMode.OPEN
    )


def _count(table: dict[str, dict[str, int]], key: str, direction: str) -> None:
    row = table.setdefault(key, {"loosening": 0, "tightening": 0})
    row[direction] += 1


def _outcome(evaluation: Evaluation) -> dict[str, Any]:
    return {
        "decision": str(evaluation.decision), "rule": evaluation.rule,
        "reason": evaluation.reason,
        "tier": str(evaluation.tier) if evaluation.tier else None,
        "fail_mode": str(evaluation.fail_mode) if evaluation.fail_mode else None,
    }
