"""The direct reading of a plain YAML policy (``yaml_direct``) builds the AST the reference
(plain data, the JSON schema, then the AST) builds, spans and comments included, and a
document it does not take gets the reference's diagnostics: on generated policies, on
random damage done to them, and on the valid oddities of YAML typing."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from dualgate.compiler import ir
from dualgate.compiler.frontend import yaml_front
from dualgate.compiler.frontend.lowering import lower
from dualgate.compiler.frontend.source import SourceFile
from dualgate.compiler.frontend.yaml_direct import direct_statements
from dualgate.compiler.frontend.yaml_front import parse_yaml_policy
from dualgate.schemas import load_schema
from tests.profiles import examples
from tests.strategies import policies
from tests.test_yaml_libyaml import (
    _COMMENTS,
    _STYLES,
    _one_condition_per_key,
    damaged,
    with_spans,
    written,
)

LOADERS = [True, False] if yaml.__with_libyaml__ else [False]


def read_both_ways(text: str, libyaml: bool) -> tuple[Any, Any]:
    """The direct and the reference result of ``text``: (AST with spans, diagnostics)."""
    source = SourceFile("p.policy.yaml", text)
    direct, direct_diagnostics = parse_yaml_policy(source, libyaml=libyaml)
    reference, reference_diagnostics = parse_yaml_policy(source, libyaml=libyaml, direct=False)
    assert direct_diagnostics == reference_diagnostics
    assert with_spans(direct) == with_spans(reference)
    if direct is not None and reference is not None:
        assert lower(direct, yaml=True) == lower(reference, yaml=True)
    return with_spans(direct), direct_diagnostics


def taken_directly(text: str, libyaml: bool) -> bool:
    source = SourceFile("p.policy.yaml", text)
    return direct_statements(yaml_front._root(source, yaml_front.POLICY_FORM, libyaml),
                             source) is not None


@settings(max_examples=examples(100), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(policies().filter(_one_condition_per_key), _STYLES, _COMMENTS)
def test_generated_policies_read_alike_and_directly(
    policy: ir.Policy, flow: bool | None, comments: list[tuple[int, str]],
) -> None:
    text = written(policy, flow, comments)
    for libyaml in LOADERS:
        syntax, diagnostics = read_both_ways(text, libyaml)
        if comments:  # a comment put at the end of a wrapped flow line may break the YAML
            continue
        assert syntax is not None and diagnostics == []
        # A policy as PyYAML writes it is plain (no anchors: the IR shares no lists).
        assert "&" in text or taken_directly(text, libyaml)


@settings(max_examples=examples(300), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(damaged())
def test_damaged_policies_read_alike(text: str) -> None:
    for libyaml in LOADERS:
        read_both_ways(text, libyaml)


_HEAD = "version: v1\npolicy: p\n"


@pytest.mark.parametrize(("text", "direct"), [
    # Valid, and plain: YAML's typing leaves every one of these a string or a flag.
    (_HEAD + "envs: [{name: prod, protected: yes}, {name: dev, protected: Off}, qa]\n", True),
    (_HEAD + "tiers: [{name: low, topics: a.b, fail_mode: open}]\n"
     "overrides: [{tier: low, fail_mode: open, until: 2026-12-01T00:00:00Z, reason: ''}]\n",
     True),
    (_HEAD + "rules:\n  - id: !x r\n    when: {}\n    decision: !!str deny\n    reason: ''\n",
     True),
    (_HEAD + "rules:\n  - {id: r, when: {topic: [a.b, c.*], env_not: x}, decision: deny}\n"
     "envs: [x]\ndefault_tier: low\ndefault_decision: allow\n", True),
    ("version: v1\r\npolicy: p\r\nrules: [{id: r, decision: <<}]", True),
    # An explicit tag gives an empty string a position both loaders agree on.
    (_HEAD + "rules: [{id: r, decision: deny, reason: !!str }]\n", True),
    # Not plain: the reference reads them and reports (or accepts) them as ever.
    (_HEAD + "envs: [{name: prod, protected: maybe}]\n", False),
    (_HEAD + "envs: [{name: prod, protected: !!bool yes}, {name: dev, protected: 1}]\n", False),
    (_HEAD + "rules: [{id: r, decision: deny, id: s}]\n", False),
    (_HEAD + "rules: [{id: r, decision: deny, <<: {reason: x}}]\n", False),
    (_HEAD + "rules: [{id: r, decision: deny, reason: }]\n", False),
    (_HEAD + "rules: [{id: r, when: , decision: deny}]\n", False),
    (_HEAD + "rules: [{id: r, when: {topic: []}, decision: deny}]\n", False),
    (_HEAD + "rules: [{id: r, when: {topic: [a, '']}, decision: deny}]\n", False),
    (_HEAD + "rules: [{id: r, when: {topic: a, topic: b}, decision: deny}]\n", False),
    (_HEAD + "rules: [{id: 12, decision: yes}]\n", False),
    (_HEAD + "rules: [{id: r}]\n", False),
    (_HEAD + "rules: {id: r, decision: deny}\n", False),
    (_HEAD + "tiers: [{name: low, topics: a, fail_mode: open, extra: 1}]\n", False),
    (_HEAD + "tiers: [{name: low, topics: a}]\n", False),
    (_HEAD + "overrides: [{tier: low, fail_mode: open, until: x}]\n", False),
    (_HEAD + "envs: [a, &b b, *b]\n", False),
    (_HEAD + "reason: x\n", False),
    ("version: v2\npolicy: p\n", False),
    ("version: v1\n", False),
    ("policy: p\n", False),
    ("- version: v1\n", False),
    ("version: v1\npolicy: ''\n", False),
    ("version: v1\npolicy: [p]\n", False),
    ("version: v1\npolicy: p\npolicy: q\n", False),
    ("version: v1\n1: p\n", False),
])
def test_yaml_oddities_read_alike(text: str, direct: bool) -> None:
    for libyaml in LOADERS:
        read_both_ways(text, libyaml)
        assert taken_directly(text, libyaml) is direct


def test_a_plain_policy_is_not_read_through_plain_data(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_data(*args: object, **kwargs: object) -> None:
        raise AssertionError("the reference read a plain policy")

    monkeypatch.setattr(yaml_front, "_compose", no_data)
    text = _HEAD + "envs: [prod]\nrules:\n  - {id: r, when: {env: prod}, decision: allow}\n"
    syntax, diagnostics = parse_yaml_policy(SourceFile("p.yaml", text))
    assert diagnostics == [] and syntax is not None
    policy, _ = lower(syntax, yaml=True)
    assert policy is not None and [r.id for r in policy.rules] == ["r"]


def test_the_direct_reader_takes_exactly_the_keys_of_the_schema() -> None:
    """A key the schema gains must be read by both paths, or policies using it would be
    refused by the direct reader alone (and so read more slowly, never wrongly)."""
    from dualgate.compiler.frontend import yaml_direct

    schema = load_schema("policy")
    items = {name: schema["properties"][name]["items"] for name in ("tiers", "overrides")}
    rule = schema["properties"]["rules"]["items"]
    env = schema["properties"]["envs"]["items"]["anyOf"][1]
    assert set(schema["properties"]) == yaml_direct._TOP_KEYS
    assert set(items["tiers"]["properties"]) == yaml_direct._TIER_KEYS
    assert set(items["tiers"]["required"]) == yaml_direct._TIER_KEYS
    assert set(items["overrides"]["properties"]) == yaml_direct._OVERRIDE_KEYS
    assert set(items["overrides"]["required"]) == yaml_direct._OVERRIDE_KEYS
    assert set(env["properties"]) == yaml_direct._ENV_KEYS
    assert set(env["required"]) == yaml_direct._ENV_REQUIRED
    assert set(yaml_direct.CONDITION_KEYS) == set(rule["properties"]["when"]["properties"])
    assert set(rule["properties"]) == {"id", "when", "decision", "reason"}
    assert set(rule["required"]) == {"id", "decision"}
