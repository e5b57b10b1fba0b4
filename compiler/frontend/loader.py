"""Reading a policy file into IR: the front-end pipeline every command starts with.

    bytes --decode--> text --parse (DSL) or yaml_front (YAML)--> AST --lower--> IR

Each stage reports diagnostics; a stage with errors stops the pipeline for that
file. Nothing here raises on bad input: I/O and encoding problems are diagnostics.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from dualgate.compiler.diagnostics import Diagnostic
from dualgate.compiler.frontend import ast
from dualgate.compiler.frontend.lowering import lower
from dualgate.compiler.frontend.parser import parse_policy
from dualgate.compiler.frontend.source import SourceFile, Span
from dualgate.compiler.ir import Policy
from dualgate.runtime.bundle_format import looks_like_bundle

PolicyFormat = Literal["dsl", "yaml"]

#: File endings read as policies when a directory is searched.
POLICY_SUFFIXES = (".policy", ".policy.yaml", ".policy.yml")


@dataclass
class LoadResult:
    """What the front end made of one file. ``policy`` is None when there were errors."""

    path: str
    source: SourceFile | None
    syntax: ast.PolicyFile | None
    policy: Policy | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    unreadable: bool = False

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


def format_of(path: str) -> PolicyFormat:
    """``yaml`` for `.yaml`/`.yml` files, ``dsl`` for everything else."""
    return "yaml" if path.lower().endswith((".yaml", ".yml")) else "dsl"


def load_policy(path: str | Path) -> LoadResult:
    """Read, parse and lower the policy at ``path``; never raises on bad files."""
    display = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        reason = error.strerror or str(error)
        diagnostic = Diagnostic.of(
            "unreadable-file", f"cannot read `{display}`: {reason.lower()}",
            Span(display, 1, 1, 1, 1),
        )
        return LoadResult(display, None, None, None, [diagnostic], unreadable=True)
    return load_policy_bytes(data, display)


def decode_source(data: bytes, path: str) -> tuple[SourceFile | None, list[Diagnostic]]:
    """``data`` as a UTF-8 source file, or the encoding diagnostics that prevent it.

    A leading byte-order mark is dropped. Text with NUL bytes is returned with its
    diagnostic (so the diagnostic can show the line) and must not be parsed.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        diagnostic = Diagnostic.of(
            "invalid-encoding", f"byte {error.start} is not valid UTF-8",
            Span(path, line, column, line, column + 1), help="save the file as UTF-8",
        )
        return None, [diagnostic]
    source = SourceFile(path, text)
    return source, _binary_content(source)


def _binary_content(source: SourceFile) -> list[Diagnostic]:
    text = source.text
    nul = text.find("\0")
    if nul < 0:
        return []
    line = text.count("\n", 0, nul) + 1
    column = nul - (text.rfind("\n", 0, nul) + 1) + 1
    return [
        Diagnostic.of(
            "invalid-encoding", "the file contains a NUL byte", source.span_at(line, column),
            help="policies are text; remove the binary content",
        )
    ]


def load_policy_bytes(data: bytes, path: str, fmt: PolicyFormat | None = None) -> LoadResult:
    """Decode ``data`` as UTF-8 and load it; undecodable bytes are a diagnostic."""
    if looks_like_bundle(data):
        return LoadResult(path, None, None, None, [Diagnostic.of(
            "syntax-error", f"`{path}` is a compiled bundle, not a policy source",
            Span(path, 1, 1, 1, 1),
            help="check the policy it was compiled from; `dualgate inspect` shows a bundle",
        )])
    source, problems = decode_source(data, path)
    if source is None or problems:
        return LoadResult(path, source, None, None, problems)
    return _load(source, fmt)


def load_policy_text(text: str, path: str = "<policy>", fmt: PolicyFormat | None = None) -> (
    LoadResult
):
    """Parse and lower policy ``text``; ``fmt`` defaults to the one ``path`` implies."""
    source = SourceFile(path, text)
    problems = _binary_content(source)
    if problems:
        return LoadResult(path, source, None, None, problems)
    return _load(source, fmt)


def _load(source: SourceFile, fmt: PolicyFormat | None) -> LoadResult:
    path = source.path
    kind = fmt or format_of(path)
    with cyclic_gc_paused():
        if kind == "yaml":
            # Imported here: the YAML front end brings PyYAML and jsonschema, which a
            # `.policy` file never needs (a pre-commit `lint` starts faster without them).
            from dualgate.compiler.frontend.yaml_front import parse_yaml_policy

            syntax, diagnostics = parse_yaml_policy(source)
        else:
            syntax, diagnostics = parse_policy(source)
        if syntax is None:
            return LoadResult(path, source, None, None, diagnostics)
        policy, lowering_diagnostics = lower(syntax, yaml=kind == "yaml")
    return LoadResult(path, source, syntax, policy, diagnostics + lowering_diagnostics)


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while the front end builds its object graph.

    Parsing allocates millions of small acyclic objects; each full collection rescans
    everything built so far, which made the cost per rule grow with the policy size.
    Reference counting still frees garbage meanwhile.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
