""""Nothing deployed": the policy a new policy file is compared against."""

from __future__ import annotations

from dualgate.compiler.ir import Policy
from dualgate.runtime.vocabulary import Decision


def nothing_deployed(name: str) -> Policy:
    """A policy named ``name`` with no envs, tiers or rules and default deny.

    Every request is denied (by the default; any env is accepted), and every topic is in
    the default tier, high, which fails closed: diffing a new policy against it shows
    everything the new policy lets through.
    """
    return Policy(name=name, default_decision=Decision.DENY)
