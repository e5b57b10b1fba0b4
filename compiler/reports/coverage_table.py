"""The action-path map as a terminal table, from the JSON report of ``dualgate coverage``.

Styled with click: the caller's ``click.echo(..., color=...)`` strips the colours when
the output is no terminal (or ``--no-color`` is given), so the text is the same either way.
"""

from __future__ import annotations

from typing import Any

import click

_DECISION_COLOURS = {"allow": "green", "throttle": "yellow", "require_human": "cyan",
                     "deny": "red"}
_TIER_COLOURS = {"high": "red", "medium": "yellow", "low": "green"}
_TIERS = ("high", "medium", "low")
_DECISIONS = ("allow", "throttle", "require_human", "deny")


def env_label(env: str | None) -> str:
    """How reports name an env: a policy without envs accepts any env."""
    return "(any env)" if env is None else env


def outcome_text(outcome: dict[str, Any]) -> str:
    """``deny by deny-iam, no cidr`` / ``allow by the default, cidr 10.0.0.0/8``."""
    by = f"by {outcome['rule']}" if outcome["rule"] else "by the default"
    cidr = "no cidr" if outcome["cidr"] is None else f"cidr {outcome['cidr']}"
    return f"{outcome['decision']} {by}, {cidr}"


def _pad(text: str, width: int, styled: str | None = None) -> str:
    return (styled or text) + " " * (width - len(text))


def render_table(report: dict[str, Any]) -> str:
    """The paths (one line per outcome), the malformed catalog entries and the summary.

    Paths of the policy's own topic classes show a witness topic and, last, the patterns
    the class's topics match.
    """
    paths = report["paths"]
    described = report["source"] == "policy"
    rows = []
    for path in paths:
        for index, outcome in enumerate(path["outcomes"]):
            first = index == 0
            rows.append((
                path["topic"] if first else "",
                env_label(path["env"]) + (" *" if path["protected"] else "") if first else "",
                path["tier"] if first else "",
                path["fail_mode"] if first else "",
                outcome,
                ", ".join(path["flags"]) if first else "",
                *((path["description"] if first else "",) if described else ()),
            ))
    headers = ("TOPIC", "ENV", "TIER", "FAIL MODE", "OUTCOMES", "FLAGS",
               *(("PATTERNS",) if described else ()))
    widths = [max([len(headers[c])] + [len(_cell(row, c)) for row in rows])
              for c in range(len(headers))]
    lines = ["  ".join(_pad(h, w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in rows:
        cells = []
        for column in range(len(headers)):
            text = _cell(row, column)
            cells.append(_pad(text, widths[column], _styled(row, column, text)))
        lines.append("  ".join(cells).rstrip())
    lines.append("* protected env")
    for entry in report["malformed"]:
        lines.append(click.style(f"catalog line {entry['line']}: `{entry['text']}` is no "
                                 f"topic: {entry['reason']}", fg="yellow"))
    lines.extend(_summary(report))
    return "\n".join(lines)


def _cell(row: tuple[Any, ...], column: int) -> str:
    value = row[column]
    return outcome_text(value) if column == 4 else str(value)


def _styled(row: tuple[Any, ...], column: int, text: str) -> str | None:
    if not text:
        return None
    if column == 2:
        return click.style(text, fg=_TIER_COLOURS[text])
    if column == 3 and text == "open":
        return click.style(text, fg="yellow", bold=True)
    if column == 4:
        return click.style(text, fg=_DECISION_COLOURS[row[4]["decision"]])
    if column == 5:
        return click.style(text, fg="red", bold=True)
    return None


def _summary(report: dict[str, Any]) -> list[str]:
    summary = report["summary"]
    flags = summary["flags"]
    lines = [
        "",
        f"{summary['paths']} paths ({summary['topics']} topics), "
        f"{summary['classified']} topics classified "
        f"({summary['classified_share'] * 100:.1f}%)",
        "flags: " + ", ".join(f"{name} {count}" for name, count in flags.items()),
    ]
    width = max(len(d) for d in _DECISIONS)
    for env in summary["by_env"]:
        lines.append("")
        lines.append(f"{env_label(env['env'])}{' (protected)' if env['protected'] else ''}:"
                     " paths per tier that can get each decision")
        lines.append("  " + " " * 6 + "  ".join(d.rjust(width) for d in _DECISIONS))
        for tier in _TIERS:
            counts = env["counts"][tier]
            lines.append("  " + tier.ljust(6) +
                         "  ".join(str(counts[d]).rjust(width) for d in _DECISIONS))
    return lines
