"""The CI integrations users copy: valid YAML, commands that exist, file patterns that fit."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from dualgate.compiler.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent


def test_pre_commit_hooks_run_existing_commands_on_policy_files() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert {hook["id"] for hook in hooks} == {"dualgate-lint", "dualgate-fmt"}
    for hook in hooks:
        program, command = hook["entry"].split()
        assert program == "dualgate" and command in cli.commands
    patterns = {hook["id"]: re.compile(hook["files"]) for hook in hooks}
    assert patterns["dualgate-lint"].search("policies/infra.policy")
    assert patterns["dualgate-lint"].search("policies/payments.policy.yaml")
    assert not patterns["dualgate-lint"].search("deploy/values.yaml")
    assert not patterns["dualgate-fmt"].search("policies/payments.policy.yaml")


def test_templates_are_valid_yaml_and_call_existing_commands() -> None:
    config = yaml.safe_load((ROOT / "ci" / "pre-commit-config.yaml").read_text())
    assert {h["id"] for h in config["repos"][0]["hooks"]} == {"dualgate-lint", "dualgate-fmt"}
    workflow = yaml.safe_load((ROOT / "ci" / "github" / "dualgate.yml").read_text())
    commands = [
        step["run"] for step in workflow["jobs"]["lint"]["steps"]
        if str(step.get("run", "")).startswith("dualgate ")
    ]
    assert commands
    for command in commands:
        assert command.split()[1] in cli.commands
