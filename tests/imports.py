"""What a fresh interpreter has imported after a statement (for the import guarantees)."""

from __future__ import annotations

import json
import subprocess
import sys


def imported_after(statement: str) -> list[str]:
    """The sorted module names a new interpreter holds after running ``statement``.

    The editable install's import finder loads pathlib, hence urllib.parse and ipaddress,
    at interpreter startup: ipaddress is forgotten first, so that it shows up only if
    ``statement`` imports it.
    """
    code = (
        f"import sys; sys.modules.pop('ipaddress', None); {statement}; import json; "
        "print(json.dumps(sorted(sys.modules)))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    modules: list[str] = json.loads(output)
    return modules
