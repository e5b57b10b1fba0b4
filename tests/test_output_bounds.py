"""Output stays small whatever the input: long lines and values are cut with an
ellipsis, and a bundle passed for a policy (or the reverse) gets one line."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner, Result

from dualgate.compiler.cli.main import cli
from dualgate.compiler.diagnostics import EXCERPT_WIDTH, VALUE_WIDTH, shown

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["--no-color", *args])


def test_shown_cuts_long_values_with_an_ellipsis() -> None:
    assert shown("a" * VALUE_WIDTH) == "a" * VALUE_WIDTH
    assert shown("a" * (VALUE_WIDTH + 1)) == "a" * (VALUE_WIDTH - 1) + "…"
    assert shown("\t" * VALUE_WIDTH) == "\\t" * (VALUE_WIDTH // 2 - 1) + "\\…"
    assert len(shown("x" * 5_000_000)) == VALUE_WIDTH


def test_a_five_megabyte_policy_on_one_line_gives_a_small_report(tmp_path: Path) -> None:
    policy = tmp_path / "long.policy"
    rules = " ".join(f"rule r{i} when topic svc{i}.read and env prod then allow"
                     for i in range(200))
    policy.write_text(f"policy p envs production {rules} rule last when env {'e' * 100_000} "
                      f"then deny # {'x' * 5_000_000}")
    assert policy.stat().st_size > 5_000_000
    result = run("lint", str(policy))
    assert result.exit_code == 1
    assert len(result.output) < 40_000
    excerpts = [line for line in result.output.splitlines() if line.startswith("1 | ")]
    assert excerpts and all(len(line) <= EXCERPT_WIDTH + 6 for line in excerpts)
    carets = [line for line in result.output.splitlines() if "^" in line]
    assert all(line.strip(" |^") == "" for line in carets)


def test_the_caret_stays_under_its_text_in_a_cut_line(tmp_path: Path) -> None:
    policy = tmp_path / "p.policy"
    policy.write_text("policy p envs production " + "rule a when topic x then allow " * 20
                      + "rule b when env prod then deny\n")
    lines = run("lint", str(policy)).output.splitlines()
    index = next(i for i, line in enumerate(lines) if "prod` is not declared" in line)
    excerpt, caret = lines[index + 2], lines[index + 3]
    start = caret.index("^")
    assert excerpt[start:start + 4] == "prod" and caret.count("^") == 4
    assert excerpt.startswith("1 | …") and len(excerpt) <= EXCERPT_WIDTH + 6


def test_a_bundle_given_as_a_policy_and_a_policy_given_as_a_bundle(tmp_path: Path) -> None:
    bundle = tmp_path / "infra.policy"  # a bundle, whatever its name says
    assert run("compile", str(ROOT / "policies" / "infra.policy"), "-o", str(bundle)
               ).exit_code == 0
    lint = run("lint", str(bundle))
    assert lint.exit_code == 1
    assert lint.output.splitlines()[0] == (
        f"{bundle}:1:1: DG010 (syntax-error) `{bundle}` is a compiled bundle, not a policy "
        "source")
    assert len(lint.output.splitlines()) == 4
    compiled = run("compile", str(bundle), "-o", str(tmp_path / "x.json"))
    assert compiled.exit_code == 2
    assert compiled.stderr == (f"`{bundle}` is a compiled bundle, not a policy source: "
                               "`dualgate inspect` shows what it holds\n")
    assert run("eval", str(bundle), "--topic", "infra.vm.read", "--env", "dev").exit_code == 0
    policy = tmp_path / "infra.bundle.json"  # a policy, whatever its name says
    shutil.copy(ROOT / "policies" / "infra.policy", policy)
    for command in ("verify", "inspect"):
        refused = run(command, str(policy))
        assert refused.exit_code == 1
        assert refused.stderr == (
            f"refused `{policy}`: it is no bundle (not a JSON document); a policy source "
            "becomes one with `dualgate compile`\n")
