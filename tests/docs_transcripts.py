"""The documentation's blocks are real: its transcripts are run and compared, its policies linted.

Every fenced block of README.md and docs/*.md is classified by its tag (an untagged block is
an error, so nothing escapes by accident):

- ```` ```console ````: a transcript, run in a temporary copy of the repository's
  ``policies/`` and ``tests/fixtures/`` with an empty ``build/``, one copy per document,
  the document's blocks in order (a later block sees the files an earlier command wrote).
  Each ``$ dualgate ...`` line (a line ending in ``\\`` continues on the next) runs the CLI
  (see `run`); the lines up to the next ``$`` are its output, compared exactly after
  `normalise`. ``$ echo $?`` prints the previous command's exit status. A line ``...``
  (indented or not) stands for any number of lines. No other command runs.
- ```` ```policy ````: a complete policy in the DSL, which must pass ``dualgate lint``; so
  must a file block named ``*.policy.yaml``.
- any block directly preceded by a line ``<!-- file: NAME -->`` is also written to NAME
  (relative to the document's copy) where it stands. Wrapping the two in one comment
  (``<!-- file: NAME``, the block, ``-->``) writes a file the rendered page does not show.
- everything else (``text``, ``sh``, ``json``, ``python``, ...) is not checked: a transcript
  that cannot run in a test (a running server, timings, a git history) is a ``text`` block
  with an HTML comment saying why.

``python -m tests.docs_transcripts --update`` (``make docs``) rewrites every transcript whose
output differs with the output of its commands: a change that alters output is one command
away from fixed documentation.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import re
import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from click.testing import CliRunner

from dualgate.compiler.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
#: What each document's temporary copy holds before its first block, besides an empty
#: ``build/`` (the git-ignored directory the documents write keys and bundles into).
COPIED = ("policies", "tests/fixtures")
ELLIPSIS = "..."
FENCE = re.compile(r"^(`{3,})([\w+-]*)\s*$")
FILE_HEADER = re.compile(r"^<!-- file: (\S+)( -->)?\s*$")
#: A file block of this name is a YAML policy, linted like a ``policy`` block.
YAML_POLICY = (".policy.yaml", ".policy.yml")
#: What varies from run to run, and is therefore replaced on both sides before comparing:
#: the temporary copy's path, and the key id of a key `dualgate keygen` made in the run.
KEY_ID = re.compile(r"\b(key (?:id )?)[0-9a-f]{16}\b")


def documents() -> list[Path]:
    """README.md and docs/*.md, the documents whose blocks are checked."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@dataclass(frozen=True)
class Block:
    """One fenced block: its tag, its text, where its body lies, the file it writes."""

    tag: str
    body: list[str]
    first: int
    """Index (0-based) of the body's first line in the document."""
    file: str | None


@dataclass(frozen=True)
class Step:
    """One ``$`` command of a transcript and the output shown under it."""

    command: list[str]
    """The command's lines as written (more than one when continued with ``\\``)."""
    shown: list[str]

    @property
    def argv(self) -> list[str]:
        """The command's words as a shell splits them (the whole line, unsplit, when its
        quotes do not pair up: it then runs as no known command and is reported)."""
        joined = " ".join(line.removesuffix("\\").strip() for line in self.command)
        try:
            return shlex.split(joined.removeprefix("$ "))
        except ValueError:
            return [joined]


@dataclass
class Report:
    """What running one document found, and its text with every transcript regenerated."""

    failures: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    changed: bool = False


def parse_blocks(text: str) -> tuple[list[Block], list[str]]:
    """The fenced blocks of a Markdown text, and the problems with its fences."""
    lines = text.splitlines()
    blocks: list[Block] = []
    problems: list[str] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        header = FILE_HEADER.match(lines[index - 1]) if index else None
        end = index + 1
        while end < len(lines) and lines[end] != opening.group(1):
            end += 1
        if end == len(lines):
            problems.append(f"{index + 1}: the block is not closed")
            break
        tag = opening.group(2)
        if not tag:
            problems.append(f"{index + 1}: a block without a tag: say `console`, "
                            "`policy`, `text` or its language")
        if header is not None and header.group(2) is None and (
                end + 1 >= len(lines) or lines[end + 1].strip() != "-->"):
            problems.append(f"{index}: `<!-- file:` without ` -->` needs `-->` on the "
                            "line after the block")
        blocks.append(Block(tag, lines[index + 1:end], index + 1,
                            header.group(1) if header else None))
        index = end + 1
    return blocks, problems


def parse_steps(block: Block) -> tuple[list[Step], list[str]]:
    """The steps of a console block, and the lines that are not part of one."""
    steps: list[Step] = []
    problems: list[str] = []
    index = 0
    while index < len(block.body):
        line = block.body[index]
        if not line.startswith("$ "):
            problems.append(f"{block.first + index + 1}: output before the first `$` "
                            "command")
            index += 1
            continue
        command = [line]
        while command[-1].endswith("\\") and index + 1 < len(block.body):
            index += 1
            command.append(block.body[index])
        index += 1
        shown: list[str] = []
        while index < len(block.body) and not block.body[index].startswith("$ "):
            shown.append(block.body[index])
            index += 1
        steps.append(Step(command, shown))
    return steps, problems


def normalise(text: str, root: Path) -> str:
    """The text with what varies from run to run replaced (see `KEY_ID`)."""
    return KEY_ID.sub(r"\1<key id>", text.replace(str(root), "<tmp>"))


def matches(shown: list[str], output: str, root: Path) -> bool:
    """Whether the output is what the lines show, each ``...`` line standing for any lines."""
    pattern = "".join(r"(?:.*\n)*?" if line.strip() == ELLIPSIS else re.escape(line + "\n")
                      for line in normalise("\n".join(shown), root).split("\n")) if shown else ""
    return re.fullmatch(pattern, normalise(output, root)) is not None


def regenerate(shown: list[str], output: str) -> list[str]:
    """The lines to show for an output that no longer matches: all of it, or when the old
    lines elided some, as many leading and trailing lines as they showed around one ``...``."""
    lines = output.splitlines()
    elided = [index for index, line in enumerate(shown) if line.strip() == ELLIPSIS]
    if not elided:
        return lines
    head, tail = elided[0], len(shown) - 1 - elided[-1]
    if head + tail >= len(lines):
        return lines
    return [*lines[:head], shown[elided[0]], *lines[len(lines) - tail:]]


def run(argv: list[str], root: Path) -> tuple[str, int]:
    """Run one ``dualgate`` command in the copy: its output and its exit status.

    It runs in this process, through click's test runner (a new process per command costs
    more than most commands): standard output and error are merged in the order they were
    written, as a terminal shows them, and neither is a terminal, as in a pipe. An internal
    error is reported as the console script reports it."""
    runner = CliRunner(env={"NO_COLOR": "1", "COLUMNS": "80", "FORCE_COLOR": None,
                            "CLICOLOR_FORCE": None, "DUALGATE_TRACEBACK": None})
    with contextlib.chdir(root):
        result = runner.invoke(cli, argv[1:], prog_name="dualgate")
    output, status = result.output, result.exit_code
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        output += (f"dualgate: internal error: {type(result.exception).__name__}: "
                   f"{result.exception}\n")
        status = 2
    return (output if not output or output.endswith("\n") else output + "\n", status)


def _copy(root: Path) -> None:
    (root / "build").mkdir()
    for name in COPIED:
        shutil.copytree(ROOT / name, root / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def _name(document: Path) -> str:
    return str(document.relative_to(ROOT)) if document.is_relative_to(ROOT) else str(document)


def _where(document: Path, line: int) -> str:
    return f"{_name(document)}:{line}"


def _transcript(document: Path, block: Block, root: Path, report: Report) -> list[str]:
    """Run one console block: record its failures, return its body with fresh output."""
    steps, problems = parse_steps(block)
    report.failures.extend(f"{_name(document)}:{p}" for p in problems)
    body: list[str] = []
    status: int | None = None
    line = block.first + 1
    for step in steps:
        argv = step.argv
        if argv == ["echo", "$?"]:
            output = "" if status is None else f"{status}\n"
        elif argv and argv[0] == "dualgate":
            output, status = run(argv, root)
        else:
            report.failures.append(f"{_where(document, line)}: only `$ dualgate ...` and "
                                   f"`$ echo $?` can run: `{' '.join(step.command)}`")
            output = "\n".join(step.shown) + "\n" if step.shown else ""
        body.extend(step.command)
        if matches(step.shown, output, root):
            body.extend(step.shown)
        else:
            fresh = regenerate(step.shown, output)
            diff = "\n".join(difflib.unified_diff(step.shown, output.splitlines(), "shown",
                                                  "printed", lineterm=""))
            report.failures.append(f"{_where(document, line)}: `{' '.join(argv)}` printed "
                                   f"something else:\n{diff}")
            body.extend(fresh)
        line += len(step.command) + len(step.shown)
    return body


def _lint_policy(document: Path, block: Block, path: Path, report: Report) -> None:
    output, status = run(["dualgate", "lint", str(path)], path.parent)
    if status != 0:
        report.failures.append(f"{_where(document, block.first)}: the policy block does not "
                               f"pass `dualgate lint`:\n{output}")


def check_document(document: Path) -> Report:
    """Run every block of one document; the report holds its failures and regenerated text."""
    text = document.read_text(encoding="utf-8")
    blocks, problems = parse_blocks(text)
    report = Report([f"{_name(document)}:{p}" for p in problems],
                    text.splitlines())
    replacements: list[tuple[Block, list[str]]] = []
    with tempfile.TemporaryDirectory(prefix="dualgate-docs-") as directory:
        root = Path(directory) / "repo"
        root.mkdir()
        _copy(root)
        for number, block in enumerate(blocks):
            if block.file is not None:
                target = root / block.file
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text("\n".join(block.body) + "\n", encoding="utf-8")
            if block.tag == "policy" or (block.file or "").endswith(YAML_POLICY):
                path = root / block.file if block.file else Path(directory) / f"{number}.policy"
                if block.file is None:
                    path.write_text("\n".join(block.body) + "\n", encoding="utf-8")
                _lint_policy(document, block, path, report)
            elif block.tag == "console":
                body = _transcript(document, block, root, report)
                if body != block.body:
                    replacements.append((block, body))
    for block, body in reversed(replacements):
        report.lines[block.first:block.first + len(block.body)] = body
        report.changed = True
    return report


def main(arguments: list[str] | None = None) -> int:
    """``--update`` rewrites the transcripts in place; without it, only report (exit 1)."""
    parser = argparse.ArgumentParser(prog="python -m tests.docs_transcripts",
                                     description=__doc__.split("\n", 1)[0])
    parser.add_argument("--update", action="store_true",
                        help="rewrite transcripts whose output differs")
    parser.add_argument("paths", nargs="*", type=Path, help="documents (default: all)")
    options = parser.parse_args(arguments)
    failed = False
    for path in [p.resolve() for p in options.paths] or documents():
        report = check_document(path)
        if options.update and report.changed:
            path.write_text("\n".join(report.lines) + "\n", encoding="utf-8")
            print(f"updated {_name(path)}")
        for failure in report.failures:
            if not (options.update and "printed something else" in failure):
                failed = True
                print(failure, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
