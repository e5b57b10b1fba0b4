"""dualgate.compiler: policy text and YAML into a typed IR, diagnostics, formatting.

The public entry points are re-exported here; see ``dualgate.compiler.frontend.loader``.
They are imported on first use, so that importing a submodule (the CLI's entry point,
``dualgate --version``) does not load the front end, pydantic and lark.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dualgate.compiler.diagnostics import Diagnostic, Severity
    from dualgate.compiler.frontend.loader import LoadResult, load_policy, load_policy_text
    from dualgate.compiler.ir import Policy

__all__ = ["Diagnostic", "LoadResult", "Policy", "Severity", "load_policy", "load_policy_text"]

_HOMES = {
    "Diagnostic": "dualgate.compiler.diagnostics",
    "Severity": "dualgate.compiler.diagnostics",
    "LoadResult": "dualgate.compiler.frontend.loader",
    "load_policy": "dualgate.compiler.frontend.loader",
    "load_policy_text": "dualgate.compiler.frontend.loader",
    "Policy": "dualgate.compiler.ir",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
