"""dualgate.runtime: what a gate loads to decide on jobs.

    bundle = load_bundle("infra.bundle.json", public_key="release.pub")
    verdict = bundle.decide("infra.resource.delete", "production", cidr="10.1.2.3")

This package imports nothing from ``dualgate.compiler`` and none of the compiler's
dependencies (lark, click, pydantic, pyyaml, jsonschema): a service that only loads
bundles needs none of them (``cryptography`` is imported only to check signatures).
``tests/test_packaging.py`` proves it in a subprocess.
"""

from dualgate.runtime.bundle import Bundle, TierInfo, load_bundle
from dualgate.runtime.errors import BundleError
from dualgate.runtime.verdict import Verdict
from dualgate.runtime.vocabulary import (
    DECISION_ALIASES,
    Decision,
    FailMode,
    TierName,
    is_valid_segment,
    is_valid_topic,
)

__all__ = [
    "DECISION_ALIASES",
    "Bundle",
    "BundleError",
    "Decision",
    "FailMode",
    "TierInfo",
    "TierName",
    "Verdict",
    "is_valid_segment",
    "is_valid_topic",
    "load_bundle",
]
