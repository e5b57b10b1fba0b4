"""``dualgate inspect``: what a bundle holds, for people and scripts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from dualgate.compiler.cli.bundles import open_bundle
from dualgate.runtime import Bundle
from dualgate.runtime.bundle_format import class_count, plane_count
from dualgate.runtime.validation import parse_timestamp


@click.command("inspect", short_help="Print a bundle's metadata, tiers and analysis summary.")
@click.argument("bundle", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--key", type=click.Path(path_type=Path, dir_okay=False),
              help="Also check the signature with this Ed25519 public key.")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]),
              default="text", show_default=True)
@click.pass_context
def inspect_command(ctx: click.Context, bundle: Path, key: Path | None,
                    output_format: str) -> None:
    """Print what BUNDLE holds: policy, source, hashes, signature, envs, tiers and fail
    modes, overrides, rules, table size and the analysis summary. The bundle is
    verified first; a bundle the runtime would refuse is reported instead (exit 1)."""
    loaded = open_bundle(ctx, bundle, key)
    summary = describe(loaded)
    if output_format == "json":
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo(render(str(bundle), summary))


def describe(bundle: Bundle) -> dict[str, Any]:
    """The bundle's metadata as JSON (everything but the rules and the table itself)."""
    document = bundle.content
    table = document["table"]
    now = datetime.now(UTC)
    signature = bundle.document.get("signature")
    return {
        "policy": document["policy"],
        "format_version": document["format_version"],
        "compiler": document["compiler"],
        "source": document["source"],
        "content_sha256": bundle.content_hash,
        "signature": None if signature is None else {
            "algorithm": signature["algorithm"], "key_id": signature["key_id"],
            "verified": bundle.verified_key is not None,
        },
        "envs": document["envs"],
        "default_decision": document["default_decision"],
        "default_tier": document["default_tier"],
        "tiers": [
            {**tier, "effective_fail_mode": bundle.fail_mode(info.name).value}
            for tier, info in zip(document["tiers"], bundle.tiers, strict=True)
        ],
        "overrides": [
            {**o, "active": now < parse_timestamp(o["until"], "until")}
            for o in document["overrides"]
        ],
        "rules": len(document["rules"]["id"]),
        "table": {"topic_states": len(table["topics"]["other"]),
                  "classes": class_count(table), "layouts": len(table["layouts"]),
                  "planes": plane_count(table)},
        "analysis": document["analysis"],
    }


def render(name: str, summary: dict[str, Any]) -> str:
    lines = [f"bundle     {name}", f"policy     {summary['policy']}",
             f"format     dualgate-bundle v{summary['format_version']} "
             f"({summary['compiler']})",
             f"source     {summary['source']['path']} (sha256 {summary['source']['sha256']})",
             f"content    sha256 {summary['content_sha256']} (verified)"]
    signature = summary["signature"]
    if signature is None:
        lines.append("signature  none")
    else:
        checked = "verified" if signature["verified"] else "not checked: pass --key"
        lines.append(f"signature  {signature['algorithm']}, key {signature['key_id']} "
                     f"({checked})")
    envs = ", ".join(e["name"] + (" (protected)" if e["protected"] else "")
                     for e in summary["envs"]) or "none declared (any env is accepted)"
    lines.append(f"envs       {envs}")
    lines.append(f"default    {summary['default_decision']}; unclassified topics are tier "
                 f"{summary['default_tier']}")
    lines.append("tiers" + ("" if summary["tiers"] else "      none declared (all closed)"))
    for tier in summary["tiers"]:
        mode = tier["fail_mode"]
        if tier["effective_fail_mode"] != mode:
            mode = f"{mode}, now {tier['effective_fail_mode']} (override)"
        lines.append(f"  {tier['name']:<8} {mode:<8} {', '.join(tier['patterns'])}")
    for override in summary["overrides"]:
        state = "active" if override["active"] else "expired"
        lines.append(f"override   tier {override['tier']} {override['fail_mode']} until "
                     f"{override['until']} ({state}): {override['reason']}")
    table = summary["table"]
    lines.append(f"rules      {summary['rules']}")
    lines.append(f"table      {table['topic_states']} topic states, {table['classes']} "
                 f"classes, {table['layouts']} cidr layouts, {table['planes']} planes")
    analysis = summary["analysis"]
    findings = ", ".join(f"{code} x{count}" for code, count in analysis["findings"].items())
    suppressed = sum(analysis["suppressed"].values())
    lines.append(f"analysis   {len(analysis['passes'])} passes; findings: {findings or 'none'}"
                 + (f"; {suppressed} suppressed" if suppressed else ""))
    return "\n".join(lines)
