"""What a policy test file holds: the policy it tests, the time, and its cases.

A case pins any subset of a request's outcome (decision, deciding rule, reason, tier,
fail mode); only the keys it gives are compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dualgate.compiler.frontend.source import Span
from dualgate.compiler.reference import Request

#: The parts of an outcome a case can expect, in the order reports show them.
OUTCOME_KEYS = ("decision", "rule", "reason", "tier", "fail_mode")

#: The ending that marks a policy test file when directories are searched.
TEST_SUFFIXES = (".tests.yaml", ".tests.yml")


#: The job a case asks about, exactly as the test file writes it: the reference
#: interpreter's request, so a case and a witness print alike.
CaseRequest = Request


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
