"""Diagnostics: coded findings with a location, and their text and JSON renderings.

Text follows the ruff/rustc shape people already read:

    policies/infra.policy:7:12: DG101 (undeclared-env) env `prod` is not declared
      |
    7 |   when env prod
      |            ^^^^
      = help: did you mean `production`?

Lists are sorted by location; the text rendering is capped ("... and N more").
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import click

from dualgate.compiler.codes import CODES_BY_NAME, Code, Severity
from dualgate.compiler.frontend.source import SourceFile, Span

__all__ = ["Diagnostic", "Related", "Severity", "render_json", "render_text", "sort_diagnostics"]


def suggest(word: str, candidates: Iterable[str]) -> str | None:
    """``did you mean `X`?`` for the closest candidate, or None when nothing is close.

    An abbreviation (`prod` for `production`) counts as close when only one candidate
    starts with it.
    """
    pool = list(candidates)
    prefixed = [c for c in pool if c.startswith(word) and len(word) >= 3]
    matches = prefixed if len(prefixed) == 1 else difflib.get_close_matches(word, pool, 1, 0.6)
    return f"did you mean `{matches[0]}`?" if matches else None


#: Characters of a user's value a message echoes; longer values are cut with an ellipsis.
VALUE_WIDTH = 80
#: Characters of a whole message built from user input (see ``Diagnostic.of`` callers).
MESSAGE_WIDTH = 400
#: Columns of a source line an excerpt shows, around the caret.
EXCERPT_WIDTH = 120
ELLIPSIS = "…"


def shown(text: str, width: int = VALUE_WIDTH) -> str:
    """``text`` fit for a one-line message: invisible and control characters escaped,
    and cut to ``width`` characters with an ellipsis.

    User input can hold anything (a tab in a YAML string, a NUL, a line separator, a
    megabyte on one line); a message that printed it raw could break the one-line format,
    hide the fault or flood the output.
    """
    if len(text) > width:
        text = text[:width]
        cut = True
    else:
        cut = False
    escaped = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    if cut or len(escaped) > width:
        return escaped[:width - 1] + ELLIPSIS
    return escaped


@dataclass(frozen=True)
class Related:
    """A secondary location that explains a diagnostic (an earlier rule, a first use)."""

    span: Span
    message: str


@dataclass(frozen=True)
class Diagnostic:
    """One finding: a registered code, a one-line lowercase message and where it is."""

    code: Code
    message: str
    span: Span
    help: str | None = None
    related: tuple[Related, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
    #: The finding's severity when it differs from the code's default.
    level: Severity | None = None

    @classmethod
    def of(
        cls,
        name: str,
        message: str,
        span: Span,
        help: str | None = None,
        related: Iterable[Related] = (),
        *,
        severity: Severity | None = None,
        **data: Any,
    ) -> Diagnostic:
        """Build a diagnostic for the code registered as ``name`` (a kebab-case name)."""
        return cls(CODES_BY_NAME[name], message, span, help, tuple(related), data, severity)

    @property
    def severity(self) -> Severity:
        return self.level or self.code.severity

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple[str, int, int, str, str]:
        s = self.span
        return (s.path, s.line, s.column, self.code.code, self.message)

    def to_json(self) -> dict[str, Any]:
        """The machine form: stable keys, documented in the README."""
        s = self.span
        out: dict[str, Any] = {
            "code": self.code.code,
            "name": self.code.name,
            "severity": str(self.severity),
            "message": self.message,
            "path": s.path,
            "line": s.line,
            "column": s.column,
            "end_line": s.end_line,
            "end_column": s.end_column,
            "help": self.help,
            "related": [
                {"path": r.span.path, "line": r.span.line, "column": r.span.column,
                 "message": r.message}
                for r in self.related
            ],
        }
        out.update(self.data)
        return out


def sort_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Diagnostics ordered by file, line, column and code, without duplicates."""
    unique = {(d.sort_key(), d.help): d for d in diagnostics}
    return [unique[key] for key in sorted(unique)]


_SEVERITY_COLOR = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def _excerpt(span: Span, source: SourceFile | None, color: str) -> list[str]:
    """The source line of ``span`` with a caret underline, or nothing without a source."""
    line_text = source.line_text(span.line) if source else None
    if line_text is None:
        return []
    text = line_text.replace("\t", " ")
    end = span.end_column if span.end_line == span.line else len(text) + 1
    width = max(1, min(end, len(text) + 1) - span.column)
    column = span.column
    if len(text) > EXCERPT_WIDTH:
        # A window of the line around the caret, so that a long line (a whole policy on
        # one line) gives a short excerpt: a third of it before the caret.
        start = max(0, min(column - 1 - EXCERPT_WIDTH // 3, len(text) - EXCERPT_WIDTH))
        stop = start + EXCERPT_WIDTH
        head = ELLIPSIS if start > 0 else ""
        text = head + text[start:stop] + (ELLIPSIS if stop < len(text) else "")
        column = column - start + len(head)
        width = max(1, min(width, EXCERPT_WIDTH - (column - 1 - len(head))))
    gutter = " " * len(str(span.line))
    caret = " " * (column - 1) + "^" * width
    shown = text
    return [
        f"{gutter} |",
        f"{span.line} | {shown}",
        f"{gutter} | " + click.style(caret, fg=color, bold=True),
    ]


def render_one(diagnostic: Diagnostic, sources: Mapping[str, SourceFile]) -> str:
    """The text form of one diagnostic: header line, excerpt, related notes, help."""
    s = diagnostic.span
    color = _SEVERITY_COLOR[diagnostic.severity]
    header = (
        click.style(f"{s.path}:{s.line}:{s.column}:", bold=True)
        + " "
        + click.style(diagnostic.code.code, fg=color, bold=True)
        + f" ({diagnostic.code.name}) {diagnostic.message}"
    )
    lines = [header, *_excerpt(s, sources.get(s.path), color)]
    # `=` lines up with the gutter's `|`, which moves right with the line number's width.
    indent = " " * (len(str(s.line)) + 1)
    for related in diagnostic.related:
        r = related.span
        lines.append(f"{indent}= note: {related.message} ({r.path}:{r.line}:{r.column})")
    if diagnostic.help:
        lines.append(click.style(f"{indent}= help: ", bold=True) + diagnostic.help)
    return "\n".join(lines)


def summarize(diagnostics: Sequence[Diagnostic]) -> dict[str, int]:
    """Counts by severity."""
    counts = {str(level): 0 for level in Severity}
    for d in diagnostics:
        counts[str(d.severity)] += 1
    return {"errors": counts["error"], "warnings": counts["warning"], "infos": counts["info"]}


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def render_text(
    diagnostics: Sequence[Diagnostic],
    sources: Mapping[str, SourceFile],
    *,
    files: int,
    limit: int | None = None,
    suppressed: int = 0,
    hidden: Mapping[Severity, int] | None = None,
) -> str:
    """All diagnostics as text (sorted, at most ``limit``), then a one-line summary.

    The summary also counts findings hidden by suppression comments (``suppressed``) and
    by the severity threshold (``hidden``, per severity).
    """
    ordered = sort_diagnostics(diagnostics)
    shown = ordered if limit is None else ordered[:limit]
    blocks = [render_one(d, sources) for d in shown]
    if len(ordered) > len(shown):
        blocks.append(f"... and {len(ordered) - len(shown)} more (error limit reached)")
    counts = summarize(ordered)
    notes = [f"{suppressed} suppressed"] if suppressed else []
    for level, count in (hidden or {}).items():
        if count:
            notes.append(f"{_plural(count, str(level))} hidden, --min-severity {level} shows "
                         f"{'it' if count == 1 else 'them'}")
    if not ordered:
        summary = f"All checks passed ({'; '.join([_plural(files, 'file'), *notes])})."
    else:
        parts = [_plural(counts["errors"], "error"), _plural(counts["warnings"], "warning")]
        if counts["infos"]:
            parts.append(_plural(counts["infos"], "info"))
        tail = f" ({'; '.join(notes)})" if notes else ""
        summary = f"Found {', '.join(parts)} in {_plural(files, 'file')}{tail}."
    return "\n\n".join([*blocks, summary]) if blocks else summary


def render_json(
    diagnostics: Sequence[Diagnostic],
    *,
    files: int,
    suppressed: Sequence[Mapping[str, Any]] | None = None,
    hidden: Mapping[Severity, int] | None = None,
) -> str:
    """All diagnostics (uncapped) as one JSON document with a summary.

    ``suppressed`` holds the JSON of findings hidden by suppression comments (each with
    its ``suppression``); ``hidden`` counts findings below the severity threshold.
    """
    ordered = sort_diagnostics(diagnostics)
    document: dict[str, Any] = {
        "diagnostics": [d.to_json() for d in ordered],
        "suppressed": list(suppressed or ()),
        "summary": {
            "files": files, **summarize(ordered), "suppressed": len(suppressed or ()),
            "hidden": sum((hidden or {}).values()),
        },
    }
    return json.dumps(document, indent=2, ensure_ascii=False)
