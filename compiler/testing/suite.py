"""A whole ``dualgate test`` run: load every test file, run the healthy ones, measure.

When any test file or the policy it names has errors, nothing is run: the diagnostics
are the result (as a test runner stops at a collection error), so a broken file can
never pass silently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from dualgate.compiler.diagnostics import Diagnostic
from dualgate.compiler.frontend.source import SourceFile
from dualgate.compiler.testing.case_coverage import MEASURES, PolicyCoverage, policy_coverage
from dualgate.compiler.testing.loading import load_test_file
from dualgate.compiler.testing.model import CaseFile
from dualgate.compiler.testing.runner import FileRun, Runner


@dataclass
class SuiteResult:
    """The runs of every test file, or the diagnostics that stopped the suite."""

    runs: list[FileRun] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, SourceFile] = field(default_factory=dict)
    coverages: list[PolicyCoverage] | None = None

    @property
    def broken(self) -> bool:
        return any(d.is_error for d in self.diagnostics)

    @property
    def failed(self) -> int:
        return sum(run.failed for run in self.runs)


def run_suite(paths: Sequence[Path], *, now: datetime | None = None,
              coverage: bool = False) -> SuiteResult:
    """Run the test files at ``paths`` in order. ``now`` is the time for files without a
    `now:` (default: the current time, taken once for the whole run)."""
    clock = now or datetime.now(UTC)
    result = SuiteResult()
    files: list[CaseFile] = []
    for path in paths:
        loaded = load_test_file(path)
        if loaded.source is not None:
            result.sources[loaded.path] = loaded.source
        result.diagnostics += loaded.diagnostics
        if loaded.file is not None:
            files.append(loaded.file)
    runner = Runner()
    runs: list[FileRun] = []
    for file in files:
        outcome = runner.run(file, file.now or clock)
        if isinstance(outcome, FileRun):
            runs.append(outcome)
            continue
        result.diagnostics += [d for d in outcome.diagnostics
                               if d not in result.diagnostics]
        if outcome.loaded.source is not None:
            result.sources[outcome.loaded.path] = outcome.loaded.source
    if result.broken:
        return result
    result.runs = runs
    if coverage:
        result.coverages = _coverages(runs)
    return result


def _coverages(runs: Sequence[FileRun]) -> list[PolicyCoverage]:
    """One coverage per policy file, over the cases of every test file naming it (the
    regions' fail modes at the first such file's time)."""
    by_policy: dict[str, list[FileRun]] = {}
    for run in runs:
        by_policy.setdefault(run.file.policy_path, []).append(run)
    return [
        policy_coverage(path, group[0].policy, group[0].now,
                        [(run.file.path, run.results) for run in group])
        for path, group in by_policy.items()
    ]


def below_thresholds(coverages: Sequence[PolicyCoverage],
                     thresholds: Mapping[str, float]) -> list[str]:
    """One line per policy and measure below its ``--fail-under`` threshold."""
    return [
        f"{c.policy}: {measure} coverage {c.percent(measure):.1f}% is below {limit:g}%"
        for c in coverages for measure in MEASURES
        if measure in thresholds and c.percent(measure) < (limit := thresholds[measure])
    ]
