"""Prometheus alert rules for fail-open bypasses, generated from a policy's tiers."""

from dualgate.compiler.alerts.rules import alert_rules, bypass_ratio, render_rules, watched_tiers

__all__ = ["alert_rules", "bypass_ratio", "render_rules", "watched_tiers"]
