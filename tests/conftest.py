"""Test-run settings: the `slow` marker and the hypothesis profile.

`make check` runs ``pytest -m "not slow"``: every test but the long property runs, which
are marked `slow` here by module (so the modules need not know) or one by one with
``@pytest.mark.slow``. `make test` and CI run everything. ``DUALGATE_HYPOTHESIS_PROFILE``
picks a hypothesis profile (`tests/profiles.py`): ``default``, ``check`` (a tenth of the
examples, for `make check`) or ``ci`` (derandomized, no example database, more examples).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.profiles import register

#: Modules whose property runs take most of the suite's time.
SLOW_MODULES = frozenset({
    "test_analysis_oracle.py",
    "test_runtime_differential.py",
    "test_runtime_networks.py",
    "test_lint_fuzz.py",
    "test_format_properties.py",
    "test_front_end_equivalence.py",
})

register()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: a long property run, left out by `make check`")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).name in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
