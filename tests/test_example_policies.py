"""The example policies in policies/: clean, canonical, and the same in DSL and YAML."""

from __future__ import annotations

from pathlib import Path

import pytest

from dualgate.compiler.formatter import format_policy
from dualgate.compiler.loader import POLICY_SUFFIXES, load_policy

POLICIES = Path(__file__).resolve().parent.parent / "policies"
EXAMPLES = sorted(p for p in POLICIES.iterdir() if p.name.endswith(POLICY_SUFFIXES))
DSL_EXAMPLES = [p for p in EXAMPLES if p.suffix == ".policy"]


def test_there_are_at_least_three_policies_and_one_yaml() -> None:
    assert len(DSL_EXAMPLES) >= 3
    assert any(p.name.endswith(".policy.yaml") for p in EXAMPLES)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_has_no_diagnostic_at_all(path: Path) -> None:
    result = load_policy(path)
    assert result.diagnostics == []
    assert result.policy is not None and len(result.policy.rules) >= 8


@pytest.mark.parametrize("path", DSL_EXAMPLES, ids=lambda p: p.name)
def test_example_is_in_the_canonical_layout(path: Path) -> None:
    result = load_policy(path)
    assert result.syntax is not None
    assert format_policy(result.syntax) == path.read_text()


@pytest.mark.parametrize(
    "yaml_path", [p for p in EXAMPLES if p.name.endswith((".yaml", ".yml"))],
    ids=lambda p: p.name,
)
def test_yaml_example_lowers_to_the_same_ir_as_its_dsl_twin(yaml_path: Path) -> None:
    twin = yaml_path.with_name(yaml_path.name.split(".policy.")[0] + ".policy")
    dsl, yaml = load_policy(twin).policy, load_policy(yaml_path).policy
    assert dsl is not None and yaml is not None
    assert dsl == yaml
    assert dsl.model_dump() == yaml.model_dump()
