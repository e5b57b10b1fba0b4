"""The documentation agrees with the code: code tables match the registry."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dualgate.compiler.codes import CODES

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("document", ["docs/commands.md", "docs/language.md"])
def test_code_table_matches_the_registry(document: str) -> None:
    text = (ROOT / document).read_text()
    rows = re.findall(r"^\| (DG\d{3}) \| `?([a-z-]+)`? \|(?: [a-z]+ \|)? (.+?) \|$", text, re.M)
    assert rows == [(c.code, c.name, c.summary) for c in CODES.values()]


def test_readme_starts_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    first_block = text.split("```sh\n", 1)[1].split("```", 1)[0]
    assert [line.split()[:2] for line in first_block.splitlines()] == [
        ["make", "demo"], ["make", "test"]
    ]
