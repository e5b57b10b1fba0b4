"""``dualgate diff BASE HEAD``: what a change to a policy does, request by request.

Reads both sides (``compiler.diff.sources``), runs the front end on each, diffs them
(``compiler.diff``) and prints the result (``compiler.reports.diff_text`` or JSON).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

import click

from dualgate.compiler.cli.options import now_option
from dualgate.compiler.diagnostics import render_text
from dualgate.compiler.diff import PolicyRef, diff_policies
from dualgate.compiler.diff.sources import STDIN, SourceError, read_source
from dualgate.compiler.frontend.loader import load_policy_bytes
from dualgate.compiler.ir import Policy
from dualgate.compiler.reports.diff_text import render_diff_markdown, render_diff_text

EXIT_SAME, EXIT_DIFFERENT, EXIT_USAGE = 0, 1, 2


@click.command("diff", short_help="Show every request a policy change affects.")
@click.argument("base", metavar="BASE")
@click.argument("head", metavar="HEAD")
@click.option("--format", "output_format", type=click.Choice(["text", "json", "markdown"]),
              default="text", show_default=True,
              help="Output format; markdown is for a pull-request comment.")
@click.option("--exit-code", is_flag=True,
              help="Exit 1 when the policies differ (as `git diff --exit-code` does).")
@now_option("The time effective fail modes (overrides) are taken at")
@click.option("--stdin-filename", metavar="NAME",
              help="File name to report (and to pick the format from) for `-`.")
@click.pass_context
def diff_command(
    ctx: click.Context, *, base: str, head: str, output_format: str, exit_code: bool,
    now: datetime | None, stdin_filename: str | None,
) -> None:
    """Compare the policies BASE and HEAD: every group of requests whose decision, tier or
    fail mode changes, each with a witness request and both sides' rules.

    BASE and HEAD are policy files (DSL or YAML), `-` for one of them (standard input),
    or REV:PATH for a file in a git revision (as `git show` reads it, e.g.
    `main:policies/infra.policy`). Analysis findings do not stop a diff; front-end
    errors do.

    Exit status: 0 (with --exit-code: the policies are equivalent), 1 they differ and
    --exit-code is set, 2 usage or I/O problem, or a side with front-end errors.
    """
    if base == STDIN and head == STDIN:
        raise click.UsageError("only one of BASE and HEAD can be `-`")
    sides = [_load(ctx, argument, stdin_filename) for argument in (base, head)]
    result = diff_policies(sides[0][0], sides[1][0], now=now or datetime.now(UTC))
    document = result.to_json(sides[0][1], sides[1][1])
    if output_format == "json":
        click.echo(json.dumps(document, indent=2))
    elif output_format == "markdown":
        click.echo(render_diff_markdown(document), nl=False)
    else:
        click.echo(render_diff_text(document))
    ctx.exit(EXIT_DIFFERENT if exit_code and not result.equivalent else EXIT_SAME)


def _load(ctx: click.Context, argument: str, stdin_filename: str | None) -> tuple[
    Policy, PolicyRef
]:
    """The policy ``argument`` names and its reference; exits 2 when it cannot be had."""
    try:
        source = read_source(argument, sys.stdin.buffer, stdin_filename)
    except SourceError as error:
        click.echo(f"dualgate diff: {error}", err=True)
        ctx.exit(EXIT_USAGE)
    result = load_policy_bytes(source.data, source.display, source.format)
    if result.policy is None:
        sources = {result.path: result.source} if result.source else {}
        click.echo(render_text(result.diagnostics, sources, files=1), err=True,
                   color=ctx.color)
        click.echo(f"dualgate diff: cannot diff `{source.display}`: it has errors", err=True)
        ctx.exit(EXIT_USAGE)
    return result.policy, PolicyRef.of(source.display, result.policy, source.data)
