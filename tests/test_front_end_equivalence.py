"""Both front ends mean the same: any policy written as YAML lowers to the IR its DSL form does."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings

from dualgate.compiler import ir
from dualgate.compiler.formatter import format_policy
from dualgate.compiler.frontend.loader import load_policy_text
from dualgate.compiler.raising import raise_policy
from tests.profiles import examples
from tests.strategies import policies


def _values(condition: ir.Condition) -> list[str]:
    if isinstance(condition, ir.TopicCondition):
        return [p.text for p in condition.patterns]
    if isinstance(condition, ir.EnvCondition):
        return list(condition.envs)
    return [str(n) for n in condition.networks]


def yaml_document(policy: ir.Policy) -> dict[str, Any]:
    """The YAML form of ``policy``, written from the IR with the keys of the schema."""
    document: dict[str, Any] = {"version": "v1", "policy": policy.name}
    if policy.envs:
        document["envs"] = [
            {"name": e.name, "protected": True} if e.protected else e.name for e in policy.envs
        ]
    document["default_decision"] = policy.default_decision.value
    document["default_tier"] = policy.default_tier.value
    document["tiers"] = [
        {"name": t.name.value, "topics": [p.text for p in t.patterns],
         "fail_mode": t.fail_mode.value}
        for t in policy.tiers
    ]
    document["rules"] = []
    for rule in policy.rules:
        entry: dict[str, Any] = {"id": rule.id, "decision": rule.decision.value}
        if rule.conditions:
            entry["when"] = {
                c.attribute + ("_not" if c.negated else ""): _values(c) for c in rule.conditions
            }
        if rule.reason is not None:
            entry["reason"] = rule.reason
        document["rules"].append(entry)
    document["overrides"] = [
        {"tier": o.tier.value, "fail_mode": o.fail_mode.value,
         "until": ir.format_timestamp(o.until), "reason": o.reason}
        for o in policy.overrides
    ]
    return document


def _one_condition_per_key(policy: ir.Policy) -> bool:
    """YAML mappings have unique keys, so a rule can hold one condition per attribute/sign."""
    return all(
        len({(c.attribute, c.negated) for c in r.conditions}) == len(r.conditions)
        for r in policy.rules
    )


@settings(max_examples=examples(200), deadline=None)
@given(policies().filter(_one_condition_per_key))
def test_yaml_and_dsl_forms_lower_to_the_same_ir(policy: ir.Policy) -> None:
    # Escaped output: with allow_unicode PyYAML writes U+0085 raw, which YAML reads as a
    # line break and folds into a space (right for YAML, wrong for this emitter).
    yaml_text = yaml.safe_dump(yaml_document(policy), allow_unicode=False, sort_keys=False)
    from_yaml = load_policy_text(yaml_text, "random.policy.yaml")
    from_dsl = load_policy_text(format_policy(raise_policy(policy)), "random.policy")
    assert from_yaml.diagnostics == [], yaml_text
    assert from_dsl.diagnostics == []
    assert from_yaml.policy == from_dsl.policy == policy
