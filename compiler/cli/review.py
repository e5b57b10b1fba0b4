"""``dualgate review``: the pull-request check (see ``compiler.review``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import click

from dualgate.compiler.cli.options import analysis_options, clock_options
from dualgate.compiler.review import (
    ConfigError,
    ReviewError,
    ReviewOptions,
    find_config,
    load_config,
    run_review,
)
from dualgate.compiler.review.git import GitError, open_repository
from dualgate.compiler.review.outputs import FORMATS

EXIT_OK, EXIT_BLOCKED, EXIT_USAGE = 0, 1, 2


def _output(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[
    tuple[str, Path]
]:
    outputs = []
    for value in values:
        fmt, separator, path = value.partition("=")
        if not separator or not path:
            raise click.BadParameter(f"`{value}` is not FORMAT=PATH, e.g. sarif=review.sarif")
        if fmt not in FORMATS:
            names = ", ".join(FORMATS)
            raise click.BadParameter(f"unknown format `{fmt}`; the formats are {names}")
        outputs.append((fmt, Path(path)))
    return outputs


@click.command("review")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--base", "revision", required=True, metavar="REV",
              help="The git revision to compare the working tree with (the PR's base).")
@click.option("--format", "output_format", type=click.Choice(list(FORMATS)), default="text",
              show_default=True, help="Format written to standard output.")
@click.option("--output", "outputs", multiple=True, metavar="FORMAT=PATH", callback=_output,
              help="Also write FORMAT to PATH; repeatable (e.g. sarif=review.sarif).")
@click.option("--waivers", type=click.Path(path_type=Path), metavar="FILE",
              help="The waiver file (default: `waivers` in the review config).")
@click.option("--replay", type=click.Path(path_type=Path), metavar="LOG.jsonl",
              help="Replay logged requests under base and head and count what changes.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), metavar="FILE",
              help="A dualgate.toml or pyproject.toml (default: the nearest one found from "
              "the current directory up to the repository root).")
@clock_options
@click.pass_context
def review(  # click passes every option by keyword
    ctx: click.Context,
    *,
    paths: tuple[Path, ...],
    revision: str,
    output_format: str,
    outputs: list[tuple[str, Path]],
    waivers: Path | None,
    replay: Path | None,
    config_path: Path | None,
    now: datetime | None,
    override_window_limit: timedelta | None,
) -> None:
    """Judge the policy changes since REV: lint, semantic diff, levels and waivers.

    PATHS (default: `.`) are searched for policy files as `lint` does; the files whose
    content differs between REV and the working tree are reviewed.

    Exit status: 0 pass, 1 blocked, 2 usage or I/O problem (no git, bad revision,
    unreadable file).
    """
    cwd = Path.cwd()
    try:
        top = open_repository(cwd, revision).top
        config = load_config(config_path) if config_path else find_config(cwd, top)
        options = ReviewOptions(analysis_options(now, override_window_limit), config,
                                waivers, replay)
        result = run_review(cwd, revision, list(paths) or [Path(".")], options)
    except (GitError, ConfigError, ReviewError) as error:
        click.echo(f"dualgate review: {error}", err=True)
        ctx.exit(EXIT_USAGE)
    for fmt, path in outputs:
        try:
            path.write_text(FORMATS[fmt](result), encoding="utf-8")
        except OSError as error:
            click.echo(f"dualgate review: cannot write `{path}`: "
                       f"{(error.strerror or str(error)).lower()}", err=True)
            ctx.exit(EXIT_USAGE)
    click.echo(FORMATS[output_format](result).rstrip("\n"), color=ctx.color)
    ctx.exit(EXIT_BLOCKED if result.blocked else EXIT_OK)
