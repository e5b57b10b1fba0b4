"""Verdicts and explanations as the text people read (`eval`, and `test` for failing cases).

``explanation_text`` is the ``--explain`` trace: the deciding rule and where it is, the
policy's reason for it, the tier, and every earlier rule with the first of its conditions
that does not hold.
"""

from __future__ import annotations

from typing import Any

from dualgate.compiler.networks import NetworkError, parse_network
from dualgate.runtime import Bundle, Verdict
from dualgate.runtime.explain import Explanation

__all__ = ["explanation_text", "verdict_text"]


def verdict_text(bundle: Bundle, verdict: Verdict, request: tuple[Any, Any, Any]) -> str:
    if verdict.rule is not None:
        head = f"{verdict.decision} by rule `{verdict.rule}`"
    elif verdict.reason == "default":
        head = f"{verdict.decision} by the default decision (no rule matched)"
    else:
        head = f"{verdict.decision}: {_fault(bundle, verdict.reason, request)}"
    lines = [head]
    if verdict.tier is not None:
        lines.append(f"  tier {verdict.tier}, fail mode {verdict.fail_mode}")
    return "\n".join(lines)


def _fault(bundle: Bundle, reason: str, request: tuple[Any, Any, Any]) -> str:
    topic, env, cidr = request
    if reason == "unknown-env":
        declared = ", ".join(e["name"] for e in bundle.content["envs"])
        return f"env `{env}` is not declared (unknown-env; declared: {declared})"
    return {
        "invalid-topic": f"topic `{topic}` is malformed (invalid-topic)",
        "invalid-env": "the env is not a string (invalid-env)",
        "invalid-cidr": f"cidr `{cidr}` is not a valid network (invalid-cidr)"
        + _network_fault(cidr),
    }.get(reason, reason)


def _network_fault(cidr: object) -> str:
    """``: why`` for a request cidr the runtime refused, in the compiler's words."""
    if not isinstance(cidr, str):
        return ""
    try:
        parse_network(cidr)
    except NetworkError as error:
        if error.suggestion is not None:
            return f": host bits set; did you mean `{error.suggestion}`?"
        _, _, why = str(error).partition(" network: ")
        return f": {why}" if why else ""
    return ""


def explanation_text(bundle: Bundle, explanation: Explanation,
                      request: tuple[Any, Any, Any]) -> str:
    verdict = explanation.verdict
    lines = [verdict_text(bundle, verdict, request).splitlines()[0]]
    checks = explanation.checks
    deciding = checks[-1] if checks and checks[-1].matched else None
    if deciding is not None:
        where = f" ({deciding.location})" if deciding.location else ""
        lines[0] += where
        if explanation.rule_reason:
            lines.append(f"  reason: {explanation.rule_reason}")
    if verdict.tier is not None:
        lines.append(f"  tier: {verdict.tier} (fail mode {verdict.fail_mode})")
    earlier = [c for c in checks if not c.matched]
    if earlier:
        lines.append("  earlier rules that did not match:")
        for check in earlier:
            where = f" ({check.location})" if check.location else ""
            lines.append(f"    {check.rule}{where}: `{check.failed}` does not hold")
    elif verdict.reason in ("rule", "default") and not (checks and deciding is checks[0]):
        lines.append("  no rules")
    return "\n".join(lines)
