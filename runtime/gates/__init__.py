"""dualgate.runtime.gates: what a gateway (Gate A) and a scheduler (Gate B) load.

    holder = BundleHolder("https://bundles.internal/infra.bundle.json",
                          public_key="release.pub", require_signature=True,
                          persist_dir="/var/lib/dualgate", max_age=300)
    holder.start(interval=30)
    verdict, active = holder.decide("infra.resource.delete", "production", "10.1.2.3")

Like the rest of the runtime, nothing here imports the compiler or its dependencies.
"""

from dualgate.runtime.gates.holder import (
    ActiveBundle,
    BundleHolder,
    PolicyUnavailable,
    ReloadOutcome,
    ReloadResult,
)
from dualgate.runtime.gates.killswitch import KILL_SWITCH, KillSwitch, KillSwitchError
from dualgate.runtime.gates.sources import SourceError

__all__ = [
    # the bundle holder and kill switches
    "KILL_SWITCH",
    "ActiveBundle",
    "BundleHolder",
    "KillSwitch",
    "KillSwitchError",
    "PolicyUnavailable",
    "ReloadOutcome",
    "ReloadResult",
    "SourceError",
]
