"""The review as Markdown, for a pull-request comment and ``$GITHUB_STEP_SUMMARY``.

Guarantee: the document is at most ``limit`` bytes of UTF-8 (1 MiB by default, GitHub's
limit for a job summary); a longer one is cut at a line boundary and ends with a note
saying so. Text from policies is escaped for table cells (``|``, ``<``, line breaks).
"""

from __future__ import annotations

from dualgate.compiler.reports.review_text import (
    files_changed,
    ordered,
    replay_example,
    replay_line,
    standing,
    where,
)
from dualgate.compiler.review.verdict import Review

LIMIT = 1024 * 1024
_ICON = {"blocking": "❌", "waived": "⚠️", "advisory": "ℹ️"}  # noqa: RUF001
_CUT_NOTE = ("\n\n**The report was cut here to stay under {limit} bytes** ({shown} of {total} "
             "lines shown); the JSON and SARIF outputs hold all of it.\n")


def cell(text: str) -> str:
    """``text`` safe inside a Markdown table cell."""
    return (text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")
            .replace("\r", " ").replace("\n", " "))


def render_review_markdown(review: Review, limit: int = LIMIT) -> str:
    """The review as Markdown of at most ``limit`` bytes (see the module docstring)."""
    return cap(_lines(review), limit)


def _lines(review: Review) -> list[str]:
    verdict = "❌ blocked" if review.blocked else "✅ pass"
    counts = {key: sum(f.standing == key for f in review.findings)
              for key in ("blocking", "waived", "advisory")}
    lines = [
        f"## dualgate review: {verdict}",
        "",
        f"Against `{cell(review.revision)}` ({review.commit[:12]}): "
        f"{files_changed(len(review.files))}, {counts['blocking']} blocking, "
        f"{counts['waived']} waived, {counts['advisory']} advisory.",
    ]
    for file in review.files:
        name = f" (policy `{cell(file.policy)}`)" if file.policy else ""
        lines += ["", f"### `{cell(file.path)}`: {file.status}{name}", ""]
        lines.extend(f"> {cell(note)}" for note in file.notes)
        if file.diff is not None and file.diff.equivalent and not file.findings:
            lines.append("No request changes its outcome.")
        if file.findings:
            lines += ["| | Status | Level | Check | Finding | Location |",
                      "|---|---|---|---|---|---|"]
            for finding in ordered(file.findings):
                lines.append(
                    f"| {_ICON[finding.standing]} | {cell(standing(finding))} | {finding.level} "
                    f"| {finding.check} | {cell(finding.message)} | `{cell(where(finding))}` |"
                )
        if file.replay is not None:
            lines += ["", cell(replay_line(file.replay))]
            lines.extend(f"- {cell(replay_example(e))}" for e in file.replay.examples)
    problems = [*(review.waivers.problems if review.waivers else ()), *review.unused]
    if review.waivers is not None or problems:
        lines += ["", "### Waivers", ""]
        used = sorted({f.waiver for f in review.findings if f.waiver})
        lines.append(f"{len(used)} used" + (": " + ", ".join(f"`{cell(u)}`" for u in used)
                                            if used else "") + ".")
        for problem in problems:
            lines.append(f"- {problem.kind}: {cell(problem.message)} "
                         f"(`{cell(problem.span.path)}:{problem.span.line}`)")
    if review.replay is not None:
        log = review.replay
        lines += ["", f"Replay log `{cell(log.path)}`: {len(log.requests)} requests, "
                      f"{log.bad} bad line{'' if log.bad == 1 else 's'}."]
    return lines


def cap(lines: list[str], limit: int) -> str:
    """``lines`` joined, cut at a line boundary with a note when longer than ``limit`` bytes."""
    text = "\n".join(lines) + "\n"
    if len(text.encode()) <= limit:
        return text
    total = len(lines)
    kept: list[str] = []
    size = 0
    # The note's own size, with the widest numbers it can hold.
    reserve = len(_CUT_NOTE.format(limit=limit, shown=total, total=total).encode())
    for line in lines:
        grown = size + len(line.encode()) + 1
        if grown + reserve > limit:
            break
        kept.append(line)
        size = grown
    return "\n".join(kept) + _CUT_NOTE.format(limit=limit, shown=len(kept), total=total)
