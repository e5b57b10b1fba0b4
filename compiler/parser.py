"""Policy text -> AST, or syntax diagnostics that say what is wrong in words.

The Lark parser is built once per process (LALR, contextual lexer, positions
propagated). On a syntax error the parser resynchronises at the next line that starts
with a statement keyword, so one run reports every broken statement, not just the
first. Messages come from ``match_examples`` over labelled bad inputs, with a
did-you-mean for misspelled keywords, never from raw token dumps.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from importlib import resources

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from dualgate.compiler import ast
from dualgate.compiler.diagnostics import Diagnostic
from dualgate.compiler.source import SourceFile, Span
from dualgate.compiler.transformer import PolicyTransformer

#: Every reserved word of the language (values can never spell one).
KEYWORDS = (
    "policy", "envs", "default_decision", "default_tier", "tier", "topics", "fail_mode",
    "rule", "when", "and", "then", "reason", "override", "until", "topic", "env", "cidr",
    "in", "not",
)
#: The words a statement can start with.
STATEMENT_KEYWORDS = (
    "policy", "envs", "default_decision", "default_tier", "tier", "rule", "override",
)
_STATEMENT_TERMINALS = frozenset(k.upper() for k in STATEMENT_KEYWORDS)
_MAX_SYNTAX_ERRORS = 20

_collected_comments: ContextVar[list[Token]] = ContextVar("collected_comments")


def _collect_comment(token: Token) -> Token:
    _collected_comments.get().append(token)
    return token


@cache
def _parser() -> Lark:
    grammar = resources.files("dualgate.compiler").joinpath("policy.lark").read_text("utf-8")
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=False,
        lexer_callbacks={"COMMENT": _collect_comment},
    )


def _parse_tree(text: str) -> Tree[Token]:
    """Parse ``text`` (comments collected into a throwaway list)."""
    token = _collected_comments.set([])
    try:
        return _parser().parse(text)
    finally:
        _collected_comments.reset(token)


def parse_policy(source: SourceFile) -> tuple[ast.PolicyFile | None, list[Diagnostic]]:
    """The AST of ``source``, or None and at least one syntax diagnostic."""
    comments: list[Token] = []
    token = _collected_comments.set(comments)
    try:
        tree = _parser().parse(source.text)
    except UnexpectedInput:
        return None, _all_syntax_errors(source)
    finally:
        _collected_comments.reset(token)
    statements = PolicyTransformer(source.path).transform(tree)
    return (
        ast.PolicyFile(
            tuple(statements),
            tuple(ast.Comment(str(c).rstrip(), _token_span(source.path, c)) for c in comments),
            source,
        ),
        [],
    )


def _token_span(path: str, token: Token) -> Span:
    assert token.line is not None and token.column is not None
    assert token.end_line is not None and token.end_column is not None
    return Span(path, token.line, token.column, token.end_line, token.end_column)


_RESYNC = re.compile(
    r"^[ \t]*(?:" + "|".join(STATEMENT_KEYWORDS) + r")(?=[\s#]|$)", re.MULTILINE
)


def _all_syntax_errors(source: SourceFile) -> list[Diagnostic]:
    """Every syntax error of ``source``: report one, blank out up to the next statement, repeat.

    Blanking keeps line breaks, so positions in the remaining text stay true.
    """
    text = source.text
    diagnostics: list[Diagnostic] = []
    while len(diagnostics) < _MAX_SYNTAX_ERRORS:
        try:
            _parse_tree(text)
            break
        except UnexpectedInput as error:
            diagnostics.append(_describe(error, source, text))
            resume_line = diagnostics[-1].span.line
            offset = _offset_of_line(text, resume_line + 1)
            match = _RESYNC.search(text, offset) if offset is not None else None
            if match is None:
                break
            text = re.sub(r"[^\n]", " ", text[: match.start()]) + text[match.start() :]
    return diagnostics


def _offset_of_line(text: str, line: int) -> int | None:
    offset = 0
    for _ in range(line - 1):
        offset = text.find("\n", offset)
        if offset < 0:
            return None
        offset += 1
    return offset


# --- Turning a Lark error into words ------------------------------------------------

_TERMINAL_WORDS = {
    "WORD": "a value",
    "STRING": "a quoted string",
    "COMMA": "`,`",
    "LPAR": "`(`",
    "RPAR": "`)`",
    "NOT": "`not`",
    "$END": "end of file",
}

# Labelled bad inputs: an error raised in the same parser state as one of these
# examples gets that label's message. `{found}` is replaced by what was found.
_EXAMPLES: dict[str, list[str]] = {
    "missing `then`: a rule ends with `then DECISION`, found {found}": [
        "rule r when topic a deny",
        "rule r when topic a and env e deny",
        "rule r when topic a",
        "rule r when topic a rule s then deny",
        "rule r deny",
        "rule r",
        "rule r rule s then deny",
    ],
    "expected a decision after `then`, found {found}": [
        "rule r then",
        "rule r when topic a then",
        "rule r then rule s then deny",
        "rule r when topic a then rule s then deny",
        'rule r when topic a then reason "x"',
        'rule r then reason "x"',
        'rule r then "x"',
    ],
    "expected a rule id after `rule`, found {found}": [
        "rule then deny",
        "rule when topic a then deny",
        "rule",
    ],
    "a condition needs at least one value, found {found}": [
        "rule r when topic then deny",
        "rule r when env then deny",
        "rule r when cidr in then deny",
        "rule r when topic not then deny",
        "rule r when env not then deny",
        "rule r when cidr not in then deny",
        "rule r when topic",
    ],
    "`cidr` conditions are written `cidr in NETWORKS` or `cidr not in NETWORKS`": [
        "rule r when cidr 10.0.0.0/8 then deny",
        "rule r when cidr not 10.0.0.0/8 then deny",
        "rule r when cidr then deny",
    ],
    "a condition starts with `topic`, `env` or `cidr`, found {found}": [
        "rule r when tpoic a then deny",
        "rule r when topic a and tpoic b then deny",
        "rule r when then deny",
        "rule r when topic a and then deny",
    ],
    "a list cannot end with a comma, found {found}": [
        "envs a,",
        "envs a, policy p",
        "rule r when topic a, then deny",
        "rule r when topic a,",
        "tier low topics a, fail_mode open",
    ],
    "`reason` takes a quoted string, found {found}": [
        "rule r then deny reason x",
        "rule r then deny reason",
        "rule r when topic a then deny reason x",
        "rule r when topic a then deny reason",
        'override tier low fail_mode open until t reason x',
        "override tier low fail_mode open until t reason",
    ],
    "a tier is written `tier NAME topics PATTERNS fail_mode MODE`, found {found}": [
        "tier low a fail_mode open",
        "tier low topics a",
        "tier low topics a rule r then deny",
        "tier topics a fail_mode open",
        "tier low fail_mode open",
        "tier low topics a fail_mode",
        "tier low topics fail_mode open",
        "tier",
    ],
    "an override is written `override tier NAME fail_mode open until TIMESTAMP "
    'reason "..."`, found {found}': [
        'override low fail_mode open until t reason "x"',
        'override tier low until t reason "x"',
        'override tier low fail_mode open reason "x"',
        "override tier low fail_mode open until t",
        'override tier fail_mode open until t reason "x"',
        'override tier low fail_mode until t reason "x"',
        'override tier low fail_mode open until reason "x"',
        "override",
    ],
    "an env is marked protected as `NAME (protected)`, found {found}": [
        "envs a (b)",
        "envs a (protected",
        "envs a (",
    ],
}


@cache
def _matcher() -> Callable[[UnexpectedInput], str | None]:
    def parse(text: str) -> Tree[Token]:
        return _parse_tree(text)

    def match(error: UnexpectedInput) -> str | None:
        label = error.match_examples(parse, _EXAMPLES, use_accepts=True)
        return str(label) if label is not None else None

    return match


@dataclass(frozen=True)
class _Found:
    description: str
    span: Span
    word: str | None  # the WORD found, when a value stands where a keyword belongs


def _found(error: UnexpectedInput, source: SourceFile, text: str) -> _Found:
    path = source.path
    if isinstance(error, UnexpectedToken):
        token = error.token
        if token.type == "$END" or token.line is None or token.column is None:
            return _Found("end of file", _end_span(source, text), None)
        span = _token_span(path, token) if token.end_column is not None else source.span_at(
            token.line, token.column
        )
        if token.type == "WORD":
            return _Found(f"`{token}`", span, str(token))
        if token.type == "STRING":
            return _Found(f"the string {token}", span, None)
        if token.type.lower() in KEYWORDS:
            return _Found(f"keyword `{token}`", span, None)
        return _Found(f"`{token}`", span, None)
    position = error.pos_in_stream or 0
    return _Found(f"`{text[position]}`", source.span_at(error.line, error.column), None)


def _end_span(source: SourceFile, text: str) -> Span:
    stripped = text.rstrip()
    if not stripped:
        return source.span_at(1, 1)
    line = stripped.count("\n") + 1
    column = len(stripped) - (stripped.rfind("\n") + 1) + 1
    return source.span_at(line, column)


def _expected(error: UnexpectedInput) -> set[str]:
    if isinstance(error, UnexpectedToken):
        return set(error.accepts or error.expected)
    if isinstance(error, UnexpectedCharacters):
        return set(error.allowed or ())
    return set()


def _describe_expected(expected: set[str]) -> str:
    words = sorted(
        _TERMINAL_WORDS.get(name, f"`{name.lower()}`")
        for name in expected
        if not name.startswith("__")
    )
    if len(words) > 5:
        return "a statement (" + ", ".join(f"`{k}`" for k in STATEMENT_KEYWORDS) + ")"
    if len(words) <= 1:
        return "".join(words) or "something else"
    return ", ".join(words[:-1]) + " or " + words[-1]


def _describe(error: UnexpectedInput, source: SourceFile, text: str) -> Diagnostic:
    """One syntax diagnostic for ``error`` raised while parsing ``text``."""
    if isinstance(error, UnexpectedCharacters) and text[error.pos_in_stream or 0] == '"':
        return _string_error(error, source, text)
    found = _found(error, source, text)
    expected = _expected(error)
    at_statement = expected >= _STATEMENT_TERMINALS

    if at_statement and found.word is not None:
        suggestion = _closest(found.word, [k.lower() for k in expected if k.lower() in KEYWORDS])
        if suggestion is not None:
            return Diagnostic.of(
                "unknown-keyword",
                f"unknown keyword `{found.word}`",
                found.span,
                help=f"did you mean `{suggestion}`?",
            )

    label = _matcher()(error)
    if label is not None:
        return Diagnostic.of(
            "syntax-error", label.format(found=found.description), found.span,
            help=f"expected {_describe_expected(expected)}",
        )
    if at_statement and found.word is not None:
        return Diagnostic.of(
            "unknown-keyword",
            f"expected a statement, found `{found.word}`",
            found.span,
            help="statements start with "
            + ", ".join(f"`{k}`" for k in STATEMENT_KEYWORDS)
            + "; values in a list are separated by commas",
        )
    return Diagnostic.of(
        "syntax-error",
        f"unexpected {found.description}",
        found.span,
        help=f"expected {_describe_expected(expected)}",
    )


def _string_error(error: UnexpectedCharacters, source: SourceFile, text: str) -> Diagnostic:
    start = error.pos_in_stream or 0
    line_end = text.find("\n", start)
    rest = text[start + 1 : line_end if line_end >= 0 else len(text)]
    span = Span(
        source.path, error.line, error.column, error.line, error.column + len(rest) + 1
    )
    if '"' not in rest.replace('\\"', ""):
        return Diagnostic.of(
            "unterminated-string",
            "string is not closed on this line",
            span,
            help='add the closing `"`; strings cannot span lines (write `\\n` for a line break)',
        )
    return Diagnostic.of(
        "syntax-error",
        "string has an invalid escape sequence",
        span,
        help='the escapes are `\\"`, `\\\\`, `\\n` and `\\t`',
    )


def _closest(word: str, candidates: list[str]) -> str | None:
    matches = difflib.get_close_matches(word, candidates, n=1, cutoff=0.7)
    return matches[0] if matches else None
