"""dualgate.compiler: policy text and YAML into a typed IR, diagnostics, formatting.

The public entry points are re-exported here; see ``dualgate.compiler.frontend.loader``.
"""

from dualgate.compiler.diagnostics import Diagnostic, Severity
from dualgate.compiler.frontend.loader import LoadResult, load_policy, load_policy_text
from dualgate.compiler.ir import Policy

__all__ = ["Diagnostic", "LoadResult", "Policy", "Severity", "load_policy", "load_policy_text"]
