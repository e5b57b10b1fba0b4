"""The results of a test run as text, JSON and JUnit suites.

Text shows one line per test file, every failing case with expected against actual and
the ``--explain`` trace of the answer, the coverage when asked, and closes with
``N passed, M failed`` alone on the last line. JSON holds every case; JUnit goes through
the shared writer (``compiler/reports/junit.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dualgate.compiler.diagnostics import suggest
from dualgate.compiler.reports.explanation import explanation_text
from dualgate.compiler.reports.junit import JUnitCase, JUnitSuite
from dualgate.compiler.testing.case_coverage import PolicyCoverage
from dualgate.compiler.testing.model import OUTCOME_KEYS
from dualgate.compiler.testing.runner import CaseResult, FileRun

#: How many uncovered regions the text lists per policy (JSON lists them all).
SHOWN_REGIONS = 10


def summary(runs: Sequence[FileRun]) -> tuple[int, int]:
    """(passed, failed) over every case of ``runs``."""
    failed = sum(run.failed for run in runs)
    return sum(len(run.results) for run in runs) - failed, failed


def summary_line(runs: Sequence[FileRun]) -> str:
    passed, failed = summary(runs)
    return f"{passed} passed, {failed} failed"


def outcome_text(values: dict[str, str | None]) -> str:
    """``decision deny, rule r, ...`` for the keys ``values`` has, in OUTCOME_KEYS order."""
    return ", ".join(f"{key} {_shown(values[key])}" for key in OUTCOME_KEYS if key in values)


def failure_text(run: FileRun, result: CaseResult) -> str:
    """A failing case: where it is, its request, expected against actual, and why."""
    case = result.case
    where = f"{case.span.path}:{case.span.line}:{case.span.column}"
    source = f" (source {case.source})" if case.source else ""
    request = case.request
    why = explanation_text(run.bundle, result.explanation,
                           (request.topic, request.env, request.cidr))
    lines = [
        f"FAIL {where} {case.name}{source}",
        f"  request   {request}",
        f"  expected  {outcome_text(case.expect)}",
        f"  actual    {outcome_text(result.actual.to_json())}",
        "  why       " + why.replace("\n", "\n            "),
    ]
    expected_rule = case.expect.get("rule")
    rules = [rule.id for rule in run.policy.rules]
    if "rule" in result.mismatched and expected_rule is not None \
            and expected_rule not in rules:
        hint = suggest(expected_rule, rules)
        lines.insert(4, f"  note      the policy has no rule `{expected_rule}`"
                     + (f"; {hint}" if hint else ""))
    return "\n".join(lines)


def file_line(run: FileRun) -> str:
    passed = len(run.results) - run.failed
    counts = f"{passed} passed" + (f", {run.failed} failed" if run.failed else "")
    return f"{'FAIL' if run.failed else 'ok  '} {run.file.path}: {counts} ({run.file.policy_path})"


def coverage_text(coverage: PolicyCoverage) -> str:
    """The coverage of one policy: rules, default, tier x decision and regions."""
    rules = (f"{len(coverage.covered_rules)}/{len(coverage.rules)} "
             f"({coverage.percent('rules'):.1f}%)")
    if coverage.uncovered_rules:
        rules += "; uncovered: " + ", ".join(coverage.uncovered_rules)
    rules += "; default " + ("exercised" if coverage.default_exercised else "not exercised")
    pairs, done = coverage.combinations, set(coverage.exercised_combinations)
    missing = [f"{tier} {decision}" for tier, decision in pairs if (tier, decision) not in done]
    combos = f"{len(done)}/{len(pairs)}" + ("; not exercised: " + ", ".join(missing)
                                           if missing else "")
    lines = [
        f"coverage of {coverage.policy} ({', '.join(coverage.files)})",
        f"  rules            {rules}",
        f"  tier x decision  {combos}",
        f"  regions          {len(coverage.covered_regions)}/{len(coverage.regions)} "
        f"({coverage.percent('regions'):.1f}%)",
    ]
    uncovered = coverage.uncovered_regions
    if uncovered:
        lines.append("  uncovered regions, each with a request to paste as a case:")
        for region in uncovered[:SHOWN_REGIONS]:
            env = "undeclared env" if region.env is None and region.reason == "unknown-env" \
                else (region.env or "any env")
            why = region.rule or region.reason
            witness = region.witness
            cidr = "" if witness.cidr is None else f", cidr: {witness.cidr}"
            lines.append(
                f"    {env:<14} {why:<36} {region.tier:<6} {region.decision:<13} "
                f"{{topic: {witness.topic}, env: {witness.env}{cidr}}}"
            )
        if len(uncovered) > SHOWN_REGIONS:
            lines.append(f"    ... and {len(uncovered) - SHOWN_REGIONS} more "
                         "(--format json lists them all)")
    return "\n".join(lines)


def render_text(runs: Sequence[FileRun], coverages: Sequence[PolicyCoverage] = (),
                notes: Sequence[str] = ()) -> str:
    """The whole run as text, ending with the ``N passed, M failed`` line."""
    blocks = ["\n".join(file_line(run) for run in runs)]
    blocks += [failure_text(run, r) for run in runs for r in run.results if not r.passed]
    blocks += [coverage_text(c) for c in coverages]
    if notes:
        blocks.append("\n".join(notes))
    blocks.append(summary_line(runs))
    return "\n\n".join(block for block in blocks if block)


def to_json(runs: Sequence[FileRun], coverages: Sequence[PolicyCoverage] | None = None,
            thresholds: dict[str, Any] | None = None) -> dict[str, Any]:
    """The whole run as a JSON document (``coverage`` is null unless it was measured)."""
    passed, failed = summary(runs)
    document: dict[str, Any] = {
        "files": [
            {"path": run.file.path, "policy": run.file.policy_path,
             "cases": [_case_json(r) for r in run.results]}
            for run in runs
        ],
        "summary": {"passed": passed, "failed": failed},
        "coverage": None,
    }
    if coverages is not None:
        document["coverage"] = {"policies": [c.to_json() for c in coverages],
                                **(thresholds or {})}
    return document


def _case_json(result: CaseResult) -> dict[str, Any]:
    case = result.case
    return {
        "name": case.name,
        "passed": result.passed,
        "request": case.request.to_json(),
        "expected": dict(case.expect),
        "actual": result.actual.to_json(),
        "mismatched": list(result.mismatched),
        "source": case.source,
        "location": {"path": case.span.path, "line": case.span.line,
                     "column": case.span.column},
    }


def junit_suites(runs: Sequence[FileRun]) -> list[JUnitSuite]:
    """One suite per test file, one JUnit case per case, failures with the full text."""
    return [
        JUnitSuite(run.file.path, tuple(
            JUnitCase(
                r.case.name, run.policy.name,
                failure=None if r.passed else _failure_message(r),
                details="" if r.passed else failure_text(run, r),
                file=r.case.span.path, line=r.case.span.line,
            )
            for r in run.results
        ))
        for run in runs
    ]


def _failure_message(result: CaseResult) -> str:
    actual = result.actual.to_json()
    return "; ".join(
        f"expected {key} {_shown(result.case.expect[key])}, got {_shown(actual[key])}"
        for key in result.mismatched
    )


def _shown(value: str | None) -> str:
    return "null" if value is None else f"`{value}`"
