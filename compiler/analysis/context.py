"""What every analysis pass sees: the policy, its region space, the options and the clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property

from dualgate.compiler.analysis.sweep import RuleFacts, sweep
from dualgate.compiler.frontend.source import Span
from dualgate.compiler.ir import Policy, Rule
from dualgate.compiler.reference import Request
from dualgate.compiler.regions import RegionSpace
from dualgate.compiler.regions.space import Progress

#: How long an override may stay open, counted from the time of the check.
DEFAULT_OVERRIDE_WINDOW_LIMIT = timedelta(days=7)


@dataclass(frozen=True)
class AnalysisOptions:
    """Settings of one analysis run.

    ``now`` is the time the time-dependent checks (override expiry and window) use; it
    is fixed for the run so that results are reproducible (``lint --now``).
    """

    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    override_window_limit: timedelta = DEFAULT_OVERRIDE_WINDOW_LIMIT
    progress: Progress | None = None


class AnalysisContext:
    """One policy under analysis; the region space and the sweep are built on first use."""

    def __init__(self, policy: Policy, options: AnalysisOptions, path: str = "<policy>") -> None:
        self.policy = policy
        self.options = options
        self.path = path

    @cached_property
    def space(self) -> RegionSpace:
        return RegionSpace(self.policy, self.options.progress)

    @cached_property
    def facts(self) -> RuleFacts:
        return sweep(self.space, self.options.progress)

    def rule(self, index: int) -> Rule:
        return self.policy.rules[index]

    def rule_span(self, index: int) -> Span:
        return self.span_of(self.policy.rules[index].span)

    def default_span(self) -> Span:
        """Where the default decision was declared, else the policy header."""
        return self.span_of(self.policy.default_decision_span or self.policy.span)

    def span_of(self, span: Span | None) -> Span:
        return span or Span(self.path, 1, 1, 1, 1)

    def decider(self, index: int | None) -> str:
        """How a message names what decides: a rule, or the default."""
        return "the default decision" if index is None else f"`{self.rule(index).id}`"

    def request_json(self, request: Request | None) -> dict[str, str | None] | None:
        return None if request is None else request.to_json()
