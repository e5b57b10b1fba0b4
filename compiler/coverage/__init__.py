"""Coverage on the region engine: a policy's outcome regions and its action-path map.

``outcome_regions`` lists the (env, rule-or-reason, tier) groups a policy's requests
fall into (what ``dualgate test --coverage`` counts); ``build_path_map`` maps every
action path (a topic in each env) to its tier, fail mode and possible outcomes
(``dualgate coverage``).
"""

from dualgate.compiler.coverage.catalog import (
    Catalog,
    CatalogError,
    Malformed,
    parse_log_catalog,
    parse_text_catalog,
    parse_yaml_catalog,
    read_catalog,
    read_log_catalog,
)
from dualgate.compiler.coverage.paths import (
    FAIL_ON_CHOICES,
    PATH_FLAGS,
    ActionPath,
    Outcome,
    PathMap,
    build_path_map,
)
from dualgate.compiler.coverage.regions import OutcomeRegion, outcome_regions, undeclared_env

__all__ = [
    "FAIL_ON_CHOICES",
    "PATH_FLAGS",
    "ActionPath",
    "Catalog",
    "CatalogError",
    "Malformed",
    "Outcome",
    "OutcomeRegion",
    "PathMap",
    "build_path_map",
    "outcome_regions",
    "parse_log_catalog",
    "parse_text_catalog",
    "parse_yaml_catalog",
    "read_catalog",
    "read_log_catalog",
    "undeclared_env",
]
