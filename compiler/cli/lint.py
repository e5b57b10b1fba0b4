"""``dualgate lint``: check policy files and report diagnostics.

Per file: the front end (parse, lower), then the analysis passes, suppression comments,
``--select``/``--ignore`` and the severity threshold; then one report in text, JSON or
SARIF.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import click

from dualgate.compiler.analysis import (
    AnalysisOptions,
    FileReport,
    SelectionError,
    check_file,
    resolve_selection,
)
from dualgate.compiler.cli.options import analysis_options, clock_options
from dualgate.compiler.cli.paths import expand
from dualgate.compiler.cli.progress import DelayedProgress
from dualgate.compiler.codes import Code, Severity
from dualgate.compiler.diagnostics import Diagnostic, render_json, render_text
from dualgate.compiler.frontend.loader import LoadResult, load_policy, load_policy_bytes
from dualgate.compiler.frontend.source import SourceFile, Span

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2

_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}


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


def _items(values: Iterable[str]) -> list[str]:
    """Option values, each possibly a comma-separated list."""
    return [item for value in values for item in value.split(",") if item.strip()]


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format", "output_format", type=click.Choice(["text", "json", "sarif"]),
    default="text", show_default=True,
    help="Output format; sarif is SARIF 2.1.0 for GitHub code scanning.",
)
@click.option(
    "--select", multiple=True, metavar="CODES",
    help="Report only these analysis findings: codes, names or prefixes (DG2), "
    "comma-separated or repeated. Default: all.",
)
@click.option(
    "--ignore", multiple=True, metavar="CODES",
    help="Do not report these analysis findings (same forms as --select).",
)
@click.option(
    "--min-severity", type=click.Choice(["info", "warning", "error"]), default="warning",
    show_default=True, help="Report findings of this severity and above.",
)
@click.option(
    "--fail-on", type=click.Choice(["info", "warning", "error"]), default="error",
    show_default=True, help="Exit 1 when a reported finding has this severity or above.",
)
@clock_options
@click.option(
    "--max-diagnostics", type=click.IntRange(min=1), default=50, show_default=True,
    help="Show at most this many diagnostics in text output (JSON and SARIF have all).",
)
@click.option(
    "--stdin-filename", metavar="NAME",
    help="File name to report (and to pick the format from) when PATH is `-`.",
)
@click.option("--timings", is_flag=True, help="Print the time each analysis pass took to stderr.")
@click.pass_context
def lint(  # click passes every option by keyword
    ctx: click.Context,
    *,
    paths: tuple[Path, ...],
    output_format: str,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    min_severity: str,
    fail_on: str,
    now: datetime | None,
    override_window_limit: timedelta | None,
    max_diagnostics: int,
    stdin_filename: str | None,
    timings: bool,
) -> None:
    """Check policies: syntax, semantics, rule analysis and governance.

    PATHS are .policy and YAML policy files, or directories searched for files ending in
    .policy, .policy.yaml and .policy.yml. Use `-` to read standard input.

    Suppress a finding on one statement with a comment on it or directly above it:
    `# dualgate: ignore[DG204] reason` (the reason is required).

    Exit status: 0 nothing at the --fail-on severity, 1 findings at it, 2 usage or I/O
    problem.
    """
    try:
        selected = resolve_selection(_items(select), _items(ignore))
    except SelectionError as error:
        raise click.UsageError(str(error)) from None
    options = analysis_options(now, override_window_limit)
    results, missing = lint_paths(list(paths), stdin_filename)
    if not results and not missing:
        raise click.UsageError("no policy files found in the given paths")
    reports = _check_all(results, options, selected)
    if timings:
        _print_timings(reports)

    threshold = _RANK[Severity(min_severity)]
    found = missing + [d for report in reports for d in report.diagnostics]
    shown = [d for d in found if _RANK[d.severity] >= threshold]
    hidden: dict[Severity, int] = {}
    for d in found:
        if _RANK[d.severity] < threshold:
            hidden[d.severity] = hidden.get(d.severity, 0) + 1
    suppressed = [s for report in reports for s in report.suppressed]
    files = len(results)
    if output_format == "json":
        click.echo(render_json(shown, files=files, suppressed=[s.to_json() for s in suppressed],
                               hidden=hidden))
    elif output_format == "sarif":
        # Imported here: it reads the package metadata, which a plain lint (a pre-commit
        # hook) need not pay for.
        from dualgate.compiler.reports.sarif import render_sarif

        click.echo(render_sarif(shown, suppressed))
    else:
        sources: dict[str, SourceFile] = {r.path: r.source for r in results if r.source}
        click.echo(render_text(shown, sources, files=files, limit=max_diagnostics,
                               suppressed=len(suppressed), hidden=hidden), color=ctx.color)
    if missing or any(r.unreadable for r in results):
        ctx.exit(EXIT_USAGE)
    failing = _RANK[Severity(fail_on)]
    ctx.exit(EXIT_ERRORS if any(_RANK[d.severity] >= failing for d in shown) else EXIT_OK)


def _check_all(
    results: Sequence[LoadResult], options: AnalysisOptions, selected: frozenset[Code],
) -> list[FileReport]:
    progress = DelayedProgress("analyzing")
    reports = []
    try:
        for result in results:
            progress.restart(f"analyzing {result.path}")
            with_progress = AnalysisOptions(options.now, options.override_window_limit, progress)
            reports.append(check_file(result, with_progress, selected))
    finally:
        progress.close()
    return reports


def _print_timings(reports: Sequence[FileReport]) -> None:
    for report in reports:
        for name, seconds in report.timings:
            click.echo(f"{report.path}: {name} {seconds * 1000:.1f} ms", err=True)
