"""The example policies in policies/: clean, canonical, and the same in DSL and YAML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from dualgate.compiler.cli.main import cli
from dualgate.compiler.formatter import format_policy
from dualgate.compiler.frontend.loader import POLICY_SUFFIXES, load_policy
from dualgate.compiler.reference import Request, evaluate

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


REQUESTS = POLICIES / "requests"


@pytest.mark.parametrize("requests", [
    p for p in sorted(REQUESTS.glob("*.jsonl")) if not p.name.endswith(".expected.jsonl")
], ids=lambda p: p.stem)
def test_example_requests_get_the_reviewed_decisions(requests: Path) -> None:
    """``policies/requests/NAME.jsonl`` are requests to ``policies/NAME.policy`` and
    ``NAME.expected.jsonl`` the reviewed answers: ``dualgate eval`` (which `make demo`
    runs) gives exactly them, each naming the hash of the bundle that decided (left out of
    the reviewed answers, as it changes with every compiler version), and so does the
    reference interpreter."""
    policy_path = POLICIES / f"{requests.stem}.policy"
    result = CliRunner().invoke(cli, ["eval", str(policy_path), "--input", str(requests)])
    assert result.exit_code == 0, result.output
    expected = requests.with_name(f"{requests.stem}.expected.jsonl").read_text()
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert len({answer.pop("bundle") for answer in answers}) == 1
    assert answers == [json.loads(line) for line in expected.splitlines()]
    policy = load_policy(policy_path).policy
    assert policy is not None
    for line, answer in zip(requests.read_text().splitlines(), expected.splitlines(),
                            strict=True):
        request, want = json.loads(line), json.loads(answer)
        got = evaluate(policy, Request(request["topic"], request["env"], request.get("cidr")))
        assert (got.decision, got.rule, got.reason) == (want["decision"], want["rule"],
                                                        want["reason"])


def test_every_dsl_example_has_reviewed_requests() -> None:
    for path in DSL_EXAMPLES:
        assert (REQUESTS / f"{path.stem}.jsonl").exists(), path.name
        assert (REQUESTS / f"{path.stem}.expected.jsonl").exists(), path.name
