"""Policy tests: ``*.tests.yaml`` files of cases, run through the compiled bundle and the
runtime (``dualgate test``), their coverage, and ``dualgate test add``.

    loading (test file -> cases, diagnostics) -> runner (bundle + runtime) -> report
                                                      \\-> case_coverage (rules, regions)
    adding: a logged request -> a case appended to a test file
"""

from dualgate.compiler.testing.loading import LoadedTests, load_test_file
from dualgate.compiler.testing.model import Case, CaseFile, CaseRequest
from dualgate.compiler.testing.runner import CaseResult, FileRun, Outcome, Runner
from dualgate.compiler.testing.suite import SuiteResult, run_suite

__all__ = [
    "Case",
    "CaseFile",
    "CaseRequest",
    "CaseResult",
    "FileRun",
    "LoadedTests",
    "Outcome",
    "Runner",
    "SuiteResult",
    "load_test_file",
    "run_suite",
]
