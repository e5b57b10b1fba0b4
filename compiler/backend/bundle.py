"""Assembling a bundle document from a checked policy and its decision table.

The document follows ``dualgate.runtime.bundle_format`` and validates against
``schemas/bundle.schema.json``. Everything in it is a function of the policy source,
its path and the compiler version, so the same input gives byte-identical bundles: no
timestamps, no timings, no dict or set iteration order that could vary.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from dualgate.compiler.backend.table import DecisionTable
from dualgate.compiler.diagnostics import Diagnostic
from dualgate.compiler.ir import (
    CidrCondition,
    Condition,
    EnvCondition,
    Policy,
    Rule,
    TopicCondition,
    format_timestamp,
)
from dualgate.runtime.bundle_format import FORMAT_NAME, FORMAT_VERSION, envelope


def build_bundle(
    policy: Policy,
    table: DecisionTable,
    *,
    source: bytes,
    path: str,
    compiler_version: str,
    passes: Sequence[str],
    findings: Iterable[Diagnostic],
    suppressed: Iterable[Diagnostic] = (),
) -> dict[str, Any]:
    """The bundle document (unsigned): the content and its hash."""
    by_code = Counter(d.code.code for d in findings)
    hidden = Counter(d.code.code for d in suppressed)
    content: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "compiler": f"dualgate {compiler_version}",
        "policy": policy.name,
        "source": {"path": path, "sha256": hashlib.sha256(source).hexdigest()},
        "envs": [{"name": e.name, "protected": e.protected} for e in policy.envs],
        "default_decision": str(policy.default_decision),
        "default_tier": str(policy.default_tier),
        "tiers": [
            {"name": str(t.name), "fail_mode": str(t.fail_mode),
             "patterns": [p.text for p in t.patterns]}
            for t in policy.tiers
        ],
        "overrides": [
            {"tier": str(o.tier), "fail_mode": str(o.fail_mode),
             "until": format_timestamp(o.until), "reason": o.reason}
            for o in policy.overrides
        ],
        "rules": _rule_columns(policy.rules),
        "table": table.to_json(),
        "analysis": {
            "passes": list(passes),
            "findings": dict(sorted(by_code.items())),
            "suppressed": dict(sorted(hidden.items())),
        },
    }
    return envelope(content)


def _rule_columns(rules: Sequence[Rule]) -> dict[str, list[Any]]:
    """The rules as columns: one list per field, one entry per rule."""
    return {
        "id": [rule.id for rule in rules],
        "decision": [str(rule.decision) for rule in rules],
        "reason": [rule.reason for rule in rules],
        "line": [None if rule.span is None else rule.span.line for rule in rules],
        "column": [None if rule.span is None else rule.span.column for rule in rules],
        "conditions": [" and ".join(condition_text(c) for c in rule.conditions)
                       for rule in rules],
    }


def condition_text(condition: Condition) -> str:
    """A condition as written in the canonical layout: ``topic not a.*, b``, ``cidr in N``."""
    if isinstance(condition, TopicCondition):
        values = [p.text for p in condition.patterns]
        words = "topic not" if condition.negated else "topic"
    elif isinstance(condition, EnvCondition):
        values = list(condition.envs)
        words = "env not" if condition.negated else "env"
    else:
        assert isinstance(condition, CidrCondition)
        values = [str(n) for n in condition.networks]
        words = "cidr not in" if condition.negated else "cidr in"
    return f"{words} {', '.join(values)}"
