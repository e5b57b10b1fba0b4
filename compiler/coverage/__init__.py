"""Coverage on the region engine: a policy's outcome regions and its action-path map.

``outcome_regions`` lists the (env, rule-or-reason, tier) groups a policy's requests
fall into (what ``dualgate test --coverage`` counts); ``build_path_map`` maps every
action path (a topic in each env) to its tier, fail mode and possible outcomes
(``dualgate coverage``).
"""

from dualgate.compiler.coverage.regions import OutcomeRegion, outcome_regions, undeclared_env

__all__ = ["OutcomeRegion", "outcome_regions", "undeclared_env"]
