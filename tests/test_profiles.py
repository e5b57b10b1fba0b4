"""The hypothesis profile governs how many examples every property runs."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import settings
from hypothesis.database import DirectoryBasedExampleDatabase

from tests.profiles import CI_SCALE, ROOT, examples


def test_a_base_count_is_scaled_by_the_profile() -> None:
    assert examples(200, "default") == 200
    assert examples(200, "ci") == round(200 * CI_SCALE) > 200
    assert examples(200, "check") == 20
    assert examples(3, "check") == 1


def test_ci_is_derandomized_without_a_database_and_runs_more_examples() -> None:
    ci = settings.get_profile("ci")
    assert ci.derandomize is True
    assert ci.database is None
    assert ci.max_examples > settings.get_profile("default").max_examples


def test_failing_examples_are_kept_in_a_git_ignored_directory() -> None:
    database = settings.get_profile("default").database
    assert isinstance(database, DirectoryBasedExampleDatabase)
    assert Path(database.path).is_relative_to(ROOT / ".hypothesis")
    assert ".hypothesis/" in (ROOT / ".gitignore").read_text().splitlines()


def test_no_test_pins_a_plain_example_count() -> None:
    """A count written as a plain number would win over every profile: counts go through
    `tests.profiles.examples`."""
    pinned = [f"{path.name}:{number}" for path in sorted((ROOT / "tests").glob("*.py"))
              for number, line in enumerate(path.read_text().splitlines(), 1)
              if re.search(r"max_examples=\d", line)]
    assert pinned == []
