"""The ``dualgate`` entry point: the command group and the top-level error guard."""

from __future__ import annotations

import gc
import os
import sys

import click

from dualgate.compiler.cli.alerts import alerts_command
from dualgate.compiler.cli.compile import compile_command
from dualgate.compiler.cli.coverage import coverage_command
from dualgate.compiler.cli.diff import diff_command
from dualgate.compiler.cli.evaluate import eval_command
from dualgate.compiler.cli.explain import explain
from dualgate.compiler.cli.fmt import fmt
from dualgate.compiler.cli.inspect_bundle import inspect_command
from dualgate.compiler.cli.keygen import keygen
from dualgate.compiler.cli.lint import lint
from dualgate.compiler.cli.review import review
from dualgate.compiler.cli.test import test_group
from dualgate.compiler.cli.verify import verify


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dualgate", prog_name="dualgate")
@click.option(
    "--color/--no-color", default=None,
    help="Force colors on or off (default: on for terminals, off when NO_COLOR is set).",
)
@click.pass_context
def cli(ctx: click.Context, color: bool | None) -> None:
    """dualgate: policy-as-code for what AI agents are allowed to do."""
    if color is None and os.environ.get("NO_COLOR"):
        color = False
    ctx.color = color


cli.add_command(lint)
cli.add_command(explain)
cli.add_command(fmt)
cli.add_command(compile_command)
cli.add_command(eval_command)
cli.add_command(keygen)
cli.add_command(verify)
cli.add_command(inspect_command)
cli.add_command(alerts_command)
cli.add_command(diff_command)
cli.add_command(review)
cli.add_command(test_group)
cli.add_command(coverage_command)


def main() -> None:
    """Console-script entry: run the CLI; an internal error exits 2 with a short report."""
    # A command is one short process that builds large acyclic graphs (parse trees, region
    # spaces, bundles): cyclic collections only rescan them, seconds per pass for a large
    # policy, and reference counting frees whatever is dropped.
    gc.disable()
    try:
        cli.main(prog_name="dualgate")
    except Exception as error:  # a bug: say so briefly instead of dumping a traceback
        click.echo(
            f"dualgate: internal error: {type(error).__name__}: {error}\n"
            "this is a bug in dualgate; please report it with the input that caused it "
            "(set DUALGATE_TRACEBACK=1 to see the traceback)",
            err=True,
        )
        if os.environ.get("DUALGATE_TRACEBACK"):
            raise
        sys.exit(2)
