"""Prometheus alert rules for fail-open bypasses, generated from a policy's tiers.

The **bypass ratio** of a tier over a window ``w`` is, per gate::

    sum by (gate, tier) (rate(dualgate_fail_open_total{tier="T"}[w]))
      / sum by (gate, tier) (rate(dualgate_decisions_total{tier="T"}[w]))

the share of the tier's checked jobs that went through without a policy decision (the
gates count every checked job once in ``dualgate_decisions_total``, bypassed or not).
With no traffic the ratio is undefined and no alert fires.

Which tiers get ratio alerts: every medium and low tier the policy has (declared, or its
``default_tier``). A medium or low tier whose fail mode is closed can still fail open,
through a policy override or the emergency process-level override
(``DUALGATE_FAIL_MODE_OVERRIDE``), which is outside the policy; so a closed fail mode
is no reason to leave it unwatched. The high tier can never fail open: a single high-tier
bypass pages at once.

Alerts, each labelled with ``severity``, ``policy`` and ``tier`` (and ``env`` where
known):

- ``DualgateBypassRatioHigh`` (page): ratio above 0.1% over both 1h and 5m, ``for: 5m``,
  ``keep_firing_for: 10m``;
- ``DualgateBypassRatioElevated`` (ticket): ratio above 0.01% over both 6h and 30m,
  ``for: 15m``;
- ``DualgateBypassInProtectedEnv`` (freeze): any bypass in a protected env within the
  last 15 minutes, so the freeze holds until 15 minutes after the last one;
- ``DualgateHighTierBypass`` (page): any bypass of the high tier within the last 10
  minutes.

The "any bypass" alerts also catch a counter's first appearance (a new series whose
first sample is already 1, which ``increase`` alone cannot see): ``X unless X offset w``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from dualgate.compiler.ir import Policy
from dualgate.runtime.telemetry.metrics import DECISIONS, FAIL_OPEN
from dualgate.runtime.vocabulary import TierName

PAGE_RATIO = 0.001
TICKET_RATIO = 0.0001
FREEZE_WINDOW = "15m"
HIGH_TIER_WINDOW = "10m"


@dataclass(frozen=True)
class Window:
    """A multi-window burn condition: both windows above ``ratio``."""

    long: str
    short: str
    ratio: float


PAGE = Window("1h", "5m", PAGE_RATIO)
TICKET = Window("6h", "30m", TICKET_RATIO)


def watched_tiers(policy: Policy) -> list[TierName]:
    """The tiers whose bypass ratio is alerted on: medium and low, where the policy has
    them (see the module docstring for why a closed fail mode does not exempt one)."""
    present = {tier.name for tier in policy.tiers} | {policy.default_tier}
    return [tier for tier in (TierName.MEDIUM, TierName.LOW) if tier in present]


def bypass_ratio(tier: str, window: str) -> str:
    """PromQL for the bypass ratio of ``tier`` over ``window``, by gate and tier."""
    selector = f'{{tier="{tier}"}}'
    return (
        f"sum by (gate, tier) (rate({FAIL_OPEN}{selector}[{window}]))\n"
        f"  / sum by (gate, tier) (rate({DECISIONS}{selector}[{window}]))"
    )


def any_bypass(selector: str, window: str, by: str) -> str:
    """PromQL that is positive while a bypass matching ``selector`` happened within
    ``window``, including a counter's first sample."""
    series = f"{FAIL_OPEN}{{{selector}}}"
    return (
        f"sum by ({by}) (increase({series}[{window}])) > 0\n"
        f"or sum by ({by}) ({series} unless {series} offset {window}) > 0"
    )


def alert_rules(policy: Policy) -> dict[str, Any]:
    """The rule file (as plain data) for ``policy``: one group of alerts."""
    name = policy.name
    rules: list[dict[str, Any]] = []
    for tier in watched_tiers(policy):
        rules.append(_ratio_alert(name, tier, "DualgateBypassRatioHigh", PAGE, "page",
                                  pending="5m", keep_firing="10m"))
        rules.append(_ratio_alert(name, tier, "DualgateBypassRatioElevated", TICKET, "ticket",
                                  pending="15m", keep_firing=None))
    protected = [env.name for env in policy.envs if env.protected]
    if protected:
        # Env names hold letters, digits, `_`, `-` and `.`: only the dot needs escaping
        # in a regex, with the backslash doubled inside a PromQL string.
        matcher = (f'env="{protected[0]}"' if len(protected) == 1 else
                   'env=~"' + "|".join(env.replace(".", "\\\\.") for env in protected) + '"')
        rules.append({
            "alert": "DualgateBypassInProtectedEnv",
            "expr": any_bypass(matcher, FREEZE_WINDOW, "gate, tier, env"),
            "labels": {"severity": "freeze", "policy": name},
            "annotations": {
                "summary": f"policy {name}: a job bypassed the policy in protected env "
                           "{{ $labels.env }}: freeze deploys",
                "description": "{{ $labels.gate }} gate let a {{ $labels.tier }}-tier job "
                               "through without a policy decision in the last "
                               f"{FREEZE_WINDOW}; hold deploys to {{{{ $labels.env }}}} "
                               f"until it has been quiet for {FREEZE_WINDOW}.",
            },
        })
    rules.append({
        "alert": "DualgateHighTierBypass",
        "expr": any_bypass(f'tier="{TierName.HIGH}"', HIGH_TIER_WINDOW, "gate, tier, env"),
        "labels": {"severity": "page", "policy": name, "tier": str(TierName.HIGH)},
        "annotations": {
            "summary": f"policy {name}: a high-tier job bypassed the policy",
            "description": "{{ $labels.gate }} gate let a high-tier job in env "
                           "{{ $labels.env }} through without a policy decision; the high "
                           "tier must always fail closed.",
        },
    })
    return {"groups": [{"name": f"dualgate-{name}-bypass", "rules": rules}]}


def _ratio_alert(policy: str, tier: TierName, alert: str, window: Window, severity: str, *,
                 pending: str, keep_firing: str | None) -> dict[str, Any]:
    percent = f"{window.ratio * 100:g}%"
    rule: dict[str, Any] = {
        "alert": alert,
        "expr": (
            f"(\n{_indent(bypass_ratio(str(tier), window.long))}\n) > {window.ratio:g}\n"
            f"and\n(\n{_indent(bypass_ratio(str(tier), window.short))}\n) > {window.ratio:g}"
        ),
        "for": pending,
    }
    if keep_firing is not None:
        rule["keep_firing_for"] = keep_firing
    rule["labels"] = {"severity": severity, "policy": policy, "tier": str(tier)}
    rule["annotations"] = {
        "summary": f"policy {policy}: {tier}-tier bypass ratio above {percent} "
                   "at the {{ $labels.gate }} gate",
        "description": f"more than {percent} of {tier}-tier jobs went through without a "
                       f"policy decision over both {window.long} and {window.short} "
                       "(now {{ $value | humanizePercentage }} over "
                       f"{window.long}).",
    }
    return rule


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (the PromQL expressions) as literal blocks."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def render_rules(policy: Policy) -> str:
    """The Prometheus rule file for ``policy`` as YAML text."""
    header = (f"# Prometheus alert rules for fail-open bypasses of policy `{policy.name}`.\n"
              "# Generated by `dualgate alerts`; regenerate instead of editing.\n")
    return header + yaml.dump(alert_rules(policy), Dumper=_Dumper, sort_keys=False,
                              width=100)
