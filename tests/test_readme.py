"""The README's quick start is real: its policy lints clean and every command prints what
the README shows, run as written in a fresh directory."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
QUICK_START = README[README.index("## Quick start"):README.index("## Using dualgate in CI")]
BLOCKS = re.findall(r"^```\n(.*?)^```\n", QUICK_START, re.M | re.S)
EDITED_RULE = ("rule allow-prod-deletes\n  when topic infra.*.delete and env production\n"
               "  then allow\n\n")


def _dualgate() -> str:
    script = Path(sys.executable).parent / "dualgate"
    if not script.exists():
        pytest.skip("the dualgate console script is not installed next to this interpreter")
    return str(script)


def _transcripts() -> list[tuple[str, str]]:
    """Every ``$ dualgate ...`` line of the quick start with the output shown under it."""
    found: list[tuple[str, str]] = []
    for block in BLOCKS[1:]:
        for chunk in re.split(r"^(?=\$ )", block, flags=re.M):
            if chunk.startswith("$ dualgate "):
                command, _, output = chunk.partition("\n")
                found.append((command[2:], output))
    return found


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    policy = BLOCKS[0]
    (tmp_path / "infra.policy").write_text(policy)
    anchor = "rule require-approval-prod-changes\n"
    assert anchor in policy
    (tmp_path / "edited.policy").write_text(policy.replace(anchor, EDITED_RULE + anchor))
    return tmp_path


def test_the_policy_lints_without_warnings_and_is_formatted(workdir: Path) -> None:
    for arguments in (["lint", "--fail-on", "warning", "infra.policy"],
                      ["fmt", "--check", "infra.policy"]):
        run = subprocess.run([_dualgate(), *arguments], cwd=workdir, capture_output=True,
                             text=True, check=False)
        assert run.returncode == 0, run.stdout + run.stderr


def test_every_quick_start_command_prints_what_the_readme_shows(workdir: Path) -> None:
    transcripts = _transcripts()
    assert [command.split()[1] for command, _ in transcripts] == [
        "lint", "compile", "eval", "diff"]
    for command, shown in transcripts:
        run = subprocess.run([_dualgate(), *command.split()[1:]], cwd=workdir,
                             capture_output=True, text=True, check=False)
        assert run.returncode == 0, run.stderr
        assert run.stdout + run.stderr == shown, command
