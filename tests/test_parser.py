"""Parsing: policy text to AST (shapes, comments, spans) and syntax errors in words."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from dualgate.compiler.diagnostics import Diagnostic
from dualgate.compiler.frontend import ast
from dualgate.compiler.frontend.keywords import KEYWORDS
from dualgate.compiler.frontend.parser import (
    _EXAMPLES,
    _LABEL_HELP,
    _MAX_SYNTAX_ERRORS,
    _parser,
    parse_policy,
)
from dualgate.compiler.frontend.source import SourceFile, Span
from dualgate.compiler.frontend.transformer import _RULES

PATH = "p.policy"
# AST equality ignores spans, so expected nodes can all share this one.
NOWHERE = Span(PATH, 1, 1, 1, 1)


def parse(text: str) -> ast.PolicyFile:
    file, diagnostics = parse_policy(SourceFile(PATH, text))
    assert diagnostics == []
    assert file is not None
    return file


def syntax_errors(text: str) -> list[Diagnostic]:
    file, diagnostics = parse_policy(SourceFile(PATH, text))
    assert file is None and diagnostics
    return diagnostics


def first_error(text: str) -> tuple[int, int, str, str, str | None]:
    d = syntax_errors(text)[0]
    return d.span.line, d.span.column, d.code.code, d.message, d.help


def w(text: str) -> ast.Word:
    return ast.Word(text, NOWHERE)


def words(*texts: str) -> tuple[ast.Word, ...]:
    return tuple(w(t) for t in texts)


# --- the AST -------------------------------------------------------------------------

EVERY_STATEMENT = """\
policy infra
envs production (protected), staging, dev
default_decision require_approval
default_tier low
tier high topics infra.resource.delete, payments.** fail_mode closed
rule everything then allow
rule public-ingress
  when topic infra.security_group.update, infra.*.create
   and topic not infra.x.create
   and env production and env not dev
   and cidr in 0.0.0.0/0, ::/0 and cidr not in 10.0.0.0/8
  then deny
  reason "public \\"ingress\\" \\\\ \\n\\t# not a comment"
override tier medium fail_mode open until 2026-12-01T00:00:00Z reason "INC-4512"
"""


def test_every_construct_parses_to_its_ast() -> None:
    assert parse(EVERY_STATEMENT).statements == (
        ast.PolicyDecl(w("infra"), NOWHERE),
        ast.EnvsDecl((
            ast.EnvEntry(w("production"), True, NOWHERE),
            ast.EnvEntry(w("staging"), False, NOWHERE),
            ast.EnvEntry(w("dev"), False, NOWHERE),
        ), NOWHERE),
        ast.DefaultDecisionDecl(w("require_approval"), NOWHERE),
        ast.DefaultTierDecl(w("low"), NOWHERE),
        ast.TierDecl(w("high"), words("infra.resource.delete", "payments.**"), w("closed"),
                     NOWHERE),
        ast.RuleDecl(w("everything"), (), w("allow"), None, NOWHERE),
        ast.RuleDecl(
            w("public-ingress"),
            (
                ast.Condition("topic", False, words("infra.security_group.update",
                                                    "infra.*.create"), NOWHERE),
                ast.Condition("topic", True, words("infra.x.create"), NOWHERE),
                ast.Condition("env", False, words("production"), NOWHERE),
                ast.Condition("env", True, words("dev"), NOWHERE),
                ast.Condition("cidr", False, words("0.0.0.0/0", "::/0"), NOWHERE),
                ast.Condition("cidr", True, words("10.0.0.0/8"), NOWHERE),
            ),
            w("deny"),
            ast.Text('public "ingress" \\ \n\t# not a comment', NOWHERE),
            NOWHERE,
        ),
        ast.OverrideDecl(w("medium"), w("open"), w("2026-12-01T00:00:00Z"),
                         ast.Text("INC-4512", NOWHERE), NOWHERE),
    )


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment", "  \t\n# a\n# b\n"])
def test_nothing_but_blanks_and_comments_is_an_empty_policy(text: str) -> None:
    assert parse(text).statements == ()


def test_layout_is_free_statements_may_span_lines() -> None:
    one_line = parse("rule r when topic a, b and env e then deny reason \"x\"")
    spread = parse('rule\n r\n\twhen topic a ,\n b\n and\n env e\n then\n deny\n reason\n "x"\n')
    assert one_line.statements == spread.statements
    assert parse("policy p rule r then deny").statements == parse(
        "policy p\nrule r then deny"
    ).statements


def test_words_that_start_with_a_keyword_are_values() -> None:
    [rule] = parse("rule r when topic policy.read, in-x, notx, envs2 then deny").statements
    assert isinstance(rule, ast.RuleDecl)
    assert rule.conditions[0].values == words("policy.read", "in-x", "notx", "envs2")


def test_comments_are_collected_with_their_spans() -> None:
    file = parse('policy p  # the name\n# a whole line\nrule r then deny reason "#x" #end')
    assert [(c.text, c.span) for c in file.comments] == [
        ("# the name", Span(PATH, 1, 11, 1, 21)),
        ("# a whole line", Span(PATH, 2, 1, 2, 15)),
        ("#end", Span(PATH, 3, 30, 3, 34)),
    ]


def test_trailing_whitespace_is_not_part_of_a_comment() -> None:
    assert [c.text for c in parse("# a \t\r\npolicy p").comments] == ["# a"]


def test_spans_of_statements_values_and_reasons() -> None:
    file = parse("policy infra\n\nrule r\n  when topic a.b\n   and env not prod\n"
                 '  then deny\n  reason "why"\n')
    policy, rule = file.statements
    assert isinstance(policy, ast.PolicyDecl) and isinstance(rule, ast.RuleDecl)
    assert policy.span == Span(PATH, 1, 1, 1, 13)
    assert policy.name.span == Span(PATH, 1, 8, 1, 13)
    assert rule.span == Span(PATH, 3, 1, 7, 15)
    assert rule.id.span == Span(PATH, 3, 6, 3, 7)
    topic, env = rule.conditions
    assert topic.span == Span(PATH, 4, 8, 4, 17)
    assert topic.values[0].span == Span(PATH, 4, 14, 4, 17)
    assert env.span == Span(PATH, 5, 8, 5, 20)
    assert env.values[0].span == Span(PATH, 5, 16, 5, 20)
    assert rule.decision.span == Span(PATH, 6, 8, 6, 12)
    assert rule.reason is not None and rule.reason.span == Span(PATH, 7, 3, 7, 15)


def test_spans_count_characters_not_bytes() -> None:
    [rule] = parse('rule r then deny reason "é😀" # ü').statements
    assert isinstance(rule, ast.RuleDecl) and rule.reason is not None
    assert rule.reason.value == "é😀"
    assert parse('rule r then deny reason "é😀" # ü').comments[0].span == Span(PATH, 1, 30, 1, 33)


def test_override_and_tier_spans() -> None:
    tier, override = parse(
        "tier low topics a fail_mode open\n"
        'override tier low fail_mode open until 2026-12-01T00:00:00Z reason "x"\n'
    ).statements
    assert isinstance(tier, ast.TierDecl) and isinstance(override, ast.OverrideDecl)
    assert tier.span == Span(PATH, 1, 1, 1, 33)
    assert tier.fail_mode.span == Span(PATH, 1, 29, 1, 33)
    assert override.until.span == Span(PATH, 2, 40, 2, 60)
    assert override.reason.span == Span(PATH, 2, 68, 2, 71)


def test_the_parser_is_built_once() -> None:
    assert _parser() is _parser()


# --- syntax errors ---------------------------------------------------------------------


def _label_pattern(label: str) -> re.Pattern[str]:
    return re.compile(re.escape(label).replace(re.escape("{found}"), ".+") + "$")


EXAMPLES = [(label, text) for label, texts in _EXAMPLES.items() for text in texts]


@pytest.mark.parametrize("prefix", ["", "policy p\n", "policy p\nrule a then deny\n"])
@pytest.mark.parametrize(("label", "text"), EXAMPLES, ids=[t for _, t in EXAMPLES])
def test_every_example_gets_its_label_wherever_it_stands(
    label: str, text: str, prefix: str
) -> None:
    [diagnostic, *_] = syntax_errors(prefix + text)
    assert _label_pattern(label).match(diagnostic.message), diagnostic.message
    assert diagnostic.help == _LABEL_HELP.get(label, diagnostic.help)


def test_every_label_help_is_for_a_label() -> None:
    assert set(_LABEL_HELP) <= set(_EXAMPLES)


COMMON_MISTAKES = [
    # (text, line, column, code, message, help)
    ("policy p\nrule r when topic a deny", 2, 21, "DG010",
     "expected `then DECISION`, found `deny`", "write `then deny`"),
    ("rule r deny", 1, 8, "DG010", "expected `then DECISION`, found `deny`", "write `then deny`"),
    ("rule r when topic a, b c then deny", 1, 24, "DG010", "expected `then DECISION`, found `c`",
     "expected `,`, `and` or `then`"),
    ("rule r when topic a", 1, 20, "DG010", "expected `then DECISION`, found end of file",
     "expected `,`, `and` or `then`"),
    ("rule r when topic a  # why\n\n", 1, 20, "DG010",
     "expected `then DECISION`, found end of file", "expected `,`, `and` or `then`"),
    ("rule r when topic a or env b then deny", 1, 21, "DG010",
     "conditions are joined with `and`; there is no `or`",
     "list alternatives as values (`topic a, b`) or write one rule for each"),
    ("rule r when not env dev then deny", 1, 13, "DG010",
     "`not` comes after the attribute, as in `topic not PATTERNS`",
     "write `topic not ...`, `env not ...` or `cidr not in ...`"),
    ("rule r when topic a and and env b then deny", 1, 25, "DG010",
     "a condition starts with `topic`, `env` or `cidr`, found keyword `and`",
     "write conditions such as `topic infra.**`, `env production` or `cidr in 10.0.0.0/8`, "
     "joined by `and`"),
    ("envs production protected", 1, 17, "DG010",
     "`protected` is written in parentheses after the env name", "write `NAME (protected)`"),
    ("envs production (protected, staging", 1, 27, "DG010",
     "an env is marked protected as `NAME (protected)`, found `,`",
     "write `(protected)` right after the env name"),
    ('rule "r" then deny', 1, 6, "DG010", "expected a rule id after `rule`, found a quoted string",
     "write `rule ID`, e.g. `rule deny-prod-delete`"),
    ("rul r then deny", 1, 1, "DG012", "unknown keyword `rul`", "did you mean `rule`?"),
    ("RULE r then deny", 1, 1, "DG012", "unknown keyword `RULE`", "did you mean `rule`?"),
    ("policy p\nrule r then deny\nrul s then deny", 3, 1, "DG012", "unknown keyword `rul`",
     "did you mean `rule`?"),
    ('rule r then deny reson "x"', 1, 18, "DG012", "unknown keyword `reson`",
     "did you mean `reason`?"),
    ("rule r when tpoic a then deny", 1, 13, "DG012", "unknown keyword `tpoic`",
     "did you mean `topic`?"),
    ("rule r when topic a an env b then deny", 1, 21, "DG012", "unknown keyword `an`",
     "did you mean `and`?"),
    ("rule r\n  whne topic a then deny", 2, 3, "DG012", "unknown keyword `whne`",
     "did you mean `when`?"),
    ("env production", 1, 1, "DG010", "keyword `env` does not belong here",
     "did you mean `envs`?"),
    ("tier low topic a fail_mode open", 1, 10, "DG010", "keyword `topic` does not belong here",
     "did you mean `topics`?"),
    ("envs a b", 1, 8, "DG012", "expected a statement, found `b`",
     "statements start with `policy`, `envs`, `default_decision`, `default_tier`, `tier`, "
     "`rule`, `override`; values in a list are separated by commas"),
    ("envs a, b,\nrule r then deny", 1, 10, "DG010", "a list cannot end with a comma",
     "remove the `,` or add a value after it"),
    ("rule r when cidr 10.0.0.0/8 then deny", 1, 18, "DG010",
     "`cidr` needs `in` or `not in` before its networks, found `10.0.0.0/8`",
     "write `cidr in 10.0.0.0/8` or `cidr not in 10.0.0.0/8`"),
    ("rule r then deny reason public", 1, 25, "DG010",
     "`reason` takes a quoted string, found `public`", "write the reason in double quotes"),
    ('rule r then deny "public"', 1, 18, "DG010", "missing `reason` before the string",
     'write `reason "..."`'),
    ('rule r then deny reason "a" "b"', 1, 29, "DG010", "unexpected quoted string",
     "expected a statement (`policy`, `envs`, `default_decision`, `default_tier`, `tier`, "
     "`rule`, `override`)"),
    ("rule r then deny, allow", 1, 17, "DG010", "unexpected `,`",
     "expected a statement (`policy`, `envs`, `default_decision`, `default_tier`, `tier`, "
     "`rule`, `override`)"),
    ("rule r (protected) then deny", 1, 8, "DG010", "expected `then DECISION`, found `(`",
     "expected `then` or `when`"),
    ("tier low topics a, b\nrule r then deny", 2, 1, "DG010",
     "a tier is written `tier NAME topics PATTERNS fail_mode MODE`, found keyword `rule`",
     "expected `,` or `fail_mode`"),
    ('override tier low fail_mode open reason "x"', 1, 34, "DG010",
     'an override is written `override tier NAME fail_mode open until TIMESTAMP reason "..."`, '
     "found keyword `reason`", "expected `until`"),
    ("rule r then deny\n)", 2, 1, "DG010", "unexpected `)`",
     "expected a statement (`policy`, `envs`, `default_decision`, `default_tier`, `tier`, "
     "`rule`, `override`)"),
    ("rule r then deny\u00a0", 1, 17, "DG010", "unexpected character U+00A0 (no-break space)",
     "separate words with plain spaces, tabs or line breaks"),
    ("rule r then\vdeny", 1, 12, "DG010", "unexpected character U+000B (control character)",
     "separate words with plain spaces, tabs or line breaks"),
]


@pytest.mark.parametrize("mistake", COMMON_MISTAKES, ids=[m[0] for m in COMMON_MISTAKES])
def test_common_mistakes_read_well(mistake: tuple[str, int, int, str, str, str]) -> None:
    text, *expected = mistake
    assert first_error(text) == tuple(expected)


def test_strings() -> None:
    assert first_error('rule r then deny reason "abc') == (
        1, 25, "DG011", "string is not closed on this line",
        'add the closing `"`; strings cannot span lines (write `\\n` for a line break)',
    )
    assert first_error('rule r then deny reason "a\\"')[:4] == (
        1, 25, "DG011", "string is not closed on this line",
    )
    assert first_error('rule r then deny reason "ab\\')[:4] == (
        1, 25, "DG011", "string is not closed on this line",
    )
    bad_escape = first_error('rule r then deny reason "C:\\temp\\x"')
    assert bad_escape[:4] == (1, 33, "DG010", "invalid escape sequence `\\x` in a string")
    assert bad_escape[4] == (
        'the escapes are `\\"`, `\\\\`, `\\n` and `\\t`; write `\\\\` for a backslash'
    )
    [rule] = parse('rule r then deny reason "a\\\\"').statements
    assert isinstance(rule, ast.RuleDecl) and rule.reason is not None
    assert rule.reason.value == "a\\"


def test_every_broken_statement_is_reported() -> None:
    text = (
        "policy p\n"
        "envs a, b,\n"
        "rule r1 when topic a deny\n"
        "rule r2 then deny\n"
        "rul r3 then deny\n"
        "  rule r4 when tpoic a then deny\n"
        'rule r5 then deny reason "unclosed\n'
        "tier low topics a\n"
        "rule r6 then\n"
    )
    assert [(d.span.line, d.span.column, d.code.code) for d in syntax_errors(text)] == [
        (2, 10, "DG010"), (3, 22, "DG010"), (5, 1, "DG012"), (6, 16, "DG012"),
        (7, 26, "DG011"), (9, 1, "DG010"), (9, 13, "DG010"),
    ]


def test_a_statement_keyword_inside_a_line_does_not_resynchronise() -> None:
    errors = syntax_errors("rule r when topic a rule s when x then deny\nrule t then\n")
    assert [(d.span.line, d.span.column) for d in errors] == [(1, 21), (2, 12)]


def test_syntax_errors_are_capped() -> None:
    errors = syntax_errors("rule r deny\n" * 50)
    assert len(errors) == _MAX_SYNTAX_ERRORS
    assert [d.span.line for d in errors] == list(range(1, _MAX_SYNTAX_ERRORS + 1))


def _our_words(text: str, written: str) -> str:
    """``text`` without the backquoted pieces the user wrote (which may spell `RULE`)."""
    return re.sub(r"`([^`]*)`", lambda m: "" if m[1] in written else m[0], text)


def test_lark_terminal_names_never_reach_the_user() -> None:
    names = {t.name for t in _parser().terminals} | {"$END"}
    texts = [t for _, t in EXAMPLES] + [m[0] for m in COMMON_MISTAKES]
    for text in texts:
        for d in syntax_errors(text):
            ours = _our_words(f"{d.message} {d.help}", text)
            assert not set(re.findall(r"[$A-Z_]+", ours)) & names, (text, d.message, d.help)


@pytest.mark.parametrize(
    "text", ["policyfoo\n", "policy p\nrule r when topica.b then deny\n",
             "policy p\nrule r thendeny\n"],
)
def test_a_keyword_glued_to_a_word_is_not_split(text: str) -> None:
    syntax_errors(text)


def test_the_grammar_reserves_exactly_the_keywords() -> None:
    grammar = resources.files("dualgate.compiler.frontend").joinpath("policy.lark").read_text()
    word = re.search(r"^WORD: /\(\?!\(([^)]*)\)", grammar, re.MULTILINE)
    assert word is not None
    assert sorted(word.group(1).split("|")) == sorted(KEYWORDS)


def test_resync_reports_a_misspelled_statement_after_an_earlier_error() -> None:
    text = "policy p\n\nrule r\n  when topic a.b\n  deny\n\nrul s\n  then deny\n"
    assert [(d.span.line, d.code.code) for d in syntax_errors(text)] == [
        (5, "DG010"), (7, "DG012")
    ]


def test_resync_does_not_stop_at_an_unindented_continuation_line() -> None:
    text = "policy p\nrule t when topic a,,b\nthen deny\nrule u then deny\n"
    assert [(d.span.line, d.code.code) for d in syntax_errors(text)] == [(2, "DG010")]


def test_the_transformer_handles_every_rule_of_the_grammar() -> None:
    named = {str(rule.origin.name) for rule in _parser().rules
             if not str(rule.origin.name).startswith("_")}
    assert named == set(_RULES)
