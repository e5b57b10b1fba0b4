"""SARIF 2.1.0 output, for GitHub code scanning and other SARIF consumers.

Guarantee: :func:`render_sarif` returns one JSON document that validates against the
OASIS SARIF 2.1.0 schema (vendored as ``tests/fixtures/sarif/sarif-schema-2.1.0.json``)
for any diagnostics and any paths, ``<stdin>`` included. The document has exactly one
run; its ``tool.driver.rules`` is the whole code registry in registry order, so a
rule's index is the same in every run; every finding, shown or suppressed, is one
result whose ``ruleId`` and ``ruleIndex`` name its code and whose region is the
diagnostic's span unchanged. Results are ordered by file, line, column and code.

Choices, and why:

* Locations: a path under the source root (the current directory unless
  ``source_root`` says otherwise) is a relative, percent-encoded URI with forward
  slashes and ``uriBaseId`` ``%SRCROOT%``, which GitHub resolves against the checkout;
  any other path is an absolute ``file:`` URI without a base (a relative reference
  there would name a different file). Pseudo-paths such as ``<stdin>`` become relative
  URIs (``%3Cstdin%3E``); the document stays valid though no file backs them.
* Columns: ours count characters with an exclusive end, which is SARIF's region model
  with ``columnKind`` ``unicodeCodePoints``, so spans are copied as they are.
* Levels: error, warning and info become ``error``, ``warning`` and ``note``, from the
  finding's own severity (a conflict can be info while its code defaults to warning).
* Rules: every registered code, not just those found. Indices stay stable between
  runs, a clean run still documents what was checked, and the catalog is small.
* Messages: GitHub shows only ``message.text`` for an alert and links related
  locations only when the message embeds them, so the text is the diagnostic's message,
  then ``(see [note](1), ...)`` linking each related location (the blocking rules of a
  shadowed rule, the earlier rule of a conflict), then the finding's help. Braces are
  doubled and link text escaped as SARIF's message syntax requires.
* Fingerprints: ``partialFingerprints["dualgateFindingHash/v1"]`` hashes the code, the
  URI and the finding's identity: its rule ids when it has any (they survive edits
  elsewhere in the file and moving rules), else its message (which names the offending
  token). Line numbers are left out on purpose, so inserting a line above a finding
  does not make it a new one; a counter (``:1``, ``:2``) separates findings that would
  otherwise collide. The ``primaryLocationLineHash`` key is left to GitHub's
  ``upload-sarif`` action, which computes it from the file and warns about any value it
  did not compute.
* Suppressed findings are results with ``suppressions`` (``inSource``, the reason as
  justification, the comment as location). GitHub code scanning ignores that property
  and would show them as open alerts; ``include_suppressed=False`` leaves them out.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import quote

from dualgate.compiler.analysis.suppressions import Suppressed, Suppression
from dualgate.compiler.codes import CODES, Code, Severity
from dualgate.compiler.diagnostics import Diagnostic, sort_diagnostics
from dualgate.compiler.frontend.source import Span

__all__ = [
    "FINGERPRINT_KEY",
    "INFORMATION_URI",
    "SARIF_SCHEMA",
    "SARIF_VERSION",
    "SRCROOT",
    "render_sarif",
    "rule_name",
    "sarif_location",
    "sarif_log",
    "sarif_text",
    "tool_version",
]

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
TOOL_NAME = "dualgate"
#: Placeholder until the project has a public home.
INFORMATION_URI = "https://github.com/dualgate/dualgate"
SRCROOT = "%SRCROOT%"
FINGERPRINT_KEY = "dualgateFindingHash/v1"

_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
#: GitHub's non-security severity scale for rules.
_PROBLEM_SEVERITY = {
    Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "recommendation",
}
_LINK_SPECIAL = re.compile(r"([\\\[\]])")


def render_sarif(
    diagnostics: Sequence[Diagnostic],
    suppressed: Sequence[Suppressed],
    *,
    source_root: Path | None = None,
    include_suppressed: bool = True,
) -> str:
    """The findings as one SARIF 2.1.0 log (JSON text); see the module docstring."""
    log = sarif_log(diagnostics, suppressed, source_root=source_root,
                    include_suppressed=include_suppressed)
    return json.dumps(log, indent=2, ensure_ascii=False, default=str)


def sarif_log(
    diagnostics: Sequence[Diagnostic],
    suppressed: Sequence[Suppressed],
    *,
    source_root: Path | None = None,
    include_suppressed: bool = True,
) -> dict[str, Any]:
    """The SARIF log as a JSON-ready dictionary.

    ``source_root`` (default: the current directory) is what ``%SRCROOT%`` stands for;
    paths under it are written relative to it.
    """
    root = Path(os.path.abspath(source_root if source_root is not None else Path.cwd()))
    rules = list(CODES.values())
    index = {code.code: i for i, code in enumerate(rules)}
    findings: list[tuple[Diagnostic, Suppression | None]] = [
        (d, None) for d in sort_diagnostics(diagnostics)
    ]
    if include_suppressed:
        findings.extend((s.diagnostic, s.suppression) for s in suppressed)
    findings.sort(key=lambda item: (item[0].sort_key(), item[1] is not None))

    seen: dict[str, int] = {}
    results = []
    for diagnostic, suppression in findings:
        result = _result(diagnostic, index[diagnostic.code.code], root)
        fingerprint = _fingerprint(diagnostic, result)
        seen[fingerprint] = seen.get(fingerprint, 0) + 1
        result["partialFingerprints"] = {FINGERPRINT_KEY: f"{fingerprint}:{seen[fingerprint]}"}
        if suppression is not None:
            result["suppressions"] = [_suppression(suppression, root)]
        results.append(result)

    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": {
                "name": TOOL_NAME,
                "version": tool_version(),
                "informationUri": INFORMATION_URI,
                "rules": [_rule(code) for code in rules],
            }},
            "originalUriBaseIds": {SRCROOT: {"uri": _directory_uri(root)}},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }


def rule_name(code: Code) -> str:
    """The SARIF rule name: the kebab-case name in PascalCase (``ShadowedRule``)."""
    return "".join(part[:1].upper() + part[1:] for part in code.name.split("-"))


def tool_version() -> str:
    try:
        return version("dualgate")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def _category(code: Code) -> str:
    """The code's family, from the registry's numbering."""
    number = int(code.code[2:])
    if number < 30:
        return "syntax"
    if number < 100:
        return "suppression"
    if number < 200:
        return "semantics"
    if number < 300:
        return "rule-analysis"
    return "governance"


def _rule(code: Code) -> dict[str, Any]:
    """One reportingDescriptor, all of it from the registry."""
    return {
        "id": code.code,
        "name": rule_name(code),
        "shortDescription": {"text": code.summary},
        "fullDescription": {"text": code.what},
        "help": {"text": code.doc(), "markdown": _help_markdown(code)},
        "defaultConfiguration": {"level": _LEVEL[code.severity]},
        "properties": {
            "tags": ["policy", _category(code)],
            # Findings are decided exactly, and analysis findings carry a witness request.
            "precision": "very-high",
            "problem.severity": _PROBLEM_SEVERITY[code.severity],
        },
    }


def _help_markdown(code: Code) -> str:
    """The ``dualgate explain`` sections as Markdown, the example in a code block."""
    example = code.example.strip("\n")
    longest = max((len(run) for run in re.findall(r"`+", example)), default=0)
    fence = "`" * max(3, longest + 1)
    return (
        f"**{code.code} ({code.name})**: {code.summary}\n\n"
        f"## What it does\n{code.what}\n\n"
        f"## Why it matters\n{code.why}\n\n"
        f"## Example\n{fence}\n{example}\n{fence}\n\n"
        f"## Fix\n{code.fix}\n"
    )


def _result(diagnostic: Diagnostic, rule_index: int, root: Path) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": diagnostic.code.code,
        "ruleIndex": rule_index,
        "level": _LEVEL[diagnostic.severity],
        "message": {"text": _message_text(diagnostic)},
        "locations": [sarif_location(diagnostic.span, root)],
    }
    if diagnostic.related:
        result["relatedLocations"] = [
            sarif_location(related.span, root, id=number, message=related.message)
            for number, related in enumerate(diagnostic.related, start=1)
        ]
    if diagnostic.data:
        result["properties"] = dict(diagnostic.data)
    return result


def _message_text(diagnostic: Diagnostic) -> str:
    """The plain-text message, with embedded links to the related locations and the help."""
    text = sarif_text(diagnostic.message)
    if diagnostic.related:
        links = ", ".join(
            f"[{sarif_text(_link_text(related.message))}]({number})"
            for number, related in enumerate(diagnostic.related, start=1)
        )
        text += f" (see {links})"
    if diagnostic.help:
        text += f". Help: {sarif_text(diagnostic.help)}"
    return text


def _link_text(text: str) -> str:
    """``text`` fit for the text of an embedded link: ``\\``, ``[`` and ``]`` escaped."""
    return _LINK_SPECIAL.sub(r"\\\1", text)


def sarif_text(text: str) -> str:
    """``text`` with braces doubled: SARIF messages reserve ``{n}`` for placeholders."""
    return text.replace("{", "{{").replace("}", "}}")


def sarif_location(
    span: Span, root: Path, *, id: int | None = None, message: str | None = None,
) -> dict[str, Any]:
    location: dict[str, Any] = {}
    if id is not None:
        location["id"] = id
    location["physicalLocation"] = {
        "artifactLocation": _artifact_location(span.path, root),
        "region": {
            "startLine": max(span.line, 1),
            "startColumn": max(span.column, 1),
            "endLine": max(span.end_line, 1),
            "endColumn": max(span.end_column, 1),
        },
    }
    if message is not None:
        location["message"] = {"text": sarif_text(message)}
    return location


def _artifact_location(path: str, root: Path) -> dict[str, str]:
    """A relative URI against ``%SRCROOT%`` for paths under ``root``, else a file URI."""
    absolute = Path(os.path.normpath(root / path))
    try:
        relative = absolute.relative_to(root)
    except ValueError:
        return {"uri": absolute.as_uri()}
    # Only `/` stays literal: a `:` in the first segment would read as a URI scheme.
    return {"uri": quote(relative.as_posix(), safe="/"), "uriBaseId": SRCROOT}


def _directory_uri(root: Path) -> str:
    uri = root.as_uri()
    return uri if uri.endswith("/") else uri + "/"


def _suppression(suppression: Suppression, root: Path) -> dict[str, Any]:
    return {
        "kind": "inSource",
        "justification": suppression.reason,
        "location": sarif_location(suppression.comment, root, message="suppression comment"),
    }


def _fingerprint(diagnostic: Diagnostic, result: dict[str, Any]) -> str:
    """A hash of the code, the URI and the finding's identity (see the module docstring)."""
    uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    rules = diagnostic.data.get("rules")
    if isinstance(rules, list | tuple) and rules:
        identity = "rules=" + ",".join(str(rule) for rule in rules)
    else:
        identity = "message=" + diagnostic.message
    digest = hashlib.sha256("\n".join([diagnostic.code.code, uri, identity]).encode())
    return digest.hexdigest()[:32]
