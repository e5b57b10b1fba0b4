"""Checking one loaded file: analysis passes, suppression comments and selection together.

This is what ``dualgate lint`` runs per file after the front end. A file with front-end
errors is not analyzed (its IR does not exist), so its report holds those errors only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dualgate.compiler.analysis.context import AnalysisContext, AnalysisOptions
from dualgate.compiler.analysis.passes import ANALYSIS_CODES, analyze
from dualgate.compiler.analysis.selection import SELECTABLE
from dualgate.compiler.analysis.suppressions import (
    Suppressed,
    apply_suppressions,
    read_suppressions,
)
from dualgate.compiler.codes import Code
from dualgate.compiler.diagnostics import Diagnostic
from dualgate.compiler.frontend.loader import LoadResult, cyclic_gc_paused


@dataclass
class FileReport:
    """The diagnostics of one file, what suppressions hid, and the passes' timings."""

    path: str
    diagnostics: list[Diagnostic]
    suppressed: list[Suppressed] = field(default_factory=list)
    timings: list[tuple[str, float]] = field(default_factory=list)
    #: The analysis context (policy, region space), when the policy was analyzed.
    context: AnalysisContext | None = None


def check_file(
    result: LoadResult, options: AnalysisOptions, selected: frozenset[Code] = SELECTABLE,
) -> FileReport:
    """Analyze a loaded policy and apply its suppression comments and the selection."""
    if result.policy is None or result.syntax is None or result.source is None:
        return FileReport(result.path, list(result.diagnostics))
    # Paused across both steps: a full collection between them rescans the whole region
    # space (seconds for a large policy) and finds nothing to free.
    with cyclic_gc_paused():
        analysis = analyze(result.policy, options, selected & ANALYSIS_CODES, path=result.path)
        suppressions, problems = read_suppressions(result.syntax, result.source)
        kept, suppressed = apply_suppressions(analysis.diagnostics, suppressions, selected)
    chosen = [d for d in [*kept, *problems] if d.code not in SELECTABLE or d.code in selected]
    return FileReport(result.path, [*result.diagnostics, *chosen], suppressed, analysis.timings,
                      analysis.context)
