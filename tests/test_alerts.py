"""`dualgate alerts`: the rules generated from a policy's tiers, checked by promtool and
unit-tested with `promtool test rules` against series that fire and series that do not."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from dualgate.compiler.alerts import alert_rules, bypass_ratio, render_rules, watched_tiers
from dualgate.compiler.cli.main import cli
from dualgate.compiler.frontend.loader import load_policy_text
from dualgate.compiler.ir import Policy
from dualgate.runtime import TierName

SHOP = """\
policy shop

envs production (protected), staging
default_decision deny

tier high topics shop.payment.** fail_mode closed
tier medium topics shop.*.write fail_mode closed
tier low topics shop.*.read fail_mode open

rule allow-reads
  when topic shop.*.read
  then allow
"""

POLICIES = Path(__file__).resolve().parent.parent / "policies"
PROMTOOL = shutil.which("promtool")
NEEDS_PROMTOOL = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool is not installed (Debian's `prometheus` package; .ci/run installs it)",
)


def policy_of(text: str) -> Policy:
    result = load_policy_text(text)
    assert result.policy is not None, result.diagnostics
    return result.policy


def rules_of(policy: Policy) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = alert_rules(policy)["groups"][0]["rules"]
    return rules


def flat(text: str) -> str:
    return " ".join(text.split())


def test_medium_and_low_tiers_get_ratio_alerts_whatever_their_fail_mode() -> None:
    rules = rules_of(policy_of(SHOP))
    ratio = [(r["alert"], r["labels"]["tier"], r["labels"]["severity"]) for r in rules
             if "Ratio" in r["alert"]]
    assert ratio == [
        ("DualgateBypassRatioHigh", "medium", "page"),
        ("DualgateBypassRatioElevated", "medium", "ticket"),
        ("DualgateBypassRatioHigh", "low", "page"),
        ("DualgateBypassRatioElevated", "low", "ticket"),
    ]
    page, ticket = rules[0], rules[1]
    assert (page["for"], page["keep_firing_for"]) == ("5m", "10m")
    assert ticket["for"] == "15m" and "keep_firing_for" not in ticket
    assert flat(bypass_ratio("medium", "1h")) in flat(page["expr"])
    assert flat(bypass_ratio("medium", "5m")) in flat(page["expr"])
    assert flat(bypass_ratio("medium", "6h")) in flat(ticket["expr"])
    assert flat(bypass_ratio("medium", "30m")) in flat(ticket["expr"])
    assert "> 0.001" in page["expr"] and "> 0.0001" in ticket["expr"]


def test_the_ratio_is_bypasses_over_decisions_of_the_tier() -> None:
    assert bypass_ratio("low", "5m") == (
        'sum by (gate, tier) (rate(dualgate_fail_open_total{tier="low"}[5m]))\n'
        '  / sum by (gate, tier) (rate(dualgate_decisions_total{tier="low"}[5m]))'
    )


def test_a_policy_with_only_a_high_tier_gets_only_the_high_tier_page() -> None:
    policy = policy_of("policy p\nenvs dev\ntier high topics ** fail_mode closed\n"
                       "rule r\n  then deny\n")
    assert watched_tiers(policy) == []
    assert [r["alert"] for r in rules_of(policy)] == ["DualgateHighTierBypass"]


def test_an_undeclared_default_tier_is_watched() -> None:
    policy = policy_of("policy p\nenvs dev\ndefault_tier low\n"
                       "tier high topics a.** fail_mode closed\nrule r\n  then deny\n")
    assert watched_tiers(policy) == [TierName.LOW]


def test_protected_envs_are_matched_exactly() -> None:
    policy = policy_of("policy p\nenvs prod.eu (protected), prod (protected), dev\n"
                       "tier low topics ** fail_mode open\nrule r\n  then allow\n")
    (freeze,) = [r for r in rules_of(policy) if r["alert"] == "DualgateBypassInProtectedEnv"]
    assert 'env=~"prod\\\\.eu|prod"' in freeze["expr"]
    assert "dev" not in freeze["expr"]
    assert freeze["labels"]["severity"] == "freeze"


def test_the_cli_writes_the_rules(tmp_path: Path) -> None:
    source = tmp_path / "shop.policy"
    source.write_text(SHOP)
    target = tmp_path / "alerts.yml"
    result = CliRunner().invoke(cli, ["alerts", str(source), "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert "wrote alert rules for policy `shop`" in result.output
    assert target.read_text() == render_rules(policy_of(SHOP))
    assert yaml.safe_load(target.read_text()) == alert_rules(policy_of(SHOP))
    printed = CliRunner().invoke(cli, ["alerts", str(source)])
    assert printed.exit_code == 0 and printed.stdout == target.read_text()


def test_the_cli_refuses_a_broken_policy_and_a_missing_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.policy"
    broken.write_text("policy shop\nrule\n")
    result = CliRunner().invoke(cli, ["alerts", str(broken)])
    assert result.exit_code == 1 and "broken.policy:2" in result.output
    missing = CliRunner().invoke(cli, ["alerts", str(tmp_path / "none.policy")])
    assert missing.exit_code == 2 and "none.policy" in missing.output
    unwritable = CliRunner().invoke(
        cli, ["alerts", str(broken.with_name("x")), "-o", str(tmp_path / "no" / "a.yml")])
    assert unwritable.exit_code == 2


@NEEDS_PROMTOOL
@pytest.mark.parametrize("policy", sorted(POLICIES.glob("*.policy*")), ids=lambda p: p.name)
def test_promtool_accepts_the_rules_of_every_example_policy(policy: Path,
                                                            tmp_path: Path) -> None:
    target = tmp_path / "alerts.yml"
    result = CliRunner().invoke(cli, ["alerts", str(policy), "-o", str(target)])
    assert result.exit_code == 0, result.output
    check = subprocess.run([str(PROMTOOL), "check", "rules", str(target)],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS" in check.stdout


def series(metric: str, values: str, **labels: str) -> dict[str, str]:
    inside = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    return {"series": f"{metric}{{{inside}}}", "values": values}


def decisions(values: str, tier: str, gate: str = "submit") -> dict[str, str]:
    return series("dualgate_decisions_total", values, gate=gate, decision="allow",
                  tier=tier, reason="rule")


def bypasses(values: str, tier: str, env: str, gate: str = "submit") -> dict[str, str]:
    return series("dualgate_fail_open_total", values, gate=gate, tier=tier, env=env)


def fires(rules: list[dict[str, Any]], alert: str, value: str = "", **labels: str,
          ) -> dict[str, Any]:
    """An expected alert: its labels (the rule's and the series'), and the rule's
    annotations rendered with them and the humanized ``value``."""
    (rule,) = [r for r in rules if r["alert"] == alert
               and r["labels"].get("tier", labels.get("tier")) == labels.get("tier")]
    every = {**rule["labels"], **labels}

    def render(text: str) -> str:
        text = text.replace("{{ $value | humanizePercentage }}", value)
        return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: every[m[1]], text)

    return {"exp_labels": every,
            "exp_annotations": {key: render(text) for key, text in rule["annotations"].items()}}


def case(minute: int, alert: str, *expected: dict[str, Any]) -> dict[str, Any]:
    return {"eval_time": f"{minute}m", "alertname": alert, "exp_alerts": list(expected)}


PAGE, TICKET = "DualgateBypassRatioHigh", "DualgateBypassRatioElevated"
FREEZE, HIGH = "DualgateBypassInProtectedEnv", "DualgateHighTierBypass"


@NEEDS_PROMTOOL
def test_promtool_unit_tests_of_the_alerts(tmp_path: Path) -> None:
    rules = rules_of(policy_of(SHOP))
    (tmp_path / "alerts.yml").write_text(render_rules(policy_of(SHOP)))
    low = {"tier": "low", "gate": "submit"}
    tests = [
        {   # 0.5% of low-tier jobs bypass for 30 minutes, in staging, then none.
            "interval": "1m",
            "input_series": [decisions("0+1000x120", "low"),
                             bypasses("0+5x30 150+0x90", "low", "staging")],
            "alert_rule_test": [
                case(3, PAGE),  # pending: `for: 5m`
                case(10, PAGE, fires(rules, PAGE, "0.5%", **low)),
                case(20, TICKET, fires(rules, TICKET, "0.5%", **low)),
                # Kept firing (keep_firing_for: 10m) with the value of its last active
                # evaluation, when the bypasses had stopped and the 1h ratio was falling.
                case(42, PAGE, fires(rules, PAGE, "0.4545%", **low)),
                case(50, PAGE),
                case(10, FREEZE),  # staging is not protected
                case(10, HIGH),
            ],
        },
        {   # 0.05% of medium-tier jobs: a ticket, no page.
            "interval": "1m",
            "input_series": [decisions("0+10000x120", "medium"),
                             bypasses("0+5x120", "medium", "staging")],
            "alert_rule_test": [
                case(10, TICKET),  # pending: `for: 15m`
                case(30, TICKET, fires(rules, TICKET, "0.05%", tier="medium", gate="submit")),
                case(30, PAGE),
            ],
        },
        {   # 0.005%: below both thresholds, nothing fires.
            "interval": "1m",
            "input_series": [decisions("0+20000x400", "low"),
                             bypasses("0+1x400", "low", "staging")],
            "alert_rule_test": [case(60, PAGE), case(60, TICKET), case(390, TICKET)],
        },
        {   # One bypass in production at minute 9, on a series that appears with it.
            "interval": "1m",
            "input_series": [bypasses("_x9 1+0x60", "low", "production", gate="dispatch")],
            "alert_rule_test": [
                case(8, FREEZE),
                case(12, FREEZE, fires(rules, FREEZE, tier="low", gate="dispatch",
                                       env="production")),
                case(22, FREEZE, fires(rules, FREEZE, tier="low", gate="dispatch",
                                       env="production")),
                case(26, FREEZE),
            ],
        },
        {   # High-tier bypasses: one on a counter already there, one on a new series.
            "interval": "1m",
            "input_series": [bypasses("0x10 1+0x30", "high", "staging", gate="dispatch"),
                             bypasses("_x29 1+0x30", "high", "staging", gate="submit")],
            "alert_rule_test": [
                case(5, HIGH),
                case(15, HIGH, fires(rules, HIGH, tier="high", gate="dispatch", env="staging")),
                case(25, HIGH),
                case(32, HIGH, fires(rules, HIGH, tier="high", gate="submit", env="staging")),
                case(45, HIGH),
            ],
        },
    ]
    spec = {"rule_files": ["alerts.yml"], "evaluation_interval": "1m", "tests": tests}
    (tmp_path / "alerts_test.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    run = subprocess.run([str(PROMTOOL), "test", "rules", "alerts_test.yml"], cwd=tmp_path,
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout
