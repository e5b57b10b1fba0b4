"""The review's settings, from ``dualgate.toml`` (table ``[review]``) or ``pyproject.toml``
(table ``[tool.dualgate.review]``).

Looked up from the current directory upward to the repository root: the first directory
holding a ``dualgate.toml``, or a ``pyproject.toml`` with a ``[tool.dualgate.review]`` table,
decides. Keys (all optional)::

    waivers = "policies/waivers.yaml"   # relative to the file that says it
    max-waiver-days = 30                # how far ahead a waiver may expire
    [[tool.dualgate.review.levels]]     # `[[review.levels]]` in dualgate.toml
    kind = "decision"                   # decision | tier | deleted
    direction = "loosening"             # loosening | tightening
    tier = "medium"                     # high | medium | low
    protected = false                   # the change's env is protected
    level = "soft-mandatory"            # hard-mandatory | soft-mandatory | advisory

Configured level rules are consulted in order before the defaults. A bad setting is a
:class:`ConfigError` with a one-line message, never a guess.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from dualgate.compiler.review.levels import (
    DIRECTIONS,
    KINDS,
    ChangeKind,
    Direction,
    Level,
    LevelRule,
)
from dualgate.runtime.vocabulary import TierName

DEFAULT_MAX_WAIVER_DAYS = 30
_KEYS = {"waivers", "max-waiver-days", "levels"}
_RULE_KEYS = {"kind", "direction", "tier", "protected", "level"}


class ConfigError(Exception):
    """A configuration file that cannot be read or says something invalid."""


@dataclass(frozen=True)
class ReviewConfig:
    """The settings a review runs with; ``source`` is the file they came from, if any."""

    levels: tuple[LevelRule, ...] = ()
    waivers: Path | None = None
    max_waiver_days: int = DEFAULT_MAX_WAIVER_DAYS
    source: Path | None = None


def find_config(start: Path, stop: Path) -> ReviewConfig:
    """The settings of the nearest configuration from ``start`` up to ``stop`` (inclusive)."""
    directory = start.resolve()
    stop = stop.resolve()
    while True:
        candidate = directory / "dualgate.toml"
        if candidate.is_file():
            return load_config(candidate)
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file() and _review_table(pyproject) is not None:
            return load_config(pyproject)
        if directory in (stop, directory.parent):
            return ReviewConfig()
        directory = directory.parent


def load_config(path: Path) -> ReviewConfig:
    """The settings in ``path`` (a ``dualgate.toml`` or a ``pyproject.toml``)."""
    table = _review_table(path)
    return _parse(table or {}, path)


def _review_table(path: Path) -> dict[str, Any] | None:
    try:
        document = tomllib.loads(path.read_text("utf-8"))
    except OSError as error:
        reason = (error.strerror or str(error)).lower()
        raise ConfigError(f"cannot read `{path}`: {reason}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"`{path}` is not valid TOML: {error}") from None
    keys = ("review",) if path.name == "dualgate.toml" else ("tool", "dualgate", "review")
    table: Any = document
    for key in keys:
        if not isinstance(table, dict) or key not in table:
            return None
        table = table[key]
    if not isinstance(table, dict):
        raise ConfigError(f"`{'.'.join(keys)}` in `{path}` must be a table")
    return table


def _parse(table: dict[str, Any], path: Path) -> ReviewConfig:
    where = f"in `{path}`"
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ConfigError(f"unknown review setting `{unknown[0]}` {where}")
    waivers = table.get("waivers")
    if waivers is not None and not isinstance(waivers, str):
        raise ConfigError(f"`waivers` {where} must be a path")
    days = table.get("max-waiver-days", DEFAULT_MAX_WAIVER_DAYS)
    if not isinstance(days, int) or isinstance(days, bool) or days < 1:
        raise ConfigError(f"`max-waiver-days` {where} must be a positive whole number")
    rules = table.get("levels", [])
    if not isinstance(rules, list):
        raise ConfigError(f"`levels` {where} must be an array of tables")
    return ReviewConfig(
        levels=tuple(_rule(rule, number, where) for number, rule in enumerate(rules, start=1)),
        waivers=path.parent / waivers if waivers is not None else None,
        max_waiver_days=days,
        source=path,
    )


def _rule(entry: object, number: int, where: str) -> LevelRule:
    here = f"level rule {number} {where}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{here} must be a table")
    unknown = sorted(set(entry) - _RULE_KEYS)
    if unknown:
        raise ConfigError(f"unknown key `{unknown[0]}` in {here}")
    level = _choice(entry, "level", [str(v) for v in Level], here)
    if level is None:
        raise ConfigError(f"{here} has no `level`")
    return LevelRule(
        level=Level(level),
        kind=cast("ChangeKind | None", _choice(entry, "kind", list(KINDS), here)),
        direction=cast("Direction | None", _choice(entry, "direction", list(DIRECTIONS), here)),
        tier=TierName(tier) if (tier := _choice(entry, "tier", [str(t) for t in TierName],
                                                here)) else None,
        protected=_flag(entry, here),
    )


def _choice(entry: dict[str, Any], key: str, allowed: list[str], here: str) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if value not in allowed:
        names = ", ".join(f"`{a}`" for a in allowed)
        raise ConfigError(f"`{key}` in {here} must be one of {names}, not `{value}`")
    return str(value)


def _flag(entry: dict[str, Any], here: str) -> bool | None:
    value = entry.get("protected")
    if value is not None and not isinstance(value, bool):
        raise ConfigError(f"`protected` in {here} must be true or false")
    return value


__all__ = ["DEFAULT_MAX_WAIVER_DAYS", "ConfigError", "ReviewConfig", "find_config",
           "load_config"]
