"""The review's parts on their own: levels, config, waivers, replay and the writers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dualgate.compiler.diff import diff_policies
from dualgate.compiler.frontend.loader import load_policy_text
from dualgate.compiler.frontend.source import Span
from dualgate.compiler.ir import Policy, Rule, TopicCondition, TopicPattern
from dualgate.compiler.reference import Request, evaluate, pattern_matches
from dualgate.compiler.reports.annotations import (
    Annotation,
    command,
    escape_data,
    escape_property,
    render_annotations,
)
from dualgate.compiler.reports.review_markdown import cap, cell
from dualgate.compiler.review import (
    ConfigError,
    Level,
    LevelRule,
    Subject,
    Waiver,
    find_config,
    level_for,
    load_config,
    parse_waivers,
)
from dualgate.compiler.review.replay import parse_log, replay
from dualgate.compiler.review.verdict import Finding, change_findings, unused_waivers
from dualgate.compiler.review.waiver_regions import WaiverRegions, change_key
from dualgate.runtime.vocabulary import Decision, TierName
from tests.profiles import examples
from tests.strategies import colliding_policies
from tests.test_diff_oracle import NOW as ORACLE_NOW
from tests.test_diff_oracle import policy_pairs, universe

NOW = datetime(2026, 12, 2, tzinfo=UTC)


# --- levels ------------------------------------------------------------------------


@pytest.mark.parametrize(("subject", "level"), [
    (Subject("decision", "loosening", TierName.HIGH, False), Level.SOFT_MANDATORY),
    (Subject("decision", "loosening", TierName.LOW, True), Level.SOFT_MANDATORY),
    (Subject("decision", "loosening", TierName.MEDIUM, False), Level.ADVISORY),
    (Subject("decision", "tightening", TierName.HIGH, True), Level.ADVISORY),
    (Subject("tier", "loosening", TierName.LOW, False), Level.SOFT_MANDATORY),
    (Subject("tier", "tightening", TierName.HIGH, False), Level.ADVISORY),
    (Subject("deleted", "loosening", TierName.HIGH, True), Level.SOFT_MANDATORY),
])
def test_default_levels_are_the_issues(subject: Subject, level: Level) -> None:
    assert level_for(subject) is level


def test_configured_rules_come_first_in_order() -> None:
    subject = Subject("decision", "loosening", TierName.MEDIUM, False)
    rules = (LevelRule(Level.HARD_MANDATORY, tier=TierName.MEDIUM),
             LevelRule(Level.ADVISORY, kind="decision"))
    assert level_for(subject, rules) is Level.HARD_MANDATORY
    assert level_for(subject, rules[1:]) is Level.ADVISORY
    assert Level.HARD_MANDATORY.blocks and not Level.HARD_MANDATORY.waivable


# --- config ------------------------------------------------------------------------


def test_config_is_found_upward_and_dualgate_toml_wins(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.dualgate.review]\nwaivers = "w.yaml"\nmax-waiver-days = 7\n')
    inner = tmp_path / "a" / "b"
    inner.mkdir(parents=True)
    config = find_config(inner, tmp_path)
    assert config.waivers == tmp_path / "w.yaml" and config.max_waiver_days == 7
    (tmp_path / "a" / "dualgate.toml").write_text(
        '[[review.levels]]\nkind = "tier"\nlevel = "advisory"\n')
    config = find_config(inner, tmp_path)
    assert config.levels == (LevelRule(Level.ADVISORY, kind="tier"),)
    assert find_config(inner, inner).source is None


def test_a_pyproject_without_the_table_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert find_config(tmp_path, tmp_path).source is None


@pytest.mark.parametrize(("text", "message"), [
    ("[review]\nlevels = 3\n", "`levels`"),
    ("[review]\nbogus = 1\n", "unknown review setting `bogus`"),
    ("[review]\nmax-waiver-days = 0\n", "`max-waiver-days`"),
    ('[[review.levels]]\nkind = "decision"\n', "has no `level`"),
    ('[[review.levels]]\nlevel = "advisory"\ntier = "huge"\n', "`tier`"),
    ('[[review.levels]]\nlevel = "advisory"\nprotected = "yes"\n', "`protected`"),
    ('[[review.levels]]\nlevel = "advisory"\nenv = "production"\n', "unknown key `env`"),
    ("[review\n", "not valid TOML"),
])
def test_bad_config_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "dualgate.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load_config(path)


# --- waivers -----------------------------------------------------------------------

ENTRY = """\
  - id: {id}
    match: {{policy: shop{extra}}}
    owner: me@example.com
    reason: a reason
    expires: {expires}
"""


def waivers(*entries: str) -> str:
    return "version: v1\nwaivers:\n" + "".join(entries)


def entry(id: str = "w", extra: str = "", expires: str = "2026-12-20T00:00:00Z") -> str:
    return ENTRY.format(id=id, extra=extra, expires=expires)


def parsed(text: str, max_days: int = 30):  # type: ignore[no-untyped-def]
    return parse_waivers(text.encode(), "w.yaml", now=NOW, max_days=max_days)


def test_a_valid_waiver_and_what_it_matches() -> None:
    [waiver] = parsed(waivers(entry(extra=', env: production, topic: "pay.*.create", '
                                          "rule: r1"))).waivers
    assert waiver.topic == TopicPattern.parse("pay.*.create")
    assert waiver.matches("shop", "production", ("r0", "r1"))
    assert waiver.matches("shop", "production", ("r1", None))
    assert not waiver.matches("shop", "production", ("r0", None))
    assert not waiver.matches("shop", "staging", ("r1",))
    assert not waiver.matches("shop", None, ("r1",))
    assert not waiver.matches("other", "production", ("r1",))


def test_a_deleted_file_is_covered_by_a_waiver_without_topic_or_with_double_star() -> None:
    plain, anything, some = parsed(waivers(
        entry("a"), entry("b", ', topic: "**"'), entry("c", ', topic: "pay.**"'))).waivers
    assert plain.covers_deletion("shop") and not plain.covers_deletion("other")
    assert anything.covers_deletion("shop")
    assert not some.covers_deletion("shop")


@pytest.mark.parametrize(("body", "kind", "line", "column", "message"), [
    (entry(expires="2026-12-01T00:00:00Z"), "expired", 7, 14, "expired at 2026-12-01"),
    (entry(expires="2027-02-01T00:00:00Z"), "malformed", 7, 14, "more than 30 days ahead"),
    (entry(expires="2026-12-20"), "malformed", 7, 14, "not an RFC 3339 timestamp"),
    (entry(expires="2026-12-20T00:00:00"), "malformed", 7, 14, "not an RFC 3339 timestamp"),
    (entry(extra=', topic: "a..b"'), "malformed", 4, 34, "is not a topic pattern"),
    (entry(extra=", colour: red"), "malformed", 4, 27, "unknown key `colour`"),
    (entry(id="-x"), "malformed", 3, 9, "`waivers[0].id`: '-x' does not match"),
    (entry().replace("    owner: me@example.com\n", ""), "malformed", 3, 5,
     "missing the required key `owner`"),
])
def test_a_bad_waiver_covers_nothing_and_says_where(
    body: str, kind: str, line: int, column: int, message: str,
) -> None:
    result = parsed(waivers(body, entry("good")))
    assert [w.id for w in result.waivers] == ["good"]
    [problem] = result.problems
    assert (problem.kind, problem.span.line, problem.span.column) == (kind, line, column)
    assert message in problem.message


def test_a_repeated_id_and_a_shorter_limit() -> None:
    result = parsed(waivers(entry("a"), entry("a")))
    assert [w.id for w in result.waivers] == ["a"]
    assert "already used at line 3" in result.problems[0].message
    assert parsed(waivers(entry()), max_days=7).problems[0].kind == "malformed"


@pytest.mark.parametrize("text", ["waivers: [\n", "- 1\n", "", "version: v2\nwaivers: []\n"])
def test_a_malformed_file_covers_nothing(text: str) -> None:
    result = parsed(text)
    assert result.waivers == () and result.problems
    assert all(p.kind == "malformed" and p.span.line >= 1 for p in result.problems)


def test_undecodable_waivers_are_a_problem_not_an_exception() -> None:
    result = parse_waivers(b"\xff\xfe", "w.yaml", now=NOW, max_days=30)
    assert result.problems[0].message.startswith("byte 0")


# --- replay ------------------------------------------------------------------------

BASE = load_policy_text("""\
policy shop
envs production (protected), staging
tier high topics pay.** fail_mode closed
tier low topics docs.** fail_mode open
rule approve
  when topic pay.refund.*
   and env production
  then require_human
rule internal
  when cidr in 10.0.0.0/8
  then allow
""", "base.policy").policy
HEAD = load_policy_text("""\
policy shop
envs production (protected), staging
tier high topics pay.** fail_mode closed
tier medium topics docs.** fail_mode closed
rule approve
  when topic pay.refund.*
   and env production
  then throttle
rule internal
  when cidr in 10.0.0.0/8
   and env staging
  then allow
""", "head.policy").policy

requests = st.builds(
    Request,
    topic=st.sampled_from(["pay.refund.create", "pay.charge.create", "docs.a", "x", "a..b"]),
    env=st.sampled_from(["production", "staging", "prod"]),
    cidr=st.sampled_from([None, "10.1.0.0/16", "192.168.0.1", "bad"]),
)


@settings(max_examples=examples(60), deadline=None)
@given(st.lists(requests, max_size=30))
def test_replay_counts_match_the_reference_interpreter(logged: list[Request]) -> None:
    assert BASE is not None and HEAD is not None
    lines = [json.dumps(r.to_json()).encode() for r in logged]
    result = replay(parse_log(lines, "log"), "shop", BASE, HEAD, NOW)
    loosening = tightening = tier_changes = changed = 0
    for request in logged:
        before, after = evaluate(BASE, request, NOW), evaluate(HEAD, request, NOW)
        decision = before.decision is not after.decision
        tier = (before.tier, before.fail_mode) != (after.tier, after.fail_mode)
        loosening += decision and after.decision.strictness < before.decision.strictness
        tightening += decision and after.decision.strictness > before.decision.strictness
        tier_changes += tier
        changed += decision or tier
    assert result.evaluated == len(logged) and result.changed == changed
    assert result.decision == {"loosening": loosening, "tightening": tightening}
    assert sum(result.tier.values()) == tier_changes
    assert sum(sum(row.values()) for row in result.by_env.values()) == loosening + tightening
    assert sum(sum(row.values()) for row in result.by_tier.values()) == loosening + tightening


def test_bad_log_lines_are_counted_never_raised() -> None:
    lines = [b"{", b"[1]", b'{"topic": "a"}', b'{"topic": "a", "env": 1}',
             b'{"topic": "a", "env": "e", "cidr": 5}', b"\xff", b"  ",
             b'{"input": {"topic": "a", "env": "e"}}', b"[" * 100_000]
    log = parse_log(lines, "log")
    assert (log.lines, log.bad, len(log.requests)) == (8, 7, 1)
    assert len(log.bad_examples) == 5 and log.bad_examples[0].line == 1


# --- writers -----------------------------------------------------------------------


def test_annotation_escaping_follows_githubs_rules() -> None:
    assert escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert escape_property("a,b:c%\n") == "a%2Cb%3Ac%25%0A"
    line = command(Annotation("error", "x: y, 50%\nz", "t: 1, 2", "p,1:2.policy", 3, 4))
    assert line == "::error file=p%2C1%3A2.policy,line=3,col=4,title=t%3A 1%2C 2::x: y, 50%25%0Az"
    assert command(Annotation("notice", "m")) == "::notice::m"


def test_at_most_ten_annotations_per_level_then_a_summary() -> None:
    many = [Annotation("error", f"e{i}") for i in range(13)] + [
        Annotation("warning", f"w{i}") for i in range(10)] + [Annotation("notice", "n")]
    lines = render_annotations(many).splitlines()
    assert sum(line.startswith("::error::") for line in lines) == 10
    assert sum(line.startswith("::warning::") for line in lines) == 10
    assert lines[-1].startswith("dualgate: 3 errors more not annotated")
    assert len(render_annotations(many[13:]).splitlines()) == 11


@settings(max_examples=examples(50), deadline=None)
@given(st.lists(st.text(max_size=200), max_size=60), st.integers(min_value=300, max_value=4000))
def test_markdown_is_cut_under_the_cap_with_a_note(lines: list[str], limit: int) -> None:
    text = cap(lines, limit)
    full = "\n".join(lines) + "\n"
    assert len(text.encode()) <= max(limit, 0) or len(full.encode()) <= limit
    if len(full.encode()) <= limit:
        assert text == full
    else:
        assert "The report was cut here" in text and len(text.encode()) <= limit


def test_table_cells_escape_what_would_break_the_table() -> None:
    assert cell("a|b\nc<script>") == "a\\|b c&lt;script>"


# --- the verdict on random policy pairs --------------------------------------------

LEVEL_RULES = st.lists(st.builds(
    LevelRule,
    level=st.sampled_from(Level),
    kind=st.sampled_from([None, "decision", "tier"]),
    direction=st.sampled_from([None, "loosening", "tightening"]),
    tier=st.sampled_from([None, *TierName]),
    protected=st.sampled_from([None, True, False]),
), max_size=3).map(tuple)
WAIVER_TOPICS = st.sampled_from([None, "**", "a.**", "*", "a", "b.*"])


@st.composite
def waiver_sets(draw: st.DrawFn, policy: str) -> list[Waiver]:
    count = draw(st.integers(min_value=0, max_value=3))
    return [
        Waiver(f"w{i}", policy, draw(st.sampled_from([None, "prod", "stage"])),
               TopicPattern.parse(t) if (t := draw(WAIVER_TOPICS)) else None,
               draw(st.sampled_from([None, "r0", "r1"])), "owner", "reason",
               NOW, Span("w.yaml", i + 1, 1, i + 1, 2))
        for i in range(count)
    ]


@settings(max_examples=examples(40), deadline=None)
@given(colliding_policies(), colliding_policies(), LEVEL_RULES, st.data())
def test_findings_follow_levels_and_waivers_only_lift_soft_blocks(
    base: Policy, head: Policy, configured: tuple[LevelRule, ...], data: st.DataObject,
) -> None:
    diff = diff_policies(base, head, now=NOW)
    waivers = data.draw(waiver_sets(head.name))

    def judged(rules: tuple[LevelRule, ...], given: list[Waiver]) -> list[Finding]:
        return change_findings(diff, base, head, configured=rules, waivers=given, path="p",
                               now=NOW)

    plain, waived = judged(configured, []), judged(configured, waivers)
    regions = WaiverRegions(base, head, diff, NOW)
    assert [f.change for f in waived] == list(diff.changes)
    for change, before, after in zip(diff.changes, plain, waived, strict=True):
        subject = Subject(change.kind, change.direction, change.riskiest_tier, change.protected)
        assert before.level is after.level is level_for(subject, configured)
        assert before.waiver is None
        covering = [w.id for w in waivers if w.matches(
            head.name, change.env, (change.base.rule, change.head.rule))
            and (w.topic is None or regions.covers(w.topic, change))]
        expected = covering[0] if covering and after.level.waivable else None
        assert after.waiver == expected
        # A waiver never adds a block, and never lifts a hard-mandatory one.
        assert not (after.standing == "blocking" and before.standing != "blocking")
        assert (after.standing == "blocking") == (
            after.level is Level.HARD_MANDATORY
            or (after.level is Level.SOFT_MANDATORY and not covering))
    # Everything advisory: nothing blocks. Everything hard: every change blocks.
    assert all(f.standing == "advisory" for f in judged((LevelRule(Level.ADVISORY),), waivers))
    assert all(f.standing == "blocking"
               for f in judged((LevelRule(Level.HARD_MANDATORY),), waivers))
    unused = {p.waiver for p in unused_waivers(waivers, waived)}
    assert unused == {w.id for w in waivers} - {f.waiver for f in waived}


@settings(max_examples=examples(30), deadline=None)
@given(policy_pairs(), WAIVER_TOPICS.filter(lambda text: text is not None))
def test_a_waiver_topic_covers_a_change_exactly_when_it_matches_all_its_requests(
    pair: tuple[Policy, Policy], text: str,
) -> None:
    base, head = pair
    pattern = TopicPattern.parse(text)
    # The probe only brings the pattern's literals into the universe; nothing evaluates it.
    probe = head.model_copy(update={"rules": (*head.rules, Rule(
        id="probe", conditions=(TopicCondition(patterns=(pattern,)),), decision=Decision.DENY))})
    requests = universe(base, probe)
    assume(requests is not None)
    assert requests is not None
    declared = set(base.env_names) | set(head.env_names)
    topics: dict[tuple[object, ...], set[str]] = {}
    for request in requests:
        b, h = evaluate(base, request, ORACLE_NOW), evaluate(head, request, ORACLE_NOW)
        if b.decision is not h.decision:
            env = request.env if request.env in declared else None
            key = ("decision", env, b.rule or b.reason, h.rule or h.reason, b.tier, h.tier)
            topics.setdefault(key, set()).add(request.topic)
        if (b.tier, b.fail_mode) != (h.tier, h.fail_mode):
            key = ("tier", b.tier, b.fail_mode, h.tier, h.fail_mode)
            topics.setdefault(key, set()).add(request.topic)
    diff = diff_policies(base, head, now=ORACLE_NOW)
    regions = WaiverRegions(base, head, diff, ORACLE_NOW)
    # An override on the high tier (a DG302 error) makes the answer "not covered".
    exact = not any(o.tier is TierName.HIGH for p in pair for o in p.overrides)
    for change in diff.changes:
        expected = all(pattern_matches(pattern, t) for t in topics[change_key(change)])
        covered = regions.covers(pattern, change)
        assert covered == expected if exact else not covered or expected
        if covered:
            assert pattern_matches(pattern, change.witness.topic)
