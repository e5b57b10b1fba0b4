"""The review for a terminal: the verdict, then per file its findings, blocking first."""

from __future__ import annotations

from typing import Any

from dualgate.compiler.review.replay import ReplayResult
from dualgate.compiler.review.verdict import Finding, Review

_ORDER = {"blocking": 0, "waived": 1, "advisory": 2}


def ordered(findings: tuple[Finding, ...]) -> list[Finding]:
    """Blocking, then waived, then advisory findings; each group in the review's order."""
    return sorted(findings, key=lambda f: _ORDER[f.standing])


def files_changed(count: int) -> str:
    return f"{count} policy file{'' if count == 1 else 's'} changed"


def where(finding: Finding) -> str:
    span = finding.span
    return f"{span.path}:{span.line}:{span.column}" if span else ""


def standing(finding: Finding) -> str:
    if finding.waiver is not None:
        return f"waived by `{finding.waiver}`"
    return finding.standing


def replay_line(result: ReplayResult) -> str:
    """One sentence: how many logged requests the change alters, by kind and direction."""
    return (
        f"replay: {result.changed} of {result.evaluated} logged requests change "
        f"(decision: {result.decision['loosening']} loosening, "
        f"{result.decision['tightening']} tightening; tier: {result.tier['loosening']} "
        f"loosening, {result.tier['tightening']} tightening)"
    )


def replay_example(example: dict[str, Any]) -> str:
    """One replayed request that changes, with what changes for it."""
    request, base, head = example["request"], example["base"], example["head"]
    kinds = {change["kind"] for change in example["changes"]}
    what = []
    if "decision" in kinds:
        what.append(f"{base['decision']} -> {head['decision']}")
    if "tier" in kinds:
        what.append(f"tier {base['tier']} (fails {base['fail_mode']}) -> {head['tier']} "
                    f"(fails {head['fail_mode']})")
    return (f"line {example['line']}: `{request['topic']}` in `{request['env']}`: "
            + "; ".join(what))


def render_review_text(review: Review) -> str:
    """The review as plain text, one finding per line."""
    verdict = "BLOCKED" if review.blocked else "PASS"
    lines = [f"dualgate review against `{review.revision}` ({review.commit[:12]}): {verdict}"]
    if not review.files:
        lines.append("no policy file changed")
    for file in review.files:
        name = f", policy `{file.policy}`" if file.policy else ""
        lines.append(f"{file.path} ({file.status}{name})")
        lines.extend(f"  note: {note}" for note in file.notes)
        if file.diff is not None and file.diff.equivalent:
            lines.append("  no request changes its outcome")
        for finding in ordered(file.findings):
            level = "" if finding.standing == "advisory" else f" ({finding.level})"
            lines.append(f"  {standing(finding)}{level} {where(finding)}: {finding.message}")
        if file.replay is not None:
            lines.append(f"  {replay_line(file.replay)}")
            lines.extend(f"    {replay_example(example)}" for example in file.replay.examples)
    if review.replay is not None and review.replay.bad:
        bad = review.replay.bad
        lines.append(f"replay log {review.replay.path}: {bad} bad line{'' if bad == 1 else 's'} "
                     "skipped")
        lines.extend(f"  line {b.line}: {b.message}" for b in review.replay.bad_examples)
    problems = [*(review.waivers.problems if review.waivers else ()), *review.unused]
    if review.waivers is not None:
        used = sorted({f.waiver for f in review.findings if f.waiver})
        lines.append(f"waivers {review.waivers.path}: {len(used)} used"
                     + (f" ({', '.join(f'`{u}`' for u in used)})" if used else ""))
    for problem in problems:
        lines.append(f"  {problem.span.path}:{problem.span.line}:{problem.span.column}: "
                     f"{problem.kind} waiver: {problem.message}")
    counts = {key: sum(f.standing == key for f in review.findings) for key in _ORDER}
    lines.append(f"{files_changed(len(review.files))}: {counts['blocking']} blocking, "
                 f"{counts['waived']} waived, {counts['advisory']} advisory")
    return "\n".join(lines)
