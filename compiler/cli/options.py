"""Options several commands share: the clock of the time-dependent checks."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import click

from dualgate.compiler.analysis import DEFAULT_OVERRIDE_WINDOW_LIMIT, AnalysisOptions
from dualgate.compiler.ir import DATE_ONLY, RFC3339

_DURATION = re.compile(r"^\s*(\d+)\s*([dhms])\s*$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}

F = TypeVar("F", bound=Callable[..., object])


def parse_now(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """``--now``: an RFC 3339 timestamp with a zone."""
    if value is None:
        return None
    if DATE_ONLY.match(value):
        raise click.BadParameter(
            f"`{value}` is a date; write a time and a zone, e.g. `{value}T00:00:00Z`"
        )
    try:
        if not RFC3339.match(value):
            raise ValueError(value)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"`{value}` is not an RFC 3339 timestamp such as 2026-12-01T00:00:00Z"
        ) from None
    if parsed.tzinfo is None:
        raise click.BadParameter(f"timestamp `{value}` has no time zone; add `Z` or an offset")
    return parsed


def parse_duration(
    ctx: click.Context, param: click.Parameter, value: str | None,
) -> timedelta | None:
    """``--override-window-limit``: a positive whole number of days, hours, minutes or seconds."""
    if value is None:
        return None
    match = _DURATION.match(value)
    if not match or int(match[1]) == 0:
        raise click.BadParameter(f"`{value}` is not a duration such as 7d, 36h, 90m or 3600s")
    try:
        return timedelta(**{_UNITS[match[2]]: int(match[1])})
    except OverflowError:
        raise click.BadParameter(f"`{value}` is longer than any timestamp can reach") from None


def clock_options(command: F) -> F:
    """Add ``--now`` and ``--override-window-limit`` to a command."""
    command = click.option(
        "--override-window-limit", metavar="DURATION", callback=parse_duration,
        help="How long an override may stay open, from --now (default: 7d).",
    )(command)
    return now_option("The time the override checks use")(command)


def now_option(what: str) -> Callable[[F], F]:
    """``--now TIMESTAMP`` (RFC 3339 with a zone); ``what`` says what the time is for."""
    return click.option(
        "--now", metavar="TIMESTAMP", callback=parse_now,
        help=f"{what} (default: the current time), for reproducible results.",
    )


def analysis_options(now: datetime | None, limit: timedelta | None) -> AnalysisOptions:
    """The analysis settings the clock options give (the current time by default)."""
    return AnalysisOptions(
        now=now or datetime.now(UTC),
        override_window_limit=limit or DEFAULT_OVERRIDE_WINDOW_LIMIT,
    )
