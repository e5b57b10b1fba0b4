"""The analysis passes: one ordered, named list, as in OPA's compiler.

Each pass is a function from the analysis context to diagnostics, named after what
it checks and listing the codes it can report, so a run can skip the passes whose
codes are not selected. The region space and the sweep over its cells are built
lazily by the first pass that needs them and shared by the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dualgate.compiler.analysis.context import AnalysisContext, AnalysisOptions
from dualgate.compiler.analysis.governance import (
    check_default_allow,
    check_high_risk_allows,
    check_overrides,
    check_tier_overlaps,
    check_unclassified_topics,
    check_vacuous_conditions,
)
from dualgate.compiler.analysis.rule_checks import (
    check_conflicting_rules,
    check_redundant_rules,
    check_shadowed_rules,
    check_unmatchable_rules,
)
from dualgate.compiler.codes import CODES_BY_NAME, Code
from dualgate.compiler.diagnostics import Diagnostic
from dualgate.compiler.frontend.loader import cyclic_gc_paused
from dualgate.compiler.ir import Policy


@dataclass(frozen=True)
class Pass:
    """One named analysis pass and the codes it can report."""

    name: str
    run: Callable[[AnalysisContext], Iterable[Diagnostic]]
    codes: tuple[str, ...]


PASSES: tuple[Pass, ...] = (
    Pass("CheckUnmatchableRules", check_unmatchable_rules, ("unmatchable-rule",)),
    # The next four read the sweep over the first-match cells (built by the first).
    Pass("CheckShadowedRules", check_shadowed_rules, ("shadowed-rule",)),
    Pass("CheckRedundantRules", check_redundant_rules, ("redundant-rule",)),
    Pass("CheckConflictingRules", check_conflicting_rules, ("conflicting-rules",)),
    Pass("CheckHighRiskAllows", check_high_risk_allows, ("unapproved-high-risk-allow",)),
    Pass("CheckOverrides", check_overrides,
         ("override-on-high-tier", "override-expired", "override-window-too-long")),
    Pass("CheckVacuousConditions", check_vacuous_conditions, ("vacuous-condition",)),
    Pass("CheckTierOverlaps", check_tier_overlaps, ("tier-overlap",)),
    Pass("CheckUnclassifiedTopics", check_unclassified_topics, ("unclassified-topic",)),
    Pass("CheckDefaultAllow", check_default_allow, ("default-allow",)),
)

#: Every code an analysis pass can report.
ANALYSIS_CODES: frozenset[Code] = frozenset(
    CODES_BY_NAME[name] for analysis_pass in PASSES for name in analysis_pass.codes
)


@dataclass(frozen=True)
class Analysis:
    """The findings of one run and, per pass that ran, its name and seconds taken.

    ``context`` holds the region space the passes built, for the compiler backend.
    """

    diagnostics: list[Diagnostic]
    timings: list[tuple[str, float]]
    context: AnalysisContext


def analyze(
    policy: Policy,
    options: AnalysisOptions | None = None,
    selected: frozenset[Code] | None = None,
    path: str | None = None,
) -> Analysis:
    """Run every pass that can report a ``selected`` code (default: all) over ``policy``.

    ``path`` names the file in the locations of findings that have no span of their own.
    Only findings with selected codes are returned; nothing is suppressed here.
    """
    context = AnalysisContext(
        policy, options or AnalysisOptions(),
        path or (policy.span.path if policy.span else "<policy>"),
    )
    chosen = ANALYSIS_CODES if selected is None else selected
    diagnostics: list[Diagnostic] = []
    timings: list[tuple[str, float]] = []
    # The region space is a large acyclic object graph: full collections rescanning it
    # took half the time of a 50k-rule analysis.
    with cyclic_gc_paused():
        for analysis_pass in PASSES:
            if not any(CODES_BY_NAME[name] in chosen for name in analysis_pass.codes):
                continue
            started = time.perf_counter()
            diagnostics.extend(d for d in analysis_pass.run(context) if d.code in chosen)
            timings.append((analysis_pass.name, time.perf_counter() - started))
    return Analysis(diagnostics, timings, context)
