"""The YAML form: every key of the schema, anchors, and errors located in the YAML."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta, timezone

import jsonschema
import pytest

from dualgate.compiler import ir
from dualgate.compiler.diagnostics import sort_diagnostics
from dualgate.compiler.frontend import ast
from dualgate.compiler.frontend.loader import LoadResult, load_policy_text
from dualgate.compiler.frontend.source import SourceFile
from dualgate.compiler.frontend.yaml_front import parse_yaml_policy
from dualgate.runtime.vocabulary import Decision, FailMode, TierName
from dualgate.schemas import load_schema

FULL_YAML = """\
version: v1
policy: infra
envs:
  - {name: production, protected: true}
  - staging
  - {name: dev}
default_decision: throttle
default_tier: medium
tiers:
  - name: high
    topics: [infra.resource.delete, "payments.**"]
    fail_mode: closed
  - name: low
    topics: "**.read"
    fail_mode: open
rules:
  - id: deny-prod-public-ingress
    when:
      topic: infra.security_group.update
      env: production
      cidr: [0.0.0.0/0, "::ffff:10.0.0.0/104"]
    decision: deny
    reason: public ingress in production
  - id: approve-deletes
    when:
      topic_not: ["infra.*.read", "**.list"]
      env_not: dev
      cidr_not: 10.0.0.0/8
    decision: require_approval
  - id: allow-everything-else
    decision: allow
  - id: empty-when
    when: {}
    decision: deny
overrides:
  - tier: low
    fail_mode: open
    until: 2026-12-01T00:00:00+02:00
    reason: INC-4512
"""

SAME_IN_DSL = """\
policy infra
envs production (protected), staging, dev
default_decision throttle
default_tier medium
tier high topics infra.resource.delete, payments.** fail_mode closed
tier low topics **.read fail_mode open
rule deny-prod-public-ingress
  when topic infra.security_group.update and env production
   and cidr in 0.0.0.0/0, ::ffff:10.0.0.0/104
  then deny
  reason "public ingress in production"
rule approve-deletes
  when topic not infra.*.read, **.list and env not dev and cidr not in 10.0.0.0/8
  then require_approval
rule allow-everything-else then allow
rule empty-when then deny
override tier low fail_mode open until 2026-12-01T00:00:00+02:00 reason "INC-4512"
"""


def pattern(text: str) -> ir.TopicPattern:
    return ir.TopicPattern.parse(text)


EXPECTED = ir.Policy(
    name="infra",
    envs=(
        ir.EnvDecl(name="production", protected=True),
        ir.EnvDecl(name="staging"),
        ir.EnvDecl(name="dev"),
    ),
    default_decision=Decision.THROTTLE,
    default_tier=TierName.MEDIUM,
    tiers=(
        ir.Tier(name=TierName.HIGH, patterns=(pattern("infra.resource.delete"),
                                              pattern("payments.**")),
                fail_mode=FailMode.CLOSED),
        ir.Tier(name=TierName.LOW, patterns=(pattern("**.read"),), fail_mode=FailMode.OPEN),
    ),
    rules=(
        ir.Rule(
            id="deny-prod-public-ingress",
            conditions=(
                ir.TopicCondition(patterns=(pattern("infra.security_group.update"),)),
                ir.EnvCondition(envs=("production",)),
                ir.CidrCondition(networks=(ipaddress.IPv4Network("0.0.0.0/0"),
                                           ipaddress.IPv4Network("10.0.0.0/8"))),
            ),
            decision=Decision.DENY,
            reason="public ingress in production",
        ),
        ir.Rule(
            id="approve-deletes",
            conditions=(
                ir.TopicCondition(negated=True,
                                  patterns=(pattern("infra.*.read"), pattern("**.list"))),
                ir.EnvCondition(negated=True, envs=("dev",)),
                ir.CidrCondition(negated=True, networks=(ipaddress.IPv4Network("10.0.0.0/8"),)),
            ),
            decision=Decision.REQUIRE_HUMAN,
        ),
        ir.Rule(id="allow-everything-else", decision=Decision.ALLOW),
        ir.Rule(id="empty-when", decision=Decision.DENY),
    ),
    overrides=(
        ir.Override(
            tier=TierName.LOW, fail_mode=FailMode.OPEN,
            until=datetime(2026, 11, 30, 22, 0, tzinfo=UTC), reason="INC-4512",
        ),
    ),
)


def load(text: str) -> LoadResult:
    return load_policy_text(text, "p.yaml")


def found(text: str) -> list[tuple[int, int, str, str]]:
    """(line, column, code, message) of every diagnostic, in the order lint prints them."""
    return [
        (d.span.line, d.span.column, d.code.code, d.message)
        for d in sort_diagnostics(load(text).diagnostics)
    ]


def test_every_key_lints_clean_and_lowers_to_the_expected_ir() -> None:
    result = load(FULL_YAML)
    assert result.diagnostics == []
    assert result.policy == EXPECTED
    assert result.policy.model_dump() == EXPECTED.model_dump()


def test_yaml_and_dsl_give_the_same_ir() -> None:
    dsl = load_policy_text(SAME_IN_DSL, "p.policy")
    assert dsl.diagnostics == []
    assert dsl.policy == load(FULL_YAML).policy


def test_timestamps_stay_as_written_and_are_aware() -> None:
    policy = load(FULL_YAML).policy
    assert policy is not None
    until = policy.overrides[0].until
    assert until.utcoffset() == timedelta(hours=2)
    assert until.tzinfo == timezone(timedelta(hours=2))


def test_the_schema_names_exactly_the_keys_the_front_end_reads() -> None:
    schema = load_schema("policy")
    jsonschema.Draft202012Validator.check_schema(schema)
    assert set(schema["properties"]) == {
        "version", "policy", "envs", "default_decision", "default_tier", "tiers", "rules",
        "overrides",
    }
    rule = schema["properties"]["rules"]["items"]
    assert set(rule["properties"]["when"]["properties"]) == {
        "topic", "topic_not", "env", "env_not", "cidr", "cidr_not",
    }


def test_minimal_policy_gets_the_defaults() -> None:
    result = load("version: v1\npolicy: p\n")
    assert result.policy == ir.Policy(name="p")
    assert result.policy.default_decision is Decision.DENY
    assert result.policy.default_tier is TierName.HIGH


# --- anchors and aliases -------------------------------------------------------------


def test_anchors_and_aliases_share_values() -> None:
    text = """\
version: v1
policy: p
envs: &envs [production, staging]
rules:
  - &base
    id: deny-prod
    when: {topic: "infra.**", env: *envs}
    decision: deny
  - <<: *base
    id: allow-rest
    decision: allow
"""
    result = load(text)
    assert result.diagnostics == []
    assert result.policy is not None
    deny, allow = result.policy.rules
    assert allow.conditions == deny.conditions
    assert deny.conditions[1] == ir.EnvCondition(envs=("production", "staging"))
    assert (deny.decision, allow.decision) == (Decision.DENY, Decision.ALLOW)


def test_merge_of_a_list_of_mappings() -> None:
    text = """\
version: v1
policy: p
rules:
  - &when {id: a, when: {topic: a.b}, decision: deny}
  - &why {id: b, decision: allow, reason: because}
  - {<<: [*when, *why], id: c}
"""
    result = load(text)
    assert result.policy is not None
    merged = result.policy.rules[2]
    assert (merged.id, merged.decision, merged.reason) == ("c", Decision.DENY, "because")


def test_nested_merges_keep_the_nearest_value() -> None:
    text = """\
version: v1
policy: p
rules:
  - &base {id: a, decision: deny, reason: base}
  - &mid {<<: *base, id: b, reason: mid}
  - {<<: *mid, id: c}
"""
    result = load(text)
    assert result.policy is not None
    merged = result.policy.rules[2]
    assert (merged.id, merged.decision, merged.reason) == ("c", Decision.DENY, "mid")


@pytest.mark.parametrize(("text", "expected"), [
    ("rules:\n  - {id: a, <<: 3, decision: deny}\n",
     (4, 17, "DG020", "`<<` must be followed by a mapping or a list of mappings")),
    ("rules:\n  - &a {id: a, decision: deny}\n  - {<<: [*a, 3]}\n",
     (5, 10, "DG020", "`<<` must be followed by a mapping or a list of mappings")),
    ("rules:\n  - &r {id: a, <<: *r}\n",
     (4, 5, "DG020", "an alias refers to a collection that contains it")),
])
def test_bad_merges_are_diagnostics(text: str, expected: tuple[int, int, str, str]) -> None:
    assert found("version: v1\npolicy: p\n" + text) == [expected]


def test_diagnostics_inside_an_alias_point_at_the_anchored_value() -> None:
    text = """\
version: v1
policy: p
envs: [production]
rules:
  - &r
    id: a
    when: {env: prod}
    decision: deny
  - <<: *r
    id: b
"""
    # Both rules hold the same node: one finding at one place, not two identical ones.
    assert found(text) == [(7, 17, "DG101", "env `prod` is not declared")]


def test_an_alias_cannot_contain_itself() -> None:
    assert found("version: v1\npolicy: p\nrules: &r [*r]\n") == [
        (3, 8, "DG020", "an alias refers to a collection that contains it"),
    ]


def test_an_alias_bomb_is_refused() -> None:
    lines = ["version: v1", "policy: p", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]
    codes = [code for _, _, code, _ in found("\n".join(lines))]
    assert codes == ["DG020"]


@pytest.mark.slow
def test_a_large_policy_written_out_in_full_is_not_taken_for_an_alias_bomb() -> None:
    """The expansion guard is relative to the nodes written: 12,000 rules (about 130,000
    values, above the guard's fixed allowance) without a single alias are read."""
    rules = "".join(
        f"  - id: r{i}\n    when: {{topic: svc{i}.read, env: prod}}\n    decision: allow\n"
        for i in range(12_000)
    )
    text = f"version: v1\npolicy: p\nenvs: [prod]\nrules:\n{rules}"
    policy, diagnostics = parse_yaml_policy(SourceFile("big.yaml", text))
    assert diagnostics == []
    assert policy is not None
    assert sum(isinstance(s, ast.RuleDecl) for s in policy.statements) == 12_000


@pytest.mark.parametrize(("line", "column", "written"), [
    ("    topics: [a.b, **.delete]", 19, "**.delete"),
    ("    topics: *.read", 13, "*.read"),
])
def test_an_unquoted_star_pattern_is_told_to_be_quoted(line: str, column: int,
                                                       written: str) -> None:
    text = f"version: v1\npolicy: p\ntiers:\n  - name: high\n{line}\n    fail_mode: closed\n"
    [diagnostic] = load(text).diagnostics
    assert (diagnostic.span.line, diagnostic.span.column, diagnostic.message) == (
        5, column, f"invalid YAML: `{written}` starts with `*`, which YAML reads as an alias")
    assert diagnostic.help == f'quote it: "{written}"'


def test_help_shows_the_yaml_syntax() -> None:
    text = ("version: v1\npolicy: p\noverrides:\n  - {tier: medium, fail_mode: open, "
            "until: 2026-12-01T00:00:00Z, reason: x}\n"
            "rules:\n  - {id: r, when: {env: prod}, decision: deny}\n")
    helps = {d.code.name: d.help for d in load(text).diagnostics}
    assert helps["undeclared-env"] == "declare the policy's envs, e.g. `envs: [prod]`"
    assert helps["override-undeclared-tier"] == (
        "declare `tiers: [{name: medium, topics: [...], fail_mode: closed}]` first")


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    assert found("[" * 1500 + "]" * 1500) == [
        (1, 1, "DG020", "invalid YAML: the document is nested too deeply"),
    ]


# --- errors located in the YAML ----------------------------------------------------


def test_yaml_syntax_error_has_yaml_line_and_column() -> None:
    text = "version: v1\npolicy: p\nrules:\n  - id: a\n   decision: deny\n"
    [diagnostic] = load(text).diagnostics
    assert (diagnostic.span.line, diagnostic.span.column, diagnostic.code.code) == (5, 4, "DG020")
    assert diagnostic.message == (
        "invalid YAML: expected the end of the indented block, but found a mapping"
    )
    assert diagnostic.help == "while parsing a block collection (line 4, column 3)"


def test_tabs_for_indentation_are_a_yaml_error() -> None:
    [diagnostic] = load("version: v1\npolicy: p\nenvs:\n\t- a\n").diagnostics
    assert (diagnostic.span.line, diagnostic.span.column) == (4, 1)
    assert diagnostic.message == "invalid YAML: found character `\\t` that cannot start any token"
    assert diagnostic.help == "YAML indents with spaces, not tabs"


def test_multiple_documents_are_refused() -> None:
    assert found("version: v1\npolicy: a\n---\nversion: v1\npolicy: b\n") == [
        (4, 1, "DG020", "a YAML policy file holds exactly one document"),
    ]


@pytest.mark.parametrize("text", ["", "# nothing\n", "\n\n"])
def test_empty_file(text: str) -> None:
    assert found(text) == [(1, 1, "DG020", "the file is empty")]


def test_document_must_be_a_mapping() -> None:
    assert found("- a\n- b\n") == [(1, 1, "DG021", "the policy must be a mapping, found a list")]
    assert found("---\n") == [(2, 1, "DG021", "the policy must be a mapping, found null")]


def test_duplicate_and_non_string_keys() -> None:
    assert found("version: v1\npolicy: p\npolicy: q\n") == [
        (3, 1, "DG020", "duplicate key `policy`"),
    ]
    [diagnostic] = load("version: v1\npolicy: p\non: x\n").diagnostics
    assert (diagnostic.code.code, diagnostic.message) == ("DG020", "mapping keys must be strings")
    assert diagnostic.help == 'quote the key: "on"'


def test_schema_errors_name_the_path_and_point_at_the_value() -> None:
    text = """\
version: v1
policy: p
envs: [production, {name: staging, protectd: true}, 7]
rules:
  - id: r
    whn: {topic: a}
    decision: [deny]
  - when: {env: [yes, staging], topic: []}
    decision: deny
tiers: {name: low}
"""
    assert found(text) == [
        (3, 36, "DG021", "unknown key `protectd` in `envs[1]`"),
        (3, 53, "DG021", "`envs[2]` must be an env name or an object {name, protected}, "
                         "found a number"),
        (6, 5, "DG021", "unknown key `whn` in `rules[0]`"),
        (7, 15, "DG021", "`rules[0].decision` must be a string, found a list"),
        (8, 5, "DG021", "`rules[1]` is missing the required key `id`"),
        (8, 18, "DG021", "`rules[1].when.env[0]` must be a string, found a boolean"),
        (8, 40, "DG021", "`rules[1].when.topic` must not be empty"),
        (10, 8, "DG021", "`tiers` must be a list, found a mapping"),
    ]


def test_helps_for_yaml_typing_surprises() -> None:
    def help_of(text: str) -> str | None:
        [diagnostic] = load("version: v1\npolicy: p\n" + text).diagnostics
        return diagnostic.help

    assert help_of("envs: [production]\nrules: [{id: r, when: {env: no}, decision: deny}]\n") \
        == 'YAML reads `no` as a boolean; quote it: "no"'
    assert help_of("envs: [1.0]\n") == 'quote it: "1.0"'
    assert help_of("default_decision: [deny]\n") == "write one value, not a list"


def test_unknown_key_without_a_close_match_lists_the_keys() -> None:
    [diagnostic] = load("version: v1\npolicy: p\nzzz: 1\n").diagnostics
    assert diagnostic.message == "unknown key `zzz` in the policy"
    assert diagnostic.help is not None and diagnostic.help.startswith("the keys are `version`")


def test_version_and_missing_policy() -> None:
    assert found("version: v2\npolicy: p\n") == [
        (1, 10, "DG021", "`version` must be `v1`, found `v2`"),
    ]
    assert found("policy: p\n") == [
        (1, 1, "DG021", "the policy is missing the required key `version`"),
    ]
    assert found("version: v1\n") == [(1, 1, "DG114", "the policy does not declare its name")]


def test_empty_strings_are_reported_by_path() -> None:
    text = 'version: v1\npolicy: p\nrules: [{id: r, when: {topic: ""}, decision: deny, reason: ""}]'
    assert found(text) == [(3, 31, "DG021", "`rules[0].when.topic` must not be empty")]


def test_semantic_errors_point_into_the_yaml() -> None:
    text = """\
version: v1
policy: p
envs: [production, staging]
tiers:
  - {name: critical, topics: "a.**", fail_mode: closed}
rules:
  - id: r
    when:
      env: [staging, prod]
      cidr: 10.0.0.1/8
    decision: alow
overrides:
  - {tier: low, fail_mode: open, until: 2026-12-01, reason: x}
"""
    assert found(text) == [
        (5, 12, "DG109", "unknown tier `critical`"),
        (9, 22, "DG101", "env `prod` is not declared"),
        (10, 13, "DG103", "network `10.0.0.1/8` has host bits set"),
        (11, 15, "DG104", "unknown decision `alow`"),
        (13, 12, "DG107", "override of tier `low`, which is not declared"),
        (13, 41, "DG108", "`2026-12-01` is a date, not a timestamp"),
    ]


def test_explicit_tags_on_unreadable_text_keep_the_text() -> None:
    result = load("version: v1\npolicy: !!bool maybe\n")
    assert result.policy is not None and result.policy.name == "maybe"
    assert found("version: v1\npolicy: !!int\n") == [
        (2, 9, "DG021", "`policy` must not be empty"),
    ]


def test_names_with_control_characters_are_shown_escaped() -> None:
    assert found('version: v1\npolicy: "a\\tb\\n"\n') == [
        (2, 9, "DG113", "policy name `a\\tb\\n` contains `\\t`"),
    ]


def test_values_spelled_like_keywords_are_refused_as_the_dsl_cannot_write_them() -> None:
    text = (
        "version: v1\npolicy: policy\nenvs: [in, dev]\n"
        "rules:\n  - {id: not, when: {topic: topic, env: dev}, decision: deny}\n"
    )
    result = load_policy_text(text, "k.policy.yaml")
    assert [(d.span.line, d.code.code, d.message) for d in result.diagnostics] == [
        (2, "DG113", "policy name `policy` is a reserved keyword"),
        (3, "DG113", "env name `in` is a reserved keyword"),
        (5, "DG113", "rule id `not` is a reserved keyword"),
        (5, "DG102", "invalid topic pattern `topic`: a one-segment pattern cannot be a "
                     "reserved keyword"),
    ]
