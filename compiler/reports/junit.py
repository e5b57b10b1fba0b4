"""JUnit XML, the test-report format every CI system reads.

The writer takes plain data (suites of cases, each passed, failed or skipped) and returns
one ``<testsuites>`` document in the shape GitLab, Jenkins, CircleCI and the GitHub test
reporters agree on: counts on every suite and on the root, a ``<failure>`` element with a
one-line ``message`` and the details as its text. Text is escaped by ElementTree, and
characters XML 1.0 cannot carry at all (most control characters) are replaced, so any
message a policy or a request can produce yields a well-formed document.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["JUnitCase", "JUnitSuite", "render_junit"]

# Everything XML 1.0 forbids: C0 controls but tab, LF and CR; surrogates; U+FFFE/U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class JUnitCase:
    """One test case: passed unless ``failure`` (a one-line message) or ``skipped`` is set."""

    name: str
    classname: str
    failure: str | None = None
    details: str = ""
    skipped: str | None = None
    time: float = 0.0
    file: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class JUnitSuite:
    """A named group of cases (a policy file, a test file)."""

    name: str
    cases: tuple[JUnitCase, ...]


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _counts(cases: Sequence[JUnitCase]) -> dict[str, str]:
    failures = sum(case.failure is not None for case in cases)
    skipped = sum(case.skipped is not None and case.failure is None for case in cases)
    return {
        "tests": str(len(cases)),
        "failures": str(failures),
        "errors": "0",
        "skipped": str(skipped),
        "time": f"{sum(case.time for case in cases):.6f}",
    }


def render_junit(suites: Sequence[JUnitSuite], name: str = "dualgate") -> str:
    """A JUnit XML document (with its XML declaration) holding ``suites`` in order."""
    every_case = [case for suite in suites for case in suite.cases]
    root = ET.Element("testsuites", {"name": _clean(name), **_counts(every_case)})
    for suite in suites:
        suite_element = ET.SubElement(
            root, "testsuite", {"name": _clean(suite.name), **_counts(suite.cases)}
        )
        for case in suite.cases:
            attributes = {
                "name": _clean(case.name),
                "classname": _clean(case.classname),
                "time": f"{case.time:.6f}",
            }
            if case.file is not None:
                attributes["file"] = _clean(case.file)
            if case.line is not None:
                attributes["line"] = str(case.line)
            case_element = ET.SubElement(suite_element, "testcase", attributes)
            if case.failure is not None:
                failure = ET.SubElement(
                    case_element, "failure", {"message": _clean(case.failure), "type": "failure"}
                )
                failure.text = _clean(case.details or case.failure)
            elif case.skipped is not None:
                ET.SubElement(case_element, "skipped", {"message": _clean(case.skipped)})
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"
