"""The registry of diagnostic codes: one entry per code, one place to look.

Every code has a stable number (``DG`` + three digits), a kebab-case name, a default
severity and a doc text with the same four sections (What it does, Why it matters,
Example, Fix), which ``dualgate explain`` prints. Numbering:
DG0xx input and syntax, DG1xx policy semantics found while lowering to the IR,
DG2xx rule analysis, DG3xx governance (the last two arrive with the analyzer).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    """How bad a finding is; only errors make ``lint`` fail and block compilation."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Code:
    """One diagnostic code and its documentation."""

    code: str
    name: str
    severity: Severity
    summary: str
    what: str
    why: str
    example: str
    fix: str

    def doc(self) -> str:
        """The full documentation text, as ``dualgate explain`` prints it."""
        return (
            f"{self.code} ({self.name}) [{self.severity}]\n"
            f"{self.summary}\n\n"
            f"## What it does\n{self.what}\n\n"
            f"## Why it matters\n{self.why}\n\n"
            f"## Example\n{_indent(self.example)}\n\n"
            f"## Fix\n{self.fix}\n"
        )


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" if line else "" for line in text.strip("\n").splitlines())


_E, _W = Severity.ERROR, Severity.WARNING

_CODES = (
    Code(
        "DG001", "unreadable-file", _E, "the file cannot be read",
        "Reports a path that does not exist, is not a file, or cannot be opened.",
        "A policy that cannot be read cannot be checked, so the run cannot vouch for it.",
        "dualgate lint policies/missing.policy",
        "Check the path and the file's permissions.",
    ),
    Code(
        "DG002", "invalid-encoding", _E, "the file is not valid UTF-8 text",
        "Reports a policy file whose bytes are not UTF-8, or that contains NUL bytes.",
        "Policies are text that people review; bytes that do not decode cannot be "
        "reviewed or parsed reliably.",
        "a file saved as UTF-16 or Latin-1 with non-ASCII characters",
        "Save the file as UTF-8.",
    ),
    Code(
        "DG010", "syntax-error", _E, "the policy text does not follow the grammar",
        "Reports text the parser cannot read: a missing `then`, a stray token, a "
        "condition without values, a list with a trailing comma.",
        "Nothing after a syntax error can be trusted, so no decision table is built.",
        "rule allow-reads\n  when topic **.read\n  allow        # missing `then`",
        "Follow the message: it names what the parser expected at the caret.",
    ),
    Code(
        "DG011", "unterminated-string", _E, "a string is missing its closing quote",
        "Reports a `\"` that opens a string which is not closed on the same line.",
        "An unterminated string would swallow the rest of the policy.",
        'rule r\n  then deny\n  reason "public ingress',
        'Close the string with `"` on the same line.',
    ),
    Code(
        "DG012", "unknown-keyword", _E, "a word stands where a keyword belongs",
        "Reports a statement that begins with something other than `policy`, `envs`, "
        "`default_decision`, `default_tier`, `tier`, `rule` or `override`, and a word "
        "inside a statement that is close to the keyword expected there (`tpoic` for "
        "`topic`, `reson` for `reason`): usually a misspelled keyword.",
        "A misspelled keyword would otherwise silently drop a rule.",
        "rul deny-all\n  when tpoic infra.**\n  then deny",
        "Spell the keyword as the help suggests. Two values written without a comma "
        "between them also end up here: separate list items with `,`.",
    ),
    Code(
        "DG020", "invalid-yaml", _E, "the YAML document cannot be parsed",
        "Reports YAML syntax errors, duplicate keys, keys that are not strings, aliases "
        "that contain themselves, and files that hold no document or more than one.",
        "A YAML policy that does not parse, or whose duplicate keys silently override "
        "each other, is not the policy its author reviewed.",
        "rules:\n  - id: a\n    id: b",
        "Fix the YAML at the position shown.",
    ),
    Code(
        "DG021", "yaml-schema-violation", _E,
        "the YAML policy does not match schemas/policy.schema.json",
        "Validates a YAML policy against the published JSON Schema: unknown keys, "
        "missing required keys, values of the wrong type, and empty values.",
        "Other tools generate and read the YAML form; it must have exactly the keys the "
        "schema names, or a typo such as `whn:` would drop a rule's conditions.",
        "rules:\n  - id: r\n    whn: {topic: a.b}\n    decision: deny",
        "Use the key or type the message names; the help suggests the closest key. Quote "
        "values YAML would read as something else (`no`, `on`, `1.0`).",
    ),
    Code(
        "DG100", "duplicate-rule-id", _E, "two rules have the same id",
        "Reports every rule whose id was already used by an earlier rule of the policy.",
        "Decisions, logs and coverage reports name rules by id; two rules with one id "
        "make every explanation ambiguous.",
        "rule allow-reads\n  then allow\nrule allow-reads\n  then deny",
        "Rename one of the rules.",
    ),
    Code(
        "DG101", "undeclared-env", _E, "a condition names an env the policy does not declare",
        "Reports an env condition naming an environment missing from `envs`, and any env "
        "condition in a policy that declares no envs.",
        "Requests with an undeclared env are denied before any rule is consulted, so a "
        "rule for an undeclared env (often a typo such as `prod`) can never apply.",
        "envs production, staging\nrule r\n  when env prod\n  then deny",
        "Use a declared env, or add it to `envs`.",
    ),
    Code(
        "DG102", "invalid-topic-pattern", _E, "a topic pattern is malformed",
        "Reports topic patterns with an empty segment, a character other than ASCII "
        "letters, digits, `_` and `-`, a wildcard inside a segment, or `***`.",
        "A malformed pattern matches nothing you meant it to; `*` and `**` only stand for "
        "whole segments.",
        "rule r\n  when topic infra..delete, infra.res*\n  then deny",
        "Write dotted segments; use `*` for exactly one segment, `**` for any number.",
    ),
    Code(
        "DG103", "invalid-network", _E, "a network is malformed or has host bits set",
        "Reports cidr values that are not an IPv4 or IPv6 network, and networks with host "
        "bits set, naming the network that was probably meant.",
        "`10.0.0.1/8` is ambiguous: was the /8 or the single host meant? Guessing would "
        "silently widen or narrow a rule.",
        "rule r\n  when cidr in 10.0.0.1/8\n  then deny",
        "Write the network address (`10.0.0.0/8`) or a single host (`10.0.0.1/32`).",
    ),
    Code(
        "DG104", "unknown-decision", _E, "a rule or default names a decision that does not exist",
        "Reports decisions other than `allow`, `deny`, `require_human` (alias "
        "`require_approval`) and `throttle`.",
        "A gate can only carry out the four decisions it knows.",
        "rule r\n  then block",
        "Use one of the four decisions; the help suggests the closest.",
    ),
    Code(
        "DG105", "duplicate-tier", _E, "a tier is declared twice",
        "Reports a second `tier` statement for the same tier name.",
        "A tier has one list of topics and one fail mode; two declarations would leave "
        "the reader guessing which one holds.",
        "tier low topics **.read fail_mode open\ntier low topics **.list fail_mode open",
        "Merge the topic lists into one declaration.",
    ),
    Code(
        "DG106", "fail-open-high-tier", _E, "the high tier is declared with fail_mode open",
        "Reports `tier high ... fail_mode open`.",
        "High-tier actions have external side effects; letting them through when the "
        "policy cannot be evaluated is exactly the silent bypass dualgate exists to stop.",
        "tier high topics payments.** fail_mode open",
        "Use `fail_mode closed` for the high tier.",
    ),
    Code(
        "DG107", "override-undeclared-tier", _E,
        "an override names a tier the policy does not declare",
        "Reports an `override tier NAME` where NAME has no `tier` declaration.",
        "An override of a tier that does not exist has no effect, which hides the intent "
        "of whoever wrote it during an incident.",
        'override tier medium fail_mode open until 2026-12-01T00:00:00Z reason "INC-1"',
        "Declare the tier, or remove the override.",
    ),
    Code(
        "DG108", "invalid-timestamp", _E, "a timestamp is malformed or has no time zone",
        "Reports override expiry times that are not RFC 3339 timestamps with a time zone.",
        "An expiry without a time zone means different instants on different machines.",
        'override tier low fail_mode open until 2026-12-01 reason "INC-1"',
        "Write a full timestamp with a zone, e.g. `2026-12-01T00:00:00Z`.",
    ),
    Code(
        "DG109", "unknown-tier", _E, "a tier name is not high, medium or low",
        "Reports tier names in `tier`, `default_tier` and `override` that are not one of "
        "the three risk tiers.",
        "Tiers are a fixed scale (external side effects, internal writes, read-only) that "
        "dashboards and alerts rely on.",
        "tier critical topics payments.** fail_mode closed",
        "Use `high`, `medium` or `low`.",
    ),
    Code(
        "DG110", "unknown-fail-mode", _E, "a fail mode is not closed or open",
        "Reports a `fail_mode` other than `closed` or `open`, and overrides that do not "
        "open a tier (an override can only set `fail_mode open`).",
        "Gates know two fail modes; anything else cannot be enforced.",
        "tier low topics **.read fail_mode lenient",
        "Use `closed` or `open`.",
    ),
    Code(
        "DG111", "duplicate-declaration", _E, "a policy-wide setting is declared twice",
        "Reports a second `policy`, `envs`, `default_decision` or `default_tier` statement.",
        "With two declarations the reader cannot tell which one the gates use.",
        "default_decision deny\ndefault_decision allow",
        "Keep one declaration.",
    ),
    Code(
        "DG112", "duplicate-env", _E, "an env is declared twice",
        "Reports an env listed twice in `envs`.",
        "A repeated env is usually a copy-paste slip that hides a missing env.",
        "envs production, staging, production",
        "Remove the repetition.",
    ),
    Code(
        "DG113", "invalid-name", _E, "a policy name, rule id or env name has invalid characters",
        "Reports names that are empty, do not start with a letter or digit, or contain "
        "anything but ASCII letters, digits, `_`, `-` and `.`.",
        "Names appear in logs, metrics labels and file names; keeping them plain keeps "
        "them safe to use everywhere.",
        "rule deny/all\n  then deny",
        "Use letters, digits, `_`, `-` and `.`.",
    ),
    Code(
        "DG114", "missing-policy-name", _E, "the policy does not declare its name",
        "Reports a policy without a `policy NAME` statement (or a YAML policy without "
        "the `policy` key).",
        "Bundles, metrics and decision logs are labelled with the policy name.",
        "envs production\ndefault_decision deny",
        "Start the file with `policy NAME`.",
    ),
)

CODES: dict[str, Code] = {code.code: code for code in _CODES}
CODES_BY_NAME: dict[str, Code] = {code.name: code for code in _CODES}


def lookup(code_or_name: str) -> Code | None:
    """The code registered under ``code_or_name`` (``DG101`` or ``undeclared-env``)."""
    key = code_or_name.strip()
    return CODES.get(key.upper()) or CODES_BY_NAME.get(key.lower())
