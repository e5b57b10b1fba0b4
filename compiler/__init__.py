"""dualgate.compiler: policy text and YAML into a typed IR, diagnostics, formatting.

The public entry points are re-exported here; see ``dualgate.compiler.loader``.
"""

from dualgate.compiler.diagnostics import Diagnostic, Severity
from dualgate.compiler.ir import Policy
from dualgate.compiler.loader import LoadResult, load_policy, load_policy_text

__all__ = ["Diagnostic", "LoadResult", "Policy", "Severity", "load_policy", "load_policy_text"]
