"""dualgate.runtime.gates: what a gateway (Gate A) and a scheduler (Gate B) load.

    holder = BundleHolder("https://bundles.internal/infra.bundle.json",
                          public_key="release.pub", require_signature=True,
                          persist_dir="/var/lib/dualgate", max_age=300)
    holder.start(interval=30)
    verdict, active = holder.decide("infra.resource.delete", "production", "10.1.2.3")

Like the rest of the runtime, nothing here imports the compiler or its dependencies.
``RemoteDecider`` (a decider that asks ``dualgate serve`` over HTTP, behind a circuit
breaker) lives in ``dualgate.runtime.gates.remote``: it needs httpx and pybreaker
(``dualgate[remote]``), so it is imported from there, or from here on first use only.
"""

from typing import Any

from dualgate.runtime.gates.approvals import (
    ApprovalError,
    ApprovalRequest,
    ApprovalToken,
    ApprovalVerifier,
    Binding,
    MemoryUsedTokens,
    Refusal,
    UsedTokens,
    sign_approval,
)
from dualgate.runtime.gates.dispatch import DispatchGate
from dualgate.runtime.gates.failmodes import (
    OVERRIDE_VARIABLE,
    FailModeOverrideError,
    FailModes,
    parse_override,
)
from dualgate.runtime.gates.gate import Action, Decider, GateResult
from dualgate.runtime.gates.holder import (
    ActiveBundle,
    BundleHolder,
    PolicyUnavailable,
    ReloadOutcome,
    ReloadResult,
    reload_metrics,
)
from dualgate.runtime.gates.killswitch import KILL_SWITCH, KillSwitch, KillSwitchError
from dualgate.runtime.gates.sources import FileSource, HttpSource, Source, SourceError
from dualgate.runtime.gates.submit import SubmitGate

__all__ = [
    "KILL_SWITCH",
    "OVERRIDE_VARIABLE",
    "Action",
    "ActiveBundle",
    "ApprovalError",
    "ApprovalRequest",
    "ApprovalToken",
    "ApprovalVerifier",
    "Binding",
    "BundleHolder",
    "Decider",
    "DispatchGate",
    "FailModeOverrideError",
    "FailModes",
    "FileSource",
    "GateResult",
    "HttpSource",
    "KillSwitch",
    "KillSwitchError",
    "MemoryUsedTokens",
    "PolicyUnavailable",
    "Refusal",
    "ReloadOutcome",
    "ReloadResult",
    "Source",
    "SourceError",
    "SubmitGate",
    "UsedTokens",
    "parse_override",
    "reload_metrics",
    "sign_approval",
]


def __getattr__(name: str) -> Any:
    # RemoteDecider on first use: importing the gates must not import httpx or pybreaker.
    if name == "RemoteDecider":
        from dualgate.runtime.gates.remote import RemoteDecider

        return RemoteDecider
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
