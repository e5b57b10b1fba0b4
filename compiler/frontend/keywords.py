"""The reserved words of the policy language, shared by the parser and lowering.

A value (name, topic pattern, env) can never spell one of these: the grammar's WORD
terminal excludes them (tests/test_parser.py checks the two lists agree), and lowering
rejects them in YAML policies, whose values must all be writable in the DSL too.
"""

KEYWORDS = (
    "policy", "envs", "default_decision", "default_tier", "tier", "topics", "fail_mode",
    "rule", "when", "and", "then", "reason", "override", "until", "topic", "env", "cidr",
    "in", "not", "protected",
)

#: The words a statement can start with.
STATEMENT_KEYWORDS = (
    "policy", "envs", "default_decision", "default_tier", "tier", "rule", "override",
)
