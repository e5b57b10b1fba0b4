"""Lowering: AST to IR values, and every reason an AST is not a valid policy."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dualgate.compiler import ir
from dualgate.compiler.diagnostics import Diagnostic, shown, sort_diagnostics, suggest
from dualgate.compiler.formatter import format_policy
from dualgate.compiler.frontend import ast
from dualgate.compiler.frontend.lowering import lower
from dualgate.compiler.frontend.parser import parse_policy
from dualgate.compiler.frontend.source import SourceFile, Span
from dualgate.compiler.networks import Network
from dualgate.compiler.raising import raise_policy
from dualgate.compiler.topics import PatternError, parse_pattern
from dualgate.runtime.vocabulary import (
    MAX_ENV_LENGTH,
    MAX_TOPIC_LENGTH,
    MAX_TOPIC_SEGMENTS,
    Decision,
    FailMode,
    TierName,
    is_valid_topic,
)
from tests.profiles import examples
from tests.strategies import policies

PATH = "p.policy"


def lowered(text: str) -> tuple[ir.Policy | None, list[Diagnostic]]:
    file, syntax = parse_policy(SourceFile(PATH, text))
    assert syntax == [] and file is not None
    policy, diagnostics = lower(file)
    return policy, sort_diagnostics(diagnostics)


def policy_of(text: str) -> ir.Policy:
    policy, diagnostics = lowered(text)
    assert diagnostics == []
    assert policy is not None
    return policy


def errors(text: str) -> list[tuple[int, int, str, str]]:
    policy, diagnostics = lowered(text)
    assert policy is None
    return [(d.span.line, d.span.column, d.code.code, d.message) for d in diagnostics]


def only_error(text: str) -> Diagnostic:
    policy, diagnostics = lowered(text)
    assert policy is None
    [diagnostic] = diagnostics
    return diagnostic


def rule_of(text: str) -> ir.Rule:
    [rule] = policy_of("policy p\nenvs production, staging\n" + text).rules
    return rule


# --- values ------------------------------------------------------------------------


def test_defaults_are_deny_and_high() -> None:
    policy = policy_of("policy p")
    assert policy == ir.Policy(name="p")
    assert (policy.default_decision, policy.default_tier) == (Decision.DENY, TierName.HIGH)
    assert (policy.envs, policy.tiers, policy.rules, policy.overrides) == ((), (), (), ())


def test_declared_defaults() -> None:
    policy = policy_of("policy p\ndefault_decision allow\ndefault_tier low")
    assert (policy.default_decision, policy.default_tier) == (Decision.ALLOW, TierName.LOW)


@pytest.mark.parametrize(
    ("written", "decision"),
    [("allow", Decision.ALLOW), ("deny", Decision.DENY), ("throttle", Decision.THROTTLE),
     ("require_human", Decision.REQUIRE_HUMAN), ("require_approval", Decision.REQUIRE_HUMAN)],
)
def test_decisions_and_the_require_approval_alias(written: str, decision: Decision) -> None:
    assert rule_of(f"rule r then {written}").decision is decision
    assert policy_of(f"policy p\ndefault_decision {written}").default_decision is decision


def test_protected_envs() -> None:
    policy = policy_of("policy p\nenvs production (protected), staging, eu (protected)")
    assert policy.envs == (
        ir.EnvDecl(name="production", protected=True),
        ir.EnvDecl(name="staging", protected=False),
        ir.EnvDecl(name="eu", protected=True),
    )
    assert policy.env_names == ("production", "staging", "eu")


@pytest.mark.parametrize(
    ("written", "network"),
    [
        ("10.0.0.0/8", ipaddress.IPv4Network("10.0.0.0/8")),
        ("10.1.2.3", ipaddress.IPv4Network("10.1.2.3/32")),
        ("2001:db8::/32", ipaddress.IPv6Network("2001:db8::/32")),
        ("2001:db8::1", ipaddress.IPv6Network("2001:db8::1/128")),
        ("::ffff:10.0.0.0/104", ipaddress.IPv4Network("10.0.0.0/8")),
        ("::ffff:192.168.1.1", ipaddress.IPv4Network("192.168.1.1/32")),
        ("::/0", ipaddress.IPv6Network("::/0")),
    ],
)
def test_networks_and_ipv4_mapped_ipv6(written: str, network: Network) -> None:
    [condition] = rule_of(f"rule r when cidr in {written} then deny").conditions
    assert isinstance(condition, ir.CidrCondition)
    assert condition.networks == (network,)
    assert type(condition.networks[0]) is type(network)


def test_conditions_keep_their_order_values_and_negation() -> None:
    rule = rule_of(
        "rule r when topic a.*, **.read and env not staging and cidr not in 10.0.0.0/8\n"
        '  then deny reason "why \\"not\\""'
    )
    assert rule.conditions == (
        ir.TopicCondition(patterns=(ir.TopicPattern.parse("a.*"),
                                    ir.TopicPattern.parse("**.read"))),
        ir.EnvCondition(negated=True, envs=("staging",)),
        ir.CidrCondition(negated=True, networks=(ipaddress.IPv4Network("10.0.0.0/8"),)),
    )
    assert rule.reason == 'why "not"'


def test_rules_stay_in_file_order_and_keep_their_spans() -> None:
    policy = policy_of("policy p\nrule b then deny\n\nrule a\n  then allow\n")
    assert [r.id for r in policy.rules] == ["b", "a"]
    assert policy.rules[1].span == Span(PATH, 4, 1, 5, 13)
    assert policy.span == Span(PATH, 1, 1, 1, 9)


def test_tiers() -> None:
    policy = policy_of(
        "policy p\ntier high topics a.**, b.delete fail_mode closed\n"
        "tier low topics **.read fail_mode open"
    )
    assert policy.tiers == (
        ir.Tier(name=TierName.HIGH, fail_mode=FailMode.CLOSED,
                patterns=(ir.TopicPattern.parse("a.**"), ir.TopicPattern.parse("b.delete"))),
        ir.Tier(name=TierName.LOW, fail_mode=FailMode.OPEN,
                patterns=(ir.TopicPattern.parse("**.read"),)),
    )


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2026-12-01T00:00:00Z", datetime(2026, 12, 1, tzinfo=UTC)),
        ("2026-12-01t00:00:00z", datetime(2026, 12, 1, tzinfo=UTC)),
        ("2026-12-01T10:30:00+02:00",
         datetime(2026, 12, 1, 10, 30, tzinfo=timezone(timedelta(hours=2)))),
        ("2026-12-01T00:00:00-05:30",
         datetime(2026, 12, 1, tzinfo=timezone(-timedelta(hours=5, minutes=30)))),
        ("2026-12-01T00:00:00.250Z", datetime(2026, 12, 1, 0, 0, 0, 250_000, tzinfo=UTC)),
    ],
)
def test_timestamps_with_offsets_are_aware(written: str, expected: datetime) -> None:
    policy = policy_of(
        "policy p\ntier low topics a fail_mode closed\n"
        f'override tier low fail_mode open until {written} reason "INC-1"'
    )
    [override] = policy.overrides
    assert override == ir.Override(tier=TierName.LOW, until=expected, reason="INC-1")
    assert override.until.utcoffset() == expected.utcoffset()
    assert override.fail_mode is FailMode.OPEN


# --- errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("until", "message", "help"),
    [
        ("2026-12-01", "`2026-12-01` is a date, not a timestamp",
         "write a time and a zone, e.g. `2026-12-01T00:00:00Z`"),
        ("2026-12-01T00:00:00", "timestamp `2026-12-01T00:00:00` has no time zone",
         "append `Z` for UTC: `2026-12-01T00:00:00Z`"),
        ("2026-02-30T00:00:00Z", "`2026-02-30T00:00:00Z` is not a timestamp",
         "write an RFC 3339 timestamp such as `2026-12-01T00:00:00Z`"),
        ("2026-12-01T00:00Z", "`2026-12-01T00:00Z` is not a timestamp",
         "write an RFC 3339 timestamp such as `2026-12-01T00:00:00Z`"),
        ("tomorrow", "`tomorrow` is not a timestamp",
         "write an RFC 3339 timestamp such as `2026-12-01T00:00:00Z`"),
    ],
)
def test_invalid_timestamps(until: str, message: str, help: str) -> None:
    diagnostic = only_error(
        "policy p\ntier low topics a fail_mode closed\n"
        f'override tier low fail_mode open until {until} reason "x"'
    )
    assert (diagnostic.code.code, diagnostic.message, diagnostic.help) == ("DG108", message, help)
    assert (diagnostic.span.line, diagnostic.span.column) == (3, 40)


def test_every_error_is_reported_at_once() -> None:
    text = """\
policy p/q
envs production, production
default_decision maybe
tier high topics a..b fail_mode open
rule r when env prod and cidr in 10.0.0.1/8 then deny
rule r when topic a.* then alow
override tier high fail_mode closed until 2026-12-01 reason "x"
"""
    assert errors(text) == [
        (1, 8, "DG113", "policy name `p/q` contains `/`"),
        (2, 18, "DG112", "env `production` is declared twice"),
        (3, 18, "DG104", "unknown decision `maybe`"),
        (4, 18, "DG102", "invalid topic pattern `a..b`: segment 2 is empty"),
        (4, 33, "DG106", "the high tier must fail closed"),
        (5, 17, "DG101", "env `prod` is not declared"),
        (5, 34, "DG103", "network `10.0.0.1/8` has host bits set"),
        (6, 6, "DG100", "rule id `r` is already used"),
        (6, 28, "DG104", "unknown decision `alow`"),
        (7, 30, "DG110", "an override can only set `fail_mode open`"),
        (7, 43, "DG108", "`2026-12-01` is a date, not a timestamp"),
    ]


def test_a_value_written_again_is_read_again_where_it_is_written() -> None:
    """Lowering remembers what valid texts read as; each occurrence still gets its own span,
    and an invalid text is reported at every place it is written."""
    text = """\
policy p
envs prod
rule a when topic x.y and env prod and cidr in 10.0.0.0/8 then deny
rule b when topic x.y and env prod and cidr in 10.0.0.0/8 then deny
rule c when topic x..y and env qa and cidr in 10.0.0.1/8 then deny
rule d when topic x..y and env qa and cidr in 10.0.0.1/8 then deny
"""
    assert errors(text) == [
        (line, column, code, message)
        for line in (5, 6)
        for column, code, message in [
            (19, "DG102", "invalid topic pattern `x..y`: segment 2 is empty"),
            (32, "DG101", "env `qa` is not declared"),
            (47, "DG103", "network `10.0.0.1/8` has host bits set"),
        ]
    ]
    a, b = policy_of(text.split("rule c", maxsplit=1)[0]).rules
    assert a.conditions == b.conditions
    for condition in (*a.conditions, *b.conditions):
        assert condition.span is not None
    [pattern_a], [pattern_b] = a.conditions[0].patterns, b.conditions[0].patterns
    assert pattern_a.span is not None and pattern_b.span is not None
    assert (pattern_a.span.line, pattern_b.span.line) == (3, 4)


def test_an_override_of_a_broken_tier_is_not_also_undeclared() -> None:
    text = (
        "policy p\ntier low topics a..b fail_mode open\n"
        'override tier low fail_mode open until 2026-12-01T00:00:00Z reason "x"'
    )
    assert [code for _, _, code, _ in errors(text)] == ["DG102"]


def test_override_of_an_undeclared_tier() -> None:
    diagnostic = only_error(
        "policy p\ntier low topics a fail_mode open\n"
        'override tier medium fail_mode open until 2026-12-01T00:00:00Z reason "x"'
    )
    assert (diagnostic.code.code, diagnostic.message) == (
        "DG107", "override of tier `medium`, which is not declared"
    )
    assert diagnostic.help == "declare `tier medium topics ... fail_mode closed` first"


def test_unknown_tier_in_an_override_is_reported_once() -> None:
    text = (
        "policy p\n"
        'override tier critical fail_mode open until 2026-12-01T00:00:00Z reason "x"'
    )
    assert [code for _, _, code, _ in errors(text)] == ["DG109"]


def test_undeclared_env_helps() -> None:
    def help_of(text: str) -> str | None:
        return only_error(text).help

    assert help_of("policy p\nenvs production, staging\nrule r when env prod then deny") \
        == "did you mean `production`?"
    assert help_of("policy p\nenvs production, staging\nrule r when env qa then deny") \
        == "declared envs are `production` or `staging`"
    assert help_of("policy p\nenvs production\nrule r when env qa then deny") \
        == "the only declared env is `production`"
    _, [invalid_env, undeclared] = lowered("policy p\nenvs a/b\nrule r when env qa then deny")
    assert (invalid_env.code.code, undeclared.code.code) == ("DG113", "DG101")
    assert undeclared.help == "add `qa` to `envs`"
    no_envs = only_error("policy p\nrule r when env not qa then deny")
    assert no_envs.message == "env `qa` is used but the policy declares no envs"
    assert no_envs.help == "declare the policy's envs, e.g. `envs qa`"


def test_related_locations_point_at_the_first_declaration() -> None:
    policy, diagnostics = lowered("policy p\nrule a then deny\nrule a then allow\n"
                                  "default_tier low\ndefault_tier high\n")
    assert policy is None
    duplicate_rule, duplicate_setting = diagnostics
    assert [(r.span.line, r.span.column, r.message) for r in duplicate_rule.related] == [
        (2, 6, "first used here"),
    ]
    assert duplicate_setting.message == "`default_tier` is declared more than once"
    assert [(r.span.line, r.message) for r in duplicate_setting.related] == [
        (4, "first declared here"),
    ]


def test_missing_policy_name() -> None:
    diagnostic = only_error("envs a")
    assert (diagnostic.code.code, diagnostic.span) == ("DG114", Span(PATH, 1, 1, 1, 2))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("-p", "policy name `-p` must start with a letter or digit"),
        ("_p", "policy name `_p` must start with a letter or digit"),
        ("p/q", "policy name `p/q` contains `/`"),
        ("café", "policy name `café` contains `é`"),
        ("p\n", "policy name `p\\n` contains `\\n`"),
        ("", "policy name is empty"),
    ],
)
def test_invalid_names(name: str, message: str) -> None:
    where = Span(PATH, 1, 8, 1, 9)
    file = ast.PolicyFile((ast.PolicyDecl(ast.Word(name, where), where),))
    policy, [diagnostic] = lower(file)
    assert policy is None
    assert (diagnostic.code.code, diagnostic.message) == ("DG113", message)


def test_messages_show_control_characters_escaped() -> None:
    diagnostic = only_error("policy p\nrule r then de\x01ny")
    assert diagnostic.message == "unknown decision `de\\x01ny`"


def test_a_lowered_ast_built_by_hand() -> None:
    here = Span("hand", 1, 1, 1, 2)
    file = ast.PolicyFile((
        ast.PolicyDecl(ast.Word("p", here), here),
        ast.RuleDecl(ast.Word("r", here), (), ast.Word("require_approval", here), None, here),
    ))
    policy, diagnostics = lower(file)
    assert diagnostics == []
    assert policy == ir.Policy(name="p", rules=(ir.Rule(id="r", decision=Decision.REQUIRE_HUMAN),))


def test_suggest() -> None:
    assert suggest("prod", ["production", "staging"]) == "did you mean `production`?"
    assert suggest("stagign", ["production", "staging"]) == "did you mean `staging`?"
    assert suggest("pr", ["production", "preview"]) is None
    assert suggest("qa", ["production", "staging"]) is None


def test_shown_escapes_only_what_cannot_be_seen() -> None:
    assert shown("a\tb\x00c\u2028d é→😀 `x`") == "a\\tb\\x00c\\u2028d é→😀 `x`"


@pytest.mark.parametrize(
    ("text", "code", "help"),
    [
        ("policy p\nrule r then zzz", "DG104",
         "a decision is `allow`, `throttle`, `require_human` or `deny`"),
        ("policy p\nrule r then dny", "DG104", "did you mean `deny`?"),
        ("policy p\nrule r then require_aproval", "DG104", "did you mean `require_approval`?"),
        ("policy p\ntier zzz topics a fail_mode open", "DG109",
         "a tier is `high`, `medium` or `low`"),
        ("policy p\ntier low topics a fail_mode zzz", "DG110",
         "a fail mode is `closed` or `open`"),
        ("policy p\ntier low topics a fail_mode opne", "DG110", "did you mean `open`?"),
    ],
)
def test_unknown_words_list_the_choices_or_suggest_one(text: str, code: str, help: str) -> None:
    diagnostic = only_error(text)
    assert (diagnostic.code.code, diagnostic.help) == (code, help)


# --- the IR lowering builds without validating -------------------------------------


def _same_values_and_types(built: object, validated: object) -> None:
    """``built`` and ``validated`` hold equal values of the same types, node by node
    (locations aside: a dump leaves them out)."""
    assert type(built) is type(validated)
    if isinstance(built, ir.Node):
        assert isinstance(validated, ir.Node)
        assert list(built.__dict__) == list(validated.__dict__)
        for name, value in built.__dict__.items():
            if name not in built._location_fields:
                _same_values_and_types(value, validated.__dict__[name])
    elif isinstance(built, tuple):
        assert isinstance(validated, tuple) and len(built) == len(validated)
        for one, other in zip(built, validated, strict=True):
            _same_values_and_types(one, other)
    else:
        assert built == validated


@settings(max_examples=examples(150), deadline=None)
@given(policies())
def test_lowering_builds_exactly_what_the_validating_models_would(policy: ir.Policy) -> None:
    """Lowering skips the models' validators (``Node.trusted``) because it has made
    every check they make; validating its result again gives the same IR, value for value
    and type for type, so nothing the validators would refuse or convert slips through."""
    text = format_policy(raise_policy(policy))
    built = policy_of(text)
    validated = ir.Policy.model_validate(built.model_dump())
    _same_values_and_types(built, validated)
    assert built == validated == policy
    assert built.model_dump() == validated.model_dump()


# --- what a request may carry ---------------------------------------------------------

def test_a_topic_pattern_no_request_can_carry_is_refused() -> None:
    """A pattern whose every topic is longer than a request's may be would compile into a
    bundle the runtime refuses, and could never apply: it is an error where it is written."""
    too_many = ".".join(["a"] * (MAX_TOPIC_SEGMENTS + 1))
    too_long = "a" * (MAX_TOPIC_LENGTH + 1)
    for pattern in (too_many, too_long, too_many + ".**", "**." + too_long):
        diagnostic = only_error(f"policy p\nrule r when topic {pattern} then deny")
        assert diagnostic.code.code == "DG102"
        assert diagnostic.message.endswith(
            f"it matches only topics longer than a request may carry (at most "
            f"{MAX_TOPIC_SEGMENTS} segments and {MAX_TOPIC_LENGTH:,} characters)")
        assert (diagnostic.span.line, diagnostic.span.column) == (2, 19)
    # At the bounds (and with `**`, which may stand for no segment) it is accepted.
    for pattern in (".".join(["*"] * MAX_TOPIC_SEGMENTS), "a" * MAX_TOPIC_LENGTH,
                    ".".join(["a"] * MAX_TOPIC_SEGMENTS) + ".**"):
        policy_of(f"policy p\nrule r when topic {pattern} then deny")


def test_an_env_name_no_request_can_carry_is_refused() -> None:
    name = "e" * (MAX_ENV_LENGTH + 1)
    [(line, column, code, message), *_] = errors(
        f"policy p\nenvs production, {name}\nrule r when env {name} then deny")
    assert (line, column, code) == (2, 18, "DG113")
    assert message == (f"env name `{shown(name)}` has {MAX_ENV_LENGTH + 1} characters, more "
                       f"than the {MAX_ENV_LENGTH} a request's env may have")
    assert len(message) < 200  # the name is cut, not printed whole
    policy_of(f"policy p\nenvs {'e' * MAX_ENV_LENGTH}\nrule r then deny")


@settings(max_examples=examples(200))
@given(st.lists(st.sampled_from(["*", "**", "a", "bb", "c" * 40]), min_size=1,
                max_size=MAX_TOPIC_SEGMENTS + 6),
       st.integers(min_value=0, max_value=MAX_TOPIC_LENGTH))
def test_an_accepted_pattern_matches_a_topic_the_runtime_accepts(
        segments: list[str], padding: int) -> None:
    """Every pattern the compiler accepts has a topic a request may carry: its shortest
    one (`**` as nothing, `*` as one character), which the runtime calls valid. And a
    refused pattern has none."""
    if padding and segments[0] not in ("*", "**"):
        segments = ["x" * padding + segments[0], *segments[1:]]
    text = ".".join(segments)
    shortest = ".".join("x" if s == "*" else s for s in segments if s != "**")
    try:
        parse_pattern(text)
    except PatternError:
        assert shortest and not is_valid_topic(shortest)
    else:
        assert shortest == "" or is_valid_topic(shortest)
