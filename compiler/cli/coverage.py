"""``dualgate coverage``: the action-path map of one policy (``compiler/coverage``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from dualgate.compiler.cli.options import parse_now
from dualgate.compiler.coverage import (
    FAIL_ON_CHOICES,
    CatalogError,
    build_path_map,
    read_catalog,
    read_log_catalog,
)
from dualgate.compiler.diagnostics import render_text
from dualgate.compiler.frontend.loader import load_policy
from dualgate.compiler.reports.coverage_html import render_html
from dualgate.compiler.reports.coverage_json import render_path_map_json
from dualgate.compiler.reports.coverage_markdown import render_markdown
from dualgate.compiler.reports.coverage_table import render_table

EXIT_OK, EXIT_FLAGGED, EXIT_USAGE = 0, 1, 2

_WRITERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "table": lambda report: render_table(report) + "\n",
    "markdown": render_markdown, "html": render_html,
}


def _fail_on(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...]:
    items = tuple(item.strip() for item in (value or "").split(",") if item.strip())
    for item in items:
        if item not in FAIL_ON_CHOICES:
            raise click.BadParameter(
                f"`{item}` is not one of {', '.join(FAIL_ON_CHOICES)}")
    return items


@click.command("coverage", short_help="Map every action path to its tier and outcomes.")
@click.argument("policy", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--catalog", type=click.Path(path_type=Path, dir_okay=False),
              help="The platform's topics: one per line (`#` comments), or a YAML list "
              "(`.yaml`/`.yml`).")
@click.option("--catalog-from-log", type=click.Path(path_type=Path, dir_okay=False),
              help="Take the distinct topics of a JSON-lines decision log (`topic` at the "
              "top level or under `input`).")
@click.option("--now", metavar="TIMESTAMP", callback=parse_now,
              help="The time that decides which overrides are active (default: now).")
@click.option("--format", "output_format",
              type=click.Choice(["table", "json", "markdown", "html"]), default="table",
              show_default=True, help="Output format.")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the report to this file instead of standard output.")
@click.option("--fail-on", callback=_fail_on, metavar="FLAGS",
              help="Exit 1 when a path has one of these flags (comma-separated: "
              f"{', '.join(FAIL_ON_CHOICES)}).")
@click.pass_context
def coverage_command(
    ctx: click.Context, *, policy: Path, catalog: Path | None, catalog_from_log: Path | None,
    now: datetime | None, output_format: str, output: Path | None, fail_on: tuple[str, ...],
) -> None:
    """Map every action path of POLICY, a topic in each env, to its risk tier, effective
    fail mode and every outcome over all request networks (no cidr included).

    Without a catalog the paths are the policy's own topic classes. Flags: unclassified
    (fell into the default tier), high-allow (a high-tier path allowed somewhere),
    fail-open, default-only (no rule decides it); malformed catalog entries are listed
    with their line numbers.

    Exit status: 0 mapped, 1 a path has a --fail-on flag, 2 usage or I/O problem or a
    policy with errors.
    """
    if catalog is not None and catalog_from_log is not None:
        raise click.UsageError("give --catalog or --catalog-from-log, not both")
    result = load_policy(policy)
    if result.policy is None:
        sources = {result.path: result.source} if result.source else {}
        click.echo(render_text(result.diagnostics, sources, files=1), err=True,
                   color=ctx.color)
        click.echo(f"cannot map `{policy}`: it has errors", err=True)
        ctx.exit(EXIT_USAGE)
    try:
        topics = (read_catalog(catalog) if catalog is not None
                  else read_log_catalog(catalog_from_log) if catalog_from_log is not None
                  else None)
    except CatalogError as error:
        click.echo(f"dualgate coverage: {error}", err=True)
        ctx.exit(EXIT_USAGE)
    path_map = build_path_map(result.policy, topics, now=now or datetime.now(UTC))
    # JSON is written straight from the map (shared fragments); the others read the report.
    text = (render_path_map_json(path_map) if output_format == "json"
            else _WRITERS[output_format](path_map.to_json()))
    if output is None:
        click.echo(text, nl=False, color=ctx.color)
    else:
        try:
            output.write_text(click.unstyle(text), encoding="utf-8")
        except OSError as error:
            click.echo(f"dualgate coverage: cannot write `{output}`: "
                       f"{(error.strerror or str(error)).lower()}", err=True)
            ctx.exit(EXIT_USAGE)
    ctx.exit(EXIT_FLAGGED if fail_on and path_map.flagged(fail_on) else EXIT_OK)
