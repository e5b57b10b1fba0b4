"""dualgate.runtime: what a gate loads to decide on jobs.

This package imports nothing from ``dualgate.compiler`` and none of the compiler's
dependencies (lark, click, pydantic, pyyaml, jsonschema): a service that only loads
bundles needs none of them. ``tests/test_packaging.py`` proves it in a subprocess.
"""

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
    "Decision",
    "FailMode",
    "TierName",
    "is_valid_segment",
    "is_valid_topic",
]
