"""Policy text -> AST, or syntax diagnostics that say what is wrong in words.

The Lark parser is built once per process (LALR, positions propagated). It uses
Lark's basic lexer: keywords are reserved, so no token needs the parser's context, and
a keyword glued to a word (`policyfoo`) stays one word instead of splitting.

On a syntax error the parser resynchronises at the next statement keyword, so one run
reports every broken statement, not just the first. Messages come from labelled bad
inputs matched by parser state (the idea of Lark's ``match_examples``, which crashes on
some states in lark 1.3 and also compares stack depth, so an example only matched at
the nesting level it was written at), with a did-you-mean for misspelled keywords,
never from raw token dumps.

Lark is imported only when the direct reader refuses a text (a syntax error, or a
construct it does not read): `lint` of a valid policy, in every pre-commit hook, never
pays for importing it. The functions that need its classes at run time import them.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from dualgate.compiler.diagnostics import Diagnostic, shown
from dualgate.compiler.frontend import ast
from dualgate.compiler.frontend.direct_parser import parse_well_formed
from dualgate.compiler.frontend.keywords import KEYWORDS, STATEMENT_KEYWORDS
from dualgate.compiler.frontend.source import SourceFile, Span
from dualgate.runtime.vocabulary import DECISION_ALIASES

if TYPE_CHECKING:
    from lark import Lark, Token, Tree
    from lark.exceptions import UnexpectedCharacters, UnexpectedInput

_STATEMENT_TERMINALS = frozenset(k.upper() for k in STATEMENT_KEYWORDS)
_MAX_SYNTAX_ERRORS = 20

_collected_comments: ContextVar[list[Token]] = ContextVar("collected_comments")


def _collect_comment(token: Token) -> Token:
    _collected_comments.get().append(token)
    return token


@cache
def _parser() -> Lark:
    from lark import Lark

    # Beside this module (package data): read directly, as importlib.resources would
    # cost a pre-commit hook's `lint` more than the parse of a small policy.
    grammar = Path(__file__).with_name("policy.lark").read_text("utf-8")
    return Lark(
        grammar,
        parser="lalr",
        lexer="basic",
        propagate_positions=True,
        maybe_placeholders=False,
        lexer_callbacks={"COMMENT": _collect_comment},
        cache=_parser_cache(grammar),
    )


def _parser_cache(grammar: str) -> str | bool:
    """Where Lark keeps the parse tables it built for ``grammar`` (False: build them).

    Building them is most of a small `dualgate lint`'s start-up, and loading them is
    ~30 times faster. Lark checks the file against a hash of the grammar, its options,
    its own version and Python's, and builds afresh on any mismatch or unreadable file;
    the file name also carries the grammar's hash and lark's version, so installations
    with different grammars do not overwrite each other. The cache is a pickle, so it is
    used only in the user's own cache directory (``$XDG_CACHE_HOME/dualgate``, else
    ``~/.cache/dualgate``), made private, and only when that directory and the file are
    the user's and writable by nobody else; otherwise, or when it cannot be created,
    nothing is cached.
    """
    import hashlib
    import os
    import stat

    import lark

    try:
        root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        directory = Path(root) / "dualgate"
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        digest = hashlib.sha256(grammar.encode("utf-8")).hexdigest()[:16]
        path = directory / f"lark-{lark.__version__}-{digest}.cache"
        for checked in (directory, path):
            if checked is path and not path.exists():
                break
            info = checked.lstat()
            if (info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
                    or stat.S_ISLNK(info.st_mode)):
                return False
    except (OSError, RuntimeError):  # RuntimeError: no home directory
        return False
    return str(path)


def _parse_tree(text: str) -> Tree[Token]:
    """Parse ``text`` (comments collected into a throwaway list)."""
    token = _collected_comments.set([])
    try:
        return _parser().parse(text)
    finally:
        _collected_comments.reset(token)


def parse_policy(source: SourceFile) -> tuple[ast.PolicyFile | None, list[Diagnostic]]:
    """The AST of ``source``, or None and at least one syntax diagnostic.

    A well-formed policy is read by ``direct_parser`` (the same AST, several times
    faster); Lark parses only what that reader refuses, and words its errors.
    """
    direct = parse_well_formed(source)
    if direct is not None:
        return direct, []
    from lark.exceptions import UnexpectedInput

    from dualgate.compiler.frontend.transformer import PolicyTransformer

    comments: list[Token] = []
    token = _collected_comments.set(comments)
    try:
        tree = _parser().parse(source.text)
    except UnexpectedInput as error:
        return None, _all_syntax_errors(source, error)
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


# Where parsing may resume: a statement keyword at the start of a line, or an unindented
# word that looks like a misspelled one (`rul`), which is then reported instead of skipped.
_RESYNC = re.compile(
    r"^(?:[ \t]*(?P<keyword>" + "|".join(STATEMENT_KEYWORDS) + r")(?=[\s#]|$)"
    r"|(?P<word>[^\s#,\"()]+))",
    re.MULTILINE,
)


def _all_syntax_errors(source: SourceFile, first: UnexpectedInput) -> list[Diagnostic]:
    """Every syntax error of ``source``, starting from ``first`` (the error already met).

    Report one, blank out the text up to the next statement, parse again, repeat.
    Blanking keeps line breaks, so positions in the remaining text stay true.
    """
    text = source.text
    error: UnexpectedInput | None = first
    diagnostics: list[Diagnostic] = []
    while error is not None and len(diagnostics) < _MAX_SYNTAX_ERRORS:
        diagnostics.append(_describe(error, source, text))
        resume = _resume_offset(error, text)
        if resume is None:
            break
        text = re.sub(r"[^\n]", " ", text[:resume]) + text[resume:]
        error = _parse_error(text)
    return diagnostics


def _parse_error(text: str) -> UnexpectedInput | None:
    """The syntax error parsing ``text`` raises, or None when it parses."""
    from lark.exceptions import UnexpectedInput

    try:
        _parse_tree(text)
    except UnexpectedInput as error:
        return error
    return None


def _resume_offset(error: UnexpectedInput, text: str) -> int | None:
    """Where parsing resumes after ``error``: the next statement start, or None.

    The keyword the parser stumbled on may itself start the next statement (a rule
    missing its `then` followed by the next rule), so a keyword at the error counts; an
    misspelled keyword counts only on a later line, so the same error is never met twice.
    """
    from lark.exceptions import UnexpectedToken

    if isinstance(error, UnexpectedToken) and error.token.type == "$END":
        return None
    offset = error.pos_in_stream or 0
    next_line = text.find("\n", offset) + 1
    for match in _RESYNC.finditer(text, text.rfind("\n", 0, offset) + 1):
        if match.group("keyword") is not None and match.start("keyword") >= offset:
            return match.start("keyword")
        word = match.group("word")
        if (
            word is not None and next_line and match.start() >= next_line
            and word not in KEYWORDS and _closest(word, list(STATEMENT_KEYWORDS)) is not None
        ):
            return match.start()
    return None


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

_DECISIONS_HELP = "a decision is `allow`, `deny`, `require_human` or `throttle`"
_MISSING_THEN = "expected `then DECISION`, found {found}"
_TRAILING_COMMA = "a list cannot end with a comma"
_REASON_FIRST = "`reason` comes after the decision"
_NOT_FIRST = "`not` comes after the attribute, as in `topic not PATTERNS`"
_BARE_PROTECTED = "`protected` is written in parentheses after the env name"
#: Labels that say what one particular token means; they fit only errors on that token.
_TOKEN_LABELS = frozenset({_REASON_FIRST, _NOT_FIRST, _BARE_PROTECTED})

# Labelled bad inputs: an error raised in the same parser state as one of these
# examples gets that label's message, where `{found}` names what was found. A rule
# with a `when` clause and one without go through different states, and so do the
# first item of a list and a later one: mistakes that can happen in both have an
# example of each.
_EXAMPLES: dict[str, list[str]] = {
    _MISSING_THEN: [
        "rule r deny",
        "rule r",
        "rule r rule s then deny",
        "rule r when topic a deny",
        "rule r when topic a",
        "rule r when topic a rule s then deny",
        "rule r when topic a and env e deny",
        "rule r when topic a, b deny",
    ],
    _REASON_FIRST: [
        'rule r reason "x" then deny',
        'rule r when topic a reason "x" then deny',
    ],
    _NOT_FIRST: [
        "rule r when not topic a then deny",
        "rule r when topic a and not env b then deny",
    ],
    _BARE_PROTECTED: [
        "envs a protected",
        "envs a, b protected",
    ],
    "expected a decision after `then`, found {found}": [
        "rule r then",
        "rule r then rule s then deny",
        'rule r then reason "x"',
        'rule r then "x"',
        "rule r when topic a then",
        "rule r when topic a then rule s then deny",
        'rule r when topic a then reason "x"',
        'rule r when topic a then "x"',
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
    ],
    "`cidr` needs `in` or `not in` before its networks, found {found}": [
        "rule r when cidr 10.0.0.0/8 then deny",
        "rule r when cidr not 10.0.0.0/8 then deny",
    ],
    "a condition starts with `topic`, `env` or `cidr`, found {found}": [
        "rule r when then deny",
        "rule r when topic a and then deny",
    ],
    # The comma after the first list item and after a later one are different states.
    _TRAILING_COMMA: [
        "envs a,",
        "envs a, b,",
        "rule r when topic a, then deny",
        "rule r when topic a, b, then deny",
    ],
    "`reason` takes a quoted string, found {found}": [
        "rule r then deny reason x",
        "rule r then deny reason",
        "override tier low fail_mode open until t reason x",
        "override tier low fail_mode open until t reason",
    ],
    "a tier is written `tier NAME topics PATTERNS fail_mode MODE`, found {found}": [
        "tier low a fail_mode open",
        "tier low topics a",
        "tier low topics a rule r then deny",
        "tier low topics a, b rule r then deny",
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
    "expected a policy name after `policy`, found {found}": [
        "policy",
        "policy envs a",
    ],
    "expected an env name after `envs`, found {found}": [
        "envs",
        "envs rule r then deny",
    ],
    "expected a decision after `default_decision`, found {found}": [
        "default_decision",
        "default_decision rule r then deny",
    ],
    "expected a tier after `default_tier`, found {found}": [
        "default_tier",
        "default_tier rule r then deny",
    ],
}

# Help for labels whose fix is clearer in words than as the list of expected tokens.
_LABEL_HELP = {
    _REASON_FIRST: 'write `then DECISION reason "..."`',
    _NOT_FIRST: "write `topic not ...`, `env not ...` or `cidr not in ...`",
    _BARE_PROTECTED: "write `NAME (protected)`",
    "expected a decision after `then`, found {found}": _DECISIONS_HELP,
    "expected a rule id after `rule`, found {found}":
        "write `rule ID`, e.g. `rule deny-prod-delete`",
    "a condition needs at least one value, found {found}":
        "list the values after the keyword, e.g. `topic infra.**` or "
        "`env production, staging`",
    "`cidr` needs `in` or `not in` before its networks, found {found}":
        "write `cidr in 10.0.0.0/8` or `cidr not in 10.0.0.0/8`",
    "a condition starts with `topic`, `env` or `cidr`, found {found}":
        "write conditions such as `topic infra.**`, `env production` or "
        "`cidr in 10.0.0.0/8`, joined by `and`",
    _TRAILING_COMMA: "remove the `,` or add a value after it",
    "`reason` takes a quoted string, found {found}": 'write the reason in double quotes',
    "an env is marked protected as `NAME (protected)`, found {found}":
        "write `(protected)` right after the env name",
    "expected a policy name after `policy`, found {found}": "start the file with `policy NAME`",
    "expected an env name after `envs`, found {found}":
        "list the env names, e.g. `envs production, staging`",
    "expected a decision after `default_decision`, found {found}": _DECISIONS_HELP,
    "expected a tier after `default_tier`, found {found}": "a tier is `high`, `medium` or `low`",
}


@dataclass(frozen=True)
class _Example:
    label: str
    state: int
    accepts: frozenset[str]
    token_type: str | None


def _state(error: UnexpectedInput) -> int | None:
    """The LALR state ``error`` was raised in (lark's ``ParserState.position``)."""
    position = getattr(error.state, "position", None)
    return position if isinstance(position, int) else None


def _token_type(error: UnexpectedInput) -> str | None:
    from lark.exceptions import UnexpectedToken

    return error.token.type if isinstance(error, UnexpectedToken) else None


@cache
def _labelled_examples() -> tuple[_Example, ...]:
    """The parser state each example of ``_EXAMPLES`` fails in."""
    from lark.exceptions import UnexpectedInput

    examples: list[_Example] = []
    for label, texts in _EXAMPLES.items():
        for text in texts:
            try:
                _parse_tree(text)
            except UnexpectedInput as error:
                state = _state(error)
                if state is not None:
                    examples.append(_Example(
                        label, state, frozenset(_expected(error)), _token_type(error)
                    ))
    return tuple(examples)


def _label(error: UnexpectedInput) -> str | None:
    """The label of the example that failed like ``error``, preferring the same token type.

    Unlike lark's ``match_examples`` this compares the LALR state alone, not the stack
    depth, so an example written without a `policy` line matches the same mistake
    after one; and it parses the examples once, not once per error.
    """
    state = _state(error)
    accepts = frozenset(_expected(error))
    same_state = [
        e for e in _labelled_examples() if e.state == state and e.accepts == accepts
    ]
    same_token = [e for e in same_state if e.token_type == _token_type(error)]
    matches = same_token or [e for e in same_state if e.label not in _TOKEN_LABELS]
    return matches[0].label if matches else None


@dataclass(frozen=True)
class _Found:
    description: str
    span: Span
    word: str | None  # a WORD or keyword, when one stands where the parser expected more


def _found(error: UnexpectedInput, source: SourceFile) -> _Found:
    from lark.exceptions import UnexpectedToken

    if not isinstance(error, UnexpectedToken):
        return _Found("end of file", source.end_span(), None)
    token = error.token
    if token.line is None or token.column is None:
        return _Found("end of file", source.span_at(1, 1), None)
    if token.type == "$END":
        # `$END` borrows the position of the last token; point just past it.
        line, column = token.end_line or token.line, token.end_column or token.column
        return _Found("end of file", source.span_at(line, column), None)
    span = _token_span(source.path, token)
    if token.type == "WORD":
        return _Found(f"`{shown(str(token))}`", span, str(token))
    if token.type == "STRING":
        return _Found("a quoted string", span, None)
    if str(token) in KEYWORDS:
        return _Found(f"keyword `{token}`", span, str(token))
    return _Found(f"`{shown(str(token))}`", span, None)


def _expected(error: UnexpectedInput) -> set[str]:
    from lark.exceptions import UnexpectedCharacters, UnexpectedToken

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
    from lark.exceptions import UnexpectedCharacters, UnexpectedToken

    if isinstance(error, UnexpectedCharacters):
        return _character_error(error, source, text)
    found = _found(error, source)
    expected = _expected(error)

    if found.word is not None:
        keywords = sorted(k.lower() for k in expected if k.lower() in KEYWORDS)
        if found.word in KEYWORDS:
            # A keyword in the wrong place: only its singular/plural twin is a likely slip
            # (`env` for `envs`); anything else is better explained by the labels.
            twin = next((k for k in keywords if found.word in (k + "s", k[:-1])), None)
            if twin is not None:
                return Diagnostic.of(
                    "syntax-error", f"keyword `{found.word}` does not belong here",
                    found.span, help=f"did you mean `{twin}`?",
                )
        elif (suggestion := _closest(found.word, keywords)) is not None:
            return Diagnostic.of(
                "unknown-keyword", f"unknown keyword `{shown(found.word)}`", found.span,
                help=f"did you mean `{suggestion}`?",
            )

    if found.word == "or" and "AND" in expected:
        return Diagnostic.of(
            "syntax-error", "conditions are joined with `and`; there is no `or`", found.span,
            help="list alternatives as values (`topic a, b`) or write one rule for each",
        )
    if isinstance(error, UnexpectedToken) and error.token.type == "STRING" and (
        "REASON" in expected
    ):
        return Diagnostic.of(
            "syntax-error", "missing `reason` before the string", found.span,
            help='write `reason "..."`',
        )
    label = _label(error)
    if label is not None:
        span = found.span
        help = _LABEL_HELP.get(label) or f"expected {_describe_expected(expected)}"
        if label == _TRAILING_COMMA:
            span = _last_comma_span(error, source) or span
        elif label == _MISSING_THEN and found.word in DECISION_ALIASES:
            help = f"write `then {found.word}`"
        return Diagnostic.of(
            "syntax-error", label.format(found=found.description), span, help=help
        )
    if expected >= _STATEMENT_TERMINALS and found.word not in (None, *KEYWORDS):
        return Diagnostic.of(
            "unknown-keyword",
            f"expected a statement, found {found.description}",
            found.span,
            help="statements start with "
            + ", ".join(f"`{k}`" for k in STATEMENT_KEYWORDS)
            + "; values in a list are separated by commas",
        )
    return Diagnostic.of(
        "syntax-error",
        f"unexpected {found.description.removeprefix('a ')}",
        found.span,
        help=f"expected {_describe_expected(expected)}",
    )


def _last_comma_span(error: UnexpectedInput, source: SourceFile) -> Span | None:
    """The span of the `,` the parser read last, when that is what it read last."""
    from lark import Token

    parser = getattr(error, "interactive_parser", None)
    stack = getattr(getattr(parser, "parser_state", None), "value_stack", None)
    last = stack[-1] if stack else None
    if isinstance(last, Token) and last.type == "COMMA":
        return _token_span(source.path, last)
    return None


_ESCAPED = frozenset({'"', "\\", "n", "t"})


def _character_error(error: UnexpectedCharacters, source: SourceFile, text: str) -> Diagnostic:
    """A character no token can start with: a broken string or an unusual space."""
    start = error.pos_in_stream or 0
    span = source.span_at(error.line, error.column)
    if text[start] != '"':
        char = text[start]
        name = unicodedata.name(char, "control character").lower()
        return Diagnostic.of(
            "syntax-error", f"unexpected character U+{ord(char):04X} ({name})", span,
            help="separate words with plain spaces, tabs or line breaks",
        )
    line_end = text.find("\n", start)
    rest = text[start + 1 : line_end if line_end >= 0 else len(text)]
    position = 0
    while position < len(rest) and rest[position] != '"':
        escape = rest[position : position + 2]
        # A backslash that ends the line is part of an unterminated string, not an escape.
        if escape[0] == "\\" and len(escape) == 2 and escape[1] not in _ESCAPED:
            column = error.column + 1 + position
            return Diagnostic.of(
                "syntax-error", f"invalid escape sequence `{shown(escape)}` in a string",
                Span(source.path, error.line, column, error.line, column + len(escape)),
                help='the escapes are `\\"`, `\\\\`, `\\n` and `\\t`; '
                "write `\\\\` for a backslash",
            )
        position += 2 if rest[position] == "\\" else 1
    return Diagnostic.of(
        "unterminated-string",
        "string is not closed on this line",
        Span(source.path, error.line, error.column, error.line, error.column + len(rest) + 1),
        help='add the closing `"`; strings cannot span lines (write `\\n` for a line break)',
    )


def _closest(word: str, candidates: list[str]) -> str | None:
    """The keyword ``word`` most likely misspells; case is ignored (`RULE` for `rule`)."""
    matches = difflib.get_close_matches(word.lower(), candidates, n=1, cutoff=0.7)
    return matches[0] if matches else None
