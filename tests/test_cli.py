"""The command line through click's runner: exit codes, output shapes, options."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dualgate.compiler.cli import main as cli_main
from dualgate.compiler.codes import CODES

GOOD = (
    "policy good\nenvs production (protected), dev\ntier low topics **.read fail_mode open\n"
    "rule allow-reads\n  when topic **.read\n  then allow\n"
)
BAD = "policy bad\nenvs production\nrule r\n  when env prod\n  then dny\n"


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli_main.cli, ["--no-color", *args], input=input)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "good.policy").write_text(GOOD)
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "bad.policy").write_text(BAD)
    (tmp_path / "nested" / "also.policy.yaml").write_text(
        "version: v1\npolicy: also\nrules:\n  - {id: r, decision: allow}\n"
    )
    (tmp_path / "nested" / "cases.yaml").write_text("not: a policy\n")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "skipped.policy").write_text("garbage")
    return tmp_path


def test_lint_clean_file_exits_0(tree: Path) -> None:
    result = run("lint", str(tree / "good.policy"))
    assert result.exit_code == 0
    assert result.output.strip() == "All checks passed (1 file)."


def test_lint_errors_exit_1_with_located_diagnostics(tree: Path) -> None:
    path = tree / "nested" / "bad.policy"
    result = run("lint", str(path))
    assert result.exit_code == 1
    assert f"{path}:4:12: DG101 (undeclared-env) env `prod` is not declared" in result.output
    assert "4 |   when env prod\n  |            ^^^^" in result.output
    assert "= help: did you mean `production`?" in result.output
    assert f"{path}:5:8: DG104 (unknown-decision) unknown decision `dny`" in result.output
    assert result.output.rstrip().endswith("Found 2 errors, 0 warnings in 1 file.")


def test_directories_are_searched_for_policy_files_only(tree: Path) -> None:
    result = run("lint", "--format", "json", str(tree))
    document = json.loads(result.output)
    assert document["summary"]["files"] == 3  # good, bad, also.policy.yaml; not cases.yaml
    assert {Path(d["path"]).name for d in document["diagnostics"]} == {"bad.policy"}
    assert result.exit_code == 1


def test_json_output_shape(tree: Path) -> None:
    result = run("lint", "--format", "json", str(tree / "nested" / "bad.policy"))
    document = json.loads(result.output)
    assert set(document) == {"diagnostics", "suppressed", "summary"}
    assert document["summary"] == {
        "files": 1, "errors": 2, "warnings": 0, "infos": 0, "suppressed": 0, "hidden": 0,
    }
    first = document["diagnostics"][0]
    assert set(first) == {
        "code", "name", "severity", "message", "path", "line", "column", "end_line",
        "end_column", "help", "related",
    }
    assert (first["code"], first["name"], first["severity"]) == (
        "DG101", "undeclared-env", "error"
    )
    assert (first["line"], first["column"], first["end_line"], first["end_column"]) == (
        4, 12, 4, 16
    )
    assert first["related"] == [
        {"path": first["path"], "line": 2, "column": 1, "message": "envs are declared here"}
    ]


def test_missing_path_exits_2(tree: Path) -> None:
    result = run("lint", str(tree / "good.policy"), str(tree / "missing.policy"))
    assert result.exit_code == 2
    assert "DG001 (unreadable-file) no such file or directory" in result.output


def test_no_arguments_is_a_usage_error() -> None:
    assert run("lint").exit_code == 2


def test_directory_without_policies_is_a_usage_error(tmp_path: Path) -> None:
    result = run("lint", str(tmp_path))
    assert result.exit_code == 2
    assert "no policy files found" in result.output


def test_stdin_uses_the_given_filename_and_format() -> None:
    yaml_text = "version: v1\npolicy: p\nrules:\n  - {id: r, decision: nope}\n"
    result = run("lint", "-", "--stdin-filename", "team.policy.yaml", input=yaml_text)
    assert result.exit_code == 1
    assert "team.policy.yaml:4:23: DG104 (unknown-decision)" in result.output


def test_text_output_is_capped_but_json_is_not(tmp_path: Path) -> None:
    rules = "".join(f"rule r{i}\n  then nope\n" for i in range(5))
    path = tmp_path / "many.policy"
    path.write_text("policy many\n" + rules)
    capped = run("lint", "--max-diagnostics", "2", str(path))
    assert capped.output.count("DG104") == 2
    assert "... and 3 more (error limit reached)" in capped.output
    assert "Found 5 errors" in capped.output
    full = json.loads(run("lint", "--format", "json", "--max-diagnostics", "2", str(path)).output)
    assert len(full["diagnostics"]) == 5


def test_color_can_be_forced(tree: Path) -> None:
    path = str(tree / "nested" / "bad.policy")
    colored = CliRunner().invoke(cli_main.cli, ["--color", "lint", path])
    assert "\x1b[" in colored.output
    assert "\x1b[" not in run("lint", path).output


def test_explain_prints_every_section() -> None:
    result = run("explain", "DG101")
    assert result.exit_code == 0
    assert result.output.startswith("DG101 (undeclared-env) [error]")
    for section in ("## What it does", "## Why it matters", "## Example", "## Fix"):
        assert section in result.output
    assert run("explain", "undeclared-env").output == result.output


def test_explain_without_code_lists_every_code() -> None:
    result = run("explain")
    assert result.exit_code == 0
    assert [line.split()[0] for line in result.output.splitlines()] == list(CODES)


def test_explain_unknown_code_suggests_and_exits_2() -> None:
    result = run("explain", "DG10")
    assert result.exit_code == 2
    assert "unknown code `DG10`" in result.output


def test_version_agrees_with_the_package_metadata() -> None:
    assert run("--version").output.strip() == f"dualgate, version {version('dualgate')}"


def test_internal_errors_are_reported_without_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(cli_main.cli, "main", broken)
    monkeypatch.delenv("DUALGATE_TRACEBACK", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        cli_main.main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: boom" in err
    assert "Traceback" not in err


def test_help_lists_every_command_with_a_whole_summary() -> None:
    result = run("--help")
    assert result.exit_code == 0
    for command in ("explain", "fmt", "lint"):
        line = next(x for x in result.output.splitlines() if x.strip().startswith(command))
        assert line.rstrip().endswith("."), line


def test_directory_search_ignores_the_case_of_file_endings(tmp_path: Path) -> None:
    (tmp_path / "UPPER.POLICY").write_text(GOOD)
    (tmp_path / "Mixed.Policy.YAML").write_text("version: v1\npolicy: m\n")
    document = json.loads(run("lint", "--format", "json", str(tmp_path)).output)
    assert document["summary"]["files"] == 2
