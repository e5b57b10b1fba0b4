"""The direct parser builds exactly what Lark and the transformer build, or refuses.

For any text, ``parse_well_formed`` must return None exactly when Lark's parser rejects
the text, and otherwise the same statements and comments with the same spans (AST
equality ignores spans, so they are compared here field by field). Texts come from a
token soup biased toward the DSL, and from well-formed policies with random layout,
each then broken (or not) by one token edit.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from lark.exceptions import UnexpectedInput

from dualgate.compiler.frontend import ast
from dualgate.compiler.frontend.direct_parser import (
    COMMENT_PATTERN,
    LINE_BLANKS,
    STRING_PATTERN,
    WORD_CHARACTERS,
    WORD_PATTERN,
    parse_well_formed,
)
from dualgate.compiler.frontend.keywords import KEYWORDS
from dualgate.compiler.frontend.parser import _collected_comments, _parser, parse_policy
from dualgate.compiler.frontend.source import SourceFile
from dualgate.compiler.frontend.transformer import PolicyTransformer
from tests.profiles import examples

PATH = "p.policy"


def everything(node: Any) -> Any:
    """``node`` as nested tuples of every field, spans included (the source left out)."""
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return (type(node).__name__, *(
            everything(getattr(node, f.name))
            for f in dataclasses.fields(node) if f.name != "source"
        ))
    if isinstance(node, tuple | list):
        return tuple(everything(item) for item in node)
    return node


def by_lark(text: str) -> ast.PolicyFile | None:
    """What Lark and the transformer make of ``text``, or None when Lark rejects it."""
    comments: list[Any] = []
    token = _collected_comments.set(comments)
    try:
        tree = _parser().parse(text)
    except UnexpectedInput:
        return None
    finally:
        _collected_comments.reset(token)
    transformer = PolicyTransformer(PATH)
    return ast.PolicyFile(
        tuple(transformer.transform(tree)),
        tuple(ast.Comment(str(c).rstrip(), transformer._token_span(c)) for c in comments),
    )


def agrees(text: str) -> None:
    expected = by_lark(text)
    direct = parse_well_formed(SourceFile(PATH, text))
    if expected is None:
        assert direct is None, text
    else:
        assert direct is not None, text
        assert everything(direct.statements) == everything(expected.statements), text
        assert everything(direct.comments) == everything(expected.comments), text


def test_the_patterns_are_the_grammars() -> None:
    # Lark stores the grammar's `\n` escape as the character itself.
    patterns = {t.name: t.pattern.value.replace("\n", "\\n") for t in _parser().terminals}
    assert patterns["WORD"] == WORD_PATTERN
    assert patterns["STRING"] == STRING_PATTERN
    assert patterns["COMMENT"] == COMMENT_PATTERN
    # The blanks of a line are the ignored characters but the line break.
    ignored = re.compile(next(t.pattern.value for t in _parser().terminals
                              if t.name.startswith("__IGNORE")))
    line_blank = re.compile(f"[{LINE_BLANKS}]")
    for char in map(chr, range(0x3001)):
        assert bool(ignored.fullmatch(char)) == (char == "\n" or bool(line_blank.match(char)))
    keywords = {t.pattern.value for t in _parser().terminals if t.pattern.value.isidentifier()}
    assert keywords == set(KEYWORDS)


@given(st.sampled_from(KEYWORDS) | st.text(alphabet="abcdefilnoprstuvwy_.-*", min_size=1,
                                            max_size=12))
@settings(max_examples=examples(300), deadline=None)
def test_a_run_of_word_characters_is_a_word_unless_it_is_a_keyword(run: str) -> None:
    """The lexer matches a run of WORD's characters and looks keywords up in a set; the
    grammar's WORD (its keyword lookahead) takes exactly the runs that are no keyword."""
    assert re.fullmatch(WORD_CHARACTERS, run)
    for follower in ("", " ", ",", "#", "(", '"'):
        word = re.match(WORD_PATTERN, run + follower)
        assert (word is not None and word[0] == run) is (run not in KEYWORDS)


EVERY_STATEMENT = """\
# leading comment\r
policy infra   # trailing\t
envs production (protected), staging,dev ( protected )
default_decision deny
default_tier medium
tier high topics infra.**, a.b fail_mode closed
rule r1 then allow
rule r2 when topic not a.*, b and env not production and cidr not in 10.0.0.0/8, ::/0
  then deny reason "a \\"quoted\\" \\\\ \\n \\t reason"
rule r3
when cidr in 10.0.0.0/8 then throttle reason ""
override tier high fail_mode open until 2026-12-01T00:00:00Z reason "drill"
# é 😀 last
"""


def test_every_construct_as_lark_builds_it() -> None:
    agrees(EVERY_STATEMENT)
    assert parse_well_formed(SourceFile(PATH, EVERY_STATEMENT)) is not None


def test_parse_policy_takes_the_direct_path_and_keeps_the_source() -> None:
    source = SourceFile(PATH, EVERY_STATEMENT)
    file, diagnostics = parse_policy(source)
    assert diagnostics == [] and file is not None and file.source is source
    assert everything(file) == everything(parse_well_formed(source))


def test_edge_texts() -> None:
    for text in (
        "", "\n", "   \r\n\f", "# only", "policyfoo", "policy policyx", "policy a(",
        "envs a(protected)", "envs a(protected", "rule r when topic a, then deny",
        "rule r then deny reason x", 'rule r then deny reason "\\q"', "rule r then deny\v",
        "policy a\u00a0", "policy in", "policy inx", "policy topics", "rule r when topics a",
        'policy "x"', "rule r when cidr not 1 then deny", "tier t topics a fail_mode",
        "override tier t fail_mode open until u reason", "rule r then deny, x",
    ):
        agrees(text)


_PIECES = (
    *KEYWORDS, "a", "b.c", "infra.**", "x-y_1", "policyfoo", "in", "inx", "10.0.0.0/8",
    ",", "(", ")", "(protected)", '"', '"x"', '"a\\"b"', '"\\q"', "\\", "#", "# c\n",
    " ", "  ", "\n", "\t", "\r", "\r\n", "\f", "\v", "é", "😀", "\u00a0", "\u2028",
)


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(st.sampled_from(_PIECES) | st.text(max_size=2), max_size=30))
def test_random_token_soup(pieces: list[str]) -> None:
    agrees("".join(pieces))


_BLANK = st.sampled_from([" ", "  ", "\t", "\n", "\n  ", " \r\n", "\f", " # note\n"])
_WORDS = st.sampled_from(["a", "b.c", "infra.**", "10.0.0.0/8", "deny", "x-1", "é.😀"])
_STRINGS = st.sampled_from(['"x"', '""', '"a \\"b\\" \\\\ \\n"'])


@st.composite
def _statement(draw: st.DrawFn) -> list[str]:
    def values() -> list[str]:
        items = draw(st.lists(_WORDS, min_size=1, max_size=3))
        return [piece for item in items for piece in (item, ",")][:-1]

    kind = draw(st.sampled_from(["policy", "envs", "dd", "dt", "tier", "rule", "override"]))
    if kind == "policy":
        return ["policy", draw(_WORDS)]
    if kind == "envs":
        entries = [[draw(_WORDS), *(["(", "protected", ")"] if draw(st.booleans()) else [])]
                   for _ in range(draw(st.integers(1, 3)))]
        return ["envs", *[p for e in entries for p in (*e, ",")][:-1]]
    if kind in ("dd", "dt"):
        return ["default_decision" if kind == "dd" else "default_tier", draw(_WORDS)]
    if kind == "tier":
        return ["tier", draw(_WORDS), "topics", *values(), "fail_mode", draw(_WORDS)]
    if kind == "override":
        return ["override", "tier", draw(_WORDS), "fail_mode", draw(_WORDS), "until",
                draw(_WORDS), "reason", draw(_STRINGS)]
    conditions: list[str] = []
    for index in range(draw(st.integers(0, 3))):
        attribute = draw(st.sampled_from(["topic", "env", "cidr"]))
        conditions += ["when" if index == 0 else "and", attribute]
        conditions += ["not"] if draw(st.booleans()) else []
        conditions += ["in"] if attribute == "cidr" else []
        conditions += values()
    reason = ["reason", draw(_STRINGS)] if draw(st.booleans()) else []
    return ["rule", draw(_WORDS), *conditions, "then", draw(_WORDS), *reason]


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(_statement(), max_size=5), st.data())
def test_well_formed_policies_and_one_token_edits(
    statements: list[list[str]], data: st.DataObject,
) -> None:
    tokens = [token for statement in statements for token in statement]
    edit = data.draw(st.sampled_from(["none", "drop", "duplicate", "insert"]))
    if tokens and edit != "none":
        at = data.draw(st.integers(0, len(tokens) - 1))
        if edit == "drop":
            del tokens[at]
        elif edit == "duplicate":
            tokens.insert(at, tokens[at])
        else:
            tokens.insert(at, data.draw(st.sampled_from(_PIECES)))
    text = "".join(token + data.draw(_BLANK) for token in tokens)
    agrees(text)
