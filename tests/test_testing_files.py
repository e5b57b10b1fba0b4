"""Test files: schema and value errors are diagnostics at YAML lines and columns.

Every fixture in ``tests/fixtures/policy_tests/`` named ``dgNNN_*.tests.yaml`` starts
with one ``# expect: LINE:COL CODE message`` line per diagnostic ``dualgate test``
reports for it (the loader's and the runner's, in the order they are printed).
"""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from dualgate.compiler.cli.main import cli
from dualgate.compiler.codes import CODES
from dualgate.compiler.diagnostics import sort_diagnostics
from dualgate.compiler.testing import load_test_file, run_suite
from dualgate.compiler.testing.loading import load_test_bytes
from dualgate.schemas import load_schema
from tests.profiles import examples

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "policy_tests"
BROKEN = sorted(FIXTURES.glob("dg*.tests.yaml"))
EXAMPLES = sorted((ROOT / "policies").glob("*.tests.yaml"))
_EXPECT = re.compile(r"^# expect: (\d+):(\d+) (DG\d{3}) (.+)$", re.M)


def expected(path: Path) -> list[tuple[int, int, str, str]]:
    return [(int(m[1]), int(m[2]), m[3], m[4]) for m in _EXPECT.finditer(path.read_text())]


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.name)
def test_fixture_reports_exactly_what_it_expects(path: Path, monkeypatch: pytest.MonkeyPatch
                                                  ) -> None:
    monkeypatch.chdir(ROOT)
    relative = path.relative_to(ROOT)
    want = expected(path)
    assert want, f"{path.name} has no `# expect:` line"
    result = run_suite([relative])
    assert [(d.span.line, d.span.column, d.code.code, d.message)
            for d in sort_diagnostics(result.diagnostics)] == want
    assert result.broken and not result.runs


def test_every_test_file_code_has_a_fixture() -> None:
    covered = {code for path in BROKEN for _, _, code, _ in expected(path)}
    assert {c for c in CODES if c.startswith("DG04")} <= covered


def test_a_broken_file_exits_2_with_the_diagnostic_and_its_caret(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    fixture = "tests/fixtures/policy_tests/dg040_unknown_decision.tests.yaml"
    result = CliRunner().invoke(cli, ["--no-color", "test", fixture])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"{fixture}:6:24: DG040 (test-schema-violation) `cases[0].expect.decision` must be "
        "one of `allow`, `deny`, `require_human`, `require_approval`, `throttle`, found "
        "`alow`\n"
        "  |\n"
        "6 |     expect: {decision: alow}\n"
        "  |                        ^^^^\n"
        "  = help: did you mean `allow`?\n"
        "\n"
        "Found 1 error, 0 warnings in 1 file.\n"
        "dualgate test: nothing was run: fix the errors above\n"
    )


def test_a_broken_policy_shows_its_own_diagnostics(tmp_path: Path) -> None:
    (tmp_path / "bad.policy").write_text("policy bad\nrule r\n  then dney\n")
    (tmp_path / "bad.tests.yaml").write_text(
        "policy: bad.policy\ncases:\n  - name: c\n    request: {topic: a, env: e}\n"
        "    expect: {decision: deny}\n")
    result = run_suite([tmp_path / "bad.tests.yaml"])
    assert [(d.span.path, d.span.line, d.code.code) for d in result.diagnostics] == [
        (str(tmp_path / "bad.policy"), 3, "DG104")]
    cli_result = CliRunner().invoke(cli, ["--no-color", "test", str(tmp_path)])
    assert cli_result.exit_code == 2
    assert "unknown decision `dney`" in cli_result.stderr


def test_one_broken_file_stops_the_whole_run(tmp_path: Path) -> None:
    (tmp_path / "tiny.policy").write_text("policy tiny\n")
    good = "policy: tiny.policy\ncases:\n  - name: c\n    request: {topic: a, env: e}\n" \
           "    expect: {decision: deny}\n"
    (tmp_path / "a.tests.yaml").write_text(good)
    (tmp_path / "b.tests.yaml").write_text(good.replace("decision: deny", "decison: deny"))
    result = CliRunner().invoke(cli, ["--no-color", "test", str(tmp_path)])
    assert result.exit_code == 2
    assert "passed" not in result.stdout
    assert "unknown key `decison`" in result.stderr
    assert "did you mean `decision`?" in result.stderr


def test_aliases_and_nulls_are_read_as_the_schema_says(tmp_path: Path) -> None:
    (tmp_path / "t.tests.yaml").write_text(
        "policy: p.policy\nnow: 2026-01-01T00:00:00Z\ncases:\n  - name: c\n"
        "    request: {topic: a.b, env: dev, cidr: null}\n"
        "    expect: {decision: require_approval, rule: null, tier: null}\n"
        "    source: INC-1\n")
    loaded = load_test_file(tmp_path / "t.tests.yaml")
    assert loaded.file is not None, loaded.diagnostics
    case = loaded.file.cases[0]
    assert case.expect == {"decision": "require_human", "rule": None, "tier": None}
    assert case.request.cidr is None and case.source == "INC-1"
    assert (case.span.line, case.span.column) == (4, 5)
    assert loaded.file.now is not None and loaded.file.now.year == 2026
    assert loaded.file.policy_path == str(tmp_path / "p.policy")


def test_an_unreadable_test_file_is_a_diagnostic(tmp_path: Path) -> None:
    loaded = load_test_file(tmp_path / "absent.tests.yaml")
    assert loaded.file is None
    assert [d.code.code for d in loaded.diagnostics] == ["DG001"]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_test_files_are_valid_under_the_published_schema(path: Path) -> None:
    jsonschema.Draft202012Validator(load_schema("policy-tests")).validate(
        yaml.safe_load(path.read_text()))
    assert load_test_file(path).diagnostics == []


def test_the_published_schema_alone_rejects_exactly_the_dg040_fixtures() -> None:
    """Other tools validating with the schema see the same structural errors; what it
    cannot see (duplicate names, missing policy files) passes it."""
    validator = jsonschema.Draft202012Validator(load_schema("policy-tests"))
    for path in BROKEN:
        codes = {code for _, _, code, _ in expected(path)}
        if codes & {"DG020", "DG108"}:  # no YAML document / a date PyYAML would convert
            continue
        document = yaml.safe_load(path.read_text())
        assert (codes == {"DG040"}) == (not validator.is_valid(document)), path.name


_VALID = ("policy: p.policy\nnow: '2026-01-01T00:00:00Z'\ncases:\n  - name: c\n"
          "    request: {topic: a.b, env: dev, cidr: 10.0.0.1}\n"
          "    expect: {decision: deny, rule: null, tier: low}\n    source: S\n")


@settings(max_examples=examples(300), deadline=None)
@given(st.one_of(
    st.binary(max_size=200),
    st.builds(lambda cut, junk: (_VALID[:cut] + junk + _VALID[cut:]).encode(),
              st.integers(min_value=0, max_value=len(_VALID)),
              st.text(alphabet=st.sampled_from(":-{}[]#'\"\n\t &*!|>%@`,?0123456789abcnul~"),
                       max_size=6)),
))
def test_any_bytes_load_to_cases_or_diagnostics_never_an_exception(data: bytes) -> None:
    loaded = load_test_bytes(data, "fuzz.tests.yaml")
    assert (loaded.file is None) == bool(loaded.diagnostics)
    for diagnostic in loaded.diagnostics:
        assert "\n" not in diagnostic.message
        assert diagnostic.span.path == "fuzz.tests.yaml"
