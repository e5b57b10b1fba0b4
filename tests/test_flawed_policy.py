"""The deliberately flawed example policy: one realistic policy that shows every finding.

``tests/fixtures/flawed/flawed.policy`` is an operations agent's policy with one
commented flaw per analysis finding; ``flawed.expected`` is the exact output of

    dualgate --no-color lint --min-severity info --now 2026-11-21T00:00:00Z \\
        tests/fixtures/flawed/flawed.policy

run from the repository root. The README quotes that output, so the golden file is the
single place it is pinned; nothing here regenerates it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dualgate.compiler.analysis import ANALYSIS_CODES
from dualgate.compiler.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
FLAWED = "tests/fixtures/flawed/flawed.policy"
GOLDEN = ROOT / "tests" / "fixtures" / "flawed" / "flawed.expected"
COMMAND = ["--no-color", "lint", "--min-severity", "info", "--now", "2026-11-21T00:00:00Z"]

_HEADER = re.compile(r"^\S+:(\d+):(\d+): (DG\d{3}) ", re.M)


@pytest.fixture(autouse=True)
def _from_the_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def run(*options: str) -> Result:
    return CliRunner().invoke(cli, [*COMMAND, *options, FLAWED])


def findings() -> list[dict[str, object]]:
    result = run("--format", "json")
    document = json.loads(result.stdout)
    assert document["suppressed"] == []
    diagnostics: list[dict[str, object]] = document["diagnostics"]
    return diagnostics


def test_output_equals_the_golden_file() -> None:
    """The text report is exactly ``flawed.expected``, and it fails the run (exit 1)."""
    result = run()
    assert result.stdout == GOLDEN.read_text("utf-8")
    assert result.exit_code == 1


def test_every_analysis_code_occurs() -> None:
    """Each DG2xx and DG3xx code is reported at least once, and nothing else is."""
    codes = {str(f["code"]) for f in findings()}
    assert codes == {c.code for c in ANALYSIS_CODES}


def test_conflicts_occur_in_both_severities() -> None:
    """DG204 shows a partial overlap (warning) and an exception before a general rule
    (info)."""
    severities = {f["severity"] for f in findings() if f["code"] == "DG204"}
    assert severities == {"warning", "info"}


def test_report_is_short_enough_to_quote() -> None:
    """The README quotes the report: it stays between 13 and 20 findings."""
    assert 13 <= len(findings()) <= 20


def test_every_finding_is_explained_by_a_comment() -> None:
    """Above every reported line, within the comment block that precedes its statement,
    a comment names the finding's code: no finding in the example is unexplained."""
    lines = (ROOT / FLAWED).read_text("utf-8").splitlines()
    for match in _HEADER.finditer(GOLDEN.read_text("utf-8")):
        line, code = int(match[1]), match[3]
        index = line - 1
        # Walk up to the statement's first line, then through the comments above it.
        while index > 0 and not lines[index].startswith(("rule ", "override ", "tier ",
                                                          "default_decision ")):
            index -= 1
        index -= 1
        block: list[str] = []
        while index >= 0 and lines[index].startswith("#"):
            block.append(lines[index])
            index -= 1
        assert any(code in comment for comment in block), (line, code)
