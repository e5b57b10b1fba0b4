"""SARIF 2.1.0 output (placeholder until the renderer lands)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from dualgate.compiler.analysis.suppressions import Suppressed
from dualgate.compiler.diagnostics import Diagnostic


def render_sarif(diagnostics: Sequence[Diagnostic], suppressed: Sequence[Suppressed]) -> str:
    """The findings as one SARIF 2.1.0 log."""
    return json.dumps({"version": "2.1.0", "runs": []})
