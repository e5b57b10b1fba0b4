"""Running test cases through the compiled bundle and the runtime, the code the gates load.

Each test file's policy is loaded by the front end, compiled by the backend into a bundle
(in memory, without the analysis: a policy with findings is still tested as written),
loaded by ``dualgate.runtime.load_bundle`` with a clock fixed at the file's `now:` and
asked for every case's decision. The explanation of each answer comes from
``dualgate.runtime.explain``. A policy several files name is compiled once per time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dualgate.compiler.backend import compile_policy
from dualgate.compiler.diagnostics import Diagnostic
from dualgate.compiler.frontend.loader import LoadResult, load_policy
from dualgate.compiler.ir import Policy
from dualgate.compiler.testing.model import OUTCOME_KEYS, Case, CaseFile
from dualgate.runtime import Bundle, BundleError, Verdict, load_bundle
from dualgate.runtime.explain import Explanation, explain


@dataclass(frozen=True)
class Outcome:
    """What the runtime answered for a case, as plain strings."""

    decision: str
    rule: str | None
    reason: str
    tier: str | None
    fail_mode: str | None

    @classmethod
    def of(cls, verdict: Verdict) -> Outcome:
        return cls(
            verdict.decision.value, verdict.rule, verdict.reason,
            None if verdict.tier is None else verdict.tier.value,
            None if verdict.fail_mode is None else verdict.fail_mode.value,
        )

    def to_json(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in OUTCOME_KEYS}


@dataclass(frozen=True)
class CaseResult:
    """One case and the runtime's answer; it passed when every expected key matches."""

    case: Case
    actual: Outcome
    explanation: Explanation

    @property
    def mismatched(self) -> tuple[str, ...]:
        """The expected keys whose actual value differs, in OUTCOME_KEYS order."""
        return tuple(key for key in OUTCOME_KEYS if key in self.case.expect
                     and self.case.expect[key] != getattr(self.actual, key))

    @property
    def passed(self) -> bool:
        return not self.mismatched


@dataclass(frozen=True)
class FileRun:
    """The results of one test file's cases, with the policy and bundle that decided them."""

    file: CaseFile
    policy: Policy
    bundle: Bundle
    now: datetime
    results: tuple[CaseResult, ...]

    @property
    def failed(self) -> int:
        return sum(not r.passed for r in self.results)


@dataclass
class PolicyUnderTest:
    """A test file's policy, loaded and compiled; ``bundle`` is None when it has errors."""

    loaded: LoadResult
    bundle: Bundle | None
    diagnostics: list[Diagnostic] = field(default_factory=list)


class Runner:
    """Runs test files; compiles each (policy, time) once."""

    def __init__(self) -> None:
        self._policies: dict[tuple[str, datetime], PolicyUnderTest] = {}

    def policy_for(self, file: CaseFile, now: datetime) -> PolicyUnderTest:
        """The policy ``file`` names, compiled for ``now``; its problems as diagnostics (a
        policy that cannot be read is reported at the test file's `policy:`)."""
        key = (file.policy_path, now)
        if key not in self._policies:
            self._policies[key] = _compile(file, now)
        return self._policies[key]

    def run(self, file: CaseFile, now: datetime) -> FileRun | PolicyUnderTest:
        """The results of ``file``'s cases at ``now``, or its policy when that has errors."""
        prepared = self.policy_for(file, now)
        if prepared.bundle is None or prepared.loaded.policy is None:
            return prepared
        bundle = prepared.bundle
        return FileRun(file, prepared.loaded.policy, bundle, now,
                       tuple(run_case(bundle, case) for case in file.cases))


def run_case(bundle: Bundle, case: Case) -> CaseResult:
    """Ask ``bundle`` about ``case``'s request, with the explanation of the answer."""
    request = case.request
    explanation = explain(bundle, request.topic, request.env, request.cidr)
    return CaseResult(case, Outcome.of(explanation.verdict), explanation)


def _compile(file: CaseFile, now: datetime) -> PolicyUnderTest:
    loaded = load_policy(file.policy_path)
    if loaded.unreadable:
        reason = loaded.diagnostics[0].message.rsplit(": ", 1)[-1]
        return PolicyUnderTest(loaded, None, [Diagnostic.of(
            "unreadable-file", f"cannot read policy `{file.policy_path}`: {reason}",
            file.policy_span, help="`policy:` is a path relative to the test file",
        )])
    if loaded.policy is None or loaded.source is None:
        return PolicyUnderTest(loaded, None, list(loaded.diagnostics))
    document = compile_policy(loaded.policy, source=loaded.source.text.encode("utf-8"),
                              path=loaded.path)
    instant = now.timestamp()
    try:
        bundle = load_bundle(document, clock=lambda: instant)
    except BundleError as error:
        return PolicyUnderTest(loaded, None, [Diagnostic.of(
            "untestable-policy", f"the runtime refuses the bundle of `{file.policy_path}`: "
            f"{error}", file.policy_span, help=f"run `dualgate lint {file.policy_path}`",
        )])
    return PolicyUnderTest(loaded, bundle)
