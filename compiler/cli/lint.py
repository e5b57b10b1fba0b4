"""``dualgate lint``: check policy files and report diagnostics."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dualgate.compiler.cli.paths import expand
from dualgate.compiler.diagnostics import Diagnostic, render_json, render_text
from dualgate.compiler.loader import LoadResult, load_policy, load_policy_bytes
from dualgate.compiler.source import SourceFile, Span

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2


def lint_paths(paths: list[Path], stdin_filename: str | None = None) -> tuple[
    list[LoadResult], list[Diagnostic]
]:
    """Load every policy named by ``paths`` (``-`` is standard input).

    Returns the per-file results and the diagnostics for arguments that named nothing.
    """
    results: list[LoadResult] = []
    if Path("-") in paths:
        data = sys.stdin.buffer.read()
        results.append(load_policy_bytes(data, stdin_filename or "<stdin>"))
    expansion = expand(p for p in paths if p != Path("-"))
    results.extend(load_policy(path) for path in expansion.files)
    missing = [
        Diagnostic.of("unreadable-file", f"no such file or directory: `{path}`",
                      Span(str(path), 1, 1, 1, 1))
        for path in expansion.missing
    ]
    return results, missing


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format", "output_format", type=click.Choice(["text", "json"]), default="text",
    show_default=True, help="Output format.",
)
@click.option(
    "--max-diagnostics", type=click.IntRange(min=1), default=50, show_default=True,
    help="Show at most this many diagnostics in text output (JSON has all).",
)
@click.option(
    "--stdin-filename", metavar="NAME",
    help="File name to report (and to pick the format from) when PATH is `-`.",
)
@click.pass_context
def lint(
    ctx: click.Context,
    paths: tuple[Path, ...],
    output_format: str,
    max_diagnostics: int,
    stdin_filename: str | None,
) -> None:
    """Check policies for errors.

    PATHS are .policy and YAML policy files, or directories searched for files ending in
    .policy, .policy.yaml and .policy.yml. Use `-` to read standard input.

    Exit status: 0 no errors, 1 errors found, 2 usage or I/O problem.
    """
    results, missing = lint_paths(list(paths), stdin_filename)
    if not results and not missing:
        raise click.UsageError("no policy files found in the given paths")
    diagnostics = missing + [d for r in results for d in r.diagnostics]
    files = len(results)
    if output_format == "json":
        click.echo(render_json(diagnostics, files=files))
    else:
        sources: dict[str, SourceFile] = {r.path: r.source for r in results if r.source}
        click.echo(render_text(diagnostics, sources, files=files, limit=max_diagnostics),
                   color=ctx.color)
    if missing or any(r.unreadable for r in results):
        ctx.exit(EXIT_USAGE)
    ctx.exit(EXIT_ERRORS if any(d.is_error for d in diagnostics) else EXIT_OK)
