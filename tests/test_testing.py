"""``dualgate test``: the runner, its three output formats, coverage and exit statuses."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dualgate.compiler.cli.main import cli
from dualgate.compiler.coverage import outcome_regions
from dualgate.compiler.frontend.loader import load_policy
from dualgate.compiler.reference import Request, evaluate
from dualgate.compiler.testing import run_suite

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"

POLICY = """\
policy shop
envs production, dev
tier high topics pay.** fail_mode closed
tier low topics **.read fail_mode closed
override tier low fail_mode open until 2026-06-01T00:00:00Z reason "INC-9"

rule deny-prod-pay
  when topic pay.** and env production
  then deny

rule allow-reads
  when topic **.read
  then allow
"""

CASES = """\
# The shop's cases. This comment must survive `test add`.
policy: shop.policy
now: "2026-01-01T00:00:00Z"
cases:
  - name: production payments are denied
    request: {topic: pay.card.create, env: production}
    expect: {decision: deny, rule: deny-prod-pay, tier: high}
  - name: reads are allowed, failing open while the override holds
    request: {topic: cart.read, env: dev}
    expect: {decision: allow, fail_mode: open}
"""

FAILING = """\
policy: shop.policy
now: "2026-01-01T00:00:00Z"
cases:
  - name: dev payments are denied
    request: {topic: pay.card.create, env: dev, cidr: 10.0.0.1}
    expect: {decision: allow, tier: high}
    source: INC-7
  - name: reads are allowed
    request: {topic: cart.read, env: dev}
    expect: {decision: allow}
"""


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["--no-color", "test", *args], prog_name="dualgate")


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "shop.policy").write_text(POLICY)
    (tmp_path / "shop.tests.yaml").write_text(CASES)
    return tmp_path


@pytest.fixture
def failing(shop: Path) -> Path:
    (shop / "shop.tests.yaml").write_text(FAILING)
    return shop


# -- the example test files ---------------------------------------------------------------


def test_every_example_test_file_passes_with_full_rule_coverage() -> None:
    result = run_suite(sorted(POLICIES.glob("*.tests.yaml")), coverage=True)
    assert not result.diagnostics and result.failed == 0
    assert result.coverages is not None
    tested = {Path(c.policy).name for c in result.coverages}
    assert tested == {"infra.policy", "payments.policy", "payments.policy.yaml",
                      "coding-agent.policy"}
    for coverage in result.coverages:
        assert coverage.uncovered_rules == (), coverage.policy
        assert coverage.default_exercised, coverage.policy


def test_every_example_policy_has_a_test_file() -> None:
    tested = {Path(c.file.policy_path).name
              for c in run_suite(sorted(POLICIES.glob("*.tests.yaml"))).runs}
    policies = {p.name for p in POLICIES.iterdir() if p.name.endswith((".policy",
                                                                         ".policy.yaml"))}
    assert policies <= tested


def test_the_yaml_form_is_held_to_the_same_cases() -> None:
    dsl = load_cases(POLICIES / "payments.tests.yaml")
    yaml_form = load_cases(POLICIES / "payments-yaml.tests.yaml")
    assert dsl == yaml_form


def load_cases(path: Path) -> list[tuple[object, ...]]:
    from dualgate.compiler.testing import load_test_file

    loaded = load_test_file(path)
    assert loaded.file is not None
    return [(c.name, c.request, c.expect) for c in loaded.file.cases]


# -- the runner ----------------------------------------------------------------------------


def test_cases_are_decided_by_the_runtime_and_agree_with_the_reference(shop: Path) -> None:
    result = run_suite([Path("shop.tests.yaml")])
    [file_run] = result.runs
    policy = load_policy(shop / "shop.policy").policy
    assert policy is not None
    for case_result in file_run.results:
        request = case_result.case.request
        want = evaluate(policy, Request(request.topic, request.env, request.cidr),
                        now=file_run.now)
        actual = case_result.actual
        assert (actual.decision, actual.rule, actual.reason, actual.tier, actual.fail_mode) \
            == (want.decision.value, want.rule, want.reason,
                want.tier.value if want.tier else None,
                want.fail_mode.value if want.fail_mode else None)
        assert case_result.explanation.verdict.bundle == file_run.bundle.content_hash
    assert [r.passed for r in file_run.results] == [True, True]


def test_now_decides_which_overrides_hold(shop: Path) -> None:
    later = CASES.replace('now: "2026-01-01T00:00:00Z"', 'now: "2026-07-01T00:00:00Z"')
    (shop / "shop.tests.yaml").write_text(later)
    result = run_suite([Path("shop.tests.yaml")])
    [_, read] = result.runs[0].results
    assert read.actual.fail_mode == "closed" and read.mismatched == ("fail_mode",)


def test_the_run_time_applies_to_files_without_now(shop: Path) -> None:
    from datetime import UTC, datetime

    (shop / "shop.tests.yaml").write_text(CASES.replace('now: "2026-01-01T00:00:00Z"\n', ""))
    early = run_suite([Path("shop.tests.yaml")], now=datetime(2026, 1, 1, tzinfo=UTC))
    late = run_suite([Path("shop.tests.yaml")], now=datetime(2027, 1, 1, tzinfo=UTC))
    assert early.failed == 0 and late.failed == 1


# -- text -----------------------------------------------------------------------------


def test_text_shows_each_failure_with_expected_actual_and_the_trace(failing: Path) -> None:
    result = run()
    assert result.exit_code == 1
    assert result.output == """\
FAIL shop.tests.yaml: 1 passed, 1 failed (shop.policy)

FAIL shop.tests.yaml:4:5 dev payments are denied (source INC-7)
  request   topic `pay.card.create`, env `dev`, cidr `10.0.0.1`
  expected  decision `allow`, tier `high`
  actual    decision `deny`, rule null, reason `default`, tier `high`, fail_mode `closed`
  why       deny by the default decision (no rule matched)
              tier: high (fail mode closed)
              earlier rules that did not match:
                deny-prod-pay (shop.policy:7:1): `env production` does not hold
                allow-reads (shop.policy:11:1): `topic **.read` does not hold

1 passed, 1 failed
"""


def test_a_rule_the_policy_does_not_have_gets_a_hint(shop: Path) -> None:
    (shop / "shop.tests.yaml").write_text(CASES.replace("rule: deny-prod-pay",
                                                        "rule: deny-prod-pays"))
    result = run()
    assert result.exit_code == 1
    assert "  note      the policy has no rule `deny-prod-pays`; did you mean " \
           "`deny-prod-pay`?\n" in result.output


def test_text_passing_run_ends_with_the_summary_alone(shop: Path) -> None:
    result = run("shop.tests.yaml")
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "ok   shop.tests.yaml: 2 passed (shop.policy)", "", "2 passed, 0 failed"]


# -- JSON -----------------------------------------------------------------------------


def test_json_holds_every_case_expected_and_actual(failing: Path) -> None:
    result = run("--format", "json")
    assert result.exit_code == 1
    document = json.loads(result.output)
    assert document["summary"] == {"passed": 1, "failed": 1}
    assert document["coverage"] is None
    [file] = document["files"]
    assert (file["path"], file["policy"]) == ("shop.tests.yaml", "shop.policy")
    first, second = file["cases"]
    assert first == {
        "name": "dev payments are denied", "passed": False,
        "request": {"topic": "pay.card.create", "env": "dev", "cidr": "10.0.0.1"},
        "expected": {"decision": "allow", "tier": "high"},
        "actual": {"decision": "deny", "rule": None, "reason": "default", "tier": "high",
                   "fail_mode": "closed"},
        "mismatched": ["decision"], "source": "INC-7",
        "location": {"path": "shop.tests.yaml", "line": 4, "column": 5},
    }
    assert second["passed"] is True and second["mismatched"] == []


def test_json_coverage_lists_rules_regions_and_combinations(shop: Path) -> None:
    result = run("--format", "json", "--coverage")
    assert result.exit_code == 0
    [coverage] = json.loads(result.output)["coverage"]["policies"]
    assert coverage["rules"] == {"total": 2, "covered": ["deny-prod-pay", "allow-reads"],
                                 "uncovered": [], "percent": 100.0}
    assert coverage["default_exercised"] is False
    policy = load_policy(shop / "shop.policy").policy
    assert policy is not None
    from datetime import UTC, datetime

    regions = outcome_regions(policy, now=datetime(2026, 1, 1, tzinfo=UTC))
    assert coverage["regions"]["total"] == len(regions)
    assert coverage["regions"]["covered"] == 2
    assert len(coverage["regions"]["uncovered"]) == len(regions) - 2
    pairs = {(r.tier.value, r.decision.value) for r in regions}
    assert {(p["tier"], p["decision"]) for p in coverage["tier_decisions"]["possible"]} == pairs
    assert {(p["tier"], p["decision"]) for p in coverage["tier_decisions"]["exercised"]} == {
        ("high", "deny"), ("low", "allow")}
    for region in coverage["regions"]["uncovered"]:
        assert set(region["witness"]) == {"topic", "env", "cidr"}


# -- JUnit ----------------------------------------------------------------------------


def test_junit_has_one_suite_per_file_and_the_failure_text(failing: Path) -> None:
    result = run("--format", "junit")
    assert result.exit_code == 1
    root = ET.fromstring(result.output)
    assert (root.get("tests"), root.get("failures")) == ("2", "1")
    [suite] = root.findall("testsuite")
    assert suite.get("name") == "shop.tests.yaml"
    first, second = suite.findall("testcase")
    assert (first.get("name"), first.get("classname"), first.get("line")) == (
        "dev payments are denied", "shop", "4")
    failure = first.find("failure")
    assert failure is not None
    assert failure.get("message") == "expected decision `allow`, got `deny`"
    assert failure.text is not None and "earlier rules that did not match" in failure.text
    assert second.find("failure") is None


# -- coverage thresholds and usage ------------------------------------------------------


def test_fail_under_exits_1_below_and_0_at_the_threshold(shop: Path) -> None:
    assert run("--fail-under", "rules=100").exit_code == 0
    below = run("--fail-under", "rules=100,regions=90")
    assert below.exit_code == 1
    assert "coverage below --fail-under: shop.policy: regions coverage" in below.output
    assert below.output.splitlines()[-1] == "2 passed, 0 failed"


@pytest.mark.parametrize("value", ["rules", "lines=50", "rules=101", "rules=x"])
def test_bad_fail_under_is_a_usage_error(shop: Path, value: str) -> None:
    result = run("--fail-under", value)
    assert result.exit_code == 2
    assert "--fail-under" in result.output


def test_no_test_files_and_missing_paths_exit_2(tmp_path: Path) -> None:
    assert run(str(tmp_path)).exit_code == 2
    missing = run(str(tmp_path / "absent"))
    assert missing.exit_code == 2
    assert "no such file or directory" in missing.stderr


def test_the_run_is_the_default_and_run_spells_it_too(shop: Path) -> None:
    assert run().exit_code == 0
    assert run("run", "shop.tests.yaml").exit_code == 0
    assert run("--help").output.startswith("Usage: dualgate test [OPTIONS] [PATHS]...")
