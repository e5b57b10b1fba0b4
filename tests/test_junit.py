"""The JUnit writer: counts, failures and escaping, read back with a real XML parser."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from dualgate.compiler.reports.junit import JUnitCase, JUnitSuite, render_junit


def test_counts_and_failures_are_where_ci_systems_read_them() -> None:
    suites = [
        JUnitSuite("payments.tests.yaml", (
            JUnitCase("refunds need a human", "payments"),
            JUnitCase("reads are allowed", "payments", failure="expected allow, got deny",
                      details="trace: rule deny-all", file="payments.tests.yaml", line=7),
        )),
        JUnitSuite("infra.tests.yaml", (JUnitCase("skip me", "infra", skipped="no bundle"),)),
    ]
    root = ET.fromstring(render_junit(suites))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("3", "1", "1")
    first, second = root.findall("testsuite")
    assert (first.get("name"), first.get("tests"), first.get("failures")) == (
        "payments.tests.yaml", "2", "1")
    failed = first.findall("testcase")[1]
    failure = failed.find("failure")
    assert failure is not None
    assert failure.get("message") == "expected allow, got deny"
    assert failure.text == "trace: rule deny-all"
    assert (failed.get("file"), failed.get("line")) == ("payments.tests.yaml", "7")
    assert first.findall("testcase")[0].find("failure") is None
    assert second.find("testcase/skipped") is not None


@given(st.text(), st.text())
def test_any_text_yields_a_well_formed_document(name: str, message: str) -> None:
    document = render_junit([JUnitSuite(name, (JUnitCase(name, "c", failure=message),))])
    root = ET.fromstring(document.encode("utf-8"))
    assert root.find("testsuite/testcase/failure") is not None
