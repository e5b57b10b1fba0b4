"""``dualgate test [PATHS]`` runs policy test files; ``dualgate test add`` appends a case.

``test`` is a group whose default command runs the tests: its first argument selects
``add`` only when it is exactly ``add`` (write ``./add`` for a directory of that name).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click

from dualgate.compiler.cli.options import parse_now
from dualgate.compiler.cli.paths import expand
from dualgate.compiler.diagnostics import render_text as render_diagnostics
from dualgate.compiler.reports.junit import render_junit
from dualgate.compiler.testing.adding import AddError, add_case, read_logged_request, read_request
from dualgate.compiler.testing.case_coverage import MEASURES
from dualgate.compiler.testing.model import TEST_SUFFIXES
from dualgate.compiler.testing.report import junit_suites, render_text, to_json
from dualgate.compiler.testing.suite import below_thresholds, run_suite
from dualgate.runtime.vocabulary import DECISION_ALIASES

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_RUN = "run"


class _RunByDefault(click.Group):
    """A group that runs its ``run`` command unless the first argument names another."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or args[0] not in self.commands or args[0] == _RUN:
            args = [_RUN, *(args[1:] if args and args[0] == _RUN else args)]
        return super().parse_args(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, "[OPTIONS] [PATHS]... | add TESTFILE ...")


class _RunCommand(click.Command):
    """The default command, whose usage reads as the group's (`dualgate test [PATHS]`)."""

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        path = ctx.parent.command_path if ctx.parent else ctx.command_path
        formatter.write_usage(path, " ".join(self.collect_usage_pieces(ctx)))


def parse_thresholds(ctx: click.Context, param: click.Parameter,
                     value: str | None) -> dict[str, float] | None:
    """``--fail-under rules=90,regions=80``: percentages per measure."""
    if value is None:
        return None
    thresholds: dict[str, float] = {}
    for item in value.split(","):
        measure, equals, number = item.strip().partition("=")
        if measure not in MEASURES or not equals:
            raise click.BadParameter(
                f"`{item.strip()}` is not MEASURE=PERCENT with MEASURE one of "
                + ", ".join(f"`{m}`" for m in MEASURES))
        try:
            percent = float(number)
        except ValueError:
            percent = -1.0
        if not 0 <= percent <= 100:
            raise click.BadParameter(f"`{number}` is not a percentage from 0 to 100")
        thresholds[measure] = percent
    return thresholds


@click.group("test", cls=_RunByDefault, short_help="Run policy test files, or add a case.")
def test_group() -> None:
    """Run policy test files (`dualgate test [PATHS]`), or append a case to one
    (`dualgate test add TESTFILE ...`). `dualgate test --help` describes the run,
    `dualgate test add --help` the other."""


@test_group.command(_RUN, cls=_RunCommand)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "output_format", type=click.Choice(["text", "json", "junit"]),
              default="text", show_default=True, help="Output format (junit: JUnit XML).")
@click.option("--coverage", "measure", is_flag=True,
              help="Report the coverage of each policy: rules, default, tier x decision "
              "combinations and outcome regions (with a request for each uncovered one).")
@click.option("--fail-under", metavar="rules=PCT,regions=PCT", callback=parse_thresholds,
              help="Exit 1 when a policy's coverage is below these percentages "
              "(implies --coverage).")
@click.option("--now", metavar="TIMESTAMP", callback=parse_now,
              help="The time for test files without `now:` (default: the current time).")
@click.pass_context
def run_command(ctx: click.Context, *, paths: tuple[Path, ...], output_format: str,
                measure: bool, fail_under: dict[str, float] | None,
                now: datetime | None) -> None:
    """Run the cases of the test files in PATHS: files, or directories searched for
    `*.tests.yaml` (default: the current directory). Each case runs through the
    compiled bundle and the runtime the gates load.

    Exit status: 0 every case passed (and coverage met --fail-under), 1 a case failed
    or coverage is below --fail-under, 2 usage problem, or a test file or its policy
    has errors (nothing is run then).

    `dualgate test add --help` describes appending a case from a log or a request.
    """
    expansion = expand(paths or (Path("."),), TEST_SUFFIXES)
    for missing in expansion.missing:
        click.echo(f"dualgate test: no such file or directory: `{missing}`", err=True)
    if expansion.missing:
        ctx.exit(EXIT_USAGE)
    if not expansion.files:
        raise click.UsageError("no test files (*.tests.yaml) found in the given paths")
    suite = run_suite(expansion.files, now=now, coverage=measure or fail_under is not None)
    if suite.broken:
        click.echo(render_diagnostics(suite.diagnostics, suite.sources,
                                      files=len(suite.sources)), err=True, color=ctx.color)
        click.echo("dualgate test: nothing was run: fix the errors above", err=True)
        ctx.exit(EXIT_USAGE)
    below = below_thresholds(suite.coverages or [], fail_under or {})
    if output_format == "json":
        thresholds = {"fail_under": fail_under, "below": below} if fail_under else {}
        click.echo(json.dumps(to_json(suite.runs, suite.coverages, thresholds), indent=2,
                              ensure_ascii=False))
    elif output_format == "junit":
        click.echo(render_junit(junit_suites(suite.runs), name="dualgate test"), nl=False)
    else:
        notes = [f"coverage below --fail-under: {line}" for line in below]
        click.echo(render_text(suite.runs, suite.coverages or (), notes))
    ctx.exit(EXIT_FAILED if suite.failed or below else EXIT_OK)


@test_group.command("add")
@click.argument("test_file", metavar="TESTFILE", type=click.Path(path_type=Path,
                                                                  dir_okay=False))
@click.option("--from-log", "log", type=click.Path(path_type=Path, dir_okay=False),
              help="A decision log (JSON Lines) or any file of JSON requests.")
@click.option("--line", type=click.IntRange(min=1),
              help="The log line to take (1-based, as editors count).")
@click.option("--decision-id", help="The log entry whose `decision_id` this is.")
@click.option("--request", "literal", metavar="JSON",
              help='A request written out: \'{"topic": ..., "env": ..., "cidr": ...}\'.')
@click.option("--expect", "decision", required=True,
              type=click.Choice(sorted(DECISION_ALIASES)),
              help="The decision the policy must give this request.")
@click.option("--name", help="The case's name (default: from the source and the request).")
@click.option("--source", help="Where the case comes from, e.g. an incident id.")
@click.option("--policy", type=click.Path(path_type=Path, dir_okay=False),
              help="Create TESTFILE for this policy when it does not exist yet.")
@click.pass_context
def add_command(ctx: click.Context, *, test_file: Path, log: Path | None, line: int | None,
                decision_id: str | None, literal: str | None, decision: str,
                name: str | None, source: str | None, policy: Path | None) -> None:
    """Append a case to TESTFILE: the request from a log (--from-log, with --line or
    --decision-id unless the log holds one request) or from --request, and the decision
    it must get (--expect). Only topic, env and cidr are taken, at the top level or under
    `input`. The file's text is kept as it is (comments too): the case is appended.
    A missing TESTFILE is created only when --policy names its policy.

    Then the case is run against the current policy. Exit status: 0 the case was added
    and the policy passes it, 1 the case was added and the policy fails it (an incident
    not fixed yet), 2 nothing was added (usage, a bad log line, a broken test file).
    """
    if (log is None) == (literal is None):
        raise click.UsageError("give the request with --from-log LOG or --request JSON")
    if log is None and (line is not None or decision_id is not None):
        raise click.UsageError("--line and --decision-id pick a line of --from-log")
    if line is not None and decision_id is not None:
        raise click.UsageError("give --line or --decision-id, not both")
    try:
        if log is not None:
            request = read_logged_request(log, line=line, decision_id=decision_id)
        else:
            assert literal is not None
            request = read_request(literal)
        added = add_case(test_file, request, str(DECISION_ALIASES[decision]), name=name,
                         source=source, policy=policy)
    except AddError as error:
        if error.diagnostics:
            click.echo(render_diagnostics(error.diagnostics, error.sources,
                                          files=len(error.sources) or 1), err=True,
                       color=ctx.color)
        click.echo(f"dualgate test add: {error}", err=True)
        ctx.exit(EXIT_USAGE)
    click.echo(added.message())
    ctx.exit(EXIT_OK if added.passed else EXIT_FAILED)

