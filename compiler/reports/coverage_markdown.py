"""The action-path map as Markdown for a pull-request comment, from the JSON report.

Risks first (the flags and the malformed catalog entries), then a tier x decision table
per env, then the paths; long path lists fold into a ``<details>`` block so that the
comment stays readable.
"""

from __future__ import annotations

from typing import Any

from dualgate.compiler.reports.coverage_table import env_label, outcome_text

_TIERS = ("high", "medium", "low")
_DECISIONS = ("allow", "throttle", "require_human", "deny")
#: Paths shown before the table folds into a <details> block.
FOLD_AFTER = 30

_FLAG_TEXT = {
    "unclassified": "unclassified (fell into the default tier)",
    "high-allow": "high-tier paths allowed somewhere",
    "fail-open": "paths that fail open",
    "default-only": "paths decided only by the default",
    "malformed": "malformed catalog entries",
}


def escape(text: str) -> str:
    """``text`` safe inside a Markdown table cell."""
    return (text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
            .replace("<", "&lt;").replace(">", "&gt;"))


def _code(text: str) -> str:
    return f"`{escape(text).replace('`', '')}`"


def render_markdown(report: dict[str, Any]) -> str:
    summary = report["summary"]
    lines = [
        f"## Action-path map of {_code(report['policy'])}",
        "",
        f"{summary['paths']} paths ({summary['topics']} topics); "
        f"**{summary['classified_share'] * 100:.1f}%** of topics classified by a tier.",
        "",
        "| Risk | Count |",
        "| --- | ---: |",
    ]
    for flag, count in summary["flags"].items():
        mark = " ⚠️" if count else ""
        lines.append(f"| {_FLAG_TEXT[flag]} | {count}{mark} |")
    if report["malformed"]:
        lines += ["", "Malformed catalog entries:", ""]
        lines += [f"- line {m['line']}: {_code(m['text'])}: {escape(m['reason'])}"
                  for m in report["malformed"]]
    for env in summary["by_env"]:
        protected = " (protected)" if env["protected"] else ""
        lines += ["", f"### {escape(env_label(env['env']))}{protected}", "",
                  "| Tier | " + " | ".join(_DECISIONS) + " |",
                  "| --- |" + " ---: |" * len(_DECISIONS)]
        for tier in _TIERS:
            counts = env["counts"][tier]
            lines.append(f"| {tier} | " + " | ".join(str(counts[d]) for d in _DECISIONS) + " |")
    lines += ["", *_path_table(report["paths"])]
    return "\n".join(lines) + "\n"


def _path_table(paths: list[dict[str, Any]]) -> list[str]:
    table = ["| Topic | Env | Tier | Fail mode | Outcomes | Flags |",
             "| --- | --- | --- | --- | --- | --- |"]
    for path in paths:
        topic = _code(path["topic"])
        if "description" in path:
            topic += f" ({escape(path['description'])})"
        env = escape(env_label(path["env"])) + (" (protected)" if path["protected"] else "")
        outcomes = "<br>".join(escape(outcome_text(o)) for o in path["outcomes"])
        flags = ", ".join(f"**{f}**" for f in path["flags"])
        table.append(f"| {topic} | {env} | {path['tier']} | {path['fail_mode']} | "
                     f"{outcomes} | {flags} |")
    if len(paths) <= FOLD_AFTER:
        return table
    return [f"<details><summary>All {len(paths)} paths</summary>", "", *table, "",
            "</details>"]
