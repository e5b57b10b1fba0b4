"""dualgate.runtime.gates: what a gateway (Gate A) and a scheduler (Gate B) load.

    holder = BundleHolder("https://bundles.internal/infra.bundle.json",
                          public_key="release.pub", require_signature=True,
                          persist_dir="/var/lib/dualgate", max_age=300)
    holder.start(interval=30)
    verdict, active = holder.decide("infra.resource.delete", "production", "10.1.2.3")

Like the rest of the runtime, nothing here imports the compiler or its dependencies.
"""

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
