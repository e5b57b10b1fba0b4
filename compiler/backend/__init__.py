"""The compiler backend: a checked policy into a decision-table bundle.

``compile_loaded`` runs the same checks as ``dualgate lint`` (front end, analysis,
suppressions) and, when no error remains, builds the bundle from the region space the
analysis already computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from dualgate.compiler.analysis import AnalysisOptions, FileReport, check_file
from dualgate.compiler.backend.bundle import build_bundle
from dualgate.compiler.backend.table import DecisionTable, build_table
from dualgate.compiler.frontend.loader import LoadResult, cyclic_gc_paused
from dualgate.compiler.ir import Policy
from dualgate.compiler.regions import RegionSpace


@dataclass(frozen=True)
class Compilation:
    """The report of the checks and, when they found no error, the bundle document."""

    report: FileReport
    bundle: dict[str, Any] | None

    @property
    def ok(self) -> bool:
        return self.bundle is not None


def compiler_version() -> str:
    try:
        return version("dualgate")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def compile_loaded(
    result: LoadResult, options: AnalysisOptions | None = None, *, source: bytes | None = None,
    recorded_path: str | None = None,
) -> Compilation:
    """Check a loaded policy and build its bundle unless an error-severity finding remains.

    ``source`` is the file's bytes (hashed into the bundle); by default its UTF-8 text.
    ``recorded_path`` is the source path the bundle records (default: the path it was
    loaded from); pass one that does not depend on the working directory for bundles
    that are byte-identical wherever they are built (see ``recorded_source_path``).
    """
    with cyclic_gc_paused():  # the whole pipeline builds acyclic graphs (see the loader)
        report = check_file(result, options or AnalysisOptions())
        if result.policy is None or report.context is None \
                or any(d.is_error for d in report.diagnostics):
            return Compilation(report, None)
        if source is None:
            assert result.source is not None
            source = result.source.text.encode("utf-8")
        document = build_bundle(
            result.policy, build_table(report.context.space),
            source=source, path=recorded_path or result.path,
            compiler_version=compiler_version(), passes=[name for name, _ in report.timings],
            findings=report.diagnostics,
            suppressed=[s.diagnostic for s in report.suppressed],
        )
    return Compilation(report, document)


def recorded_source_path(path: Path, root: Path | None = None) -> str:
    """The source path a bundle records: ``path``'s file name, or with ``root`` its path
    relative to ``root`` (POSIX separators); never what the working directory makes of it.

    Raises ``ValueError`` when ``path`` is not under ``root``.
    """
    if root is None:
        return path.name
    return path.resolve().relative_to(root.resolve()).as_posix()


def compile_policy(
    policy: Policy, *, source: bytes = b"", path: str = "<policy>",
) -> dict[str, Any]:
    """The bundle of an IR policy, whatever its findings (for tests and tools that have
    checked the policy themselves); the analysis summary is left empty."""
    with cyclic_gc_paused():
        return build_bundle(
            policy, build_table(RegionSpace(policy)), source=source, path=path,
            compiler_version=compiler_version(), passes=[], findings=[],
        )


__all__ = [
    "Compilation",
    "DecisionTable",
    "build_table",
    "compile_loaded",
    "compile_policy",
    "compiler_version",
    "recorded_source_path",
]
