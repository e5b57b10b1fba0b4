"""Golden diagnostics: one small policy per typical mistake, expectations written inline.

Every fixture in ``tests/fixtures/diagnostics/`` starts with one comment line per
diagnostic the loader must report, in the order ``dualgate lint`` prints them:

    # expect: LINE:COL CODE message

A fixture ``NAME`` may also have ``NAME.expected``: the exact output of
``dualgate --no-color lint tests/fixtures/diagnostics/NAME`` run from the repository
root, which pins the text rendering (header, source line, caret, notes and help).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from dualgate.compiler.cli.main import cli
from dualgate.compiler.codes import CODES
from dualgate.compiler.diagnostics import Diagnostic, sort_diagnostics
from dualgate.compiler.frontend.loader import load_policy

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "diagnostics"
FIXTURE_FILES = sorted(p for p in FIXTURES.iterdir() if p.suffix in (".policy", ".yaml"))
GOLDEN_FILES = sorted(FIXTURES.glob("*.expected"))

_EXPECT = re.compile(r"^# expect: (\d+):(\d+) (DG\d{3}) (.+)$")
# Lark's terminal names must never reach a user.
_RAW_TOKEN = re.compile(r"\b(WORD|STRING|COMMA|LPAR|RPAR|NOT|[A-Z_]+_DECISION)\b|\$END|__ANON")

Expectation = tuple[int, int, str, str]


def expectations(path: Path) -> list[Expectation]:
    """The ``# expect:`` lines of a fixture (which may hold bytes that are not UTF-8)."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    found = []
    for line in text.splitlines():
        match = _EXPECT.match(line)
        if match:
            found.append((int(match[1]), int(match[2]), match[3], match[4]))
    return found


def observed(diagnostics: list[Diagnostic]) -> list[Expectation]:
    return [
        (d.span.line, d.span.column, d.code.code, d.message)
        for d in sort_diagnostics(diagnostics)
    ]


def test_there_are_enough_fixtures() -> None:
    assert len(FIXTURE_FILES) >= 30
    assert len(GOLDEN_FILES) >= 5


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
def test_fixture_reports_exactly_what_it_expects(path: Path) -> None:
    expected = expectations(path)
    assert expected, f"{path.name} has no `# expect:` line"
    result = load_policy(path)
    assert observed(result.diagnostics) == expected
    assert result.policy is None


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
def test_fixture_messages_follow_the_style(path: Path) -> None:
    for diagnostic in load_policy(path).diagnostics:
        for text in (diagnostic.message, diagnostic.help or "x"):
            assert "\n" not in text
            assert not _RAW_TOKEN.search(text), text
        message = diagnostic.message
        assert not message[0].isupper(), message
        assert not message.endswith("."), message


def test_every_code_has_a_fixture() -> None:
    covered = {code for path in FIXTURE_FILES for _, _, code, _ in expectations(path)}
    # Analysis codes (DG03x, DG2xx, DG3xx) have their fixtures in tests/fixtures/analysis,
    # test-file codes (DG04x) theirs in tests/fixtures/policy_tests.
    wanted = {code for code in CODES
              if "DG002" <= code <= "DG114" and not code.startswith(("DG03", "DG04"))}
    assert wanted - covered == set()


@pytest.mark.parametrize("golden", GOLDEN_FILES, ids=lambda p: p.name)
def test_text_rendering_matches_golden_file(
    golden: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    fixture = golden.with_suffix("").relative_to(ROOT).as_posix()
    result = CliRunner().invoke(cli, ["--no-color", "lint", fixture])
    assert result.exit_code == 1, result.output
    assert result.stdout == golden.read_text("utf-8")


# --- problems a committed fixture cannot hold -----------------------------------------


def test_missing_file_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "absent.policy"
    result = load_policy(path)
    assert result.unreadable
    assert observed(result.diagnostics) == [
        (1, 1, "DG001", f"cannot read `{path}`: no such file or directory")
    ]


def test_directory_is_unreadable(tmp_path: Path) -> None:
    result = load_policy(tmp_path)
    assert result.unreadable
    assert [d.code.code for d in result.diagnostics] == ["DG001"]


def test_nul_byte_is_reported_where_it_is(tmp_path: Path) -> None:
    path = tmp_path / "nul.policy"
    path.write_bytes(b"policy p\nrule r\n  then \x00deny\n")
    assert observed(load_policy(path).diagnostics) == [
        (3, 8, "DG002", "the file contains a NUL byte")
    ]


def test_utf16_file_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "utf16.policy"
    path.write_bytes("policy p\n".encode("utf-16"))
    assert observed(load_policy(path).diagnostics) == [
        (1, 1, "DG002", "byte 0 is not valid UTF-8")
    ]


def test_utf8_bom_does_not_shift_columns(tmp_path: Path) -> None:
    path = tmp_path / "bom.policy"
    path.write_bytes(b"\xef\xbb\xbfpolicy p\nrule r then dny\n")
    assert observed(load_policy(path).diagnostics) == [
        (2, 13, "DG104", "unknown decision `dny`")
    ]
