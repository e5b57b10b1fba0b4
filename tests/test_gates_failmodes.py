"""Fail modes: the process-level override's syntax, its bounds, its expiry, and that
nothing can open the high tier."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dualgate.runtime import FailMode, TierName
from dualgate.runtime.gates.failmodes import (
    DEFAULT_OVERRIDE_SECONDS,
    MAX_OVERRIDE_SECONDS,
    OVERRIDE_VARIABLE,
    FailModeOverrideError,
    FailModes,
    OverrideEntry,
    parse_override,
)
from tests.gates_support import NOON, POLICY, Clock, load
from tests.profiles import examples

HOUR = 3600.0


@pytest.mark.parametrize(("text", "expected"), [
    ("", ()),
    ("   ", ()),
    ("medium:open", ((TierName.MEDIUM, NOON + DEFAULT_OVERRIDE_SECONDS),)),
    ("medium:open@2026-12-01T18:00:00Z", ((TierName.MEDIUM, NOON + 6 * HOUR),)),
    ("low:open@2026-12-01T13:30:00+01:00", ((TierName.LOW, NOON + 1800),)),
    ("medium:open@90s", ((TierName.MEDIUM, NOON + 90),)),
    ("low:open@30m", ((TierName.LOW, NOON + 1800),)),
    (" medium:open@2h , low:open@24h ", ((TierName.MEDIUM, NOON + 2 * HOUR),
                                         (TierName.LOW, NOON + 24 * HOUR))),
])
def test_accepted_overrides(text: str, expected: tuple[tuple[TierName, float], ...]) -> None:
    assert parse_override(text, NOON) == tuple(OverrideEntry(t, u) for t, u in expected)


@pytest.mark.parametrize(("text", "message"), [
    ("high:open", "`high:open`: the high tier can never fail open"),
    ("medium:open,high:open@1h", "`high:open@1h`: the high tier can never fail open"),
    ("critical:open", "`critical:open`: unknown tier `critical`; expected `medium` or `low`"),
    ("medium:closed", "`medium:closed`: an override only opens a tier; expected `open`, got "
                      "`closed`"),
    ("medium=open", "`medium=open` is not `TIER:open[@UNTIL]` (for example `medium:open@2h`)"),
    ("Medium:open", "`Medium:open` is not `TIER:open[@UNTIL]` (for example `medium:open@2h`)"),
    ("medium:open,", "`` is not `TIER:open[@UNTIL]` (for example `medium:open@2h`)"),
    ("medium:open@2026-12-01T11:00:00Z", "`medium:open@2026-12-01T11:00:00Z`: "
                                          "`2026-12-01T11:00:00Z` has already passed"),
    ("medium:open@0s", "`medium:open@0s`: `0s` has already passed"),
    ("medium:open@25h", "`medium:open@25h`: an override lasts at most 24h; `25h` is further "
                        "away"),
    ("low:open@2026-12-03T00:00:00Z", "`low:open@2026-12-03T00:00:00Z`: an override lasts "
                                      "at most 24h; `2026-12-03T00:00:00Z` is further away"),
    ("medium:open@2026-12-01T18:00:00", "`2026-12-01T18:00:00` is neither an RFC 3339 "
                                        "timestamp with a time zone (`2026-12-03T00:00:00Z`) "
                                        "nor a duration (`90s`, `30m`, `2h`)"),
    ("medium:open@2d", "`2d` is neither an RFC 3339 timestamp with a time zone "
                       "(`2026-12-03T00:00:00Z`) nor a duration (`90s`, `30m`, `2h`)"),
    ("medium:open@1h,medium:open@2h", "`medium:open@2h`: tier `medium` is given twice"),
])
def test_refused_overrides_say_why(text: str, message: str) -> None:
    with pytest.raises(FailModeOverrideError) as error:
        parse_override(text, NOON)
    assert str(error.value) == message


@settings(max_examples=examples(300), deadline=None)
@given(st.one_of(
    st.text(max_size=40),
    st.lists(st.tuples(st.sampled_from(["high", "medium", "low", "x", ""]),
                       st.sampled_from(["open", "closed", ""]),
                       st.sampled_from(["", "@1h", "@30m", "@99h", "@0s", "@5s",
                                        "@2026-12-01T13:00:00Z", "@2026-11-30T00:00:00Z",
                                        "@soon"])), max_size=3)
    .map(lambda parts: ",".join(f"{t}:{m}{u}" for t, m, u in parts)),
))
def test_any_value_is_parsed_into_bounded_openings_or_refused(text: str) -> None:
    """Whatever the value, parsing either gives medium/low openings that end within the
    maximum, or refuses it with FailModeOverrideError; nothing else can happen."""
    try:
        entries = parse_override(text, NOON)
    except FailModeOverrideError as error:
        assert str(error) and "\n" not in str(error)
        return
    assert len({e.tier for e in entries}) == len(entries)
    for entry in entries:
        assert entry.tier in (TierName.MEDIUM, TierName.LOW)
        assert NOON < entry.until <= NOON + MAX_OVERRIDE_SECONDS


def test_the_override_opens_a_closed_tier_until_it_expires() -> None:
    clock = Clock()
    modes = FailModes.from_environment({OVERRIDE_VARIABLE: "medium:open@1h"}, clock=clock)
    bundle = load()
    assert modes.resolve(TierName.MEDIUM, bundle) == (FailMode.OPEN, True)
    assert modes.resolve(TierName.HIGH, bundle) == (FailMode.CLOSED, False)
    # low is open by the policy itself: not the override's doing.
    assert modes.resolve(TierName.LOW, bundle) == (FailMode.OPEN, False)
    clock.now = NOON + HOUR - 0.001
    assert modes.resolve(TierName.MEDIUM, bundle) == (FailMode.OPEN, True)
    clock.now = NOON + HOUR  # closes on time, exactly at its expiry
    assert modes.resolve(TierName.MEDIUM, bundle) == (FailMode.CLOSED, False)
    assert modes.status() == {
        "entries": [{"tier": "medium", "fail_mode": "open", "until": "2026-12-01T13:00:00Z"}],
        "active": [], "error": None}


def test_nothing_opens_the_high_tier_nor_a_tier_without_a_bundle() -> None:
    clock = Clock()
    # Built by hand, past the parser: even then the high tier stays closed.
    modes = FailModes((OverrideEntry(TierName.HIGH, NOON + HOUR),
                       OverrideEntry(TierName.MEDIUM, NOON + HOUR)), clock=clock)
    bundle = load()
    assert modes.resolve(TierName.HIGH, bundle) == (FailMode.CLOSED, False)
    assert modes.resolve(TierName.MEDIUM, None) == (FailMode.CLOSED, False)
    assert modes.resolve(None, bundle) == (FailMode.CLOSED, False)


def test_the_policy_overrides_still_apply_beneath() -> None:
    clock = Clock()
    text = POLICY.replace(
        "tier low topics **.read fail_mode open\n",
        "tier low topics **.read fail_mode open\n"
        'override tier medium fail_mode open until 2026-12-01T12:30:00Z reason "INC-7"\n')
    bundle = load(text, clock=clock)
    modes = FailModes(clock=clock)
    assert modes.resolve(TierName.MEDIUM, bundle) == (FailMode.OPEN, False)
    clock.now = NOON + 1800
    assert modes.resolve(TierName.MEDIUM, bundle) == (FailMode.CLOSED, False)


def test_a_refused_value_is_logged_and_opens_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="dualgate.gates"):
        modes = FailModes.from_environment(
            {OVERRIDE_VARIABLE: "low:open@1h,medium:open@forever"}, clock=Clock())
    assert modes.entries == ()
    assert modes.override_error is not None and "`forever`" in modes.override_error
    # The well-formed entry before the bad one does not apply either: refused as a whole.
    assert modes.resolve(TierName.MEDIUM, load()) == (FailMode.CLOSED, False)
    assert [r.levelname for r in caplog.records] == ["ERROR"]
    assert "no tier is opened by it" in caplog.records[0].getMessage()
    assert modes.status()["error"] == modes.override_error


def test_an_accepted_value_is_logged_with_its_expiry(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="dualgate.gates"):
        FailModes.from_environment({OVERRIDE_VARIABLE: "low:open@2h"}, clock=Clock())
    assert [r.getMessage() for r in caplog.records] == [
        f"{OVERRIDE_VARIABLE} opens the low tier when the policy is unavailable, until "
        "2026-12-01T14:00:00Z"]


def test_without_the_variable_there_is_no_override() -> None:
    modes = FailModes.from_environment({}, clock=Clock())
    assert (modes.entries, modes.override_error) == ((), None)
    assert modes.resolve(TierName.MEDIUM, load()) == (FailMode.CLOSED, False)
