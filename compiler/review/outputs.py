"""The review's output formats, each a function from a :class:`Review` to text.

text, json, markdown, sarif, junit and github (workflow annotations). JUnit has one
suite per changed policy file with one test case per check (lint, decision, tier,
deleted: the checks that apply to the file), failing when a finding of that check blocks,
plus a ``waivers`` suite when a waiver file was given.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from dualgate.compiler.reports.annotations import Annotation, AnnotationLevel, render_annotations
from dualgate.compiler.reports.junit import JUnitCase, JUnitSuite, render_junit
from dualgate.compiler.reports.review_markdown import render_review_markdown
from dualgate.compiler.reports.review_sarif import render_review_sarif
from dualgate.compiler.reports.review_text import render_review_text
from dualgate.compiler.review.verdict import Check, FileReview, Finding, Review

_ANNOTATION: dict[str, AnnotationLevel] = {
    "blocking": "error", "waived": "warning", "advisory": "notice",
}


def render_json(review: Review) -> str:
    return json.dumps(review.to_json(), indent=2, ensure_ascii=False)


def render_github(review: Review) -> str:
    """One annotation per finding and waiver problem (blocking findings are errors)."""
    annotations = [_annotation(f) for f in review.findings]
    problems = [*(review.waivers.problems if review.waivers else ()), *review.unused]
    annotations.extend(
        Annotation("warning", p.message, f"dualgate review: {p.kind} waiver", p.span.path,
                   p.span.line, p.span.column)
        for p in problems
    )
    return render_annotations(annotations)


def _annotation(finding: Finding) -> Annotation:
    span = finding.span
    title = f"dualgate review: {finding.check} ({finding.level}, {finding.standing})"
    if finding.waiver is not None:
        title += f" by waiver {finding.waiver}"
    return Annotation(
        _ANNOTATION[finding.standing], finding.message, title,
        span.path if span else None, span.line if span else None,
        span.column if span else None, span.end_line if span else None,
        span.end_column if span and span.end_line == span.line else None,
    )


def render_review_junit(review: Review) -> str:
    suites = [_suite(file) for file in review.files]
    if review.waivers is not None:
        problems = [*review.waivers.problems, *review.unused]
        suites.append(JUnitSuite("waivers", tuple(
            JUnitCase(p.waiver or f"line {p.span.line}", "dualgate.review.waivers",
                      skipped=f"{p.kind}: {p.message}", file=p.span.path, line=p.span.line)
            for p in problems
        ) or (JUnitCase("waivers", "dualgate.review.waivers", file=review.waivers.path),)))
    return render_junit(suites, name="dualgate review")


def _checks(file: FileReview) -> tuple[Check, ...]:
    if file.status == "deleted":
        return ("deleted",)
    return ("lint", "decision", "tier")


def _suite(file: FileReview) -> JUnitSuite:
    cases = []
    for check in _checks(file):
        findings = [f for f in file.findings if f.check == check]
        blocking = [f for f in findings if f.standing == "blocking"]
        details = "\n".join(
            f"{f.standing} [{f.level}] "
            f"{f.span.path + ':' + str(f.span.line) + ': ' if f.span else ''}{f.message}"
            for f in findings
        )
        failure = None
        if blocking:
            failure = (f"{len(blocking)} blocking: {blocking[0].message}" if len(blocking) == 1
                       else f"{len(blocking)} blocking findings, first: {blocking[0].message}")
        skipped = ("not diffed: " + "; ".join(file.notes)
                   if check in ("decision", "tier") and file.diff is None else None)
        cases.append(JUnitCase(check, f"dualgate.review.{file.path}", failure=failure,
                               details=details, skipped=skipped, file=file.path,
                               line=blocking[0].span.line if blocking and blocking[0].span
                               else None))
    return JUnitSuite(file.path, tuple(cases))


FORMATS: dict[str, Callable[[Review], str]] = {
    "text": render_review_text,
    "json": render_json,
    "markdown": render_review_markdown,
    "sarif": render_review_sarif,
    "junit": render_review_junit,
    "github": render_github,
}
