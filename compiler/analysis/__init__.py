"""Exact analysis of a policy's IR: rule checks (DG2xx) and governance checks (DG3xx).

``analyze`` runs the ordered passes of ``passes.PASSES`` over one policy;
``check_file`` adds suppression comments and code selection for one loaded file.
"""

from dualgate.compiler.analysis.checking import FileReport, check_file
from dualgate.compiler.analysis.context import (
    DEFAULT_OVERRIDE_WINDOW_LIMIT,
    AnalysisContext,
    AnalysisOptions,
)
from dualgate.compiler.analysis.passes import ANALYSIS_CODES, PASSES, Analysis, Pass, analyze
from dualgate.compiler.analysis.selection import (
    SELECTABLE,
    SUPPRESSIBLE,
    SelectionError,
    resolve_selection,
)
from dualgate.compiler.analysis.suppressions import Suppressed, Suppression

__all__ = [
    "ANALYSIS_CODES",
    "DEFAULT_OVERRIDE_WINDOW_LIMIT",
    "PASSES",
    "SELECTABLE",
    "SUPPRESSIBLE",
    "Analysis",
    "AnalysisContext",
    "AnalysisOptions",
    "FileReport",
    "Pass",
    "SelectionError",
    "Suppressed",
    "Suppression",
    "analyze",
    "check_file",
    "resolve_selection",
]
