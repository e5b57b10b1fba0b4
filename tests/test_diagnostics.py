"""Rendering diagnostics: order, caps, excerpts and carets, summaries."""

from __future__ import annotations

import json

import click

from dualgate.compiler.codes import CODES, Severity
from dualgate.compiler.diagnostics import (
    Diagnostic,
    Related,
    render_json,
    render_one,
    render_text,
    sort_diagnostics,
)
from dualgate.compiler.frontend.source import SourceFile, Span


def diag(path: str, line: int, column: int, name: str = "unknown-decision") -> Diagnostic:
    return Diagnostic.of(name, f"message at {line}:{column}", Span(path, line, column, line,
                                                                   column + 3))


def plain(d: Diagnostic, source: SourceFile | None) -> str:
    """The rendering with the terminal styling removed."""
    return click.unstyle(render_one(d, {source.path: source} if source else {}))


def test_sorted_by_path_line_column_and_deduplicated() -> None:
    items = [diag("b", 1, 1), diag("a", 5, 2), diag("a", 5, 1), diag("a", 1, 9), diag("a", 1, 9)]
    keys = [(d.span.path, d.span.line, d.span.column) for d in sort_diagnostics(items)]
    assert keys == [("a", 1, 9), ("a", 5, 1), ("a", 5, 2), ("b", 1, 1)]


def test_caret_underlines_the_span_and_tabs_keep_alignment() -> None:
    source = SourceFile("p.policy", "policy p\n\trule r then dny\n")
    d = Diagnostic.of(
        "unknown-decision", "unknown decision `dny`", Span("p.policy", 2, 14, 2, 17),
        help="did you mean `deny`?", related=[Related(Span("p.policy", 1, 1, 1, 2), "here")],
    )
    assert plain(d, source).splitlines() == [
        "p.policy:2:14: DG104 (unknown-decision) unknown decision `dny`",
        "  |",
        "2 |  rule r then dny",
        "  |              ^^^",
        "  = note: here (p.policy:1:1)",
        "  = help: did you mean `deny`?",
    ]


def test_multi_line_span_is_underlined_to_the_end_of_its_first_line() -> None:
    source = SourceFile("p.policy", "rule r\n  then deny\n")
    d = Diagnostic.of("duplicate-rule-id", "m", Span("p.policy", 1, 1, 2, 12))
    assert plain(d, source).splitlines()[3] == "  | ^^^^^^"


def test_no_excerpt_without_source() -> None:
    d = Diagnostic.of("unreadable-file", "cannot read", Span("x", 1, 1, 1, 1))
    assert plain(d, None) == "x:1:1: DG001 (unreadable-file) cannot read"


def test_summary_counts_severities_and_files() -> None:
    text = render_text([diag("a", 1, 1), diag("a", 2, 1)], {}, files=3)
    assert text.endswith("Found 2 errors, 0 warnings in 3 files.")
    assert render_text([], {}, files=1) == "All checks passed (1 file)."


def test_json_has_every_diagnostic_and_extra_data() -> None:
    d = Diagnostic.of(
        "duplicate-rule-id", "m", Span("a", 1, 2, 1, 3), rules=["r1", "r0"],
        witness={"topic": "a.b", "env": "dev", "cidr": None},
    )
    document = json.loads(render_json([d, diag("a", 3, 1)], files=1))
    assert len(document["diagnostics"]) == 2
    assert document["diagnostics"][0]["rules"] == ["r1", "r0"]
    assert document["diagnostics"][0]["witness"]["cidr"] is None


def test_every_code_is_documented_in_the_same_sections() -> None:
    for code in CODES.values():
        assert code.code.startswith("DG") and len(code.code) == 5
        assert code.name == code.name.lower() and " " not in code.name
        assert code.summary == code.summary.lower() or code.summary[0].islower()
        assert all((code.what, code.why, code.example, code.fix))
        assert isinstance(code.severity, Severity)
    assert len({c.name for c in CODES.values()}) == len(CODES)
