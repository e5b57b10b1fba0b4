"""SARIF 2.1.0 for a review: the head's lint findings plus every judged change.

Built on ``reports.sarif``: the run holds its lint results and code descriptors unchanged,
and the review's own rules follow them (so DG code indices match ``lint``'s). A change is
reported on the head rule that now decides it, or on the base rule's line when the head
decides by no rule (a removed rule); a tier change on the tier or override that sets it; a
deleted file on its first line. Level: ``error`` when it blocks, ``warning`` when a waiver
lifts it (with an ``external`` suppression whose justification names the waiver) and
``note`` when advisory. Waiver problems are results on the waiver file. Fingerprints hash
the rule, the file and what the change is (env, deciders and tiers), not its line.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from dualgate.compiler.frontend.source import Span
from dualgate.compiler.reports.sarif import (
    FINGERPRINT_KEY,
    INFORMATION_URI,
    sarif_location,
    sarif_log,
    sarif_text,
)
from dualgate.compiler.review.verdict import Finding, Review
from dualgate.compiler.review.waivers import WaiverProblem

#: The review's rules: id, summary, what it reports.
REVIEW_RULES: tuple[tuple[str, str, str], ...] = (
    ("review/decision-loosening", "a change lets requests through more easily",
     "Reports requests on which the head policy decides less strictly than the base."),
    ("review/decision-tightening", "a change decides requests more strictly",
     "Reports requests on which the head policy decides more strictly than the base."),
    ("review/tier-loosening", "a change lowers a tier or opens a fail mode",
     "Reports topics whose tier is lower, or whose fail mode opens, in the head policy."),
    ("review/tier-tightening", "a change raises a tier or closes a fail mode",
     "Reports topics whose tier is higher, or whose fail mode closes, in the head policy."),
    ("review/policy-deleted", "a policy file is deleted",
     "Reports a deleted policy file: every request it decided is unknown to the gate."),
    ("review/waiver-malformed", "a waiver is malformed and covers nothing",
     "Reports a waiver that fails the schema or its checks (timestamp, pattern, limit)."),
    ("review/waiver-expired", "a waiver has expired and covers nothing",
     "Reports a waiver whose expiry is at or before the review's time."),
    ("review/waiver-unused", "a waiver covers no blocking change",
     "Reports a valid waiver that lifted nothing in this review; remove it."),
)
_LEVEL = {"blocking": "error", "waived": "warning", "advisory": "note"}


def render_review_sarif(review: Review, *, source_root: Path | None = None) -> str:
    """The review as one SARIF 2.1.0 log (JSON text)."""
    diagnostics = [f.diagnostic for f in review.findings if f.diagnostic is not None]
    log = sarif_log(diagnostics, [], source_root=source_root)
    run = log["runs"][0]
    root = Path(os.path.abspath(source_root if source_root is not None else Path.cwd()))
    rules = run["tool"]["driver"]["rules"]
    index = {rule_id: len(rules) + i for i, (rule_id, _, _) in enumerate(REVIEW_RULES)}
    rules.extend(_rule(*rule) for rule in REVIEW_RULES)
    results = run["results"]
    for finding in review.findings:
        if finding.check != "lint":
            results.append(_change_result(finding, index, root))
    problems = [*(review.waivers.problems if review.waivers else ()), *review.unused]
    results.extend(_problem_result(p, index, root) for p in problems)
    run["properties"] = {"verdict": "blocked" if review.blocked else "pass",
                         "base": {"revision": review.revision, "commit": review.commit}}
    return json.dumps(log, indent=2, ensure_ascii=False, default=str)


def _rule(rule_id: str, summary: str, what: str) -> dict[str, Any]:
    return {
        "id": rule_id,
        "name": "".join(p.capitalize() for p in rule_id.split("/")[1].split("-")),
        "shortDescription": {"text": summary},
        "fullDescription": {"text": what},
        "helpUri": INFORMATION_URI,
        "defaultConfiguration": {"level": "warning"},
        "properties": {"tags": ["policy", "review"], "precision": "very-high"},
    }


def _rule_id(finding: Finding) -> str:
    if finding.check == "deleted":
        return "review/policy-deleted"
    return f"review/{finding.check}-{finding.direction}"


def _change_result(finding: Finding, index: dict[str, int], root: Path) -> dict[str, Any]:
    rule_id = _rule_id(finding)
    span = finding.span or Span("<review>", 1, 1, 1, 1)
    result: dict[str, Any] = {
        "ruleId": rule_id,
        "ruleIndex": index[rule_id],
        "level": _LEVEL[finding.standing],
        "message": {"text": sarif_text(f"{finding.message} [{finding.level}, "
                                       f"{finding.standing}]")},
        "locations": [sarif_location(span, root)],
        "properties": {"level": str(finding.level), "status": finding.standing},
    }
    if finding.change is not None:
        result["properties"]["change"] = finding.change.to_json()
    if finding.waiver is not None:
        result["suppressions"] = [{"kind": "external", "status": "accepted",
                                   "justification": f"waiver `{finding.waiver}`"}]
    change = finding.change
    identity = (
        "|".join(str(part) for part in (change.env, change.base.decider, change.head.decider,
                                        change.base.tier, change.head.tier,
                                        change.base.fail_mode, change.head.fail_mode))
        if change is not None else finding.message
    )
    result["partialFingerprints"] = {FINGERPRINT_KEY: _hash(rule_id, span.path, identity)}
    return result


def _problem_result(problem: WaiverProblem, index: dict[str, int], root: Path) -> dict[str, Any]:
    rule_id = f"review/waiver-{problem.kind}"
    return {
        "ruleId": rule_id,
        "ruleIndex": index[rule_id],
        "level": "warning",
        "message": {"text": sarif_text(problem.message)},
        "locations": [sarif_location(problem.span, root)],
        "partialFingerprints": {
            FINGERPRINT_KEY: _hash(rule_id, problem.span.path, problem.waiver or problem.message)
        },
    }


def _hash(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]
