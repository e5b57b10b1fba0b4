"""Packaging guarantees: every subpackage is installed, the runtime stays dependency-light,
the console script works, and package data is reachable from the installed package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from tests.imports import imported_after

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def test_every_subpackage_is_listed_in_pyproject() -> None:
    mapping: dict[str, str] = SETUPTOOLS["package-dir"]
    expected = set()
    for package, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            expected.add(".".join([package, *relative.parts]))
    assert expected == set(SETUPTOOLS["packages"])


def test_no_python_module_lives_outside_a_package() -> None:
    for folder in SETUPTOOLS["package-dir"].values():
        for module in (ROOT / folder).rglob("*.py"):
            assert (module.parent / "__init__.py").exists(), f"{module} is not in a package"


#: What a service that only loads bundles must never import.
_COMPILER_SIDE = {"lark", "click", "pydantic", "yaml", "jsonschema"}


def _leaks(modules: list[str], forbidden: set[str]) -> list[str]:
    return [m for m in modules
            if m.split(".")[0] in forbidden or m.startswith("dualgate.compiler")]


def test_runtime_imports_neither_the_compiler_nor_its_dependencies() -> None:
    modules = imported_after("import dualgate.runtime")
    assert "dualgate.runtime" in modules
    # Unsigned bundles need no cryptography either: it is imported to check signatures.
    assert _leaks(modules, _COMPILER_SIDE | {"cryptography"}) == []


def test_the_gates_import_neither_the_compiler_nor_its_dependencies() -> None:
    modules = imported_after("import dualgate.runtime.gates")
    assert "dualgate.runtime.gates.holder" in modules
    assert _leaks(modules, _COMPILER_SIDE | {"cryptography"}) == []


def test_loading_and_deciding_stays_on_the_runtime_side(tmp_path: Path) -> None:
    """A signed bundle is loaded, verified and asked for a decision without the compiler."""
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from dualgate.compiler.backend import compile_policy
    from dualgate.compiler.backend.signing import generate_key_pair, sign_bundle
    from dualgate.compiler.frontend.loader import load_policy_text
    from dualgate.runtime.bundle_format import serialize

    policy = load_policy_text("policy p\nrule r\n  when topic a.b\n  then allow\n").policy
    assert policy is not None
    pair = generate_key_pair()
    private = load_pem_private_key(pair.private_pem, password=None)
    signed = sign_bundle(compile_policy(policy), private)  # type: ignore[arg-type]
    (tmp_path / "p.bundle.json").write_bytes(serialize(signed))
    (tmp_path / "p.pub").write_bytes(pair.public_pem)
    statement = (
        "from dualgate.runtime import load_bundle; "
        f"b = load_bundle({str(tmp_path / 'p.bundle.json')!r}, "
        f"public_key={str(tmp_path / 'p.pub')!r}); "
        "assert b.decide('a.b', 'any').rule == 'r'; "
        "from dualgate.runtime.gates import BundleHolder; "
        f"h = BundleHolder({str(tmp_path / 'p.bundle.json')!r}, "
        f"public_key={str(tmp_path / 'p.pub')!r}, require_signature=True); "
        "assert h.decide('a.b', 'any')[0].rule == 'r'"
    )
    modules = imported_after(statement)
    assert "cryptography" in modules
    assert _leaks(modules, _COMPILER_SIDE) == []


def test_the_import_check_would_notice_a_leak() -> None:
    assert "lark" in imported_after(
        "from dualgate.compiler.frontend.transformer import PolicyTransformer")


def test_grammar_and_schema_are_package_data() -> None:
    grammar = resources.files("dualgate.compiler.frontend").joinpath("policy.lark").read_text()
    assert "rule_decl" in grammar
    schema = json.loads(
        resources.files("dualgate.schemas").joinpath("policy.schema.json").read_text()
    )
    assert schema["title"].startswith("dualgate policy")
    package_data = SETUPTOOLS["package-data"]
    assert "*.lark" in package_data["dualgate.compiler.frontend"]
    assert "*.json" in package_data["dualgate.schemas"]


def _script() -> str:
    script = Path(sys.executable).parent / "dualgate"
    if not script.exists():
        pytest.skip("the dualgate console script is not installed next to this interpreter")
    return str(script)


def test_installed_console_script_runs(tmp_path: Path) -> None:
    script = _script()
    version = subprocess.run([script, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.strip() == f"dualgate, version {PYPROJECT['project']['version']}"

    good = tmp_path / "good.policy"
    good.write_text("policy good\nrule allow-all\n  then allow\n")
    bad = tmp_path / "bad.policy"
    bad.write_text("policy bad\nrule r\n  then dny\n")
    env = {**os.environ, "NO_COLOR": "1"}
    ok = subprocess.run(
        [script, "lint", str(good)], capture_output=True, text=True, env=env, check=False
    )
    assert (ok.returncode, ok.stdout.strip()) == (0, "All checks passed (1 file).")
    failed = subprocess.run(
        [script, "lint", str(bad)], capture_output=True, text=True, env=env, check=False
    )
    assert failed.returncode == 1
    assert f"{bad}:3:8: DG104 (unknown-decision) unknown decision `dny`" in failed.stdout
    assert "Traceback" not in failed.stdout + failed.stderr
