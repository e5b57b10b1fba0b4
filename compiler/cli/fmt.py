"""``dualgate fmt``: rewrite .policy files in the canonical layout, or check that they are."""

from __future__ import annotations

import difflib
import sys
from dataclasses import dataclass, field
from pathlib import Path

import click

from dualgate.compiler.cli.paths import expand
from dualgate.compiler.diagnostics import Diagnostic, render_text
from dualgate.compiler.formatter import FormatterError, format_policy
from dualgate.compiler.frontend.loader import decode_source, format_of
from dualgate.compiler.frontend.parser import parse_policy
from dualgate.compiler.frontend.source import SourceFile, Span

EXIT_OK, EXIT_CHANGES, EXIT_USAGE = 0, 1, 2
STDIN = Path("-")
_STDIN_NAME = "<stdin>"


@dataclass
class _Run:
    """What happened to the files of one invocation."""

    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, SourceFile] = field(default_factory=dict)
    failed: int = 0
    usage_error: bool = False


def _format_bytes(data: bytes, path: str, run: _Run) -> str | None:
    """The formatted text of ``data``, or None after recording why it cannot be formatted."""
    source, problems = decode_source(data, path)
    syntax = None
    if source is not None and not problems:
        syntax, problems = parse_policy(source)
    if syntax is None:
        # Only syntax and encoding problems stop the formatter; meaning is lint's business.
        run.diagnostics.extend(problems)
        if source is not None:
            run.sources[path] = source
        run.failed += 1
        return None
    try:
        return format_policy(syntax)
    except FormatterError as error:
        click.echo(
            f"fmt: internal error: formatter changed the meaning of {path} ({error}); "
            "the file is left as it was",
            err=True,
        )
        run.usage_error = True
        return None


def _unified_diff(before: str, after: str, path: str) -> str:
    """A unified diff that marks a last line without a line break the way git does."""
    lines = difflib.unified_diff(_split_lines(before), _split_lines(after), path, path)
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
        for line in lines
    )


def _split_lines(text: str) -> list[str]:
    """The lines of ``text`` with their `\\n`; a string may hold a raw CR, which is no break."""
    *complete, last = text.split("\n")
    return [line + "\n" for line in complete] + ([last] if last else [])


def _plural(count: int) -> str:
    return f"{count} file{'' if count == 1 else 's'}"


def _summary(run: _Run, writing: bool) -> str:
    """ruff's summary line: what changed (or would), then what did not; zero parts omitted."""
    changed_verb, unchanged_verb = (
        ("reformatted", "left unchanged") if writing
        else ("would be reformatted", "already formatted")
    )
    parts = [f"{_plural(len(run.changed))} {changed_verb}"] if run.changed else []
    if run.unchanged or not run.changed:
        parts.append(f"{_plural(len(run.unchanged))} {unchanged_verb}")
    return ", ".join(parts)


def _format_one(data: bytes, display: str, run: _Run, check: bool, diff: bool) -> str | None:
    """The formatted text of one file, after reporting whether it changes; None on failure."""
    formatted = _format_bytes(data, display, run)
    if formatted is None:
        return None
    if formatted.encode() == data:
        run.unchanged.append(display)
        return formatted
    run.changed.append(display)
    if check:
        click.echo(f"would reformat {display}")
    if diff:
        # Decoding without `-sig` keeps a byte order mark visible as a change.
        click.echo(_unified_diff(data.decode("utf-8"), formatted, display), nl=False)
    return formatted


def _is_yaml_file(path: Path) -> bool:
    return path.is_file() and format_of(str(path)) == "yaml"


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--check", is_flag=True, help="Write nothing; list the files that would change.")
@click.option("--diff", is_flag=True, help="Write nothing; print the changes as a unified diff.")
@click.pass_context
def fmt(ctx: click.Context, paths: tuple[Path, ...], check: bool, diff: bool) -> None:
    """Format policies in the canonical layout.

    PATHS are .policy files, or directories searched for files ending in .policy (YAML
    policies are not formatted). Files are rewritten in place unless --check or --diff
    is given. Use `-` to format standard input to standard output.

    Exit status: 0 done, 1 files would change or have syntax errors, 2 usage or I/O
    problem.
    """
    run = _Run()
    writing = not (check or diff)

    if STDIN in paths:
        formatted = _format_one(sys.stdin.buffer.read(), _STDIN_NAME, run, check, diff)
        if writing and formatted is not None:
            click.echo(formatted, nl=False)

    named = [p for p in paths if p != STDIN]
    for path in filter(_is_yaml_file, named):
        click.echo(f"fmt: skipping {path}: only .policy files are formatted", err=True)
    expansion = expand((p for p in named if not _is_yaml_file(p)), suffixes=(".policy",))
    for missing in expansion.missing:
        run.diagnostics.append(Diagnostic.of(
            "unreadable-file", f"no such file or directory: `{missing}`",
            Span(str(missing), 1, 1, 1, 1),
        ))
        run.usage_error = True

    for path in expansion.files:
        display = str(path)
        try:
            data = path.read_bytes()
        except OSError as error:
            run.diagnostics.append(Diagnostic.of(
                "unreadable-file",
                f"cannot read `{display}`: {(error.strerror or str(error)).lower()}",
                Span(display, 1, 1, 1, 1),
            ))
            run.usage_error = True
            continue
        formatted = _format_one(data, display, run, check, diff)
        if writing and formatted is not None and formatted.encode() != data:
            try:
                path.write_bytes(formatted.encode())
            except OSError as error:
                click.echo(f"fmt: cannot write {display}: {error.strerror or error}", err=True)
                run.usage_error = True

    if not expansion.files and not expansion.missing and STDIN not in paths:
        # Not an error, unlike for lint: a tree of YAML policies has nothing to format.
        click.echo("fmt: no .policy files found in the given paths", err=True)
    if run.diagnostics:
        files = len(expansion.files) + int(STDIN in paths)
        click.echo(render_text(run.diagnostics, run.sources, files=files), err=True,
                   color=ctx.color)
    # Keep standard output clean when it carries formatted text or a patch.
    click.echo(_summary(run, writing), err=diff or (writing and STDIN in paths))
    if run.usage_error:
        ctx.exit(EXIT_USAGE)
    if run.failed or (not writing and run.changed):
        ctx.exit(EXIT_CHANGES)
    ctx.exit(EXIT_OK)
