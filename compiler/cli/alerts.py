"""``dualgate alerts``: Prometheus alert rules for a policy's fail-open bypasses."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dualgate.compiler.alerts import render_rules
from dualgate.compiler.diagnostics import render_text
from dualgate.compiler.frontend.loader import load_policy

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


@click.command("alerts", short_help="Generate Prometheus alert rules for fail-open bypasses.")
@click.argument("policy", type=click.Path(path_type=Path, dir_okay=False))
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              help="Where to write the rules (default and `-`: standard output).")
@click.pass_context
def alerts_command(ctx: click.Context, *, policy: Path, output: Path | None) -> None:
    """Write Prometheus alert rules for POLICY's tiers: a page when a medium or low
    tier's bypass ratio is above 0.1% over 1h and 5m, a ticket above 0.01% over 6h and
    30m, a deploy freeze on any bypass in a protected env, and a page on any high-tier
    bypass. Check the file with `promtool check rules`.

    Exit status: 0 written, 1 the policy has errors, 2 usage or I/O problem.
    """
    result = load_policy(policy)
    sources = {result.path: result.source} if result.source else {}
    if result.policy is None:
        click.echo(render_text(result.diagnostics, sources, files=1), err=True,
                   color=ctx.color)
        ctx.exit(EXIT_USAGE if result.unreadable else EXIT_REFUSED)
    text = render_rules(result.policy)
    if output is None or str(output) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        click.echo(f"cannot write `{output}`: {(error.strerror or str(error)).lower()}",
                   err=True)
        ctx.exit(EXIT_USAGE)
    click.echo(f"wrote alert rules for policy `{result.policy.name}` to `{output}`", err=True)
