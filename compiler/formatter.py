"""AST -> canonical policy text: one layout for every way of writing the same policy.

The layout (statement order is never changed, nor any value's spelling)::

    policy NAME

    envs production (protected), staging
    default_decision deny

    tier high topics a.**, b fail_mode closed

    rule ID
      when topic a.*, b
       and env not staging
      then deny
      reason "text"

Blank lines: one between statements of different groups (header, settings, tiers,
overrides, and every rule on its own); within a group one is kept where the source had
any. Comments are placed from their spans, never dropped: a comment on its own line
goes above the next output line, one at the end of a line stays after the last element
ending on that line, one inside an element the source split over lines moves above it.
``format_policy`` re-parses its output and raises ``FormatterError`` unless it reads
back as the same statements with the same comments.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dualgate.compiler.frontend import ast
from dualgate.compiler.frontend.parser import parse_policy
from dualgate.compiler.frontend.source import SourceFile, Span

_Position = tuple[int, int]
_OneLineStatement = (
    ast.PolicyDecl | ast.EnvsDecl | ast.DefaultDecisionDecl | ast.DefaultTierDecl
    | ast.TierDecl | ast.OverrideDecl
)

_RULE_INDENT = "  "
_AND_INDENT = "   "
_TRAILING_GAP = "  "
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t"}


class FormatterError(Exception):
    """The formatted text does not read back as the input policy: a formatter bug."""


def format_policy(file: ast.PolicyFile) -> str:
    """The canonical text of ``file``; raises ``FormatterError`` if it would change meaning.

    The result ends with exactly one newline (or is empty for an empty file), and
    formatting it again gives the same text.
    """
    blocks = [_Block(_group(s), _lines(s)) for s in file.statements]
    end_comments = _attach_comments([line for b in blocks for line in b.lines], file.comments)
    text = _render(blocks, end_comments)
    check_formatting(file, text)
    return text


def check_formatting(file: ast.PolicyFile, text: str) -> None:
    """Raise ``FormatterError`` unless ``text`` parses to the statements and comments of ``file``.

    Statements are compared without spans; comments by their texts, in order.
    """
    path = file.source.path if file.source else "<formatted>"
    reparsed, diagnostics = parse_policy(SourceFile(path, text))
    if reparsed is None:
        first = diagnostics[0]
        raise FormatterError(
            f"the formatted text of `{path}` does not parse: line {first.span.line}: "
            f"{first.message}"
        )
    for before, after in zip(file.statements, reparsed.statements, strict=False):
        if before != after:
            raise FormatterError(
                f"a statement of `{path}` changed: line {before.span.line} reads back "
                f"differently from line {after.span.line}"
            )
    if len(file.statements) != len(reparsed.statements):
        raise FormatterError(
            f"`{path}` has {len(file.statements)} statements but its formatted text has "
            f"{len(reparsed.statements)}"
        )
    if [c.text for c in file.comments] != [c.text for c in reparsed.comments]:
        raise FormatterError(f"the comments of `{path}` changed")


# --- Output lines -------------------------------------------------------------------


@dataclass(frozen=True)
class _Leading:
    """A comment printed on its own line above a code line."""

    text: str
    blank_before: bool


@dataclass
class _Line:
    """One output line of code, where it came from, and the comments that go with it.

    ``gap_comments`` stood between the previous line and this one in the source;
    ``inner_comments`` stood inside this line's source text (it was split over lines).
    ``preceding_line`` is the source line of the last thing before this line's start.
    """

    indent: str
    text: str
    start: _Position
    end: _Position
    gap_comments: list[_Leading] = field(default_factory=list)
    inner_comments: list[str] = field(default_factory=list)
    trailing: str | None = None
    preceding_line: int = 0

    @property
    def blank_before(self) -> bool:
        """The source had a blank line between this line and what preceded it."""
        return self.start[0] - self.preceding_line > 1


@dataclass(frozen=True)
class _Block:
    """The output lines of one statement; ``group`` decides the blank lines around it."""

    group: str
    lines: list[_Line]


def _start(span: Span) -> _Position:
    return (span.line, span.column)


def _end(span: Span) -> _Position:
    return (span.end_line, span.end_column)


def _group(statement: ast.Statement) -> str:
    match statement:
        case ast.PolicyDecl():
            return "header"
        case ast.EnvsDecl() | ast.DefaultDecisionDecl() | ast.DefaultTierDecl():
            return "settings"
        case ast.TierDecl():
            return "tiers"
        case ast.OverrideDecl():
            return "overrides"
        case ast.RuleDecl():
            return "rule"


def _lines(statement: ast.Statement) -> list[_Line]:
    if isinstance(statement, ast.RuleDecl):
        return _rule_lines(statement)
    return [_Line("", _statement_text(statement), _start(statement.span), _end(statement.span))]


def _statement_text(statement: _OneLineStatement) -> str:
    match statement:
        case ast.PolicyDecl(name=name):
            return f"policy {name.text}"
        case ast.EnvsDecl(entries=entries):
            return "envs " + ", ".join(
                e.name.text + (" (protected)" if e.protected else "") for e in entries
            )
        case ast.DefaultDecisionDecl(decision=decision):
            return f"default_decision {decision.text}"
        case ast.DefaultTierDecl(tier=tier):
            return f"default_tier {tier.text}"
        case ast.TierDecl(name=name, topics=topics, fail_mode=fail_mode):
            return f"tier {name.text} topics {_values(topics)} fail_mode {fail_mode.text}"
        case ast.OverrideDecl(tier=tier, fail_mode=fail_mode, until=until, reason=reason):
            return (
                f"override tier {tier.text} fail_mode {fail_mode.text} until {until.text} "
                f"reason {quote(reason.value)}"
            )


def _rule_lines(rule: ast.RuleDecl) -> list[_Line]:
    lines = [_Line("", f"rule {rule.id.text}", _start(rule.span), _end(rule.id.span))]
    for index, condition in enumerate(rule.conditions):
        indent, keyword = (_RULE_INDENT, "when") if index == 0 else (_AND_INDENT, "and")
        lines.append(
            _Line(indent, f"{keyword} {_condition_text(condition)}", _start(condition.span),
                  _end(condition.span))
        )
    decision = rule.decision
    lines.append(
        _Line(_RULE_INDENT, f"then {decision.text}", _start(decision.span), _end(decision.span))
    )
    if rule.reason is not None:
        lines.append(
            _Line(_RULE_INDENT, f"reason {quote(rule.reason.value)}", _start(rule.reason.span),
                  _end(rule.reason.span))
        )
    return lines


def _condition_text(condition: ast.Condition) -> str:
    words: list[str] = [condition.attribute]
    if condition.negated:
        words.append("not")
    if condition.attribute == "cidr":
        words.append("in")
    return " ".join(words) + " " + _values(condition.values)


def _values(words: tuple[ast.Word, ...]) -> str:
    return ", ".join(w.text for w in words)


def quote(value: str) -> str:
    """``value`` as a policy string literal that decodes back to ``value``."""
    return '"' + "".join(_ESCAPES.get(c, c) for c in value) + '"'


# --- Comments -----------------------------------------------------------------------


def _attach_comments(lines: list[_Line], comments: tuple[ast.Comment, ...]) -> list[_Leading]:
    """Give every comment to the line it belongs with; returns the comments after the last.

    ``lines`` are in source order and do not overlap, so walking both lists once keeps
    the comments in their source order.
    """
    end_comments: list[_Leading] = []
    previous_end = 0
    for line in lines:
        line.preceding_line, previous_end = previous_end, line.end[0]
    index = 0
    for comment in comments:
        position = _start(comment.span)
        while index < len(lines) and lines[index].end <= position:
            index += 1
        following = lines[index] if index < len(lines) else None
        previous = lines[index - 1] if index > 0 else None
        if following is not None and following.start < position:
            following.inner_comments.append(comment.text)
        elif previous is not None and previous.end[0] == position[0]:
            previous.trailing = comment.text
        elif following is not None:
            blank = position[0] - following.preceding_line > 1
            following.gap_comments.append(_Leading(comment.text, blank))
            following.preceding_line = position[0]
        else:
            end_comments.append(_Leading(comment.text, position[0] - previous_end > 1))
            previous_end = position[0]
    return end_comments


# --- Rendering ----------------------------------------------------------------------


def _render(blocks: list[_Block], end_comments: list[_Leading]) -> str:
    """The lines of ``blocks``, then ``end_comments``, with the blank-line rules applied."""
    out: list[str] = []

    def emit(text: str, blank_before: bool) -> None:
        if blank_before and out:
            out.append("")
        out.append(text)

    previous: _Block | None = None
    for block in blocks:
        separate = previous is not None and (
            block.group != previous.group or block.group == "rule"
        )
        for number, line in enumerate(block.lines):
            # Blank lines inside a rule are dropped: a rule always reads as one unit.
            top_level = number == 0
            for comment in line.gap_comments:
                emit(line.indent + comment.text, top_level and (comment.blank_before or separate))
                separate = False
            blank = top_level and (line.blank_before or separate)
            for text in line.inner_comments:
                emit(line.indent + text, blank)
                blank = False
            trailing = _TRAILING_GAP + line.trailing if line.trailing is not None else ""
            emit(line.indent + line.text + trailing, blank)
            separate = False
        previous = block
    for comment in end_comments:
        emit(comment.text, comment.blank_before)
    return "\n".join(out) + "\n" if out else ""
