"""libyaml and PyYAML's pure-Python loader read every YAML policy alike: the same AST with
the same spans and comments, the same IR, the same diagnostics at the same positions, on
valid policies and on random damage done to them."""

from __future__ import annotations

import dataclasses
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dualgate.compiler import ir
from dualgate.compiler.frontend.loader import load_policy_text
from dualgate.compiler.frontend.lowering import lower
from dualgate.compiler.frontend.source import SourceFile, Span
from dualgate.compiler.frontend.yaml_front import (
    PURE_YAML_VARIABLE,
    libyaml_in_use,
    parse_yaml_policy,
    read_yaml_data,
    schema_violations,
    yaml_comments,
)
from dualgate.schemas import load_schema
from tests.profiles import examples
from tests.strategies import policies
from tests.test_front_end_equivalence import yaml_document

pytestmark = pytest.mark.skipif(not yaml.__with_libyaml__,
                                reason="PyYAML was built without libyaml")


def with_spans(value: Any) -> Any:
    """``value`` as plain tuples, spans and comments included (AST equality leaves them out)."""
    if isinstance(value, Span):
        return ("span", value.line, value.column, value.end_line, value.end_column)
    if dataclasses.is_dataclass(value) and not isinstance(value, type | SourceFile):
        return (type(value).__name__, *(with_spans(getattr(value, f.name))
                                        for f in dataclasses.fields(value)))
    if isinstance(value, tuple | list):
        return tuple(with_spans(v) for v in value)
    return value


def assert_both_loaders_agree(text: str) -> None:
    source = SourceFile("p.policy.yaml", text)
    fast, fast_diagnostics = parse_yaml_policy(source, libyaml=True)
    pure, pure_diagnostics = parse_yaml_policy(source, libyaml=False)
    assert fast_diagnostics == pure_diagnostics
    assert with_spans(fast) == with_spans(pure)
    if pure is not None:  # comments are asked for once a document has composed
        assert with_spans(yaml_comments(source, libyaml=True)) == with_spans(
            yaml_comments(source, libyaml=False))
    if fast is not None and pure is not None:
        assert lower(fast, yaml=True) == lower(pure, yaml=True)
    schema = load_schema("policy")
    assert read_yaml_data(source, schema, libyaml=True) == read_yaml_data(
        source, schema, libyaml=False)


def _one_condition_per_key(policy: ir.Policy) -> bool:
    return all(len({(c.attribute, c.negated) for c in r.conditions}) == len(r.conditions)
               for r in policy.rules)


_STYLES = st.sampled_from([None, True, False])
_COMMENTS = st.lists(st.tuples(st.integers(0, 40), st.sampled_from(
    ["# note", "#", "  # dualgate: ignore DG201 because", " #x: [y]"])), max_size=3)


def _with_comments(text: str, comments: list[tuple[int, str]]) -> str:
    lines = text.split("\n")
    for place, comment in comments:
        at = place % len(lines)
        lines[at] = lines[at] + (" " if lines[at] else "") + comment.strip()
    return "\n".join(lines)


def written(policy: ir.Policy, flow: bool | None, comments: list[tuple[int, str]]) -> str:
    text = yaml.safe_dump(yaml_document(policy), allow_unicode=False, sort_keys=False,
                          default_flow_style=flow)
    return _with_comments(text, comments)


@settings(max_examples=examples(120), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies().filter(_one_condition_per_key), _STYLES, _COMMENTS)
def test_valid_policies_read_alike(policy: ir.Policy, flow: bool | None,
                                   comments: list[tuple[int, str]]) -> None:
    text = written(policy, flow, comments)
    assert_both_loaders_agree(text)
    result, _ = parse_yaml_policy(SourceFile("p.policy.yaml", text), libyaml=True)
    # A comment put at the end of a wrapped flow line can fall inside a plain scalar that
    # goes on on the next line, which breaks the YAML (both loaders still agree on it).
    assert result is not None or bool(comments)


# What a slip of the keyboard inserts: YAML's indicators, anchors, aliases, tags, merges,
# tabs, odd characters, and the pieces of a policy's keys.
_DAMAGE = st.sampled_from([
    ":", "-", " ", "  ", "\n", "\t", "[", "]", "{", "}", ",", "#", "\"", "'", "|", ">",
    "&a ", "*a", "*b", "&b ", "!!int ", "!!bool ", "!!str ", "!x ", "<<: ", "---\n", "...",
    "? ", "%YAML 1.1\n", "\\", "\x00", "\x07", "\x85", "\u2028", "\ufeff", "é", "😀", "\r",
    "**.read", "*.x", "yes", "1e3", "~", "null", "0x1F", "2026-12-01", "id: ", "when: ",
    "rules:\n", "  - ", "envs: ", "decision: ",
])


@st.composite
def damaged(draw: st.DrawFn) -> str:
    policy = draw(policies(max_rules=3).filter(_one_condition_per_key))
    text = written(policy, draw(_STYLES), draw(_COMMENTS))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        if draw(st.booleans()):
            text = text[:at] + draw(_DAMAGE) + text[at:]
        else:
            text = text[:at] + text[at + draw(st.integers(1, 6)):]
    return text


@settings(max_examples=examples(400), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged())
def test_damaged_policies_get_the_same_diagnostics(text: str) -> None:
    assert_both_loaders_agree(text)


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged())
def test_the_fast_schema_check_passes_exactly_what_jsonschema_passes(text: str) -> None:
    """``schema_violations`` skips jsonschema when fastjsonschema passes the data: the two
    must agree on every document, or a violation would go unreported."""
    schema = load_schema("policy")
    data, _, _ = read_yaml_data(SourceFile("p.policy.yaml", text), schema)
    if data is None:  # not YAML
        return
    valid = not list(jsonschema.Draft202012Validator(schema).iter_errors(data))
    assert (list(schema_violations(schema, data)) == []) is valid


@pytest.mark.parametrize("text", [
    "",
    "version: v1\npolicy: p\n---\nversion: v1\n",
    "[" * 1500 + "]" * 1500,
    "a: " + "[" * 400 + "]" * 400,
    "a: &a " + "[" * 60 + "]" * 60 + "\nb: " + "[" * 60 + "*a" + "]" * 60,
    "version: v1\npolicy: p\nrules: &r [*r]\n",
    "version: v1\npolicy: p\nrules:\n  - &r {id: a, <<: *r}\n",
    "version: v1\npolicy: p\ntiers:\n  - {name: high, topics: **.delete, fail_mode: closed}\n",
    "version: v1\npolicy: p\n\ttiers: []\n",
    "version: v1\npolicy: \ud800\n",
    "version: v1\npolicy: p\nenvs: [a, a]\nenvs: [b]\n",
    "version: v1\npolicy: p\nrules:\n  - {id: r, when: {topic: a}, decision: deny} # c\n",
    "version: v1 # a\npolicy: 'p # b'\n# c\nrules: [] #d\n",
    "version: v1\npolicy: p\nrules: [id: ]\n",
    "version: v1\npolicy: p\nrules:\n  - id:\n    decision: deny\n  - {id: , decision: }\n",
    "version: v1\npolicy:\n",
])
def test_edge_cases_read_alike(text: str) -> None:
    assert_both_loaders_agree(text)


def _alias_bomb() -> str:
    lines = ["version: v1", "policy: p", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]
    return "\n".join(lines)


@pytest.mark.parametrize("libyaml", [True, False])
def test_an_alias_bomb_is_refused_by_both_loaders(libyaml: bool) -> None:
    _, diagnostics = parse_yaml_policy(SourceFile("p.yaml", _alias_bomb()), libyaml=libyaml)
    assert [(d.code.name, d.message) for d in diagnostics] == [
        ("invalid-yaml", "the document is too large once its aliases are expanded")]


@pytest.mark.slow
@pytest.mark.parametrize("libyaml", [True, False])
def test_a_large_policy_without_aliases_is_read_by_both_loaders(libyaml: bool) -> None:
    """The guard bounds expansion, not size: 12,000 rules (about 130,000 values, above its
    fixed allowance) written out in full are read."""
    rules = "".join(
        f"  - id: r{i}\n    when: {{topic: svc{i}.read, env: prod}}\n    decision: allow\n"
        for i in range(12_000)
    )
    text = f"version: v1\npolicy: p\nenvs: [prod]\nrules:\n{rules}"
    policy, diagnostics = parse_yaml_policy(SourceFile("big.yaml", text), libyaml=libyaml)
    assert diagnostics == []
    assert policy is not None and len(policy.statements) == 12_002  # policy, envs, rules


def test_the_variable_forces_the_pure_loader(monkeypatch: pytest.MonkeyPatch) -> None:
    used: list[type] = []
    compose_all = yaml.compose_all

    def recording(text: str, Loader: type) -> Any:  # noqa: N803 - PyYAML's keyword
        used.append(Loader)
        return compose_all(text, Loader=Loader)

    monkeypatch.setattr(yaml, "compose_all", recording)
    for value, in_use, loader in [(None, True, yaml.CSafeLoader), ("", True, yaml.CSafeLoader),
                                  ("1", False, yaml.SafeLoader)]:
        if value is None:
            monkeypatch.delenv(PURE_YAML_VARIABLE, raising=False)
        else:
            monkeypatch.setenv(PURE_YAML_VARIABLE, value)
        assert libyaml_in_use() is in_use
        used.clear()
        result = load_policy_text("version: v1\npolicy: p\n", "p.yaml")
        assert result.policy == ir.Policy(name="p")
        assert used == [loader]
