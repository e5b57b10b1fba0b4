"""JSON Schemas shipped with dualgate (the YAML policy form, the bundle; later reports).

The schema files are package data so an installed dualgate finds them without the
source tree.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def load_schema(name: str) -> dict[str, Any]:
    """Return the parsed JSON Schema ``<name>.schema.json``; raises if it does not exist."""
    text = resources.files(__name__).joinpath(f"{name}.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
