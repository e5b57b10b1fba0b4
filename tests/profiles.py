"""The hypothesis profiles, and the example counts they scale.

``DUALGATE_HYPOTHESIS_PROFILE`` picks one (`tests/conftest.py` loads it):

- ``default``: each property runs its base count, at random; failing examples are saved in
  ``.hypothesis/`` at the top of the repository (git-ignored) and replayed first next time.
- ``check`` (`make check`): a tenth of the examples, for a quick local run.
- ``ci`` (`make test`, so `.ci/run`): derandomized, so a run is repeatable and detection does
  not depend on chance, without an example database, and with `CI_SCALE` times the examples.

A test states its base count as ``@settings(max_examples=examples(200))``: a count written
as a plain number would win over every profile.
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import settings
from hypothesis.database import DirectoryBasedExampleDatabase

ROOT = Path(__file__).resolve().parent.parent
#: Hypothesis' own count for a property that states none.
BASE_EXAMPLES = 100
#: How many times the base count the ci profile runs: chosen so that `make test` (one
#: pytest-xdist worker per core) stays well under ten minutes on two cores
#: (docs/development.md has the measurement).
CI_SCALE = 1.2
SCALES = {"default": 1.0, "check": 0.1, "ci": CI_SCALE}
PROFILE = os.environ.get("DUALGATE_HYPOTHESIS_PROFILE", "default")
if PROFILE not in SCALES:
    raise SystemExit(f"DUALGATE_HYPOTHESIS_PROFILE is `{PROFILE}`: use one of "
                     f"{', '.join(SCALES)}")


def examples(base: int, profile: str = PROFILE) -> int:
    """The number of examples a property with this base count runs under the profile
    (at least one)."""
    return max(1, round(base * SCALES[profile]))


def register() -> None:
    """Register the three profiles and load the chosen one."""
    database = DirectoryBasedExampleDatabase(ROOT / ".hypothesis" / "examples")
    settings.register_profile("default", database=database)
    settings.register_profile("check", database=database,
                              max_examples=examples(BASE_EXAMPLES, "check"))
    settings.register_profile("ci", derandomize=True, database=None,
                              max_examples=examples(BASE_EXAMPLES, "ci"))
    settings.load_profile(PROFILE)
