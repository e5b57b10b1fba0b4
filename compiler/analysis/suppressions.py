"""Suppression comments: ``# dualgate: ignore[DG204, tier-overlap] reason``.

A suppression is attached to the statement it stands on (a comment at the end of one
of the statement's lines) or directly above (on its own line, with only comment lines
between it and the statement). It suppresses the findings with the named codes whose
location lies within that statement. The reason is required: a suppression without one,
or with an unknown or unsuppressible code, suppresses nothing and is reported as
``invalid-suppression``; a named code that suppresses nothing is ``unused-suppression``.

A conflict (``conflicting-rules``) is about a pair of rules, so a suppression on either
rule of the pair covers it: one comment on a guard rule that deliberately comes before
the rules it overlaps covers all of those conflicts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dualgate.compiler.analysis.selection import SUPPRESSIBLE
from dualgate.compiler.codes import Code, lookup
from dualgate.compiler.diagnostics import Diagnostic, shown, suggest
from dualgate.compiler.frontend import ast
from dualgate.compiler.frontend.source import SourceFile, Span

_DIRECTIVE = re.compile(r"#\s*dualgate\s*:", re.IGNORECASE)
_IGNORE = re.compile(
    r"#\s*dualgate\s*:\s*(?P<verb>[A-Za-z_-]*)\s*(?:\[(?P<codes>[^\]]*)\])?(?P<reason>.*)$",
    re.IGNORECASE,
)
_EXAMPLE = "`# dualgate: ignore[DG204] reason`"


@dataclass(frozen=True)
class Suppression:
    """A valid suppression: its codes, its reason, the comment and the statement it covers."""

    codes: tuple[Code, ...]
    reason: str
    comment: Span
    statement: Span

    def covers(self, diagnostic: Diagnostic) -> bool:
        if diagnostic.code not in self.codes:
            return False
        places = [diagnostic.span]
        if diagnostic.code.name == "conflicting-rules":
            places.extend(r.span for r in diagnostic.related)
        return any(self._contains(span) for span in places)

    def _contains(self, span: Span) -> bool:
        statement = self.statement
        return (span.path == statement.path
                and (statement.line, statement.column) <= (span.line, span.column)
                < (statement.end_line, statement.end_column))

    def to_json(self) -> dict[str, object]:
        return {"codes": [c.code for c in self.codes], "reason": self.reason,
                "line": self.comment.line, "column": self.comment.column}


@dataclass(frozen=True)
class Suppressed:
    """A finding and the suppression that hid it."""

    diagnostic: Diagnostic
    suppression: Suppression

    def to_json(self) -> dict[str, object]:
        return {**self.diagnostic.to_json(), "suppression": self.suppression.to_json()}


def read_suppressions(
    file: ast.PolicyFile, source: SourceFile,
) -> tuple[list[Suppression], list[Diagnostic]]:
    """The suppressions in ``file``'s comments, and diagnostics for the invalid ones."""
    statements = sorted((s.span for s in file.statements), key=lambda s: (s.line, s.column))
    comment_lines = {c.span.line for c in file.comments
                     if _own_line(source, c.span)}
    suppressions: list[Suppression] = []
    problems: list[Diagnostic] = []
    for comment in file.comments:
        if not _DIRECTIVE.match(comment.text):
            continue
        result = _parse(comment)
        if isinstance(result, Diagnostic):
            problems.append(result)
            continue
        codes, reason = result
        statement = _statement_of(comment.span, source, statements, comment_lines)
        if statement is None:
            problems.append(_invalid(
                comment, "the suppression is attached to no statement",
                "put it on its own line directly above the statement, or at the end of one "
                "of the statement's lines",
            ))
            continue
        suppressions.append(Suppression(codes, reason, comment.span, statement))
    return suppressions, problems


def _parse(comment: ast.Comment) -> tuple[tuple[Code, ...], str] | Diagnostic:
    match = _IGNORE.match(comment.text)
    assert match is not None  # the pattern accepts anything after `# dualgate:`
    verb, codes_text, reason = match["verb"], match["codes"], match["reason"].strip()
    if verb.lower() != "ignore":
        hint = suggest(verb.lower(), ["ignore"]) if verb else None
        return _invalid(comment, f"unknown suppression directive `{shown(verb)}`"
                        if verb else "the suppression names no directive",
                        hint or f"write {_EXAMPLE}")
    if codes_text is None:
        return _invalid(comment, "the suppression names no codes", f"write {_EXAMPLE}")
    items = [item.strip() for item in codes_text.split(",")]
    codes: list[Code] = []
    for item in items:
        code = lookup(item) if item else None
        if code is None:
            return _invalid(comment, f"`{shown(item)}` is no diagnostic code"
                            if item else "the suppression has an empty code",
                            "name codes such as `DG204` or names such as `conflicting-rules`")
        if code not in SUPPRESSIBLE:
            return _invalid(comment, f"{code.code} ({code.name}) cannot be suppressed",
                            "only analysis findings (DG2xx, DG3xx) can be suppressed; fix "
                            "the policy instead")
        codes.append(code)
    if not reason:
        return _invalid(comment, "the suppression gives no reason",
                        "say why after the codes: " + _EXAMPLE)
    return tuple(dict.fromkeys(codes)), reason


def _invalid(comment: ast.Comment, message: str, help: str) -> Diagnostic:
    return Diagnostic.of("invalid-suppression", message, comment.span, help=help)


def _own_line(source: SourceFile, span: Span) -> bool:
    before = (source.line_text(span.line) or "")[: span.column - 1]
    return not before.strip()


def _statement_of(
    comment: Span, source: SourceFile, statements: Sequence[Span], comment_lines: set[int],
) -> Span | None:
    """The statement a suppression comment belongs to, if any.

    Among the statements on the comment's line (or, for a comment on its own line, the
    next line that is not a comment), the one that starts last: a YAML list item's span
    runs up to the next item, which starts on that same line.
    """
    line = comment.line
    if _own_line(source, comment):
        line += 1
        while line in comment_lines:
            line += 1
    containing = [s for s in statements if s.line <= line <= s.end_line]
    return max(containing, key=lambda s: (s.line, s.column)) if containing else None


def apply_suppressions(
    diagnostics: Iterable[Diagnostic],
    suppressions: Sequence[Suppression],
    selected: frozenset[Code],
) -> tuple[list[Diagnostic], list[Suppressed]]:
    """Split findings into kept and suppressed, and report selected codes suppressing nothing."""
    kept: list[Diagnostic] = []
    suppressed: list[Suppressed] = []
    used: set[tuple[int, Code]] = set()
    for diagnostic in diagnostics:
        hits = [i for i, s in enumerate(suppressions) if s.covers(diagnostic)]
        if not hits:
            kept.append(diagnostic)
            continue
        used.update((hit, diagnostic.code) for hit in hits)
        suppressed.append(Suppressed(diagnostic, suppressions[hits[0]]))
    for index, suppression in enumerate(suppressions):
        for code in suppression.codes:
            if code in selected and (index, code) not in used:
                kept.append(Diagnostic.of(
                    "unused-suppression",
                    f"{code.code} ({code.name}) suppresses nothing here", suppression.comment,
                    help="remove the code from the comment, or the whole comment",
                ))
    return kept, suppressed
