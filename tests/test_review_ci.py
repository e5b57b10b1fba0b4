"""The review's GitHub Action and workflow template: valid, and the action's script works."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dualgate.compiler.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
ACTION = yaml.safe_load((ROOT / "ci" / "action.yml").read_text())
TEMPLATE = yaml.safe_load((ROOT / "ci" / "github" / "dualgate-review.yml").read_text())


def step(name: str) -> dict:  # type: ignore[type-arg]
    return next(s for s in ACTION["runs"]["steps"] if s.get("name") == name)


def test_the_action_is_a_composite_that_reviews_summarizes_and_uploads() -> None:
    assert ACTION["runs"]["using"] == "composite"
    assert "dualgate \"${args[@]}\"" in step("Review")["run"]
    assert "args=(review --base" in step("Review")["run"]
    assert "$GITHUB_STEP_SUMMARY" in step("Write the job summary")["run"]
    assert step("Upload SARIF")["uses"].startswith("github/codeql-action/upload-sarif@")
    options = {p.opts[0] for p in cli.commands["review"].params if p.opts}
    for option in ("--base", "--format", "--output", "--waivers", "--replay"):
        assert option in options and option in step("Review")["run"]


def test_the_template_uses_the_action_with_history_and_permissions() -> None:
    assert TEMPLATE["permissions"]["security-events"] == "write"
    steps = TEMPLATE["jobs"]["review"]["steps"]
    assert steps[0]["with"]["fetch-depth"] == 0
    assert steps[1]["uses"].split("@")[0].endswith("/ci")
    assert set(steps[1]["with"]) <= set(ACTION["inputs"])
    assert {"requirement"} <= set(steps[1]["with"])


@pytest.mark.parametrize(("verdict", "status"), [("pass", "0"), ("blocked", "1")])
def test_the_review_step_runs_in_a_repository(tmp_path: Path, verdict: str, status: str) -> None:
    def git(*arguments: str) -> None:
        subprocess.run(["git", *arguments], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("config", "user.name", "Test")
    git("config", "user.email", "test@example.com")
    (tmp_path / "policies").mkdir()
    policy = tmp_path / "policies" / "p.policy"
    policy.write_text("policy p\nenvs production (protected)\n"
                      "rule r\n  when topic a.b\n  then throttle\n")
    git("add", ".")
    git("commit", "-q", "-m", "base")
    # A tightening passes; a loosening in the protected env blocks.
    policy.write_text(policy.read_text().replace(
        "then throttle", "then deny" if verdict == "pass" else "then allow"))
    output = tmp_path / "github_output"
    reports = tmp_path / "reports"
    env = {
        **os.environ, "BASE": "main", "PATHS": "policies", "WAIVERS": "", "REPLAY": "",
        "REPORTS": str(reports), "GITHUB_OUTPUT": str(output),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    completed = subprocess.run(["bash", "-e", "-c", step("Review")["run"]], cwd=tmp_path,
                               env=env, capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr
    written = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert (written["verdict"], written["status"]) == (verdict, status)
    assert json.loads((reports / "review.json").read_text())["verdict"] == verdict
    assert (reports / "review.md").read_text().startswith("## dualgate review")
    assert (reports / "review.sarif").is_file() and (reports / "review.junit.xml").is_file()
    if verdict == "blocked":
        assert completed.stdout.startswith("::error file=policies/p.policy,line=3,")
