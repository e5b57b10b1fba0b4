"""Text and Markdown renderings of a policy diff, from its JSON document.

Both take the document ``PolicyDiff.to_json`` returns (issue #8's shape) and nothing else,
so a stored diff renders the same as a fresh one. Changes are grouped by env (the
document's order: protected envs first), then by direction (loosening first); tier
changes come last. Each change is one sentence naming what decided the witness before
and after, with both rules' locations, and the witness request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["render_diff_markdown", "render_diff_text"]

Document = Mapping[str, Any]
Change = Mapping[str, Any]

_DIRECTIONS = ("loosening", "tightening")


def render_diff_text(document: Document) -> str:
    """The diff for a terminal: a summary line, then the changes by env and direction."""
    lines = [f"diff {document['base']['path']} -> {document['head']['path']}",
             _summary_line(document)]
    for title, changes in _sections(document["changes"]):
        lines.extend(["", title])
        for direction, group in _by_direction(changes):
            lines.append(f"  {direction}:")
            lines.extend(f"    - {_sentence(change, code='`')}" for change in group)
    return "\n".join(lines)


def render_diff_markdown(document: Document) -> str:
    """The diff as a pull-request comment: a heading, the summary, a table per env."""
    base, head = document["base"], document["head"]
    lines = [f"### Policy diff: `{_cell(base['path'])}` → `{_cell(head['path'])}`", "",
             _summary_line(document, bold=True)]
    for title, changes in _sections(document["changes"]):
        lines.extend(["", f"#### {_markdown_title(title)}", "",
                      "| direction | change | covers | witness |", "|:--|:--|:--|:--|"])
        for direction, group in _by_direction(changes):
            shown = f"**{direction}**" if direction == "loosening" else direction
            for change in group:
                lines.append(f"| {shown} | {_cell(_what(change, code='`'))} | "
                             f"{_cell(_covers(change).removeprefix('covers '))} | "
                             f"{_cell(_witness(change))} |")
    return "\n".join(lines) + "\n"


# -- structure -----------------------------------------------------------------


def _summary_line(document: Document, *, bold: bool = False) -> str:
    summary = document["summary"]
    if summary["equivalent"]:
        return "no changes: both policies give every request the same outcome"
    total = len(document["changes"])
    loosening = f"{summary['loosening']} loosening"
    if bold and summary["loosening"]:
        loosening = f"**{loosening}**"
    risky = [f"{counts['loosening']} on the {tier} tier"
             for tier, counts in summary["by_tier"].items() if counts["loosening"]]
    detail = f" ({', '.join(risky)})" if risky and summary["loosening"] else ""
    return (f"{total} change{'s' if total != 1 else ''}: {loosening}{detail}, "
            f"{summary['tightening']} tightening")


def _sections(changes: Sequence[Change]) -> list[tuple[str, list[Change]]]:
    """(title, changes) per env in document order, tier changes last."""
    sections: dict[str, list[Change]] = {}
    for change in changes:
        sections.setdefault(_section_title(change), []).append(change)
    return list(sections.items())


def _section_title(change: Change) -> str:
    if change["kind"] == "tier":
        return "tiers and fail modes"
    if change["env"] is None:
        return "envs neither policy declares"
    protected = " (protected)" if change["protected"] else ""
    return f"env {change['env']}{protected}"


def _markdown_title(title: str) -> str:
    if title.startswith("env "):
        return f"env `{title[4:].removesuffix(' (protected)')}`" + (
            " (protected)" if title.endswith("(protected)") else "")
    return title.capitalize()


def _by_direction(changes: Iterable[Change]) -> list[tuple[str, list[Change]]]:
    grouped = {direction: [c for c in changes if c["direction"] == direction]
               for direction in _DIRECTIONS}
    return [(direction, group) for direction, group in grouped.items() if group]


# -- sentences -----------------------------------------------------------------


def _sentence(change: Change, *, code: str) -> str:
    return f"{_what(change, code=code)}; {_covers(change)}; e.g. {_witness(change)}"


def _what(change: Change, *, code: str) -> str:
    """What changed, in words: the decisions and deciders before and after, or the tier."""
    base, head = change["base"], change["head"]
    if change["kind"] == "tier":
        return (f"tier {head['tier']} failing {head['fail_mode']} instead of tier "
                f"{base['tier']} failing {base['fail_mode']}")
    tiers = (f"{base['tier']} tier" if base["tier"] == head["tier"]
             else f"tier {base['tier']} -> {head['tier']}")
    was, now = _decider(base, code), _decider(head, code)
    by = f"still {now}" if was == now else f"was {was}, now {now}"
    return f"{head['decision']} instead of {base['decision']} ({tiers}): {by}"


def _covers(change: Change) -> str:
    """The change's description of its requests, or its witness topic."""
    description = change.get("description")
    return f"covers {description}" if description else (
        f"covers topic `{change['witness']['topic']}`")


def _decider(outcome: Mapping[str, Any], code: str) -> str:
    if outcome["reason"] == "rule":
        return f"rule {code}{outcome['rule']}{code} ({outcome['location']})"
    if outcome["reason"] == "default":
        return "the default decision"
    return "denied as an undeclared env"


def _witness(change: Change) -> str:
    witness = change["witness"]
    if change["kind"] == "tier":
        return f"topic `{witness['topic']}`"
    cidr = "no cidr" if witness["cidr"] is None else f"cidr `{witness['cidr']}`"
    return f"topic `{witness['topic']}`, env `{witness['env']}`, {cidr}"


def _cell(text: str) -> str:
    """``text`` safe in a Markdown table cell: pipes escaped, line breaks removed."""
    return text.replace("|", "\\|").replace("\n", " ")
