"""Enforcement levels: how much each finding of a review counts, Sentinel's three levels.

``hard-mandatory`` blocks and no waiver lifts it; ``soft-mandatory`` blocks unless a valid
waiver covers it; ``advisory`` is reported only. Lint errors in the head policy are always
hard-mandatory. Every change (and every deleted policy file) gets its level from the first
:class:`LevelRule` that fits it: the configured rules in the order written, then
:data:`DEFAULT_LEVELS`, whose last rule fits everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from dualgate.runtime.vocabulary import TierName

ChangeKind = Literal["decision", "tier", "deleted"]
Direction = Literal["loosening", "tightening"]

KINDS: tuple[ChangeKind, ...] = ("decision", "tier", "deleted")
DIRECTIONS: tuple[Direction, ...] = ("loosening", "tightening")


class Level(StrEnum):
    """How a finding counts toward the verdict, from strongest to weakest."""

    HARD_MANDATORY = "hard-mandatory"
    SOFT_MANDATORY = "soft-mandatory"
    ADVISORY = "advisory"

    @property
    def blocks(self) -> bool:
        """Whether an unwaived finding at this level blocks the change."""
        return self is not Level.ADVISORY

    @property
    def waivable(self) -> bool:
        """Whether a waiver can lift the block."""
        return self is Level.SOFT_MANDATORY


@dataclass(frozen=True)
class Subject:
    """What a level is chosen by: the change's kind, direction, tier and env protection.

    ``tier`` is the riskier of the base and head tiers (a change that moves a topic out of
    the high tier is judged as a high-tier change), the head's in a new file; a deleted
    file has the high tier, since it removed every tier its policy had. ``protected`` is
    whether the change's env is protected (false for tier changes, which are not tied to
    an env; true for a deleted file).
    """

    kind: ChangeKind
    direction: Direction
    tier: TierName
    protected: bool


@dataclass(frozen=True)
class LevelRule:
    """A level for the subjects that fit every field given (None fits anything)."""

    level: Level
    kind: ChangeKind | None = None
    direction: Direction | None = None
    tier: TierName | None = None
    protected: bool | None = None

    def fits(self, subject: Subject) -> bool:
        return (
            (self.kind is None or self.kind == subject.kind)
            and (self.direction is None or self.direction == subject.direction)
            and (self.tier is None or self.tier is subject.tier)
            and (self.protected is None or self.protected == subject.protected)
        )

    def describe(self) -> str:
        """The rule in words, for documentation and reports."""
        parts = [
            f"kind={self.kind}" if self.kind else "",
            f"direction={self.direction}" if self.direction else "",
            f"tier={self.tier}" if self.tier else "",
            f"protected={str(self.protected).lower()}" if self.protected is not None else "",
        ]
        fields = ", ".join(p for p in parts if p) or "anything"
        return f"{fields}: {self.level}"


#: The issue's defaults, a security team's choice: loosening on the high tier, loosening
#: in a protected env, any tier loosening and a deleted policy file block unless waived;
#: other loosening and every tightening are advisory. A deleted file is soft-mandatory
#: because it leaves every request it governed to whatever the gate does with a policy it
#: no longer has (deny as unknown at best, the fail mode at worst): someone must own that.
DEFAULT_LEVELS: tuple[LevelRule, ...] = (
    LevelRule(Level.SOFT_MANDATORY, kind="deleted"),
    LevelRule(Level.SOFT_MANDATORY, kind="tier", direction="loosening"),
    LevelRule(Level.SOFT_MANDATORY, kind="decision", direction="loosening",
              tier=TierName.HIGH),
    LevelRule(Level.SOFT_MANDATORY, kind="decision", direction="loosening", protected=True),
    LevelRule(Level.ADVISORY),
)


def level_for(subject: Subject, configured: tuple[LevelRule, ...] = ()) -> Level:
    """The level of the first configured rule, then default rule, that fits ``subject``."""
    # The last default rule fits every subject, so the search always finds one.
    return next(rule.level for rule in (*configured, *DEFAULT_LEVELS) if rule.fits(subject))
