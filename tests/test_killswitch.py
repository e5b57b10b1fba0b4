"""Kill switches: pattern semantics (against the reference interpreter), kill, revive,
expiry, the kill-switch file, and how the holder applies them before the bundle."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dualgate.compiler import ir
from dualgate.compiler.reference import pattern_matches
from dualgate.runtime.gates import KILL_SWITCH, BundleHolder, KillSwitchError
from dualgate.runtime.gates.killswitch import KillSwitches, compile_pattern, parse_kill_file
from dualgate.runtime.vocabulary import Decision, FailMode, TierName
from tests.profiles import examples
from tests.strategies import SEGMENTS, topic_patterns
from tests.test_holder import NOON, Clock, infra_bytes

_TOPICS = st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=6).map(".".join)


@settings(max_examples=examples(300), deadline=None)
@given(topic_patterns(max_segments=5), _TOPICS)
def test_patterns_match_as_the_reference_interpreter_reads_the_design(
        pattern: ir.TopicPattern, topic: str) -> None:
    text = ".".join(pattern.segments)
    switches = KillSwitches()
    switches.kill(text, "test")
    assert (switches.match(topic) is not None) == pattern_matches(pattern, topic)


@pytest.mark.parametrize(("pattern", "topic", "killed"), [
    ("payments.refund", "payments.refund", True),
    ("payments.refund", "payments.refund.retry", False),
    ("payments.*", "payments.refund", True),
    ("payments.*", "payments.refund.retry", False),
    ("payments.**", "payments", True),
    ("payments.**", "payments.a.b.c", True),
    ("**.delete", "infra.vm.delete", True),
    ("**.delete", "infra.vm.deleted", False),
    ("infra.**.delete", "infra.delete", True),
    ("Payments.refund", "payments.refund", False),
])
def test_segment_semantics(pattern: str, topic: str, killed: bool) -> None:
    switches = KillSwitches()
    switches.kill(pattern, "test")
    assert (switches.match(topic) is not None) is killed


@pytest.mark.parametrize("pattern", ["", "a..b", "a.b*", "a b", "a.***", ".a", "é"])
def test_a_malformed_pattern_is_refused_with_the_pattern_named(pattern: str) -> None:
    with pytest.raises(KillSwitchError, match="topic pattern"):
        compile_pattern(pattern)


def test_kill_needs_a_reason_and_a_future_until() -> None:
    switches = KillSwitches(clock=Clock())
    with pytest.raises(KillSwitchError, match="non-empty reason"):
        switches.kill("a.b", " ")
    with pytest.raises(KillSwitchError, match="already past"):
        switches.kill("a.b", "r", until=NOON - 1)
    with pytest.raises(KillSwitchError, match="no time zone"):
        switches.kill("a.b", "r", until=datetime(2030, 1, 1))  # a naive time


def test_match_never_raises_on_request_data() -> None:
    switches = KillSwitches()
    switches.kill("**", "everything")

    class Evil(str):
        def __add__(self, other: object) -> str:
            raise RuntimeError("no")

        def __radd__(self, other: object) -> str:
            raise RuntimeError("no")

    for topic in (None, 3, b"a.b", ["a"], Evil("a.b"), "not a topic!"):
        switches.match(topic)  # no exception; what the bundle says about them stands


def test_kill_revive_and_expiry() -> None:
    clock = Clock()
    switches = KillSwitches(clock=clock)
    switches.kill("a.*", "first", until=NOON + 60)
    switches.kill("a.*", "second")  # replaces the first: no expiry now
    assert [s.reason for s in switches.in_effect()] == ["second"]
    switches.kill("b.c", "timed", until=datetime.fromtimestamp(NOON + 10, UTC))
    assert switches.match("b.c") is not None
    clock.now = NOON + 10
    assert switches.match("b.c") is None  # expired exactly at `until`
    assert [s.pattern for s in switches.in_effect()] == ["a.*"]
    assert switches.revive("a.*") is True
    assert switches.revive("a.*") is False
    assert switches.match("a.x") is None


def _write(path: Path, kills: list[dict[str, object]]) -> None:
    path.write_text(json.dumps({"kills": kills}))


def test_the_file_is_reloaded_by_its_contents_and_kept_apart_from_kill(tmp_path: Path) -> None:
    path = tmp_path / "kills.json"
    switches = KillSwitches(path, clock=Clock())
    assert switches.reload_file() is False  # missing: nothing killed
    _write(path, [{"topic": "payments.**", "reason": "INC-42"},
                  {"topic": "infra.*", "reason": "freeze", "until": "2026-12-01T13:00:00Z"}])
    assert switches.reload_file() is True
    assert switches.reload_file() is False  # same contents
    assert switches.match("payments.refund") is not None
    until = switches.match("infra.vm")
    assert until is not None and until.until == NOON + 3600 and until.origin == "file"
    switches.kill("db.write", "api kill")
    assert switches.revive("payments.**") is False  # the file's: edit the file
    _write(path, [])
    assert switches.reload_file() is True
    assert switches.match("payments.refund") is None
    assert switches.match("db.write") is not None  # the api's stays


@pytest.mark.parametrize(("text", "message"), [
    ("{", "not JSON"),
    ('{"kill": []}', "is an object"),
    ('{"kills": [{"topic": "a"}]}', "`kills\\[0\\]`"),
    ('{"kills": [{"topic": "a..b", "reason": "r"}]}', "not a topic pattern"),
    ('{"kills": [{"topic": "a", "reason": "r", "until": "tomorrow"}]}', "RFC 3339"),
    ('{"kills": [{"topic": "a", "reason": "r", "extra": 1}]}', "optional `until`"),
])
def test_a_bad_file_changes_nothing_and_says_why(tmp_path: Path, text: str,
                                                  message: str) -> None:
    with pytest.raises(KillSwitchError, match=message):
        parse_kill_file(text.encode())
    path = tmp_path / "kills.json"
    _write(path, [{"topic": "payments.**", "reason": "INC-42"}])
    switches = KillSwitches(path)
    switches.reload_file()
    path.write_text(text)
    assert switches.reload_file() is False
    assert switches.file_error is not None and str(path) in switches.file_error
    assert switches.match("payments.refund") is not None  # fail closed: still killed
    _write(path, [])
    switches.reload_file()
    assert switches.file_error is None and switches.match("payments.refund") is None


def test_the_holder_denies_a_killed_topic_from_the_next_decision(tmp_path: Path) -> None:
    source = tmp_path / "infra.bundle.json"
    source.write_bytes(infra_bytes())
    clock = Clock()
    holder = BundleHolder(source, clock=clock)
    before, _ = holder.decide("infra.vm.read", "production")
    assert before.decision is Decision.ALLOW
    holder.kill("infra.**.read", "INC-7 reads leak secrets", until=NOON + 60)
    verdict, active = holder.decide("infra.vm.read", "production")
    assert (verdict.decision, verdict.reason, verdict.rule) == (Decision.DENY, KILL_SWITCH, None)
    assert (verdict.tier, verdict.fail_mode) == (TierName.LOW, FailMode.OPEN)
    assert verdict.bundle == active.content_hash
    assert holder.decide("infra.vm.list", "production")[0].decision is Decision.ALLOW
    assert holder.status()["kill_switches"] == [{
        "topic": "infra.**.read", "reason": "INC-7 reads leak secrets",
        "until": NOON + 60, "origin": "api"}]
    clock.now = NOON + 60
    assert holder.decide("infra.vm.read", "production")[0] == before
    holder.kill("infra.**", "all")
    assert holder.revive("infra.**") is True
    assert holder.decide("infra.vm.read", "production")[0] == before


def test_the_holder_reads_the_kill_switch_file_at_start(tmp_path: Path) -> None:
    source = tmp_path / "infra.bundle.json"
    source.write_bytes(infra_bytes())
    kills = tmp_path / "kills.json"
    _write(kills, [{"topic": "infra.iam.**", "reason": "INC-9"}])
    holder = BundleHolder(source, kill_switch_file=kills)
    verdict, _ = holder.decide("infra.iam.role.read", "dev")
    assert verdict.reason == KILL_SWITCH and verdict.tier is TierName.HIGH
    _write(kills, [])
    assert holder.reload_kill_switches() is True
    assert holder.decide("infra.iam.role.read", "dev")[0].reason != KILL_SWITCH


def test_a_kill_is_seen_by_every_thread_after_it_returns(tmp_path: Path) -> None:
    """Threads decide in a loop; once ``kill`` returned, no decision that starts later
    lets the topic through."""
    source = tmp_path / "infra.bundle.json"
    source.write_bytes(infra_bytes())
    holder = BundleHolder(source)
    killed = threading.Event()
    late_allows: list[str] = []
    stop = threading.Event()

    def decide() -> None:
        while not stop.is_set():
            after_kill = killed.is_set()
            verdict, _ = holder.decide("infra.vm.read", "dev")
            if after_kill and verdict.decision is not Decision.DENY:
                late_allows.append(verdict.reason)

    threads = [threading.Thread(target=decide) for _ in range(4)]
    for thread in threads:
        thread.start()
    holder.kill("infra.**", "now")
    killed.set()
    stop.wait(0.2)
    stop.set()
    for thread in threads:
        thread.join()
    assert late_allows == []
