"""The action-path map as JSON text: one path per line.

``json.dumps(..., indent=2)`` runs the pure-Python encoder, which takes seconds for a
large catalog; each item here is encoded by the C encoder on one line instead, so the
output stays readable and diffable line by line and fast to write.
"""

from __future__ import annotations

import json
from typing import Any


def render_json(report: dict[str, Any]) -> str:
    """``report`` as a JSON object: lists one item per line, other values on one line each."""
    # One encoder for every item: json.dumps builds a new one per call when given options.
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    lines = ["{"]
    last = len(report) - 1
    for index, (key, value) in enumerate(report.items()):
        comma = "," if index < last else ""
        if isinstance(value, list) and value:
            lines.append(f"  {dumps(key)}: [")
            lines.append(",\n".join(f"    {dumps(item)}" for item in value))
            lines.append(f"  ]{comma}")
        else:
            lines.append(f"  {dumps(key)}: {dumps(value)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"
