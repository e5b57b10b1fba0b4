"""What a policy test file holds: the policy it tests, the time, and its cases.

A case pins any subset of a request's outcome (decision, deciding rule, reason, tier,
fail mode); only the keys it gives are compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dualgate.compiler.frontend.source import Span

#: The parts of an outcome a case can expect, in the order reports show them.
OUTCOME_KEYS = ("decision", "rule", "reason", "tier", "fail_mode")

#: The ending that marks a policy test file when directories are searched.
TEST_SUFFIXES = (".tests.yaml", ".tests.yml")


@dataclass(frozen=True)
class CaseRequest:
    """The job a case asks about, exactly as the test file writes it."""

    topic: str
    env: str
    cidr: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"topic": self.topic, "env": self.env, "cidr": self.cidr}

    def __str__(self) -> str:
        cidr = "no cidr" if self.cidr is None else f"cidr `{self.cidr}`"
        return f"topic `{self.topic}`, env `{self.env}`, {cidr}"


@dataclass(frozen=True)
class Case:
    """One case: a request and the outcome it must get (``expect`` maps OUTCOME_KEYS that
    the file gives to their values; a decision alias is already resolved)."""

    name: str
    request: CaseRequest
    expect: dict[str, str | None]
    source: str | None
    span: Span


@dataclass(frozen=True)
class CaseFile:
    """A loaded test file: ``policy_path`` is the policy's path resolved against the file."""

    path: str
    policy_path: str
    policy_span: Span
    now: datetime | None
    cases: tuple[Case, ...]
