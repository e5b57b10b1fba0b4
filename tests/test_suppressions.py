"""Suppression comments, code selection, severity thresholds and the clock of ``lint``.

Suppressions: ``# dualgate: ignore[CODE, ...] reason`` on a statement or directly above
it hides that statement's findings with those codes; a conflict is hidden from either of
its two rules; the reason is required; invalid suppressions hide nothing (DG030) and
suppressions that hide nothing are reported when their code is selected (DG031).
Hidden findings stay visible in the JSON ``suppressed`` list and in the summaries.

Selection and thresholds: ``--select``/``--ignore`` take codes, names and prefixes
(comma lists or repeated), and refuse unknown items and front-end codes (exit 2);
``--min-severity`` hides findings but counts them; ``--fail-on`` sets the failing
severity; ``--now`` and ``--override-window-limit`` drive the override checks.
"""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from dualgate.compiler.analysis import AnalysisOptions, check_file, resolve_selection
from dualgate.compiler.cli.main import cli
from dualgate.compiler.codes import CODES
from dualgate.compiler.frontend.loader import load_policy

NOW = "2026-11-21T00:00:00Z"

HEADER = """\
policy infra

envs production (protected), staging
default_decision deny

tier high topics infra.*.delete fail_mode closed
tier medium topics infra.*.update fail_mode closed
tier low topics infra.*.read fail_mode open
"""

#: An exception before a general rule: one DG204 (info) located at the second rule.
EXCEPTION = """\
rule deny-prod-database-delete
  when topic infra.database.delete
   and env production
  then deny

rule require-human-prod-delete
  when topic infra.*.delete
   and env production
  then require_human
"""

#: A dead rule: DG202 (error, blocking rule agrees) at the second rule, no conflict.
SHADOWED = """\
rule allow-reads
  when topic infra.*.read
  then allow

rule allow-vm-reads
  when topic infra.vm.read
  then allow
"""

#: A dead rule that decides differently, with a vacuous env condition: DG202 (error) at
#: the rule and DG305 (warning) at its env condition. A conflict with the blocking rule
#: is not reported: DG202 already says that the blocking rule decides differently.
SHADOWED_CONFLICT = """\
rule allow-reads
  when topic infra.*.read
  then allow

rule deny-secret-reads
  when topic infra.secret.read
   and env production, staging
  then deny
"""


def policy_text(*rules: str) -> str:
    return HEADER + "\n" + "\n".join(textwrap.dedent(rule) for rule in rules)


def write(tmp_path: Path, text: str, name: str = "infra.policy") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def run(path: Path, *options: str) -> Result:
    return CliRunner().invoke(
        cli, ["--no-color", "lint", "--now", NOW, "--min-severity", "info", *options, str(path)]
    )


def report(path: Path, *options: str) -> tuple[int, dict[str, Any]]:
    """Exit status and JSON document of ``lint`` (all severities unless overridden)."""
    result = run(path, "--format", "json", *options)
    assert result.exit_code in (0, 1), result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return result.exit_code, document


def codes(document: dict[str, Any]) -> list[tuple[int, str]]:
    return [(d["line"], d["code"]) for d in document["diagnostics"]]


def suppressed(document: dict[str, Any]) -> list[tuple[int, str]]:
    return sorted((d["line"], d["code"]) for d in document["suppressed"])


def line_of(text: str, fragment: str) -> int:
    """The 1-based number of the first line containing ``fragment``."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


# --- attachment ---------------------------------------------------------------------------


def test_unsuppressed_baseline(tmp_path: Path) -> None:
    """The base policies report what the other tests suppress."""
    text = policy_text(EXCEPTION)
    _, document = report(write(tmp_path, text))
    assert codes(document) == [(line_of(text, "rule require-human-prod-delete"), "DG204")]
    text = policy_text(SHADOWED_CONFLICT)
    status, document = report(write(tmp_path, text))
    at = line_of(text, "rule deny-secret-reads")
    assert codes(document) == [(at, "DG202"), (at + 2, "DG305")]
    assert status == 1


def test_comment_directly_above_with_comment_lines_between(tmp_path: Path) -> None:
    """A suppression on its own line attaches to the statement below it, even with other
    comment lines between them."""
    text = policy_text(EXCEPTION.replace(
        "rule require-human-prod-delete",
        "# dualgate: ignore[DG204] the database exception comes first on purpose\n"
        "# Every other production delete needs a person.\n"
        "#\n"
        "rule require-human-prod-delete",
    ))
    _, document = report(write(tmp_path, text))
    assert codes(document) == []
    assert suppressed(document) == [(line_of(text, "rule require-human-prod-delete"), "DG204")]


def test_trailing_comment_on_the_rule_line(tmp_path: Path) -> None:
    """A suppression at the end of a rule's first line covers the rule."""
    text = policy_text(EXCEPTION.replace(
        "rule require-human-prod-delete",
        "rule require-human-prod-delete  # dualgate: ignore[DG204] exception first",
    ))
    _, document = report(write(tmp_path, text))
    assert codes(document) == []
    assert [d["code"] for d in document["suppressed"]] == ["DG204"]


def test_trailing_comment_on_a_condition_line(tmp_path: Path) -> None:
    """A suppression at the end of any line of a rule (here a condition) covers the rule."""
    text = policy_text(EXCEPTION.replace(
        "  when topic infra.*.delete\n   and env production",
        "  when topic infra.*.delete\n   and env production  # dualgate: ignore[DG204] exception",
    ))
    _, document = report(write(tmp_path, text))
    assert codes(document) == []
    assert [d["code"] for d in document["suppressed"]] == ["DG204"]


def test_own_line_comment_inside_a_rule(tmp_path: Path) -> None:
    """A suppression on its own line between two lines of a rule belongs to that rule."""
    text = policy_text(EXCEPTION.replace(
        "  when topic infra.*.delete\n   and env production",
        "  when topic infra.*.delete\n"
        "  # dualgate: ignore[DG204] the database exception comes first on purpose\n"
        "   and env production",
    ))
    _, document = report(write(tmp_path, text))
    assert codes(document) == []
    assert [d["code"] for d in document["suppressed"]] == ["DG204"]


def test_finding_on_a_condition_is_covered_from_above_the_rule(tmp_path: Path) -> None:
    """A finding located inside a rule (a vacuous condition) is covered by a suppression
    above the rule: the suppression covers the whole statement."""
    text = policy_text("""\
        # dualgate: ignore[vacuous-condition] both envs are listed until dev joins
        rule require-human-deletes
          when topic infra.*.delete
           and env production, staging
          then require_human
        """)
    _, document = report(write(tmp_path, text))
    assert codes(document) == []
    assert suppressed(document) == [(line_of(text, "and env production, staging"), "DG305")]


def test_suppression_covers_only_its_statement(tmp_path: Path) -> None:
    """The same code on another statement is still reported."""
    text = policy_text("""\
        # dualgate: ignore[DG305] both envs are listed until dev joins
        rule require-human-deletes
          when topic infra.*.delete
           and env production, staging
          then require_human

        rule require-human-updates
          when topic infra.*.update
           and env production, staging
          then require_human
        """)
    _, document = report(write(tmp_path, text))
    assert codes(document) == [(line_of(text, "topic infra.*.update") + 1, "DG305")]
    assert suppressed(document) == [(line_of(text, "topic infra.*.delete") + 1, "DG305")]


def test_suppression_on_other_statements(tmp_path: Path) -> None:
    """Tier, default and override statements take suppressions like rules do."""
    text = textwrap.dedent("""\
        policy notifications

        envs staging, dev
        default_decision allow  # dualgate: ignore[default-allow] staging only, reviewed in SEC-88

        tier high topics notify.*.send fail_mode closed
        # dualgate: ignore[DG306] campaign sends are high although they are sends
        tier low topics notify.campaign.* fail_mode open

        # dualgate: ignore[override-window-too-long] until the new queue ships, INC-4512
        override tier low fail_mode open until 2027-02-01T00:00:00Z reason "INC-4512"

        rule throttle-sends
          when topic notify.*.send
          then throttle
        """)
    _, document = report(write(tmp_path, text))
    assert codes(document) == []
    assert [d["code"] for d in sorted(document["suppressed"], key=lambda d: d["line"])] == [
        "DG308", "DG306", "DG304",
    ]


def test_yaml_rule_suppression(tmp_path: Path) -> None:
    """In the YAML form a suppression above a rule's list item, or at the end of one of its
    lines, covers that rule."""
    text = textwrap.dedent("""\
        version: v1
        policy: infra
        envs:
          - name: production
            protected: true
          - staging
        tiers:
          - {name: high, topics: [infra.*.delete], fail_mode: closed}
          - {name: medium, topics: [infra.*.update], fail_mode: closed}
        rules:
          - id: deny-prod-database-delete
            when: {topic: infra.database.delete, env: production}
            decision: deny
          # dualgate: ignore[conflicting-rules] the database exception comes first
          - id: require-human-prod-delete
            when: {topic: infra.*.delete, env: production}
            decision: require_human
          - id: require-human-updates
            when:
              topic: infra.*.update
              env: [production, staging]  # dualgate: ignore[DG305] until dev is declared
            decision: require_human
        """)
    _, document = report(write(tmp_path, text, "infra.policy.yaml"))
    assert codes(document) == []
    assert suppressed(document) == [
        (line_of(text, "- id: require-human-prod-delete"), "DG204"),
        (line_of(text, "env: [production, staging]"), "DG305"),
    ]


def test_yaml_suppression_above_an_item_covers_its_conditions(tmp_path: Path) -> None:
    """A suppression above a YAML rule covers a finding on one of its condition lines."""
    text = textwrap.dedent("""\
        version: v1
        policy: infra
        envs:
          - name: production
            protected: true
          - staging
        tiers:
          - {name: high, topics: [infra.*.delete, infra.security_group.update], fail_mode: closed}
        rules:
          - id: require-human-prod-delete
            when: {topic: infra.*.delete, env: production}
            decision: require_human
          # dualgate: ignore[vacuous-condition] kept until the ingress review lands
          - id: deny-public-ingress
            when:
              topic: infra.security_group.update
              cidr: ["0.0.0.0/0"]
            decision: deny
        """)
    _, document = report(write(tmp_path, text, "infra.policy.yaml"))
    assert "DG305" not in [code for _, code in codes(document)]
    assert suppressed(document) == [(line_of(text, "cidr:"), "DG305")]


# --- conflicts are covered from either rule ---------------------------------------------


def test_conflict_suppressed_on_the_earlier_rule(tmp_path: Path) -> None:
    """A conflict suppression on the earlier rule of the pair covers it: one comment on a
    guard rule covers its conflicts with every later rule."""
    text = policy_text(
        "# dualgate: ignore[DG204] a guard: production database deletes are denied first\n"
        + EXCEPTION,
        """\
        rule allow-staging-deletes
          when topic infra.*.delete
          then allow
        """,
    )
    _, document = report(write(tmp_path, text))
    later = line_of(text, "rule require-human-prod-delete")
    last = line_of(text, "rule allow-staging-deletes")
    assert suppressed(document) == [(later, "DG204"), (last, "DG204")]
    assert {tuple(d["rules"]) for d in document["suppressed"]} == {
        ("require-human-prod-delete", "deny-prod-database-delete"),
        ("allow-staging-deletes", "deny-prod-database-delete"),
    }
    # The third conflict does not involve the guard rule, so it is still reported.
    [kept] = [d for d in document["diagnostics"] if d["code"] == "DG204"]
    assert kept["rules"] == ["allow-staging-deletes", "require-human-prod-delete"]


def test_only_conflicts_are_two_sided(tmp_path: Path) -> None:
    """A shadowed-rule suppression on the blocking rule does not cover the shadowed rule:
    it is reported, and the suppression is unused."""
    text = policy_text(
        "# dualgate: ignore[DG202] the VM read rule is kept for the audit\n" + SHADOWED
    )
    _, document = report(write(tmp_path, text))
    assert codes(document) == [
        (line_of(text, "# dualgate:"), "DG031"),
        (line_of(text, "rule allow-vm-reads"), "DG202"),
    ]


# --- what a suppression must say -------------------------------------------------------


def test_reason_is_required(tmp_path: Path) -> None:
    """Without a reason the suppression is invalid and the finding stays."""
    text = policy_text(SHADOWED.replace("rule allow-vm-reads", "rule allow-vm-reads  "
                                        "# dualgate: ignore[DG202]"))
    status, document = report(write(tmp_path, text))
    at = line_of(text, "rule allow-vm-reads")
    assert codes(document) == [(at, "DG202"), (at, "DG030")]  # the comment is to the right
    assert document["diagnostics"][1]["message"] == "the suppression gives no reason"
    assert document["suppressed"] == []
    assert status == 1


@pytest.mark.parametrize("item", ["DG202", "dg202", "shadowed-rule", "Shadowed-Rule"])
def test_codes_and_names_are_accepted(tmp_path: Path, item: str) -> None:
    """A suppression names codes (any case) or kebab-case names."""
    text = policy_text(SHADOWED.replace(
        "rule allow-vm-reads", f"# dualgate: ignore[{item}] kept for the audit\nrule allow-vm-reads"
    ))
    status, document = report(write(tmp_path, text))
    assert codes(document) == []
    assert [d["code"] for d in document["suppressed"]] == ["DG202"]
    assert status == 0  # a suppressed error does not fail the run


def test_multiple_codes_in_one_comment(tmp_path: Path) -> None:
    """One comment can hide several codes of its statement; JSON records each suppression
    with its codes, reason and position, and the summaries count them."""
    text = policy_text(SHADOWED_CONFLICT.replace(
        "rule deny-secret-reads",
        "# dualgate: ignore[shadowed-rule, DG305] secret reads are denied elsewhere\n"
        "rule deny-secret-reads",
    ))
    path = write(tmp_path, text)
    status, document = report(path)
    assert (status, codes(document)) == (0, [])
    comment = line_of(text, "# dualgate:")
    assert suppressed(document) == [(comment + 1, "DG202"), (comment + 3, "DG305")]
    for entry in document["suppressed"]:
        assert entry["suppression"] == {
            "codes": ["DG202", "DG305"], "reason": "secret reads are denied elsewhere",
            "line": comment, "column": 1,
        }
        assert "witness" in entry and "rules" in entry
    assert document["summary"]["suppressed"] == 2
    result = run(path)
    assert result.stdout.strip() == "All checks passed (1 file; 2 suppressed)."


def test_invalid_suppressions_suppress_nothing(tmp_path: Path) -> None:
    """One bad item makes the whole comment invalid: the valid codes beside it hide nothing."""
    for bad, message in [
        ("DG202, DG999", "`DG999` is no diagnostic code"),
        ("DG202, DG101", "DG101 (undeclared-env) cannot be suppressed"),
        ("DG202, unused-suppression", "DG031 (unused-suppression) cannot be suppressed"),
    ]:
        text = policy_text(SHADOWED.replace(
            "rule allow-vm-reads",
            f"rule allow-vm-reads  # dualgate: ignore[{bad}] kept for the audit",
        ))
        _, document = report(write(tmp_path, text))
        at = line_of(text, "rule allow-vm-reads")
        assert codes(document) == [(at, "DG202"), (at, "DG030")], bad
        assert document["diagnostics"][1]["message"] == message
        assert document["suppressed"] == []


def test_ordinary_comments_mentioning_dualgate_are_not_directives(tmp_path: Path) -> None:
    """Only a comment that starts with ``dualgate:`` is a directive."""
    text = policy_text(SHADOWED.replace(
        "rule allow-vm-reads", "# see the dualgate: ignore[DG202] docs\nrule allow-vm-reads"
    ))
    _, document = report(write(tmp_path, text))
    assert [code for _, code in codes(document)] == ["DG202"]


# --- unused suppressions and selection -------------------------------------------------

UNUSED = policy_text(
    "# dualgate: ignore[DG202] the VM read rule used to be shadowed\n"
    + EXCEPTION
)


@pytest.mark.parametrize(("options", "expected"), [
    ((), ["DG031", "DG204"]),
    (("--ignore", "DG202"), ["DG204"]),            # the code is not selected
    (("--ignore", "unused-suppression"), ["DG204"]),
    (("--select", "DG031"), []),                   # DG202 is not selected
    (("--select", "DG202,DG031"), ["DG031"]),
    (("--select", "DG2", "--select", "DG03"), ["DG031", "DG204"]),
])
def test_unused_suppression_only_for_selected_codes(
    tmp_path: Path, options: tuple[str, ...], expected: list[str]
) -> None:
    """DG031 is reported only when the suppression's code is selected (and DG031 too)."""
    _, document = report(write(tmp_path, UNUSED), *options)
    assert sorted(code for _, code in codes(document)) == expected


def test_suppressions_through_the_api(tmp_path: Path) -> None:
    """``check_file`` applies suppressions and the selection the same way as the CLI."""
    text = policy_text(SHADOWED_CONFLICT.replace(
        "rule deny-secret-reads",
        "rule deny-secret-reads  # dualgate: ignore[DG305] env list kept for the audit",
    ))
    result = load_policy(write(tmp_path, text))
    options = AnalysisOptions(now=datetime(2026, 11, 21, tzinfo=UTC))
    full = check_file(result, options)
    assert [d.code.code for d in full.diagnostics] == ["DG202"]
    [hidden] = full.suppressed
    assert hidden.diagnostic.code.code == "DG305"
    assert hidden.suppression.reason == "env list kept for the audit"
    assert hidden.suppression.covers(hidden.diagnostic)
    only_vacuous = check_file(result, options, resolve_selection(["vacuous-condition"]))
    assert only_vacuous.diagnostics == []
    assert len(only_vacuous.suppressed) == 1


# --- --select / --ignore ---------------------------------------------------------------

#: One finding of each of DG202 (error), DG204 (info) and DG305 (warning).
MIXED = policy_text(SHADOWED, EXCEPTION, """\
    rule require-human-updates
      when topic infra.*.update
       and env production, staging
      then require_human
    """)


@pytest.mark.parametrize(("options", "expected"), [
    ((), ["DG202", "DG204", "DG305"]),
    (("--select", "DG2"), ["DG202", "DG204"]),
    (("--select", "DG20"), ["DG202", "DG204"]),
    (("--select", "shadowed-rule,vacuous-condition"), ["DG202", "DG305"]),
    (("--select", "DG202", "--select", "DG305"), ["DG202", "DG305"]),
    (("--select", "ALL", "--ignore", "DG3"), ["DG202", "DG204"]),
    (("--ignore", "DG202, conflicting-rules"), ["DG305"]),
    (("--select", "DG2", "--ignore", "DG204"), ["DG202"]),
    (("--select", "DG30"), ["DG305"]),
    (("--ignore", "DG2,DG3"), []),
])
def test_select_and_ignore(tmp_path: Path, options: tuple[str, ...], expected: list[str]) -> None:
    """Codes, names, prefixes, comma lists and repeated options choose the findings."""
    _, document = report(write(tmp_path, MIXED), *options)
    assert sorted(code for _, code in codes(document)) == expected


def test_front_end_errors_are_reported_whatever_the_selection(tmp_path: Path) -> None:
    """Selection only applies to analysis findings: a syntax error is always reported."""
    path = write(tmp_path, "policy p\nrule r\n  when topic a.b\n  allow\n")
    result = run(path, "--select", "DG204")
    assert result.exit_code == 1
    assert "DG010" in result.stdout


@pytest.mark.parametrize(("option", "item", "message"), [
    ("--select", "DG999", "`DG999` is no diagnostic code, name or code prefix"),
    ("--ignore", "shadowed", "`shadowed` is no diagnostic code, name or code prefix"),
    ("--select", "DG101", "`DG101` cannot be given to --select: DG101 (undeclared-env) is "
     "reported whenever it occurs"),
    ("--ignore", "undeclared-env", "`undeclared-env` cannot be given to --ignore"),
    ("--select", "DG1", "`DG1` cannot be given to --select: DG100 (duplicate-rule-id)"),
    ("--select", "DG202,DG01", "`DG01` cannot be given to --select: DG010 (syntax-error)"),
])
def test_selection_usage_errors(tmp_path: Path, option: str, item: str, message: str) -> None:
    """Unknown items and front-end codes are usage errors (exit 2) naming the item."""
    result = run(write(tmp_path, MIXED), option, item)
    assert result.exit_code == 2
    assert message in result.output


def test_every_selectable_code_can_be_selected_by_code_and_name(tmp_path: Path) -> None:
    """The registry's analysis and suppression codes are all accepted by --select."""
    path = write(tmp_path, MIXED)
    for code in CODES.values():
        if code.code.startswith(("DG03", "DG2", "DG3")):
            for item in (code.code, code.name):
                assert run(path, "--select", item).exit_code in (0, 1), item


# --- severity threshold and failing severity ------------------------------------------


def test_min_severity_hides_and_counts(tmp_path: Path) -> None:
    """The default threshold (warning) hides infos but counts them; error hides warnings."""
    path = write(tmp_path, policy_text(EXCEPTION))
    result = CliRunner().invoke(cli, ["--no-color", "lint", "--now", NOW, str(path)])
    assert result.exit_code == 0
    assert result.stdout.strip() == (
        "All checks passed (1 file; 1 info hidden, --min-severity info shows it)."
    )
    _, document = report(path, "--min-severity", "warning")
    assert document["diagnostics"] == []
    assert document["summary"]["hidden"] == 1
    _, document = report(write(tmp_path, MIXED), "--min-severity", "error")
    assert [code for _, code in codes(document)] == ["DG202"]
    assert document["summary"]["hidden"] == 2  # the DG204 info and the DG305 warning


@pytest.mark.parametrize(("options", "status"), [
    ((), 0),
    (("--fail-on", "warning"), 1),
    (("--fail-on", "info"), 1),
    (("--fail-on", "info", "--min-severity", "warning"), 1),  # the warning is reported
    (("--fail-on", "error"), 0),
])
def test_fail_on(tmp_path: Path, options: tuple[str, ...], status: int) -> None:
    """The exit status is 1 when a reported finding reaches --fail-on (default: error)."""
    path = write(tmp_path, policy_text("""\
        rule require-human-deletes
          when topic infra.*.delete
           and env production, staging
          then require_human
        """))
    assert run(path, *options).exit_code == status


def test_hidden_findings_do_not_fail_the_run(tmp_path: Path) -> None:
    """Findings below --min-severity do not count for --fail-on."""
    path = write(tmp_path, policy_text(EXCEPTION))
    assert run(path, "--fail-on", "info").exit_code == 1
    assert run(path, "--fail-on", "info", "--min-severity", "warning").exit_code == 0


# --- the clock -------------------------------------------------------------------------

OVERRIDE = HEADER + (
    'override tier medium fail_mode open until 2026-12-01T00:00:00Z reason "INC-4512"\n'
)


@pytest.mark.parametrize(("now", "limit", "expected"), [
    ("2026-11-21T00:00:00Z", None, ["DG304"]),       # 10 days ahead, limit 7 days
    ("2026-11-25T00:00:00Z", None, []),              # 6 days ahead
    ("2026-11-24T00:00:00Z", None, []),              # exactly 7 days ahead
    ("2026-11-23T23:59:59Z", None, ["DG304"]),       # one second more than 7 days
    ("2026-12-01T00:00:00Z", None, ["DG303"]),       # expires exactly now
    ("2026-12-01T01:00:00+02:00", None, []),         # 23:00 UTC the day before
    ("2027-01-01T00:00:00Z", None, ["DG303"]),
    ("2026-11-21T00:00:00Z", "10d", []),
    ("2026-11-21T00:00:00Z", "240h", []),
    ("2026-11-21T00:00:00Z", "239h", ["DG304"]),
    ("2026-11-30T00:00:00Z", "3600s", ["DG304"]),
    ("2026-11-30T23:30:00Z", "30m", []),            # exactly the limit
    ("2026-11-30T23:29:00Z", "30m", ["DG304"]),
])
def test_now_and_window_limit(
    tmp_path: Path, now: str, limit: str | None, expected: list[str]
) -> None:
    """--now fixes the time of the override checks; --override-window-limit the window."""
    path = write(tmp_path, OVERRIDE)
    extra = ("--override-window-limit", limit) if limit else ()
    result = CliRunner().invoke(cli, ["lint", "--format", "json", "--now", now, *extra,
                                      str(path)])
    document = json.loads(result.stdout)
    assert [d["code"] for d in document["diagnostics"]] == expected


def test_window_message_names_the_duration_and_limit(tmp_path: Path) -> None:
    """The DG304 message says how long the override stays open and what the limit is."""
    _, document = report(write(tmp_path, OVERRIDE), "--override-window-limit", "36h")
    [finding] = document["diagnostics"]
    assert finding["message"] == (
        "override of tier `medium` stays open until 2026-12-01T00:00:00Z, 10 days from now "
        "(limit 1 day 12 h)"
    )


def test_default_clock_is_the_current_time(tmp_path: Path) -> None:
    """Without --now the override checks use the current time."""
    soon = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    later = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = HEADER + (
        f'override tier medium fail_mode open until {soon} reason "INC-1"\n'
        f'override tier low fail_mode open until {later} reason "INC-2"\n'
    )
    result = CliRunner().invoke(cli, ["lint", "--format", "json", str(write(tmp_path, text))])
    document = json.loads(result.stdout)
    assert [d["code"] for d in document["diagnostics"]] == ["DG304"]


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--now", "yesterday", "`yesterday` is not an RFC 3339 timestamp"),
    ("--now", "2026-11-21T00:00:00", "has no time zone"),
    ("--now", "2026-11-21", "`2026-11-21` is a date; write a time and a zone, e.g. "
     "`2026-11-21T00:00:00Z`"),
    ("--now", "2026-13-01T00:00:00Z", "is not an RFC 3339 timestamp"),
    ("--override-window-limit", "7", "is not a duration such as 7d, 36h, 90m or 3600s"),
    ("--override-window-limit", "1w", "is not a duration"),
    ("--override-window-limit", "0d", "is not a duration"),
    ("--override-window-limit", "-1d", "is not a duration"),
    ("--override-window-limit", "1.5d", "is not a duration"),
])
def test_bad_clock_values_are_usage_errors(
    tmp_path: Path, option: str, value: str, message: str
) -> None:
    """Malformed --now and --override-window-limit values exit 2 with a message."""
    result = CliRunner().invoke(cli, ["lint", option, value, str(write(tmp_path, OVERRIDE))])
    assert result.exit_code == 2
    assert message in result.output
