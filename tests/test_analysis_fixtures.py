"""Golden analysis findings: one small policy per analysis code, expectations inline.

Every fixture in ``tests/fixtures/analysis/`` (``*.policy`` and ``*.policy.yaml``)
starts with one comment line per finding ``dualgate lint`` must report, in the order it
reports them (path, line, column, code, message), infos included:

    # expect: LINE:COL CODE message

and one line per finding a suppression comment hides (sorted the same way):

    # expect-suppressed: LINE:COL CODE message

Fixtures are analyzed through the real command line with a fixed clock and every
severity shown (``--now 2026-11-21T00:00:00Z --min-severity info``), so the override
checks give the same answer on any day. A fixture ``NAME`` may also have
``NAME.expected``: the exact text output of

    dualgate --no-color lint --min-severity info --now 2026-11-21T00:00:00Z \\
        tests/fixtures/analysis/NAME

run from the repository root, which pins the text rendering of the findings. Nothing
here regenerates a golden file: a change of output must be made to the files by hand.

Besides the exact findings, every witness request a finding carries is replayed through
the reference interpreter (``compiler/reference.py``) and must show what the finding
claims.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from dualgate.compiler.analysis import ANALYSIS_CODES, SELECTABLE
from dualgate.compiler.cli.main import cli
from dualgate.compiler.codes import CODES
from dualgate.compiler.frontend.loader import POLICY_SUFFIXES, load_policy
from dualgate.compiler.ir import Policy, Rule
from dualgate.compiler.networks import Network, parse_network
from dualgate.compiler.reference import (
    Request,
    evaluate,
    first_match,
    matches,
    pattern_matches,
)
from dualgate.runtime.vocabulary import Decision, TierName, is_valid_topic

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "analysis"
FIXTURE_FILES = sorted(
    p for p in FIXTURES.iterdir() if p.name.endswith((".policy", ".policy.yaml"))
)
GOLDEN_FILES = sorted(FIXTURES.glob("*.expected"))
FLAWED = ROOT / "tests" / "fixtures" / "flawed" / "flawed.policy"
# The example policies, not the test files and catalogs kept beside them.
EXAMPLES = sorted(p for p in (ROOT / "policies").iterdir()
                  if p.is_file() and p.name.endswith(POLICY_SUFFIXES))

NOW = "2026-11-21T00:00:00Z"
LINT = ["lint", "--min-severity", "info", "--now", NOW]

_EXPECT = re.compile(r"^# expect: (\d+):(\d+) (DG\d{3}) (.+)$")
_EXPECT_SUPPRESSED = re.compile(r"^# expect-suppressed: (\d+):(\d+) (DG\d{3}) (.+)$")

Expectation = tuple[int, int, str, str]
Finding = dict[str, Any]


def relative(path: Path) -> str:
    """``path`` as given on the command line from the repository root."""
    return path.relative_to(ROOT).as_posix()


def expectations(path: Path, pattern: re.Pattern[str] = _EXPECT) -> list[Expectation]:
    """The ``# expect:`` (or ``# expect-suppressed:``) lines of a fixture, in file order."""
    found = []
    for line in path.read_text("utf-8").splitlines():
        match = pattern.match(line)
        if match:
            found.append((int(match[1]), int(match[2]), match[3], match[4]))
    return found


def lint(path: Path, *options: str) -> Result:
    """``dualgate lint`` on ``path`` (relative to the root) with the fixed clock, all severities."""
    return CliRunner().invoke(cli, ["--no-color", *LINT, *options, relative(path)])


def lint_json(path: Path) -> dict[str, Any]:
    result = lint(path, "--format", "json")
    assert result.exit_code in (0, 1), result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def located(findings: list[Finding]) -> list[Expectation]:
    return [(f["line"], f["column"], f["code"], f["message"]) for f in findings]


@pytest.fixture(autouse=True)
def _from_the_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths in outputs are relative to the repository root, as in CI."""
    monkeypatch.chdir(ROOT)


def test_there_are_enough_fixtures() -> None:
    """The suite keeps a fixture per analysis behaviour and a few text goldens."""
    assert len(FIXTURE_FILES) >= 25
    assert any(p.name.endswith(".policy.yaml") for p in FIXTURE_FILES)
    assert len(GOLDEN_FILES) >= 3


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
def test_fixture_reports_exactly_what_it_expects(path: Path) -> None:
    """The CLI reports exactly the expected findings, in order, and hides exactly the
    expected suppressed ones; the exit status follows the errors (``--fail-on error``)."""
    expected = expectations(path)
    assert expected, f"{path.name} has no `# expect:` line"
    result = lint(path, "--format", "json")
    document = json.loads(result.stdout)
    assert located(document["diagnostics"]) == expected
    assert sorted(located(document["suppressed"])) == expectations(path, _EXPECT_SUPPRESSED)
    summary = document["summary"]
    assert summary["suppressed"] == len(document["suppressed"])
    assert summary["hidden"] == 0
    has_errors = any(f["severity"] == "error" for f in document["diagnostics"])
    assert result.exit_code == (1 if has_errors else 0)


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
def test_fixture_is_otherwise_a_valid_policy(path: Path) -> None:
    """Fixtures hold analysis findings only: the front end accepts each of them."""
    result = load_policy(path)
    assert result.policy is not None
    assert result.diagnostics == []


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
def test_fixture_messages_follow_the_style(path: Path) -> None:
    """Messages and help are one line; a message starts lowercase (or with a code) and has
    no final period."""
    document = lint_json(path)
    for finding in [*document["diagnostics"], *document["suppressed"]]:
        for text in (finding["message"], finding["help"] or "x"):
            assert "\n" not in text
        message = finding["message"]
        assert not message[0].isupper() or re.match(r"DG\d{3} ", message), message
        assert not message.endswith("."), message


def test_every_analysis_code_has_a_fixture() -> None:
    """Every selectable code of the registry (DG03x, DG2xx, DG3xx) is expected somewhere,
    so a code added to the registry needs a fixture here."""
    covered = {code for path in FIXTURE_FILES for _, _, code, _ in expectations(path)}
    registry = {code for code in CODES if code.startswith(("DG03", "DG2", "DG3"))}
    assert registry == {c.code for c in SELECTABLE}
    assert registry - covered == set()


def test_both_shapes_of_the_two_sided_findings_have_fixtures() -> None:
    """Conflicts are covered as warning and info, shadowing with and without a blocking rule
    that decides differently, and high-risk allows by a rule and by the default."""
    findings = [f for path in FIXTURE_FILES for f in lint_json(path)["diagnostics"]]
    conflicts = {f["severity"] for f in findings if f["code"] == "DG204"}
    assert conflicts == {"warning", "info"}
    shadowed = {f["decides_differently"] for f in findings if f["code"] == "DG202"}
    assert shadowed == {True, False}
    high_risk = {bool(f["rules"]) for f in findings if f["code"] == "DG301"}
    assert high_risk == {True, False}


# --- the machine form of findings -------------------------------------------------------


def _rule_at(policy: Policy, line: int) -> Rule | None:
    """The last rule whose source lines include ``line`` (in YAML a rule's span runs to
    the start of the next list item, so two spans can share a line)."""
    found = None
    for rule in policy.rules:
        assert rule.span is not None
        if rule.span.line <= line <= rule.span.end_line:
            found = rule
    return found


def _policy(path: Path) -> Policy:
    policy = load_policy(path).policy
    assert policy is not None
    return policy


@pytest.mark.parametrize("path", [*FIXTURE_FILES, FLAWED], ids=lambda p: p.name)
def test_findings_name_their_rules_subject_first(path: Path) -> None:
    """Every analysis finding has ``rules`` and ``witness``; when ``rules`` is not empty its
    first id is the rule the finding is located in, and the others are rules of the policy."""
    policy = _policy(path)
    ids = {rule.id for rule in policy.rules}
    analysis = {c.code for c in ANALYSIS_CODES}
    document = lint_json(path)
    for finding in [*document["diagnostics"], *document["suppressed"]]:
        if finding["code"] not in analysis:
            assert "witness" not in finding
            continue
        assert "rules" in finding
        assert "witness" in finding
        rules = finding["rules"]
        assert len(set(rules)) == len(rules)
        assert set(rules) <= ids
        subject = _rule_at(policy, finding["line"])
        if finding["code"].startswith("DG2"):
            assert rules, finding
        if rules:
            assert subject is not None and subject.id == rules[0], finding
        if finding["code"] in ("DG201", "DG305"):
            assert finding["witness"] is None, finding
        else:
            assert finding["witness"] is not None, finding


# --- witnesses replay under the reference interpreter -----------------------------------


def tier_of(policy: Policy, topic: str) -> TierName:
    """The tier of ``topic``: the highest tier with a matching pattern, else the default."""
    tiers = [t.name for t in policy.tiers if any(pattern_matches(p, topic) for p in t.patterns)]
    return max(tiers, key=lambda t: t.risk) if tiers else policy.default_tier


def tiers_matching(policy: Policy, topic: str) -> set[TierName]:
    return {t.name for t in policy.tiers if any(pattern_matches(p, topic) for p in t.patterns)}


class Witness:
    """A finding's witness request, ready for the reference interpreter."""

    def __init__(self, policy: Policy, finding: Finding) -> None:
        data = finding["witness"]
        self.policy = policy
        self.finding = finding
        self.request = Request(data["topic"], data["env"], data["cidr"])
        self.network: Network | None = (
            None if data["cidr"] is None else parse_network(data["cidr"])
        )
        rules = {rule.id: rule for rule in policy.rules}
        self.rules = [rules[rule_id] for rule_id in finding["rules"]]

    def matches(self, rule: Rule) -> bool:
        return matches(rule, self.request.topic, self.request.env, self.network)

    def first(self, policy: Policy | None = None) -> Rule | None:
        return first_match(policy or self.policy, self.request.topic, self.request.env,
                           self.network)

    @property
    def tier(self) -> TierName:
        return tier_of(self.policy, self.request.topic)


def _shadowed(w: Witness) -> None:
    """The subject matches the witness, but an earlier blocking rule takes it."""
    subject, blockers = w.rules[0], w.rules[1:]
    assert w.matches(subject)
    first = w.first()
    assert first is not None and first in blockers and first is not subject
    index = w.policy.rules.index
    assert all(index(b) < index(subject) for b in blockers)
    differs = any(b.decision is not subject.decision for b in blockers)
    assert w.finding["decides_differently"] is differs


def _redundant(w: Witness) -> None:
    """The subject decides the witness, and without it the same decision comes from a rule
    the finding names or from the default."""
    subject = w.rules[0]
    assert w.first() is subject
    without = w.policy.model_copy(
        update={"rules": tuple(r for r in w.policy.rules if r is not subject)}
    )
    instead = w.first(without)
    if instead is None:
        assert without.default_decision is subject.decision
        assert "the default decision" in w.finding["message"]
    else:
        assert instead in w.rules[1:]
        assert instead.decision is subject.decision
    assert evaluate(without, w.request).decision is evaluate(w.policy, w.request).decision


def _conflict(w: Witness) -> None:
    """Both rules match the witness, the earlier one decides it, and they disagree."""
    later, earlier = w.rules
    assert w.policy.rules.index(earlier) < w.policy.rules.index(later)
    assert w.matches(later) and w.matches(earlier)
    assert w.first() is earlier
    assert earlier.decision is not later.decision


def _high_risk_allow(w: Witness) -> None:
    """The witness is a high-tier topic in a protected env, and it is allowed by the
    finding's rule (or by the default when the finding names no rule)."""
    result = evaluate(w.policy, w.request)
    assert result.decision is Decision.ALLOW
    protected = {e.name for e in w.policy.envs if e.protected}
    assert w.request.env in protected
    assert w.tier is TierName.HIGH
    if w.rules:
        assert result.rule == w.rules[0].id
    else:
        assert result.reason == "default"


def _override(w: Witness) -> None:
    """The witness topic is in the tier the override opens."""
    overrides = [o for o in w.policy.overrides
                 if o.span is not None and o.span.line == w.finding["line"]]
    assert len(overrides) == 1
    assert w.tier is overrides[0].tier


def _tier_overlap(w: Witness) -> None:
    """The witness topic is matched by patterns of two tiers and belongs to the higher."""
    tiers = tiers_matching(w.policy, w.request.topic)
    assert len(tiers) >= 2
    assert w.tier is max(tiers, key=lambda t: t.risk)
    assert f"belongs to `{w.tier}`" in w.finding["message"]


def _unclassified(w: Witness) -> None:
    """The subject matches the witness, whose topic no tier pattern matches."""
    assert w.matches(w.rules[0])
    assert tiers_matching(w.policy, w.request.topic) == set()


def _default_allow(w: Witness) -> None:
    """No rule matches the witness, and the default allows it."""
    result = evaluate(w.policy, w.request)
    assert (result.reason, result.decision) == ("default", Decision.ALLOW)


REPLAY: dict[str, Callable[[Witness], None]] = {
    "DG202": _shadowed,
    "DG203": _redundant,
    "DG204": _conflict,
    "DG301": _high_risk_allow,
    "DG302": _override,
    "DG303": _override,
    "DG304": _override,
    "DG306": _tier_overlap,
    "DG307": _unclassified,
    "DG308": _default_allow,
}


def test_every_code_with_a_witness_has_a_replay() -> None:
    """Each analysis code either never has a witness (DG201, DG305) or is replayed here."""
    assert set(REPLAY) | {"DG201", "DG305"} == {c.code for c in ANALYSIS_CODES}


@pytest.mark.parametrize("path", [*FIXTURE_FILES, FLAWED, *EXAMPLES], ids=lambda p: p.name)
def test_witnesses_reproduce_under_the_reference_interpreter(path: Path) -> None:
    """Every non-null witness is a well-formed request with a declared env, and it shows
    what its finding claims when evaluated by the reference interpreter (suppressed
    findings included)."""
    policy = _policy(path)
    document = lint_json(path)
    replayed = 0
    for finding in [*document["diagnostics"], *document["suppressed"]]:
        if finding.get("witness") is None:
            continue
        witness = Witness(policy, finding)
        assert is_valid_topic(witness.request.topic)
        assert not policy.envs or witness.request.env in policy.env_names
        assert evaluate(policy, witness.request).reason in ("rule", "default")
        REPLAY[finding["code"]](witness)
        replayed += 1
    if path in FIXTURE_FILES:
        assert replayed or all(
            f["code"] in ("DG201", "DG305", "DG030", "DG031") for f in document["diagnostics"]
        )


# --- text goldens -----------------------------------------------------------------------


@pytest.mark.parametrize("golden", GOLDEN_FILES, ids=lambda p: p.name)
def test_text_rendering_matches_golden_file(golden: Path) -> None:
    """The text output (headers, excerpts, carets, notes, help, summary) is exactly the
    golden file; the exit status is 1 exactly when the output reports an error."""
    fixture = golden.with_suffix("")
    result = lint(fixture)
    assert result.stdout == golden.read_text("utf-8")
    assert result.exit_code == (1 if re.search(r"Found [1-9]\d* error", result.stdout) else 0)


def test_every_golden_has_its_fixture() -> None:
    """A golden file is named after an existing fixture."""
    for golden in GOLDEN_FILES:
        assert golden.with_suffix("") in FIXTURE_FILES, golden.name
