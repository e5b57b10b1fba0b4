"""``dualgate review`` end to end in real temporary git repositories."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from jsonschema import Draft7Validator

from dualgate.compiler.cli.main import cli
from dualgate.compiler.cli.options import analysis_options
from dualgate.compiler.reports.review_markdown import render_review_markdown
from dualgate.compiler.review import ReviewConfig, ReviewOptions, run_review
from dualgate.compiler.review.outputs import render_github

ROOT = Path(__file__).resolve().parent.parent
SARIF_VALIDATOR = Draft7Validator(json.loads(
    (ROOT / "tests" / "fixtures" / "sarif" / "sarif-schema-2.1.0.json").read_text()))
NOW = "2026-12-02T00:00:00Z"

SHOP = """\
policy shop

envs production (protected), staging
default_decision deny

tier high topics payments.** fail_mode closed
tier medium topics orders.** fail_mode closed
tier low topics docs.** fail_mode closed

rule approve-prod-refunds
  when topic payments.refund.create
   and env production
  then require_human

rule throttle-staging-payments
  when topic payments.**
   and env staging
  then throttle

rule allow-docs
  when topic docs.**
  then allow

rule throttle-orders
  when topic orders.**
  then throttle
"""


def git(repo: Path, *arguments: str) -> str:
    return subprocess.run(["git", *arguments], cwd=repo, check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository whose first commit holds policies/shop.policy; the cwd is its root."""
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "config", "user.name", "Test")
    git(tmp_path, "config", "user.email", "test@example.com")
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "shop.policy").write_text(SHOP)
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "base")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def edit(repo: Path, old: str, new: str, name: str = "shop.policy") -> None:
    path = repo / "policies" / name
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def run(*arguments: str) -> Result:
    return CliRunner().invoke(cli, ["review", "--base", "main", "--now", NOW, *arguments])


def as_json(*arguments: str) -> dict:  # type: ignore[type-arg]
    result = run("--format", "json", *arguments)
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


HIGH_PROD_LOOSENING = ("  then require_human", "  then throttle")
WAIVER = """\
version: v1
waivers:
  - id: refunds-bot
    match: {{policy: shop, env: production, topic: "payments.refund.*", rule: approve-prod-refunds}}
    owner: payments@example.com
    reason: the refunds bot replaces manual approval
    expires: {expires}
"""


def test_a_safe_change_passes(repo: Path) -> None:
    edit(repo, "rule allow-docs\n  when topic docs.**\n  then allow",
         "rule allow-docs\n  when topic docs.**\n  then throttle")
    result = run()
    assert result.exit_code == 0, result.output
    data = as_json()
    assert data["verdict"] == "pass"
    findings = data["files"][0]["findings"]
    assert {f["change"]["env"] for f in findings} == {"production", "staging"}
    assert {(f["check"], f["direction"], f["status"]) for f in findings} == {
        ("decision", "tightening", "advisory")}


def test_an_unchanged_tree_reviews_nothing(repo: Path) -> None:
    result = run()
    assert result.exit_code == 0
    assert "no policy file changed" in result.stdout


def test_a_high_tier_loosening_in_production_blocks(repo: Path) -> None:
    edit(repo, *HIGH_PROD_LOOSENING)
    result = run()
    assert result.exit_code == 1, result.output
    data = as_json()
    assert data["verdict"] == "blocked"
    [finding] = data["files"][0]["findings"]
    assert finding["status"] == "blocking" and finding["level"] == "soft-mandatory"
    change = finding["change"]
    assert change["env"] == "production" and change["protected"] is True
    assert change["witness"]["topic"] == "payments.refund.create"
    assert (change["base"]["decision"], change["head"]["decision"]) == ("require_human",
                                                                        "throttle")
    # On the head rule's line.
    assert (finding["path"], finding["line"]) == ("policies/shop.policy", 10)


def test_a_waiver_lets_it_pass_and_an_expired_one_does_not(repo: Path) -> None:
    edit(repo, *HIGH_PROD_LOOSENING)
    (repo / "waivers.yaml").write_text(WAIVER.format(expires="2026-12-20T00:00:00Z"))
    result = run("--waivers", "waivers.yaml")
    assert result.exit_code == 0, result.output
    assert "waived by `refunds-bot`" in result.stdout
    data = as_json("--waivers", "waivers.yaml")
    assert data["waivers"]["used"] == ["refunds-bot"] and data["waivers"]["problems"] == []

    (repo / "waivers.yaml").write_text(WAIVER.format(expires="2026-12-01T00:00:00Z"))
    result = run("--waivers", "waivers.yaml")
    assert result.exit_code == 1
    data = as_json("--waivers", "waivers.yaml")
    [problem] = data["waivers"]["problems"]
    assert problem["kind"] == "expired" and problem["line"] == 7


def test_a_waiver_for_another_topic_covers_nothing_and_is_unused(repo: Path) -> None:
    edit(repo, *HIGH_PROD_LOOSENING)
    (repo / "waivers.yaml").write_text(
        WAIVER.format(expires="2026-12-20T00:00:00Z").replace("payments.refund.*",
                                                              "payments.charge.*"))
    data = as_json("--waivers", "waivers.yaml")
    assert data["verdict"] == "blocked"
    assert [p["kind"] for p in data["waivers"]["problems"]] == ["unused"]


def test_lint_errors_in_head_are_hard_mandatory_and_not_waivable(repo: Path) -> None:
    edit(repo, "  then require_human", "  then allow")  # DG301: high tier allowed in prod
    (repo / "waivers.yaml").write_text(WAIVER.format(expires="2026-12-20T00:00:00Z"))
    data = as_json("--waivers", "waivers.yaml")
    assert data["verdict"] == "blocked"
    by_check = {f["check"]: f for f in data["files"][0]["findings"]}
    assert by_check["lint"]["level"] == "hard-mandatory"
    assert by_check["lint"]["status"] == "blocking" and by_check["lint"]["code"] == "DG301"
    assert by_check["decision"]["status"] == "waived"


def test_a_syntax_error_blocks_without_a_diff(repo: Path) -> None:
    edit(repo, "rule allow-docs", "rule allow docs !")
    data = as_json()
    file = data["files"][0]
    assert data["verdict"] == "blocked" and file["diff"] is None
    assert all(f["check"] == "lint" for f in file["findings"])


def test_a_new_file_is_diffed_against_nothing_deployed(repo: Path) -> None:
    (repo / "policies" / "docs.policy").write_text(
        "policy docs\ntier low topics docs.** fail_mode closed\n"
        "rule read\n  when topic docs.*.read\n  then allow\n")
    data = as_json()
    [file] = data["files"]
    assert file["status"] == "added" and file["path"] == "policies/docs.policy"
    decision, tier = file["findings"]
    change = decision["change"]
    assert (change["base"]["reason"], change["head"]["rule"]) == ("default", "read")
    # Low tier, no protected env: other loosening is advisory.
    assert decision["status"] == "advisory"
    # Nothing deployed puts every topic in the high tier: a low tier is a tier loosening.
    assert (tier["check"], tier["direction"], tier["status"]) == ("tier", "loosening",
                                                                  "blocking")
    assert tier["change"]["base"] == {"tier": "high", "fail_mode": "closed"}


def test_a_deleted_file_is_reported_and_blocks_unless_waived(repo: Path) -> None:
    (repo / "policies" / "shop.policy").unlink()
    data = as_json()
    [file] = data["files"]
    assert file["status"] == "deleted" and data["verdict"] == "blocked"
    assert file["findings"][0]["check"] == "deleted"
    (repo / "waivers.yaml").write_text(
        WAIVER.format(expires="2026-12-20T00:00:00Z").replace(
            ', env: production, topic: "payments.refund.*", rule: approve-prod-refunds', ""))
    assert run("--waivers", "waivers.yaml").exit_code == 0


def test_paths_limit_the_review(repo: Path) -> None:
    edit(repo, *HIGH_PROD_LOOSENING)
    (repo / "other").mkdir()
    assert run("other").exit_code == 0
    assert run("policies").exit_code == 1
    assert run("policies/shop.policy").exit_code == 1


def test_config_overrides_levels(repo: Path) -> None:
    edit(repo, *HIGH_PROD_LOOSENING)
    (repo / "pyproject.toml").write_text(
        '[tool.dualgate.review]\n[[tool.dualgate.review.levels]]\n'
        'kind = "decision"\ndirection = "loosening"\ntier = "high"\nlevel = "advisory"\n')
    assert run().exit_code == 0
    (repo / "pyproject.toml").unlink()
    edit(repo, "rule allow-docs\n  when topic docs.**\n  then allow",
         "rule allow-docs\n  when topic docs.**\n  then throttle")
    (repo / "dualgate.toml").write_text(
        '[review]\n[[review.levels]]\ndirection = "tightening"\nlevel = "hard-mandatory"\n')
    data = as_json()
    assert {f["level"] for f in data["files"][0]["findings"]} == {"hard-mandatory",
                                                                  "soft-mandatory"}
    (repo / "dualgate.toml").write_text('[review]\nlevels = [{level = "strict"}]\n')
    result = run()
    assert result.exit_code == 2 and "`level`" in result.stderr


def test_usage_and_io_problems_exit_2(repo: Path, tmp_path_factory: pytest.TempPathFactory,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(cli, ["review", "--base", "no-such-rev"])
    assert result.exit_code == 2 and "`no-such-rev` is not a commit" in result.stderr
    assert run("--waivers", "missing.yaml").exit_code == 2
    assert run("--replay", "missing.jsonl").exit_code == 2
    assert run("nowhere").exit_code == 2
    assert run("--output", "pdf=x.pdf").exit_code == 2
    result = run("--output", f"json={repo / 'policies'}")
    assert result.exit_code == 2 and "cannot write" in result.stderr
    monkeypatch.chdir(tmp_path_factory.mktemp("not-a-repo"))
    result = run()
    assert result.exit_code == 2 and "not a git repository" in result.stderr


def test_every_output_format_in_one_run(repo: Path) -> None:
    edit(repo, *HIGH_PROD_LOOSENING)
    edit(repo, "tier low topics docs.** fail_mode closed", "tier low topics docs.** fail_mode open")
    out = repo / "out"
    out.mkdir()
    formats = ["text", "json", "markdown", "sarif", "junit", "github"]
    result = run(*(a for f in formats for a in ("--output", f"{f}={out / f}")))
    assert result.exit_code == 1, result.output
    assert (out / "text").read_text().rstrip("\n") == result.stdout.rstrip("\n")
    data = json.loads((out / "json").read_text())
    assert data["verdict"] == "blocked"

    sarif = json.loads((out / "sarif").read_text())
    SARIF_VALIDATOR.validate(sarif)
    run_ = sarif["runs"][0]
    rules = run_["tool"]["driver"]["rules"]
    review_results = [r for r in run_["results"] if r["ruleId"].startswith("review/")]
    assert {r["ruleId"] for r in review_results} == {"review/decision-loosening",
                                                     "review/tier-loosening"}
    for result_ in run_["results"]:
        assert rules[result_["ruleIndex"]]["id"] == result_["ruleId"]
    decision = next(r for r in review_results if r["ruleId"] == "review/decision-loosening")
    region = decision["locations"][0]["physicalLocation"]
    assert region["artifactLocation"]["uri"] == "policies/shop.policy"
    assert region["region"]["startLine"] == 10 and decision["level"] == "error"
    tier = next(r for r in review_results if r["ruleId"] == "review/tier-loosening")
    assert tier["locations"][0]["physicalLocation"]["region"]["startLine"] == 8

    junit = ET.fromstring((out / "junit").read_text())
    [suite] = junit.findall("testsuite")
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert set(cases) == {"lint", "decision", "tier"}
    assert cases["lint"].find("failure") is None
    assert cases["decision"].find("failure") is not None
    assert cases["tier"].find("failure") is not None
    assert junit.get("failures") == "2"

    markdown = (out / "markdown").read_text()
    assert markdown.startswith("## dualgate review: ❌ blocked")
    assert "| ❌ | blocking | soft-mandatory | decision |" in markdown

    github = (out / "github").read_text().splitlines()
    assert len(github) == 2 and all(line.startswith("::error file=policies/shop.policy,line=")
                                    for line in github)


def test_replay_counts_changed_requests(repo: Path) -> None:
    edit(repo, *HIGH_PROD_LOOSENING)
    lines = [
        json.dumps({"topic": "payments.refund.create", "env": "production"}),
        json.dumps({"input": {"topic": "payments.refund.create", "env": "production",
                              "cidr": "10.0.0.1"}}),
        json.dumps({"topic": "payments.refund.create", "env": "staging"}),
        json.dumps({"topic": "docs.a.read", "env": "production", "policy": "other"}),
        "not json",
        json.dumps({"topic": 3, "env": "production"}),
        "",
    ]
    (repo / "log.jsonl").write_text("\n".join(lines))
    data = as_json("--replay", "log.jsonl")
    replay = data["files"][0]["replay"]
    assert replay["evaluated"] == 3 and replay["changed"] == 2
    assert replay["decision"] == {"loosening": 2, "tightening": 0}
    assert replay["by_env"] == {"production": {"loosening": 2, "tightening": 0}}
    assert replay["by_tier"] == {"high": {"loosening": 2, "tightening": 0}}
    assert [e["line"] for e in replay["examples"]] == [1, 2]
    log = data["replay"]
    assert (log["lines"], log["bad_lines"]) == (6, 2)
    assert [b["line"] for b in log["bad_examples"]] == [5, 6]


def test_markdown_is_capped_and_annotations_are_escaped_and_limited(repo: Path) -> None:
    rules = "".join(f"rule r{i}\n  when topic docs.t{i}\n  then deny\n" for i in range(30))
    (repo / "policies" / "many.policy").write_text(
        "policy many\ntier low topics docs.** fail_mode closed\n" + rules)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "many")
    text = (repo / "policies" / "many.policy").read_text()
    (repo / "policies" / "many.policy").write_text(text.replace("then deny", "then allow"))
    options = ReviewOptions(analysis_options(datetime(2026, 12, 2, tzinfo=UTC), None),
                            ReviewConfig())
    review = run_review(repo, "main", [Path("policies")], options)
    assert len(review.findings) == 30
    full = render_review_markdown(review)
    assert "cut here" not in full and len(full.encode()) > 4000
    capped = render_review_markdown(review, limit=4000)
    assert len(capped.encode()) <= 4000 and "The report was cut here" in capped
    assert capped.startswith(full[:1000])

    lines = render_github(review).splitlines()
    notices = [line for line in lines if line.startswith("::notice ")]
    assert len(notices) == 10
    assert lines[-1].startswith("dualgate: 20 notices more not annotated")
    # The title's `,` and `:` are escaped in the property; the message keeps its text.
    assert "title=dualgate review%3A decision (advisory%2C advisory)::loosening" in notices[0]


def test_a_removed_rule_is_reported_on_its_base_line(repo: Path) -> None:
    edit(repo, "rule approve-prod-refunds\n  when topic payments.refund.create\n"
               "   and env production\n  then require_human\n\n", "")
    data = as_json()
    [finding] = data["files"][0]["findings"]
    change = finding["change"]
    assert (change["base"]["rule"], change["head"]["rule"]) == ("approve-prod-refunds", None)
    assert change["direction"] == "tightening"
    assert (finding["path"], finding["line"]) == ("policies/shop.policy", 10)


def test_discovery_follows_lints_rules_from_a_subdirectory(
    repo: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    edit(repo, *HIGH_PROD_LOOSENING)
    hidden = repo / "policies" / ".drafts"
    hidden.mkdir()
    (hidden / "draft.policy").write_text("policy draft\n")
    (repo / "policies" / "notes.txt").write_text("not a policy\n")
    monkeypatch.chdir(repo / "policies")
    data = as_json()
    assert [f["path"] for f in data["files"]] == ["shop.policy"]
    # A file named directly is always reviewed, as lint does.
    data = as_json(".drafts/draft.policy")
    assert [(f["path"], f["status"]) for f in data["files"]] == [(".drafts/draft.policy",
                                                                  "added")]


def test_a_deleted_file_replays_against_nothing_deployed(repo: Path) -> None:
    (repo / "policies" / "shop.policy").unlink()
    (repo / "log.jsonl").write_text(
        '{"topic": "docs.readme", "env": "staging"}\n'
        '{"topic": "payments.x", "env": "production"}\n')
    data = as_json("--replay", "log.jsonl")
    replay = data["files"][0]["replay"]
    # docs.readme: allow -> deny, tier low -> high; payments.x: denied, high on both sides.
    assert replay["decision"] == {"loosening": 0, "tightening": 1}
    assert replay["tier"] == {"loosening": 0, "tightening": 1}
    assert replay["changed"] == 1 and replay["examples"][0]["line"] == 1


def test_a_waiver_must_cover_every_request_of_a_change_not_just_its_witness(
    repo: Path,
) -> None:
    edit(repo, "   and env staging\n  then throttle", "   and env staging\n  then allow")
    data = as_json()
    [finding] = data["files"][0]["findings"]
    assert finding["status"] == "blocking" and finding["change"]["env"] == "staging"
    witness = finding["change"]["witness"]["topic"]
    # A pattern naming exactly the witness topic still leaves the rest of payments.**.
    narrow = (WAIVER.format(expires="2026-12-20T00:00:00Z")
              .replace("env: production", "env: staging")
              .replace("rule: approve-prod-refunds", "rule: throttle-staging-payments"))
    (repo / "waivers.yaml").write_text(narrow.replace('"payments.refund.*"', f'"{witness}"'))
    assert as_json("--waivers", "waivers.yaml")["verdict"] == "blocked"
    (repo / "waivers.yaml").write_text(narrow.replace('"payments.refund.*"', '"payments.**"'))
    assert as_json("--waivers", "waivers.yaml")["verdict"] == "pass"
