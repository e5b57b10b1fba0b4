"""The bundle-holder example of docs/gates.md runs as written and prints what it shows."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.test_holder import hash_of, infra_bytes

ROOT = Path(__file__).resolve().parent.parent
GUIDE = (ROOT / "docs" / "gates.md").read_text()
SECTION = GUIDE[GUIDE.index("## The bundle holder"):
                 GUIDE.index("## The submit gate (gateway)")]


def test_the_holder_example_prints_what_the_readme_shows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "infra.bundle.json").write_bytes(infra_bytes())
    monkeypatch.chdir(tmp_path)
    [code] = re.findall(r"```python\n(.*?)```", SECTION, re.S)
    shown, restarted = re.findall(r"```text\n(.*?)```", SECTION, re.S)
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/gates.md", "exec"), namespace)
    # The guide shows the hash of the example policy as compiled from its file.
    assert capsys.readouterr().out == shown.replace(
        "f4bc1b74aa92", hash_of(infra_bytes())[:12])
    (tmp_path / "infra.bundle.json").unlink()
    namespace["BundleHolder"]("infra.bundle.json", persist_dir="state",
                              on_reload=lambda r: print("reload:", r.result, "-", r.reason))
    assert capsys.readouterr().out == restarted.replace(
        "f4bc1b74aa92", hash_of(infra_bytes())[:12])
