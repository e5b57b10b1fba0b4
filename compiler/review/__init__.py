"""``dualgate review``: the pull-request check built on lint and the semantic diff.

``run_review`` finds the policy files changed since a git revision, lints and diffs each,
replays logged traffic if asked, and judges every finding and change at its enforcement
level (``levels``), lifting soft-mandatory blocks with valid waivers (``waivers``). The
result, a ``Review``, is plain data with a JSON form that the report writers render.
"""

from dualgate.compiler.review.config import (
    DEFAULT_MAX_WAIVER_DAYS,
    ConfigError,
    ReviewConfig,
    find_config,
    load_config,
)
from dualgate.compiler.review.levels import DEFAULT_LEVELS, Level, LevelRule, Subject, level_for
from dualgate.compiler.review.run import ReviewError, ReviewOptions, run_review
from dualgate.compiler.review.verdict import CHECKS, FileReview, Finding, Review
from dualgate.compiler.review.waivers import Waiver, WaiverProblem, load_waivers, parse_waivers

__all__ = [
    "CHECKS",
    "DEFAULT_LEVELS",
    "DEFAULT_MAX_WAIVER_DAYS",
    "ConfigError",
    "FileReview",
    "Finding",
    "Level",
    "LevelRule",
    "Review",
    "ReviewConfig",
    "ReviewError",
    "ReviewOptions",
    "Subject",
    "Waiver",
    "WaiverProblem",
    "find_config",
    "level_for",
    "load_config",
    "load_waivers",
    "parse_waivers",
    "run_review",
]
