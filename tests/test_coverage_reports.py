"""The action-path map's four formats and the ``dualgate coverage`` command.

JSON is validated against ``schemas/coverage-report.schema.json``; the HTML page is read
back with the standard library's HTML parser; the table and Markdown are checked line by
line on the example policy and catalog.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest
from click.testing import CliRunner, Result

from dualgate.compiler.cli import main as cli_main
from dualgate.compiler.coverage import build_path_map, parse_text_catalog, read_catalog
from dualgate.compiler.frontend.loader import load_policy
from dualgate.compiler.reports.coverage_html import render_html
from dualgate.compiler.reports.coverage_json import render_json
from dualgate.compiler.reports.coverage_markdown import FOLD_AFTER, render_markdown
from dualgate.compiler.reports.coverage_table import render_table
from dualgate.schemas import load_schema

NOW = datetime(2026, 11, 1, tzinfo=UTC)
POLICY = "policies/infra.policy"
CATALOG = "policies/catalog.txt"
ANSI = re.compile(r"\x1b\[")


def report(catalog: str | None = CATALOG, policy: str = POLICY) -> dict[str, Any]:
    loaded = load_policy(policy).policy
    assert loaded is not None
    topics = read_catalog(Path(catalog)) if catalog else None
    return build_path_map(loaded, topics, now=NOW).to_json()


def run(*args: str, color: str = "--no-color") -> Result:
    return CliRunner().invoke(cli_main.cli, [color, "coverage", *args, "--now",
                                             "2026-11-01T00:00:00Z"])


# -- JSON ----------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["policies/infra.policy", "policies/payments.policy",
                                    "policies/coding-agent.policy"])
@pytest.mark.parametrize("catalog", [CATALOG, None])
def test_json_reports_match_the_schema(policy: str, catalog: str | None) -> None:
    jsonschema.validate(report(catalog, policy), load_schema("coverage-report"))


def test_json_report_of_the_example() -> None:
    document = report()
    assert document["policy"] == "infra" and document["source"] == "catalog"
    by_key = {(p["topic"], p["env"]): p for p in document["paths"]}
    assert by_key[("infra.security_group.update", "production")] == {
        "topic": "infra.security_group.update", "env": "production", "protected": True,
        "tier": "medium", "classified": True, "fail_mode": "closed",
        "outcomes": [
            {"decision": "deny", "rule": "deny-prod-public-ingress", "reason": "rule",
             "cidr": None},
            {"decision": "require_human", "rule": "require-human-prod-changes",
             "reason": "rule", "cidr": "10.0.0.0/8"},
        ],
        "flags": [],
    }
    assert document["malformed"] == [
        {"line": 23, "text": "infra..instance.read", "reason": "empty segment"}]
    assert document["summary"]["flags"] == {"unclassified": 9, "high-allow": 8,
                                            "fail-open": 9, "default-only": 10,
                                            "malformed": 1}


def test_class_paths_carry_a_description() -> None:
    paths = report(None)["paths"]
    described = {p["topic"]: p["description"] for p in paths}
    assert described["x"] == "no pattern of the policy"
    assert described["infra.cluster.delete"] == "infra.cluster.delete and infra.*.delete"


def test_json_text_holds_one_path_per_line_and_reads_back_equal() -> None:
    document = report()
    text = render_json(document)
    assert json.loads(text) == document
    lines = text.splitlines()
    assert lines[:4] == ["{", '  "policy": "infra",', '  "source": "catalog",', '  "paths": [']
    assert sum(line.startswith('    {"topic": ') for line in lines) == len(document["paths"])
    assert render_json({"paths": [], "n": 1}) == '{\n  "paths": [],\n  "n": 1\n}\n'


def test_json_from_the_command_matches_the_schema() -> None:
    result = run(POLICY, "--catalog", CATALOG, "--format", "json")
    assert result.exit_code == 0
    jsonschema.validate(json.loads(result.output), load_schema("coverage-report"))


# -- table ---------------------------------------------------------------------------


def test_table_lists_each_outcome_on_its_own_line_and_the_summary() -> None:
    lines = click.unstyle(render_table(report())).splitlines()
    assert lines[0].split() == ["TOPIC", "ENV", "TIER", "FAIL", "MODE", "OUTCOMES", "FLAGS"]
    (first,) = [i for i, line in enumerate(lines)
                if line.startswith("infra.security_group.update  production *")]
    assert "deny by deny-prod-public-ingress, no cidr" in lines[first]
    assert lines[first + 1].strip() == \
        "require_human by require-human-prod-changes, cidr 10.0.0.0/8"
    assert "catalog line 23: `infra..instance.read` is no topic: empty segment" in lines
    assert "51 paths (17 topics), 14 topics classified (82.3%)" in lines
    assert ("flags: unclassified 9, high-allow 8, fail-open 9, default-only 10, "
            "malformed 1") in lines
    production = lines.index("production (protected): paths per tier that can get each "
                             "decision")
    assert lines[production + 2].split() == ["high", "0", "1", "1", "8"]


def test_table_is_coloured_only_when_asked() -> None:
    plain = run(POLICY, "--catalog", CATALOG)
    assert plain.exit_code == 0 and not ANSI.search(plain.output)
    coloured = run(POLICY, "--catalog", CATALOG, color="--color")
    assert coloured.exit_code == 0 and ANSI.search(coloured.output)
    assert click.unstyle(coloured.output) == plain.output


# -- Markdown ------------------------------------------------------------------------


def test_markdown_leads_with_risks_and_tables_per_env() -> None:
    text = render_markdown(report())
    lines = text.splitlines()
    assert lines[0] == "## Action-path map of `infra`"
    assert "| high-tier paths allowed somewhere | 8 ⚠️ |" in lines
    assert "- line 23: `infra..instance.read`: empty segment" in lines
    production = lines.index("### production (protected)")
    assert lines[production + 2] == "| Tier | allow | throttle | require_human | deny |"
    assert lines[production + 4] == "| high | 0 | 1 | 1 | 8 |"
    assert "<details><summary>All 51 paths</summary>" in lines
    assert ("| `infra.database.backup` | dev | high | closed | deny by the default, no cidr "
            "| **unclassified**, **default-only** |") in lines


def test_markdown_folds_only_long_path_lists_and_escapes_cells() -> None:
    loaded = load_policy(POLICY).policy
    assert loaded is not None
    short = build_path_map(loaded, parse_text_catalog("infra.x.read\n|pipe|\n"), now=NOW)
    text = render_markdown(short.to_json())
    assert "<details>" not in text and len(short.paths) <= FOLD_AFTER
    assert "- line 2: `\\|pipe\\|`:" in text


# -- HTML ----------------------------------------------------------------------------


class Page(HTMLParser):
    """The parts of the page the tests look at."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.heatmaps: list[dict[str, Any]] = []
        self.rows: list[dict[str, str | None]] = []
        self.scripts: list[str] = []
        self.in_paths = False
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag not in ("meta", "input", "br"):
            self.stack.append(tag)
        if tag == "div" and attributes.get("class") == "heatmap":
            self.heatmaps.append({"env": attributes["data-env"], "cells": []})
        if tag == "table" and attributes.get("class") == "paths":
            self.in_paths = True
        if tag == "tr" and self.in_paths and "data-topic" in attributes:
            self.rows.append(attributes)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1:]}>"
        self.stack.pop()
        if tag == "table":
            self.in_paths = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self.stack and self.stack[-1] == "script":
            self.scripts.append(data)
        if self.stack and self.stack[-1] == "td" and self.heatmaps and "div" in self.stack \
                and not self.in_paths and self.heatmaps[-1]["cells"] is not None:
            self.heatmaps[-1]["cells"].append(int(data))


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    assert page.stack == [], "every element is closed"
    return page


def test_html_is_self_contained_with_a_heatmap_per_env_and_a_row_per_path() -> None:
    document = report()
    page = parse(render_html(document))
    assert not [t for t, a in page.tags if t == "link" or "src" in a or "href" in a]
    assert "http" not in "".join(page.scripts)
    assert [t for t, _ in page.tags].count("style") == 1
    summary = document["summary"]
    assert [h["env"] for h in page.heatmaps] == ["production", "staging", "dev"]
    for heatmap, env in zip(page.heatmaps, summary["by_env"], strict=True):
        expected = [env["counts"][t][d] for t in ("high", "medium", "low")
                    for d in ("allow", "throttle", "require_human", "deny")]
        assert heatmap["cells"] == expected
    assert len(page.rows) == summary["paths"]
    first = page.rows[0]
    assert (first["data-topic"], first["data-env"], first["data-tier"]) == (
        "infra.instance.create", "production", "medium")
    flagged = [r for r in page.rows if "high-allow" in (r["data-flag"] or "").split()]
    assert len(flagged) == summary["flags"]["high-allow"]
    names = {a.get("name") for t, a in page.tags if t == "select"}
    assert names == {"env", "tier", "decision", "flag"}


def test_html_escapes_what_the_catalog_says() -> None:
    loaded = load_policy(POLICY).policy
    assert loaded is not None
    hostile = build_path_map(loaded, parse_text_catalog('<script>alert("x")</script>\n'),
                             now=NOW)
    page = parse(render_html(hostile.to_json()))
    assert [t for t, _ in page.tags].count("script") == 1
    assert '<script>alert("x")</script>' in "".join(page.text)


# -- the command ---------------------------------------------------------------------


def test_fail_on_exits_1_only_for_flagged_paths(tmp_path: Path) -> None:
    assert run(POLICY, "--catalog", CATALOG, "--fail-on", "high-allow").exit_code == 1
    safe = tmp_path / "safe.txt"
    safe.write_text("infra.instance.read\n", encoding="utf-8")
    assert run(POLICY, "--catalog", str(safe), "--fail-on", "high-allow,unclassified"
               ).exit_code == 0
    assert run(POLICY, "--catalog", str(safe), "--fail-on", "fail-open").exit_code == 1
    assert run(POLICY, "--catalog", CATALOG, "--fail-on", "malformed").exit_code == 1


@pytest.mark.parametrize(("args", "message"), [
    (["--fail-on", "bogus"], "`bogus` is not one of"),
    (["--catalog", "nowhere.txt"], "cannot read `nowhere.txt`: no such file"),
    (["--catalog", CATALOG, "--catalog-from-log", CATALOG], "not both"),
])
def test_usage_problems_exit_2_with_one_line(args: list[str], message: str) -> None:
    result = run(POLICY, *args)
    assert result.exit_code == 2
    assert message in result.output


def test_a_policy_with_errors_is_not_mapped(tmp_path: Path) -> None:
    broken = tmp_path / "broken.policy"
    broken.write_text("policy p\nrule r when topic a then maybe\n", encoding="utf-8")
    result = run(str(broken))
    assert result.exit_code == 2
    assert "cannot map" in result.output and "it has errors" in result.output


def test_output_file_and_formats(tmp_path: Path) -> None:
    for fmt, check in (("json", lambda t: json.loads(t)["policy"] == "infra"),
                       ("markdown", lambda t: t.startswith("## Action-path map")),
                       ("html", lambda t: t.startswith("<!DOCTYPE html>"))):
        target = tmp_path / f"map.{fmt}"
        result = run(POLICY, "--format", fmt, "-o", str(target))
        assert result.exit_code == 0 and result.output == ""
        assert check(target.read_text(encoding="utf-8"))


def test_catalog_from_a_decision_log(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    log.write_text('{"input": {"topic": "infra.instance.delete", "env": "dev"}}\n'
                   '{"topic": "infra.instance.delete"}\n{"topic": 3}\n', encoding="utf-8")
    result = run(POLICY, "--catalog-from-log", str(log), "--format", "json")
    assert result.exit_code == 0
    document = json.loads(result.output)
    assert {p["topic"] for p in document["paths"]} == {"infra.instance.delete"}
    assert document["malformed"][0]["line"] == 3
