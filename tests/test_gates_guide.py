"""The gate examples of docs/gates.md run as written: the gateway, the scheduler and approvals."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from dualgate.compiler.backend import compile_loaded
from dualgate.compiler.frontend.loader import load_policy
from dualgate.runtime import TierName
from dualgate.runtime.bundle_format import serialize
from dualgate.runtime.gates import OVERRIDE_VARIABLE, parse_override

ROOT = Path(__file__).resolve().parent.parent
GUIDE = (ROOT / "docs" / "gates.md").read_text()
SECTION = GUIDE[GUIDE.index("## The submit gate (gateway)"):
                 GUIDE.index("## Metrics and decision logs")]


def run_blocks(text: str, name: str, policy: Path, directory: Path, *, count: int,
               monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Compile ``policy`` to ``infra.bundle.json`` in ``directory``, then run the
    ``count`` python blocks of ``text`` there, in order, in one namespace."""
    compiled = compile_loaded(load_policy(policy))
    assert compiled.bundle is not None
    (directory / "infra.bundle.json").write_bytes(serialize(compiled.bundle))
    monkeypatch.chdir(directory)
    monkeypatch.delenv(OVERRIDE_VARIABLE, raising=False)
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == count
    namespace: dict[str, Any] = {}
    for block in blocks:
        exec(compile(block, name, "exec"), namespace)
    return namespace


def test_the_gate_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    key = Ed25519PrivateKey.generate()
    (tmp_path / "alice.key").write_bytes(
        key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    (tmp_path / "alice.pub").write_bytes(
        key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    namespace = run_blocks(SECTION, "docs/gates.md", ROOT / "policies" / "infra.policy",
                           tmp_path, count=3, monkeypatch=monkeypatch)
    namespace["gate"].decision_log.close()
    # The gateway's decision log went to stdout, one JSON line per check.
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all('"gate":"submit"' in line for line in lines)


def test_the_override_example_parses() -> None:
    value = re.search(rf"{OVERRIDE_VARIABLE}='([^']*)'", SECTION)
    assert value is not None
    now = datetime(2026, 12, 2, 12, tzinfo=UTC).timestamp()
    entries = parse_override(value[1], now)
    assert [(e.tier, e.until - now) for e in entries] == [
        (TierName.MEDIUM, 12 * 3600.0), (TierName.LOW, 2 * 3600.0)]


def test_the_readme_gate_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """README's "Running the gates": the gateway and the scheduler, on the bundle of the
    quick start's policy, as written."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Running the gates"):readme.index("## Python API")]
    quick_start = readme[readme.index("<!-- file: infra.policy -->"):]
    policy = re.search(r"```policy\n(.*?)```", quick_start, re.S)
    assert policy is not None
    (tmp_path / "infra.policy").write_text(policy[1])
    namespace = run_blocks(section, "README.md", tmp_path / "infra.policy", tmp_path,
                           count=2, monkeypatch=monkeypatch)
    # One decision-log line per check, from either gate, all flushed by `log.close()`.
    lines = capsys.readouterr().out.splitlines()
    assert [line.count('"gate":"submit"') for line in lines] == [1, 1, 0, 0]
    assert sum('"gate":"dispatch"' in line for line in lines) == 2
    received = namespace["metrics"].snapshot()["dualgate_jobs_received_total"]
    assert received == {("submit",): 2.0, ("dispatch",): 2.0}
