"""SARIF output: schema-valid documents from real lint runs, registry-backed rule metadata,
results that match the diagnostics (levels, regions, related locations, suppressions,
URIs, fingerprints), and exit codes that do not depend on the format."""

from __future__ import annotations

import json
import re
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from click.testing import CliRunner, Result
from jsonschema import Draft7Validator

from dualgate.compiler.analysis.suppressions import Suppressed, Suppression
from dualgate.compiler.cli import main as cli_main
from dualgate.compiler.codes import CODES, CODES_BY_NAME, Severity
from dualgate.compiler.diagnostics import Diagnostic, Related
from dualgate.compiler.frontend.loader import load_policy_text
from dualgate.compiler.frontend.source import Span
from dualgate.compiler.reference import Request, evaluate
from dualgate.compiler.reports.sarif import (
    FINGERPRINT_KEY,
    INFORMATION_URI,
    SRCROOT,
    render_sarif,
    rule_name,
)

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "tests" / "fixtures" / "sarif" / "sarif-schema-2.1.0.json")
                    .read_text())
VALIDATOR = Draft7Validator(SCHEMA)
LEVELS = {"error": "error", "warning": "warning", "info": "note"}

# Many findings: duplicate rules (shadowed, redundant), a vacuous cidr, a default allow,
# conflicts, and a suppressed conflict.
MANY = """\
policy many
envs production (protected), staging
default_decision allow

rule allow-reads
  when topic **.read
  then allow

rule allow-reads-again
  when topic **.read
  then allow

rule deny-secret-read
  when topic secret.read
  then deny

rule deny-public
  when cidr in 0.0.0.0/0
  then deny

rule deny-prod-deletes
  when topic **.delete and env production
  then deny

# dualgate: ignore[DG204] prod deletes are denied before the general allowance
rule allow-infra
  when topic infra.**
  then allow

rule allow-db
  when topic db.**
  then allow

rule deny-db-writes
  when topic db.*.write and env staging
  then deny
"""
REASON = "prod deletes are denied before the general allowance"
# A front-end error: the analysis does not run, only DG101 is reported.
BAD = "policy bad\nenvs production\nrule r\n  when env prod\n  then deny\n"
# An exception before the general rule: an info-level conflict.
INFO = """\
policy info
envs production (protected), staging
default_decision deny
tier low topics **.delete fail_mode open

rule deny-prod-deletes
  when topic **.delete and env production
  then deny

rule allow-deletes
  when topic **.delete
  then allow
"""
CLEAN = "policy good\nenvs production (protected), dev\nrule deny-all\n  then deny\n"
WARNS = "policy w\nenvs production (protected)\nrule r\n  when cidr in 0.0.0.0/0\n  then deny\n"


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli_main.cli, ["--no-color", *args], input=input)


def sarif(*args: str, input: str | None = None) -> tuple[dict[str, Any], Result]:
    result = run("lint", "--format", "sarif", *args, input=input)
    return json.loads(result.output), result


# RFC 3986 characters, percent signs only as escapes (the validator has no `uri` format).
URI_REFERENCE = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-F]{2})+")


def artifact_uris(node: Any) -> list[str]:
    """Every `uri` of an artifact location in ``node``."""
    if isinstance(node, list):
        return [u for item in node for u in artifact_uris(item)]
    if not isinstance(node, dict):
        return []
    found = [node["uri"]] if isinstance(node.get("uri"), str) else []
    return found + [u for value in node.values() for u in artifact_uris(value)]


def assert_valid(document: dict[str, Any]) -> None:
    errors = sorted(VALIDATOR.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])
    for value in artifact_uris(document["runs"]):
        assert URI_REFERENCE.fullmatch(value), value
        assert ":" not in value.split("/")[0] or value.startswith("file:///"), value


def only_run(document: dict[str, Any]) -> dict[str, Any]:
    assert len(document["runs"]) == 1
    run_: dict[str, Any] = document["runs"][0]
    return run_


def results_for(document: dict[str, Any], rule_id: str) -> list[dict[str, Any]]:
    return [r for r in only_run(document)["results"] if r["ruleId"] == rule_id]


def region(result_or_location: dict[str, Any]) -> tuple[int, int, int, int]:
    location = result_or_location.get("locations", [result_or_location])[0]
    r = location["physicalLocation"]["region"]
    return r["startLine"], r["startColumn"], r["endLine"], r["endColumn"]


def uri(location: dict[str, Any]) -> str:
    value: str = location["physicalLocation"]["artifactLocation"]["uri"]
    return value


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory of policies, made the current directory (the source root)."""
    (tmp_path / "policies" / "sub dir").mkdir(parents=True)
    (tmp_path / "policies" / "many.policy").write_text(MANY)
    (tmp_path / "policies" / "info.policy").write_text(INFO)
    (tmp_path / "policies" / "sub dir" / "bad.policy").write_text(BAD)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def lint_all(workspace: Path) -> tuple[dict[str, Any], Result]:
    return sarif("--min-severity", "info", "policies")


# --- the document as a whole ------------------------------------------------------------


def test_a_run_with_many_findings_validates_against_the_sarif_schema(
    lint_all: tuple[dict[str, Any], Result],
) -> None:
    document, result = lint_all
    assert_valid(document)
    codes = {r["ruleId"] for r in only_run(document)["results"]}
    assert {"DG101", "DG202", "DG203", "DG204", "DG301", "DG305", "DG307", "DG308"} <= codes
    assert result.exit_code == 1


def test_the_example_policies_validate_against_the_sarif_schema(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT)
    document, result = sarif("--min-severity", "info", "policies")
    assert_valid(document)
    assert result.exit_code == 0
    results = only_run(document)["results"]
    # The examples have only info findings (tier overlaps, exception-before-general
    # conflicts) and suppressed conflicts, each suppression with its reason.
    assert results
    for finding in results:
        assert finding["level"] == "note" or finding["suppressions"][0]["justification"]
        assert re.fullmatch(r"policies/([a-z-]+/)?[a-z-]+\.policy(\.yaml)?",
                            uri(finding["locations"][0]))
    assert [r["id"] for r in only_run(document)["tool"]["driver"]["rules"]] == list(CODES)


def test_the_log_names_the_schema_version_tool_and_column_unit(
    lint_all: tuple[dict[str, Any], Result], workspace: Path,
) -> None:
    document, _ = lint_all
    assert document["version"] == "2.1.0"
    assert document["$schema"].endswith("sarif-schema-2.1.0.json")
    run_ = only_run(document)
    driver = run_["tool"]["driver"]
    assert driver["name"] == "dualgate"
    assert driver["version"] == version("dualgate")
    assert driver["informationUri"] == INFORMATION_URI
    assert run_["columnKind"] == "unicodeCodePoints"
    base = run_["originalUriBaseIds"][SRCROOT]["uri"]
    assert base == workspace.as_uri() + "/"


@pytest.mark.parametrize("extra", [[], ["--stdin-filename", "sub dir/piped.policy"]])
def test_standard_input_still_gives_a_valid_document(
    workspace: Path, extra: list[str],
) -> None:
    document, result = sarif(*extra, "-", input=BAD)
    assert_valid(document)
    assert result.exit_code == 1
    [finding] = only_run(document)["results"]
    expected = "sub%20dir/piped.policy" if extra else "%3Cstdin%3E"
    assert uri(finding["locations"][0]) == expected


def test_a_missing_file_gives_a_valid_document_and_exit_2(workspace: Path) -> None:
    document, result = sarif("policies/many.policy", "nowhere.policy")
    assert_valid(document)
    assert result.exit_code == 2
    [missing] = results_for(document, "DG001")
    assert uri(missing["locations"][0]) == "nowhere.policy"


def test_the_output_is_deterministic(workspace: Path) -> None:
    first, _ = sarif("--min-severity", "info", "policies")
    second, _ = sarif("--min-severity", "info", "policies")
    assert first == second


# --- rules --------------------------------------------------------------------------------


def test_rules_are_the_registry(lint_all: tuple[dict[str, Any], Result]) -> None:
    document, _ = lint_all
    rules = only_run(document)["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(CODES)
    for rule in rules:
        code = CODES[rule["id"]]
        assert rule["name"] == rule_name(code)
        assert rule["shortDescription"]["text"] == code.summary
        assert rule["fullDescription"]["text"] == code.what
        assert rule["help"]["text"] == code.doc()
        markdown = rule["help"]["markdown"]
        for section in ("What it does", "Why it matters", "Example", "Fix"):
            assert f"## {section}\n" in markdown
        for text in (code.what, code.why, code.fix, code.example.strip("\n")):
            assert text in markdown
        assert rule["defaultConfiguration"]["level"] == LEVELS[code.severity]
        assert rule["properties"]["problem.severity"] in {"error", "warning", "recommendation"}
        assert rule["properties"]["precision"] == "very-high"
        # GitHub's documented limits for rule names and descriptions.
        assert len(rule["name"]) <= 255
        assert len(code.summary) <= 1024 and len(code.what) <= 1024


def test_rule_names_are_pascal_case_of_the_kebab_names() -> None:
    assert rule_name(CODES["DG202"]) == "ShadowedRule"
    assert rule_name(CODES_BY_NAME["unapproved-high-risk-allow"]) == "UnapprovedHighRiskAllow"
    for code in CODES.values():
        assert re.fullmatch(r"(?:[A-Z][a-z0-9]*)+", rule_name(code)), code.name


def test_every_result_points_at_its_rule(lint_all: tuple[dict[str, Any], Result]) -> None:
    document, _ = lint_all
    run_ = only_run(document)
    rules = run_["tool"]["driver"]["rules"]
    assert run_["results"]
    for result in run_["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


# --- results against the diagnostics ------------------------------------------------------


def test_results_match_the_json_diagnostics(workspace: Path) -> None:
    """Same run in JSON and SARIF: one result per diagnostic, in order, same facts."""
    document, _ = sarif("--min-severity", "info", "policies")
    shown = json.loads(run("lint", "--format", "json", "--min-severity", "info",
                           "policies").output)["diagnostics"]
    results = [r for r in only_run(document)["results"] if "suppressions" not in r]
    assert len(results) == len(shown)
    for result, diagnostic in zip(results, shown, strict=True):
        assert result["ruleId"] == diagnostic["code"]
        assert result["level"] == LEVELS[diagnostic["severity"]]
        assert result["message"]["text"].startswith(diagnostic["message"])
        assert region(result) == (diagnostic["line"], diagnostic["column"],
                                  diagnostic["end_line"], diagnostic["end_column"])
        assert unquote(uri(result["locations"][0])) == diagnostic["path"]
        related = result.get("relatedLocations", [])
        assert [(loc["message"]["text"], region(loc)[:2]) for loc in related] == [
            (r["message"], (r["line"], r["column"])) for r in diagnostic["related"]
        ]
        for key in ("rules", "witness"):
            if key in diagnostic:
                assert result["properties"][key] == diagnostic[key]


def test_levels_follow_the_finding_not_the_code(
    lint_all: tuple[dict[str, Any], Result],
) -> None:
    document, _ = lint_all
    conflicts = results_for(document, "DG204")
    by_file = {uri(r["locations"][0]): r["level"] for r in conflicts if "suppressions" not in r}
    assert by_file["policies/info.policy"] == "note"  # an exception before a general rule
    assert "warning" in {r["level"] for r in conflicts}  # partial overlaps
    assert CODES["DG204"].severity is Severity.WARNING
    rules = only_run(document)["tool"]["driver"]["rules"]
    assert rules[conflicts[0]["ruleIndex"]]["defaultConfiguration"]["level"] == "warning"
    assert {r["level"] for r in results_for(document, "DG202")} == {"error"}
    assert {r["level"] for r in results_for(document, "DG305")} == {"warning"}


def test_a_shadowed_rule_links_the_rules_that_block_it(
    lint_all: tuple[dict[str, Any], Result],
) -> None:
    document, _ = lint_all
    [shadowed] = [r for r in results_for(document, "DG202")
                  if r["properties"]["rules"][0] == "deny-db-writes"]
    related = shadowed["relatedLocations"]
    assert [loc["message"]["text"] for loc in related] == [
        "blocked by `deny-public`", "blocked by `allow-db`",
    ]
    lines = MANY.splitlines()
    for loc, rule in zip(related, ["deny-public", "allow-db"], strict=True):
        assert lines[region(loc)[0] - 1] == f"rule {rule}"
        assert uri(loc) == "policies/many.policy"
    assert [loc["id"] for loc in related] == [1, 2]
    # GitHub links related locations only when the message embeds them.
    text = shadowed["message"]["text"]
    assert "[blocked by `deny-public`](1)" in text and "[blocked by `allow-db`](2)" in text
    assert shadowed["properties"]["rules"] == ["deny-db-writes", "deny-public", "allow-db"]
    witness = shadowed["properties"]["witness"]
    topic, env, cidr = witness["topic"], witness["env"], witness["cidr"]
    assert (topic.startswith("db.") and topic.endswith(".write") and topic.count(".") == 2
            and env == "staging")
    policy = load_policy_text(MANY, "policies/many.policy").policy
    assert policy is not None
    assert evaluate(policy, Request(topic, env, cidr)).rule in ("deny-public", "allow-db")


def test_suppressed_findings_carry_their_justification(
    lint_all: tuple[dict[str, Any], Result],
) -> None:
    document, _ = lint_all
    suppressed = [r for r in only_run(document)["results"] if "suppressions" in r]
    assert len(suppressed) == 2  # allow-infra conflicts with deny-public and deny-prod-deletes
    comment_line = MANY.splitlines().index(f"# dualgate: ignore[DG204] {REASON}") + 1
    for result in suppressed:
        assert result["ruleId"] == "DG204"
        assert result["properties"]["rules"][0] == "allow-infra"
        [suppression] = result["suppressions"]
        assert suppression["kind"] == "inSource"
        assert suppression["justification"] == REASON
        assert region(suppression["location"])[0] == comment_line
        assert uri(suppression["location"]) == "policies/many.policy"


def test_suppressed_findings_can_be_left_out() -> None:
    code = CODES["DG204"]
    span = Span("a.policy", 5, 1, 7, 13)
    finding = Diagnostic(code, "conflict", span, data={"rules": ["b", "a"]})
    hidden = Suppressed(finding, Suppression((code,), "why", Span("a.policy", 4, 1, 4, 9), span))
    with_all = json.loads(render_sarif([], [hidden]))
    assert len(only_run(with_all)["results"]) == 1
    without = json.loads(render_sarif([], [hidden], include_suppressed=False))
    assert only_run(without)["results"] == []
    assert_valid(with_all)
    assert_valid(without)


# --- locations ----------------------------------------------------------------------------


def test_uris_are_relative_with_forward_slashes(
    lint_all: tuple[dict[str, Any], Result],
) -> None:
    document, _ = lint_all
    locations = []
    for result in only_run(document)["results"]:
        locations += result["locations"] + result.get("relatedLocations", [])
        locations += [s["location"] for s in result.get("suppressions", [])]
    uris = set()
    for location in locations:
        artifact = location["physicalLocation"]["artifactLocation"]
        assert artifact["uriBaseId"] == SRCROOT
        assert not artifact["uri"].startswith(("/", "file:")) and "\\" not in artifact["uri"]
        uris.add(artifact["uri"])
    assert uris == {"policies/many.policy", "policies/info.policy",
                    "policies/sub%20dir/bad.policy"}


def test_absolute_paths_under_the_root_are_made_relative(workspace: Path) -> None:
    document, _ = sarif(str(workspace / "policies" / "sub dir" / "bad.policy"))
    [finding] = only_run(document)["results"]
    assert uri(finding["locations"][0]) == "policies/sub%20dir/bad.policy"


def test_paths_outside_the_root_are_absolute_file_uris(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "a b.policy"
    finding = Diagnostic.of("undeclared-env", "env `prod` is not declared",
                            Span(str(outside), 4, 12, 4, 16))
    document = json.loads(render_sarif([finding], [], source_root=tmp_path / "repo"))
    assert_valid(document)
    artifact = only_run(document)["results"][0]["locations"][0]["physicalLocation"][
        "artifactLocation"]
    assert artifact == {"uri": outside.as_uri()}
    assert "%20" in artifact["uri"]


@pytest.mark.parametrize(("path", "expected"), [
    ("./a.policy", "a.policy"),
    ("x/../a.policy", "a.policy"),
    ("d:e.policy", "d%3Ae.policy"),  # not a URI scheme
    ("<stdin>", "%3Cstdin%3E"),
    ("dir/ünï.policy", "dir/%C3%BCn%C3%AF.policy"),
])
def test_relative_uris_are_normalized_and_percent_encoded(
    tmp_path: Path, path: str, expected: str,
) -> None:
    finding = Diagnostic.of("syntax-error", "oops", Span(path, 1, 1, 1, 2))
    document = json.loads(render_sarif([finding], [], source_root=tmp_path))
    assert_valid(document)
    assert uri(only_run(document)["results"][0]["locations"][0]) == expected


def test_regions_are_copied_from_spans_including_multi_line_and_empty_ones() -> None:
    spans = [Span("a.policy", 3, 5, 3, 9), Span("a.policy", 5, 1, 7, 13),
             Span("a.policy", 1, 1, 1, 1)]
    findings = [Diagnostic.of("syntax-error", f"oops {i}", s) for i, s in enumerate(spans)]
    document = json.loads(render_sarif(findings, []))
    assert_valid(document)
    got = sorted(region(r) for r in only_run(document)["results"])
    assert got == sorted((s.line, s.column, s.end_line, s.end_column) for s in spans)


# --- messages and fingerprints ------------------------------------------------------------


def test_message_text_escapes_braces_and_link_text() -> None:
    finding = Diagnostic.of(
        "unknown-keyword", "unknown keyword `{x}`", Span("a.policy", 2, 1, 2, 4),
        help="did you mean `[rule]`?",
        related=[Related(Span("a.policy", 1, 1, 1, 5), r"see [this] \ {that}")],
    )
    document = json.loads(render_sarif([finding], []))
    assert_valid(document)
    [result] = only_run(document)["results"]
    assert result["message"]["text"] == (
        r"unknown keyword `{{x}}` (see [see \[this\] \\ {{that}}](1)). "
        r"Help: did you mean `[rule]`?"
    )
    assert result["relatedLocations"][0]["message"]["text"] == r"see [this] \ {{that}}"


def test_fingerprints_are_unique_and_survive_lines_inserted_above(workspace: Path) -> None:
    def fingerprints() -> dict[tuple[str, str], str]:
        document, _ = sarif("--min-severity", "info", "policies/many.policy")
        results = only_run(document)["results"]
        prints = [r["partialFingerprints"][FINGERPRINT_KEY] for r in results]
        assert len(set(prints)) == len(prints)
        assert all(re.fullmatch(r"[0-9a-f]{32}:\d+", p) for p in prints)
        return {(r["ruleId"], r["message"]["text"]): r["partialFingerprints"][FINGERPRINT_KEY]
                for r in results if r["properties"].get("rules")}

    before = fingerprints()
    many = workspace / "policies" / "many.policy"
    many.write_text(MANY.replace("policy many\n", "policy many\n# a comment\n\n"))
    after = fingerprints()
    assert before == after
    # GitHub computes this key itself from the file; dualgate must not fake it.
    document, _ = sarif("policies/many.policy")
    assert all("primaryLocationLineHash" not in r["partialFingerprints"]
               for r in only_run(document)["results"])


def test_identical_findings_get_distinct_fingerprints() -> None:
    findings = [Diagnostic.of("syntax-error", "oops", Span("a.policy", line, 1, line, 2))
                for line in (1, 2)]
    document = json.loads(render_sarif(findings, []))
    prints = [r["partialFingerprints"][FINGERPRINT_KEY] for r in only_run(document)["results"]]
    assert prints[0].split(":")[0] == prints[1].split(":")[0]
    assert [p.split(":")[1] for p in prints] == ["1", "2"]


# --- exit codes ---------------------------------------------------------------------------


@pytest.mark.parametrize(("files", "options", "expected"), [
    (["clean.policy"], [], 0),
    (["warns.policy"], [], 0),
    (["warns.policy"], ["--fail-on", "warning"], 1),
    (["bad.policy"], [], 1),
    (["clean.policy", "bad.policy"], ["--min-severity", "info"], 1),
    (["clean.policy", "missing.policy"], [], 2),
])
def test_exit_codes_do_not_depend_on_the_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    files: list[str], options: list[str], expected: int,
) -> None:
    for name, text in {"clean.policy": CLEAN, "warns.policy": WARNS, "bad.policy": BAD}.items():
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    codes = {fmt: run("lint", "--format", fmt, *options, *files).exit_code
             for fmt in ("text", "json", "sarif")}
    assert codes == {"text": expected, "json": expected, "sarif": expected}
