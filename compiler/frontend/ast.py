"""The AST: what the author wrote, statement by statement, with a span on every value.

Both front ends build it: ``transformer`` from the parse tree of a ``.policy`` file,
``yaml_front`` from a YAML policy. Values are kept as written (``Word``); lowering
validates them and builds the IR. Spans never take part in equality (``compare=False``),
so two ASTs are equal when they say the same thing, wherever it was written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from dualgate.compiler.frontend.source import SourceFile, Span

Attribute = Literal["topic", "env", "cidr"]


@dataclass(frozen=True)
class Word:
    """One value as written, e.g. a topic pattern, a network or a decision."""

    text: str
    span: Span = field(compare=False)


@dataclass(frozen=True)
class Comment:
    """A `#` comment; ``text`` includes the `#`."""

    text: str
    span: Span = field(compare=False)


@dataclass(frozen=True)
class PolicyDecl:
    name: Word
    span: Span = field(compare=False)


@dataclass(frozen=True)
class EnvEntry:
    name: Word
    protected: bool
    span: Span = field(compare=False)


@dataclass(frozen=True)
class EnvsDecl:
    entries: tuple[EnvEntry, ...]
    span: Span = field(compare=False)


@dataclass(frozen=True)
class DefaultDecisionDecl:
    decision: Word
    span: Span = field(compare=False)


@dataclass(frozen=True)
class DefaultTierDecl:
    tier: Word
    span: Span = field(compare=False)


@dataclass(frozen=True)
class TierDecl:
    name: Word
    topics: tuple[Word, ...]
    fail_mode: Word
    span: Span = field(compare=False)


@dataclass(frozen=True)
class Condition:
    """``topic [not] P, ...`` / ``env [not] E, ...`` / ``cidr [not] in N, ...``."""

    attribute: Attribute
    negated: bool
    values: tuple[Word, ...]
    span: Span = field(compare=False)


@dataclass(frozen=True)
class Text:
    """A quoted string, decoded."""

    value: str
    span: Span = field(compare=False)


@dataclass(frozen=True)
class RuleDecl:
    id: Word
    conditions: tuple[Condition, ...]
    decision: Word
    reason: Text | None
    span: Span = field(compare=False)


@dataclass(frozen=True)
class OverrideDecl:
    tier: Word
    fail_mode: Word
    until: Word
    reason: Text
    span: Span = field(compare=False)


Statement = (
    PolicyDecl | EnvsDecl | DefaultDecisionDecl | DefaultTierDecl | TierDecl | RuleDecl
    | OverrideDecl
)


@dataclass(frozen=True)
class PolicyFile:
    """A whole parsed policy: its statements in source order and its comments."""

    statements: tuple[Statement, ...]
    comments: tuple[Comment, ...] = field(default=(), compare=False)
    source: SourceFile | None = field(default=None, compare=False)
