"""Reading a ``*.tests.yaml`` file into cases, with diagnostics at YAML lines and columns.

The file goes through the YAML front end's machinery (nodes with positions, the schema
errors mapped onto them, ``schemas/policy-tests.schema.json``), then the checks the
schema cannot make: the `now:` timestamp and unique case names. Nothing here raises on
bad input. The policy the file names is not read here (see ``runner``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dualgate.compiler.diagnostics import Diagnostic, Related
from dualgate.compiler.frontend import ast
from dualgate.compiler.frontend.loader import decode_source
from dualgate.compiler.frontend.lowering import lower_timestamp
from dualgate.compiler.frontend.source import SourceFile, Span
from dualgate.compiler.frontend.yaml_front import JsonPath, YamlForm, read_yaml_data
from dualgate.compiler.testing.model import Case, CaseFile, CaseRequest
from dualgate.runtime.vocabulary import DECISION_ALIASES
from dualgate.schemas import load_schema

TESTS_FORM = YamlForm(
    "the test file", "test file", "test-schema-violation",
    "start with `policy: FILE` (relative to this file) and `cases:`",
)


@dataclass
class LoadedTests:
    """What the loader made of one test file; ``file`` is None when it has errors."""

    path: str
    source: SourceFile | None
    file: CaseFile | None
    diagnostics: list[Diagnostic] = field(default_factory=list)


def load_test_file(path: str | Path) -> LoadedTests:
    """Read and check the test file at ``path``; never raises on bad files."""
    display = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        reason = (error.strerror or str(error)).lower()
        return LoadedTests(display, None, None, [Diagnostic.of(
            "unreadable-file", f"cannot read `{display}`: {reason}",
            Span(display, 1, 1, 1, 1),
        )])
    return load_test_bytes(data, display)


def load_test_bytes(data: bytes, path: str) -> LoadedTests:
    """Check the test file whose bytes are ``data``, displayed as ``path``."""
    source, problems = decode_source(data, path)
    if source is None or problems:
        return LoadedTests(path, source, None, problems)
    values, spans, errors = read_yaml_data(source, load_schema("policy-tests"),
                                           form=TESTS_FORM)
    if errors or values is None:
        return LoadedTests(path, source, None, errors)
    return _checked(path, source, values, spans)


def _checked(path: str, source: SourceFile, values: dict[str, Any],
             spans: dict[JsonPath, Span]) -> LoadedTests:
    diagnostics: list[Diagnostic] = []
    now = None
    if "now" in values:
        now, problems = lower_timestamp(ast.Word(values["now"], spans[("now",)]))
        diagnostics += problems
    cases: list[Case] = []
    first_use: dict[str, Span] = {}
    for index, entry in enumerate(values["cases"]):
        where: JsonPath = ("cases", index)
        name_span = spans[(*where, "name")]
        if entry["name"] in first_use:
            diagnostics.append(Diagnostic.of(
                "duplicate-case-name", f"case name `{entry['name']}` is already used",
                name_span, help="rename one of the cases",
                related=[Related(first_use[entry["name"]], "first used here")],
            ))
        first_use.setdefault(entry["name"], name_span)
        request = entry["request"]
        expect = dict(entry["expect"])
        if isinstance(expect.get("decision"), str):
            decision = expect["decision"]
            expect["decision"] = str(DECISION_ALIASES.get(decision, decision))
        cases.append(Case(
            entry["name"], CaseRequest(request["topic"], request["env"], request.get("cidr")),
            expect, entry.get("source"), spans[where],
        ))
    if diagnostics:
        return LoadedTests(path, source, None, diagnostics)
    policy = os.path.normpath(os.path.join(os.path.dirname(path), values["policy"]))
    return LoadedTests(path, source, CaseFile(path, policy, spans[("policy",)], now,
                                              tuple(cases)))
