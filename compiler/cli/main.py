"""The ``dualgate`` entry point: the command group and the top-level error guard."""

from __future__ import annotations

import gc
import importlib
import os
import sys
from collections.abc import Iterator, MutableMapping
from typing import Any, NamedTuple

import click


class LazyCommand(NamedTuple):
    """Where a command lives, and its line in ``dualgate --help``.

    ``short_help`` is the command's own short help when ``shortened`` is False (click
    prints it whole), or the first sentence of its help when True (click shortens it to
    the terminal's width). ``tests/test_cli_lazy.py`` checks both against the commands,
    so the table cannot drift from them.
    """

    module: str
    attribute: str
    short_help: str
    shortened: bool = False


#: The installed distribution's version (pyproject.toml's; a test checks they agree),
#: written here because reading it from the metadata imports `importlib.metadata`,
#: which would cost `dualgate --version` about a third of its start-up.
VERSION = "0.1.0"


#: Every command, imported only when it runs (or its help is shown): a command imports
#: what it needs (the front end, pydantic, lark, cryptography...), and `dualgate
#: --version` or `lint` in a pre-commit hook should not pay for all of them.
COMMANDS: dict[str, LazyCommand] = {
    "lint": LazyCommand(
        "lint", "lint",
        "Check policies: syntax, semantics, rule analysis and governance.", shortened=True),
    "explain": LazyCommand("explain", "explain", "Explain a diagnostic code, or list them all."),
    "fmt": LazyCommand("fmt", "fmt", "Format policies in the canonical layout.", shortened=True),
    "compile": LazyCommand(
        "compile", "compile_command", "Compile a policy into a decision-table bundle."),
    "eval": LazyCommand("evaluate", "eval_command", "Decide requests with a policy or a bundle."),
    "keygen": LazyCommand("keygen", "keygen", "Make an Ed25519 key pair for signing bundles."),
    "verify": LazyCommand(
        "verify", "verify", "Check a bundle's format, hash and (with --key) signature."),
    "inspect": LazyCommand(
        "inspect_bundle", "inspect_command",
        "Print a bundle's metadata, tiers and analysis summary."),
    "alerts": LazyCommand(
        "alerts", "alerts_command", "Generate Prometheus alert rules for fail-open bypasses."),
    "diff": LazyCommand("diff", "diff_command", "Show every request a policy change affects."),
    "review": LazyCommand(
        "review", "review",
        "Judge the policy changes since REV: lint, semantic diff, levels and waivers.",
        shortened=True),
    "test": LazyCommand("test", "test_group", "Run policy test files, or add a case."),
    "coverage": LazyCommand(
        "coverage", "coverage_command", "Map every action path to its tier and outcomes."),
    "serve": LazyCommand(
        "serve", "serve", "Serve decisions over HTTP from a bundle file or URL."),
}


class _Commands(MutableMapping[str, click.Command]):
    """A group's commands, each imported from its module on first access by name.

    Listing or testing membership imports nothing; ``commands[name]`` (what click's
    ``get_command`` does) imports that command's module only.
    """

    def __init__(self, lazy: dict[str, LazyCommand]) -> None:
        self._lazy = lazy
        self._loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        command = self._loaded.get(name)
        if command is None:
            entry = self._lazy[name]
            module = importlib.import_module(f"dualgate.compiler.cli.{entry.module}")
            command = self._loaded[name] = getattr(module, entry.attribute)
        return command

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        known = name in self
        self._loaded.pop(name, None)
        self._lazy = {n: e for n, e in self._lazy.items() if n != name}
        if not known:
            raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return name in self._loaded or name in self._lazy

    def __iter__(self) -> Iterator[str]:
        yield from self._lazy
        yield from (name for name in self._loaded if name not in self._lazy)

    def __len__(self) -> int:
        return len(self._lazy.keys() | self._loaded.keys())

    def placeholder(self, name: str) -> click.Command:
        """The command if it is imported already, else one that carries only its help
        line (click shortens it exactly as it would the command's own)."""
        loaded = self._loaded.get(name)
        if loaded is not None or name not in self._lazy:
            return self[name]
        entry = self._lazy[name]
        if entry.shortened:
            return click.Command(name, help=entry.short_help)
        return click.Command(name, short_help=entry.short_help)


class LazyGroup(click.Group):
    """A group whose commands are imported when they run; ``--help`` lists them all
    from the ``COMMANDS`` table without importing any."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands: _Commands = _Commands(COMMANDS)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        commands = self.commands
        shown = [(name, commands.placeholder(name)) for name in self.list_commands(ctx)]
        shown = [(name, command) for name, command in shown if not command.hidden]
        if shown:
            # As click lays the rows out: three times the default spacing.
            limit = formatter.width - 6 - max(len(name) for name, _ in shown)
            with formatter.section("Commands"):
                formatter.write_dl([(name, command.get_short_help_str(limit))
                                    for name, command in shown])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(VERSION, prog_name="dualgate")
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
