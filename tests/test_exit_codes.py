"""One exit-code table for every command (README, "Exit codes"): 0 ok, 1 the check
failed, 2 usage or I/O problem. A missing file is 2 everywhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from dualgate.compiler.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "policies" / "infra.policy"
FLAWED = ROOT / "tests" / "fixtures" / "flawed" / "flawed.policy"
MISSING = "/nonexistent/dualgate/infra.policy"
MISSING_BUNDLE = "/nonexistent/dualgate/infra.bundle.json"


def code(*args: str, input: str | None = None) -> int:
    return CliRunner().invoke(cli, ["--no-color", *args], input=input).exit_code


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("bundle") / "infra.bundle.json"
    assert code("compile", str(INFRA), "-o", str(target)) == 0
    return target


@pytest.mark.parametrize("args", [
    ("lint", MISSING), ("fmt", MISSING), ("fmt", "--check", MISSING), ("compile", MISSING),
    ("eval", MISSING, "--topic", "a", "--env", "b"),
    ("eval", MISSING_BUNDLE, "--topic", "a", "--env", "b"),
    ("verify", MISSING_BUNDLE), ("inspect", MISSING_BUNDLE),
    ("keygen", "-o", "/nonexistent/dualgate/release"),
], ids=lambda args: " ".join(args[:2]))
def test_a_missing_file_is_an_io_problem_for_every_command(args: tuple[str, ...]) -> None:
    assert code(*args) == 2


def test_usage_problems_are_2(bundle: Path) -> None:
    assert code("lint", "--no-such-option", str(INFRA)) == 2
    assert code("explain", "DG999") == 2
    assert code("eval", str(bundle), "--topic", "a") == 2
    assert code("compile", str(INFRA), "--root", "/nonexistent", "-o", "-") == 2


def test_failed_checks_are_1(bundle: Path, tmp_path: Path) -> None:
    assert code("lint", str(FLAWED)) == 1
    assert code("compile", str(FLAWED), "-o", str(tmp_path / "f.json")) == 1
    assert code("eval", str(FLAWED), "--topic", "a", "--env", "b") == 1
    assert code("eval", str(bundle), "--input", "-", input="not json\n") == 1
    tampered = tmp_path / "tampered.bundle.json"
    data = bytearray(bundle.read_bytes())
    data[data.index(b'"deny"') + 2] = ord("x")
    tampered.write_bytes(bytes(data))
    assert code("verify", str(tampered)) == 1
    assert code("inspect", str(tampered)) == 1
    assert code("eval", str(tampered), "--topic", "a", "--env", "b") == 1


def test_success_is_0(bundle: Path) -> None:
    assert code("lint", str(INFRA)) == 0
    assert code("fmt", "--check", str(INFRA)) == 0
    assert code("verify", str(bundle)) == 0
    assert code("inspect", str(bundle)) == 0
    assert code("eval", str(bundle), "--topic", "infra.vm.read", "--env", "dev") == 0
    assert code("explain", "DG101") == 0
