"""``dualgate diff``: every input form, every format, the exit codes and the error messages."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dualgate.compiler.cli import main as cli_main
from dualgate.compiler.frontend.loader import load_policy
from dualgate.compiler.reference import Request, evaluate
from tests.test_diff_oracle import NOW

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
NOW_TEXT = "2026-01-01T00:00:00Z"

BASE = """policy shop
envs production (protected), staging
default_decision deny

tier high topics payments.** fail_mode closed
tier low topics **.read fail_mode open

rule approve-refunds
  when topic payments.refund.create
   and env production
  then require_human

rule allow-reads
  when topic **.read
  then allow
"""

#: BASE without its approval rule (refunds fall to the default), reads no longer allowed
#: from outside 10.0.0.0/8, and `**.read` moved to the medium tier.
HEAD = """policy shop
envs production (protected), staging
default_decision allow

tier high topics payments.** fail_mode closed
tier medium topics **.read fail_mode closed

rule deny-outside-reads
  when topic **.read
   and cidr not in 10.0.0.0/8
  then deny

rule allow-reads
  when topic **.read
  then allow
"""

HEAD_YAML = """version: v1
policy: shop
envs:
  - {name: production, protected: true}
  - staging
default_decision: allow
tiers:
  - {name: high, topics: ["payments.**"], fail_mode: closed}
  - {name: medium, topics: ["**.read"], fail_mode: closed}
rules:
  - id: deny-outside-reads
    when: {topic: "**.read", cidr_not: ["10.0.0.0/8"]}
    decision: deny
  - id: allow-reads
    when: {topic: "**.read"}
    decision: allow
"""


def run(*args: str, input: bytes | str | None = None) -> Result:
    return CliRunner().invoke(cli_main.cli, ["--no-color", "diff", *args], input=input)


@pytest.fixture
def sides(tmp_path: Path) -> tuple[Path, Path]:
    base, head = tmp_path / "base.policy", tmp_path / "head.policy"
    base.write_text(BASE)
    head.write_text(HEAD)
    return base, head


def _json(result: Result) -> dict[str, object]:
    assert result.exit_code in (0, 1), result.output
    document = json.loads(result.stdout)
    assert isinstance(document, dict)
    return document


def test_json_follows_the_issue_shape_and_every_witness_is_confirmed(
    sides: tuple[Path, Path],
) -> None:
    base, head = sides
    document = _json(run(str(base), str(head), "--format", "json", "--now", NOW_TEXT))
    assert set(document) == {"base", "head", "changes", "summary"}
    assert document["base"] == {"path": str(base), "policy": "shop",
                                "source_sha256": hashlib.sha256(BASE.encode()).hexdigest()}
    changes = document["changes"]
    assert isinstance(changes, list)
    refund = next(c for c in changes if c["kind"] == "decision"
                  and c["base"]["rule"] == "approve-refunds")
    assert {k: refund[k] for k in ("direction", "env", "protected")} == {
        "direction": "loosening", "env": "production", "protected": True}
    assert refund["base"] == {"decision": "require_human", "rule": "approve-refunds",
                              "reason": "rule", "tier": "high", "fail_mode": "closed",
                              "location": f"{base}:8:1"}
    assert refund["head"] == {"decision": "allow", "rule": None, "reason": "default",
                              "tier": "high", "fail_mode": "closed", "location": None}
    assert refund["witness"] == {"topic": "payments.refund.create", "env": "production",
                                 "cidr": None}
    tier = next(c for c in changes if c["kind"] == "tier")
    assert set(tier) - {"description"} == {"kind", "direction", "base", "head", "witness"}
    assert tier["base"] == {"tier": "low", "fail_mode": "open"}
    assert tier["head"] == {"tier": "medium", "fail_mode": "closed"}
    assert set(tier["witness"]) == {"topic"}

    policies = [load_policy(path).policy for path in sides]
    assert policies[0] is not None and policies[1] is not None
    for change in changes:
        witness = change["witness"]
        request = Request(witness["topic"], witness.get("env", "production"), witness.get("cidr"))
        for side, policy in zip(("base", "head"), policies, strict=True):
            got = evaluate(policy, request, NOW)
            assert (got.tier, got.fail_mode) == (change[side]["tier"], change[side]["fail_mode"])
            if change["kind"] == "decision":
                assert (got.decision, got.rule, got.reason) == (
                    change[side]["decision"], change[side]["rule"], change[side]["reason"])
    summary = document["summary"]
    assert summary["equivalent"] is False
    assert summary["loosening"] + summary["tightening"] == len(changes)
    assert sum(sum(v.values()) for v in summary["by_tier"].values()) == len(changes)


def test_text_groups_by_env_protected_first_and_loosening_first(
    sides: tuple[Path, Path],
) -> None:
    result = run(*map(str, sides), "--now", NOW_TEXT)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.index("env production (protected)") < out.index("env staging")
    assert out.index("env staging") < out.index("tiers and fail modes")
    production = out[out.index("env production"):out.index("env staging")]
    assert production.index("loosening:") < production.index("tightening:")
    assert "cidr not within `10.0.0.0/8` (or none)" in out
    line = next(line for line in out.splitlines() if "approve-refunds" in line)
    assert f"{sides[0]}:8:1" in line and "the default decision" in line
    assert "e.g. topic `payments.refund.create`, env `production`, no cidr" in line
    deny = next(line for line in out.splitlines() if "deny-outside-reads" in line)
    assert f"{sides[1]}:8:1" in deny and f"{sides[0]}:13:1" in deny


def test_markdown_is_a_comment_with_a_table_per_env(sides: tuple[Path, Path]) -> None:
    result = run(*map(str, sides), "--format", "markdown", "--now", NOW_TEXT)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("### Policy diff:")
    assert "#### env `production` (protected)" in out
    assert "| **loosening** |" in out and "| tightening |" in out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    assert all(line.count(" | ") == 3 for line in rows if not line.startswith("| direction"))


def test_exit_code_is_1_only_when_the_policies_differ(sides: tuple[Path, Path]) -> None:
    base, head = sides
    assert run(str(base), str(head), "--exit-code").exit_code == 1
    assert run(str(base), str(head)).exit_code == 0
    same = run(str(base), str(base), "--exit-code")
    assert same.exit_code == 0
    assert "no changes" in same.stdout


def test_yaml_and_dsl_mix_and_give_the_same_changes(sides: tuple[Path, Path],
                                                    tmp_path: Path) -> None:
    base, head = sides
    yaml_head = tmp_path / "head.policy.yaml"
    yaml_head.write_text(HEAD_YAML)
    assert run(str(head), str(yaml_head), "--exit-code").exit_code == 0
    dsl = _json(run(str(base), str(head), "--format", "json", "--now", NOW_TEXT))
    mixed = _json(run(str(base), str(yaml_head), "--format", "json", "--now", NOW_TEXT))
    strip = [{k: v for k, v in c.items() if k not in ("base", "head")} for c in dsl["changes"]]
    assert strip == [{k: v for k, v in c.items() if k not in ("base", "head")}
                     for c in mixed["changes"]]


def test_standard_input_for_either_side(sides: tuple[Path, Path]) -> None:
    head = sides[1]
    from_stdin = _json(run("-", str(head), "--format", "json", input=BASE))
    assert from_stdin["base"]["path"] == "<stdin>"
    assert from_stdin["summary"]["equivalent"] is False
    named = _json(run(str(head), "-", "--format", "json", "--stdin-filename", "h.policy.yaml",
                      input=HEAD_YAML))
    assert named["head"]["path"] == "h.policy.yaml"
    assert named["summary"]["equivalent"] is True
    both = run("-", "-", input=BASE)
    assert both.exit_code == 2 and "only one of BASE and HEAD" in both.output


def test_front_end_errors_exit_2_with_diagnostics(sides: tuple[Path, Path],
                                                  tmp_path: Path) -> None:
    broken = tmp_path / "broken.policy"
    broken.write_text("policy shop\nenvs production\nrule r\n  when env prod\n  then allow\n")
    result = run(str(sides[0]), str(broken))
    assert result.exit_code == 2
    assert f"{broken}:4:" in result.stderr and "DG" in result.stderr
    assert f"cannot diff `{broken}`: it has errors" in result.stderr
    assert result.stdout == ""


def test_analysis_findings_do_not_stop_a_diff(sides: tuple[Path, Path],
                                              tmp_path: Path) -> None:
    shadowed = tmp_path / "shadowed.policy"
    shadowed.write_text(BASE + "\nrule shadowed\n  when topic a.read\n  then deny\n")
    assert run(str(sides[0]), str(shadowed), "--exit-code").exit_code == 0


def test_missing_files_and_bad_arguments_exit_2(tmp_path: Path) -> None:
    missing = run(str(tmp_path / "nope.policy"), str(tmp_path / "nope.policy"))
    assert missing.exit_code == 2
    assert f"cannot read `{tmp_path / 'nope.policy'}`: no such file" in missing.stderr
    directory = run(str(tmp_path), str(tmp_path))
    assert directory.exit_code == 2 and "a directory, not a policy file" in directory.stderr
    assert "Traceback" not in missing.output + directory.output
    bad_now = run(str(tmp_path), str(tmp_path), "--now", "2026-01-01")
    assert bad_now.exit_code == 2 and "is a date" in bad_now.output


# -- REV:PATH, in a real git repository ------------------------------------------------

GIT = shutil.which("git")
needs_git = pytest.mark.skipif(GIT is None, reason="git is not installed")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "policies").mkdir(parents=True)
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "dev@example.com")
    _git(repo, "config", "user.name", "dev")
    (repo / "policies" / "shop.policy").write_text(BASE)
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "base")
    (repo / "policies" / "shop.policy").write_text(HEAD)
    return repo


def dualgate(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed command in a subprocess, as CI runs it."""
    return subprocess.run(
        [sys.executable, "-c", "from dualgate.compiler.cli.main import main; main()",
         "diff", *args], cwd=cwd, capture_output=True, text=True, check=False)


@needs_git
def test_revision_and_path_are_read_with_git(repo: Path) -> None:
    result = dualgate(repo, "HEAD:policies/shop.policy", "policies/shop.policy",
                      "--format", "json", "--exit-code", "--now", NOW_TEXT)
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    assert document["base"]["path"] == "HEAD:policies/shop.policy"
    assert document["base"]["source_sha256"] == hashlib.sha256(BASE.encode()).hexdigest()
    refund = next(c for c in document["changes"] if c["base"]["rule"] == "approve-refunds")
    assert refund["base"]["location"] == "HEAD:policies/shop.policy:8:1"
    relative = dualgate(repo / "policies", "HEAD:./shop.policy", "HEAD:policies/shop.policy",
                        "--exit-code")
    assert relative.returncode == 0, relative.stderr


@needs_git
def test_bad_revision_missing_path_and_no_repository_exit_2(repo: Path, tmp_path: Path) -> None:
    bad = dualgate(repo, "no-such-rev:policies/shop.policy", "policies/shop.policy")
    assert bad.returncode == 2
    assert bad.stderr.strip() == "dualgate diff: unknown git revision `no-such-rev`"
    gone = dualgate(repo, "HEAD:policies/gone.policy", "policies/shop.policy")
    assert gone.returncode == 2
    assert "`policies/gone.policy` does not exist in revision `HEAD`" in gone.stderr
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "shop.policy").write_text(BASE)
    no_repo = dualgate(outside, "HEAD:shop.policy", "shop.policy")
    assert no_repo.returncode == 2
    assert "not inside a git repository" in no_repo.stderr
    assert "Traceback" not in bad.stderr + gone.stderr + no_repo.stderr


def test_missing_git_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    (tmp_path / "shop.policy").write_text(BASE)
    result = run("HEAD:shop.policy", str(tmp_path / "shop.policy"))
    assert result.exit_code == 2
    assert "git is not installed" in result.stderr


def test_example_against_its_edited_copy() -> None:
    result = run(str(POLICIES / "payments.policy"), str(POLICIES / "changes" / "payments.policy"),
                 "--format", "json", "--now", NOW_TEXT)
    document = _json(result)
    kinds = {(c["kind"], c["direction"], c.get("env")) for c in document["changes"]}
    assert kinds == {("decision", "loosening", "production"), ("tier", "tightening", None)}
    rules = {(c["base"].get("rule"), c["head"].get("rule")) for c in document["changes"]}
    assert ("require-human-prod-money-movement", "throttle-prod-payout-batch") in rules
    assert ("deny-prod-campaigns", "throttle-prod-customer-messages") in rules
