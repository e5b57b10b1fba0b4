"""Properties of raising and formatting over random valid policies.

IR -> AST -> text -> AST -> IR is the identity; formatting is idempotent; and whatever
whitespace, line breaks and comments surround the tokens, the formatter keeps every
comment in order and the meaning of every statement.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

from dualgate.compiler import ir
from dualgate.compiler.formatter import format_policy, quote
from dualgate.compiler.frontend import ast
from dualgate.compiler.frontend.lowering import lower
from dualgate.compiler.frontend.parser import parse_policy
from dualgate.compiler.frontend.source import SourceFile
from dualgate.compiler.frontend.transformer import decode_string
from dualgate.compiler.raising import raise_policy
from tests.profiles import examples
from tests.strategies import policies, texts

# Tokens of formatted text; a string is one token whatever it holds.
_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|[,()]|[^ \n,#"()]+')
_PUNCTUATION = frozenset(",()")
_SEPARATORS = ("", " ", "  ", "\t", "\n", "\n\n", " \n\t ", "\r\n", "\n\n\n  ", "\f")
_COMMENT_TEXTS = st.builds(
    "#".__add__,
    st.text(
        alphabet=st.one_of(
            st.sampled_from('#"\\ \t\r,()'),
            st.characters(codec="utf-8", exclude_characters="\n\x00"),
        ),
        max_size=12,
    ),
)


def parse(text: str) -> ast.PolicyFile:
    file, diagnostics = parse_policy(SourceFile("<property>", text))
    assert file is not None, [d.message for d in diagnostics]
    return file


def comment_texts(file: ast.PolicyFile) -> list[str]:
    return [c.text for c in file.comments]


def tokens(text: str) -> list[str]:
    """The tokens of comment-free ``text``; fails if anything but spaces and breaks is skipped."""
    found = list(_TOKEN.finditer(text))
    skipped = _TOKEN.sub("", text)
    assert set(skipped) <= {" ", "\n"}, repr(skipped)
    return [m.group() for m in found]


@st.composite
def messy_layouts(draw: st.DrawFn, text: str) -> tuple[str, list[str]]:
    """``text`` with random whitespace between its tokens and comments in random gaps.

    Returns the new text and the comments it holds, in order, as the parser reports them.
    """
    words = tokens(text)
    gaps = len(words) + 1
    separators = draw(st.lists(st.sampled_from(_SEPARATORS), min_size=gaps, max_size=gaps))
    placed = draw(st.lists(
        st.tuples(st.integers(min_value=0, max_value=gaps - 1), _COMMENT_TEXTS), max_size=8
    ))
    placed.sort(key=lambda item: item[0])
    out: list[str] = []
    for gap in range(gaps):
        between = separators[gap]
        for at, comment in placed:
            if at == gap:
                between += comment + "\n" + draw(st.sampled_from(("", " ", "\t  ")))
        needs_space = 0 < gap < len(words) and not (
            words[gap - 1] in _PUNCTUATION or words[gap] in _PUNCTUATION
        )
        if needs_space and not between:
            between = " "
        out.append(between)
        if gap < len(words):
            out.append(words[gap])
    messy = "".join(out)
    if draw(st.booleans()):
        messy = messy.replace("\r\n", "\n").replace("\n", "\r\n")
    return messy, [comment.rstrip() for _, comment in placed]


@settings(max_examples=examples(200), deadline=None)
@given(policies())
def test_printed_ir_reads_back_as_the_same_ir_and_formats_to_itself(policy: ir.Policy) -> None:
    text = format_policy(raise_policy(policy))
    source = parse(text)
    lowered, diagnostics = lower(source)
    assert lowered is not None, [d.message for d in diagnostics]
    assert not [d for d in diagnostics if d.is_error]
    assert lowered == policy
    assert format_policy(source) == text


@settings(max_examples=examples(200), deadline=None)
@given(st.data(), policies(max_rules=4))
def test_comments_and_meaning_survive_any_layout(data: st.DataObject, policy: ir.Policy) -> None:
    raised = raise_policy(policy)
    messy, comments = data.draw(messy_layouts(format_policy(raised)))
    source = parse(messy)
    assert source.statements == raised.statements
    assert comment_texts(source) == comments

    formatted = format_policy(source)
    again = parse(formatted)
    assert again.statements == raised.statements
    assert comment_texts(again) == comments
    assert format_policy(again) == formatted
    assert "\r\n" not in formatted and formatted.endswith("\n")
    assert not formatted.startswith("\n") and "\n\n\n" not in formatted


@given(texts())
def test_quoted_strings_decode_to_their_value(value: str) -> None:
    assert decode_string(quote(value)) == value


def _has_condition(policy: ir.Policy, wanted: Callable[[ir.Condition], bool]) -> bool:
    return any(wanted(c) for rule in policy.rules for c in rule.conditions)


@pytest.mark.parametrize(
    ("feature", "example"),
    [
        ("protected env", lambda p: any(e.protected for e in p.envs)),
        ("no envs, some rules", lambda p: not p.envs and len(p.rules) >= 2),
        ("negated env condition", lambda p: _has_condition(
            p, lambda c: isinstance(c, ir.EnvCondition) and c.negated)),
        ("`**` inside a pattern", lambda p: _has_condition(
            p, lambda c: isinstance(c, ir.TopicCondition)
            and any("**" in pattern.segments[1:-1] for pattern in c.patterns))),
        ("nested IPv6 networks", lambda p: _has_condition(
            p, lambda c: isinstance(c, ir.CidrCondition) and any(
                a.version == b.version == 6 and a != b and a.subnet_of(b)  # type: ignore[arg-type]
                for a in c.networks for b in c.networks))),
        ("two conditions on one attribute", lambda p: any(
            len({c.attribute for c in r.conditions}) < len(r.conditions) for r in p.rules)),
        ("reason with a quote and a backslash", lambda p: any(
            r.reason and '"' in r.reason and "\\" in r.reason for r in p.rules)),
        ("override with an offset and microseconds", lambda p: any(
            o.until.utcoffset() and o.until.microsecond for o in p.overrides)),
        ("all three tiers", lambda p: len(p.tiers) == 3),
    ],
)
def test_policies_reach_the_interesting_cases(
    feature: str, example: Callable[[ir.Policy], bool]
) -> None:
    # Generation only: shrinking the example found would cost seconds and prove nothing.
    quick = settings(
        max_examples=examples(1000), database=None, phases=[Phase.generate], derandomize=True
    )
    assert example(find(policies(), example, settings=quick)), feature
