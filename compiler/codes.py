"""The registry of diagnostic codes: one entry per code, one place to look.

Every code has a stable number (``DG`` + three digits), a kebab-case name, a default
severity and a doc text with the same four sections (What it does, Why it matters,
Example, Fix), which ``dualgate explain`` prints. Numbering:
DG0xx input and syntax, DG1xx policy semantics found while lowering to the IR,
DG03x suppression comments, DG04x policy test files (``dualgate test``), DG2xx rule
analysis, DG3xx governance. Only analysis findings (DG2xx, DG3xx) can be selected,
ignored and suppressed; the rest are always reported, because without a valid IR there
is nothing to analyze.
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


_E, _W, _I = Severity.ERROR, Severity.WARNING, Severity.INFO

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
        "DG030", "invalid-suppression", _W,
        "a suppression comment is malformed, names an unknown code or gives no reason",
        "Reports `# dualgate: ignore[...]` comments that do not follow the form "
        "`# dualgate: ignore[CODE, ...] reason`, that name a code which does not exist or "
        "cannot be suppressed (only analysis findings, DG2xx and DG3xx, can), or that give "
        "no reason. Such a comment suppresses nothing.",
        "A suppression is a reviewed exception; without a reason the next reader cannot "
        "tell a deliberate exception from a silenced bug.",
        "# dualgate: ignore[DG204]\nrule allow-all\n  then allow",
        "Name the codes and say why: `# dualgate: ignore[DG204] prod deletes are denied "
        "before the general allowance`.",
    ),
    Code(
        "DG031", "unused-suppression", _W, "a suppression comment suppresses nothing",
        "Reports a code in a `# dualgate: ignore[...]` comment for which the statement it "
        "is attached to has no finding (only codes that are selected are checked).",
        "A stale suppression would silently hide a future finding of the same kind.",
        "# dualgate: ignore[DG202] no longer shadowed\nrule allow-reads\n  "
        "when topic **.read\n  then allow",
        "Remove the code from the comment, or the whole comment.",
    ),
    Code(
        "DG040", "test-schema-violation", _E,
        "a test file does not match schemas/policy-tests.schema.json",
        "Validates a `*.tests.yaml` file against the published JSON Schema: unknown keys, "
        "missing required keys, values of the wrong type, decisions, reasons, tiers and "
        "fail modes that do not exist, and empty values.",
        "A misspelled key such as `expcet:` would otherwise leave a case that checks "
        "nothing and always passes.",
        "policy: payments.policy\ncases:\n  - name: refunds\n    request: {topic: "
        "payments.refund.create, env: production}\n    expcet: {decision: throttle}",
        "Use the key or value the message names; the help suggests the closest one.",
    ),
    Code(
        "DG041", "duplicate-case-name", _E, "two cases of a test file have the same name",
        "Reports every case whose name was already used by an earlier case of the file.",
        "Test reports, JUnit results and CI dashboards name cases; two cases with one name "
        "make a failure ambiguous.",
        "cases:\n  - name: refunds\n    ...\n  - name: refunds\n    ...",
        "Rename one of the cases.",
    ),
    Code(
        "DG042", "untestable-policy", _E, "the runtime refuses the bundle of the tested policy",
        "Reports a test file whose policy compiles into a bundle the runtime will not load "
        "(an override that opens the high tier, which must always fail closed), so none of "
        "its cases can run through the code the gates load.",
        "The gates would refuse this bundle too: the cases would pass against a policy that "
        "can never be deployed.",
        "override tier high fail_mode open until 2026-12-01T00:00:00Z reason \"INC-1\"",
        "Run `dualgate lint` on the policy and fix its errors.",
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
        "letters, digits, `_` and `-`, a wildcard inside a segment, or `***`, and patterns "
        "that match only topics longer than a request may carry (64 segments, 1,024 "
        "characters).",
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
        "Reports override expiry times, and the `now:` of a test file, that are not RFC "
        "3339 timestamps with a time zone.",
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
        "anything but ASCII letters, digits, `_`, `-` and `.`, and env names longer than "
        "the 256 characters a request's env may have.",
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
    Code(
        "DG201", "unmatchable-rule", _E, "no request can satisfy the rule's own conditions",
        "Reports a rule whose conditions contradict each other, so that no request matches "
        "it whatever comes before it: `topic a.b and topic not a.*`, `env not` listing "
        "every declared env, `cidr in 10.0.0.0/8 and cidr not in 10.0.0.0/8`.",
        "The rule can never decide anything; its author meant something else.",
        "rule r\n  when topic infra.db.delete\n   and topic not infra.*.delete\n  then deny",
        "Fix the contradicting conditions, or delete the rule.",
    ),
    Code(
        "DG202", "shadowed-rule", _E, "every request the rule matches is decided by earlier rules",
        "Reports a rule that some requests match but that never decides one: the earlier "
        "rules it names (the blocking rules) together take every request it matches. The "
        "witness is a request the rule matches and the blocking rule that takes it; the "
        "message says whether a blocking rule decides differently.",
        "Under first match the rule is dead code. When a blocking rule decides "
        "differently, the policy does not do what the shadowed rule says.",
        "rule allow-reads\n  when topic **.read\n  then allow\n"
        "rule deny-secret-read\n  when topic secret.read\n  then deny",
        "Move the rule above the rules that block it, narrow them, or delete it.",
    ),
    Code(
        "DG203", "redundant-rule", _W, "deleting the rule would change no decision",
        "Reports a rule that decides some requests, but every one of them would get the same "
        "decision from the rules after it (or from the default) if it were deleted.",
        "Redundant rules make a policy longer to review and hide which rule really decides; "
        "a later edit of the rule below silently changes what this one seemed to say.",
        "rule deny-prod-iam\n  when topic iam.** and env production\n  then deny\n"
        "rule deny-iam\n  when topic iam.**\n  then deny",
        "Delete the rule.",
    ),
    Code(
        "DG204", "conflicting-rules", _W,
        "two overlapping rules decide differently, so order decides",
        "Reports two rules with different decisions and a request both match on which the "
        "earlier one is the first match: swapping them would change that decision. The "
        "finding is a warning when the rules only partly overlap and info when the later "
        "rule generalizes the earlier one (the usual exception-before-general pattern). A "
        "later rule that never decides is reported as shadowed-rule instead.",
        "When two rules overlap, the policy's meaning depends on their order; a reviewer "
        "should see that, and a partial overlap is often an accident.",
        "rule deny-prod-deletes\n  when topic **.delete and env production\n  then deny\n"
        "rule allow-infra\n  when topic infra.**\n  then allow",
        "Make the rules disjoint, or keep the order and record why with "
        "`# dualgate: ignore[DG204] reason` on the later rule.",
    ),
    Code(
        "DG301", "unapproved-high-risk-allow", _E,
        "a high-tier action is allowed in a protected env without approval",
        "Reports a rule (or the default decision) that decides `allow` for a request whose "
        "topic is in the high tier and whose env is protected.",
        "High-tier actions have external side effects; in a protected env such as "
        "production they need a person (`require_human`) or must be denied.",
        "envs production (protected)\ntier high topics payments.** fail_mode closed\n"
        "rule allow-payments\n  when topic payments.**\n  then allow",
        "Decide `require_human` (or `deny`) for high-tier topics in protected envs, e.g. "
        "with a rule before the allowing one; or classify the topic in a lower tier if it "
        "really has no external side effect.",
    ),
    Code(
        "DG302", "override-on-high-tier", _E, "an override opens the high tier",
        "Reports an `override tier high ...`.",
        "The high tier must fail closed; an override is a fail-open bypass of exactly the "
        "actions that must never bypass the policy.",
        'override tier high fail_mode open until 2026-12-01T00:00:00Z reason "INC-1"',
        "Remove the override; open a lower tier instead if the incident allows.",
    ),
    Code(
        "DG303", "override-expired", _W, "an override's expiry time has passed",
        "Reports an override whose `until` is at or before the time of the check "
        "(`--now`, by default the current time).",
        "An expired override no longer changes anything, but it still reads as if the tier "
        "were open; stale incident measures confuse the next incident.",
        'override tier low fail_mode open until 2020-01-01T00:00:00Z reason "INC-1"',
        "Remove the override.",
    ),
    Code(
        "DG304", "override-window-too-long", _W, "an override stays open for too long",
        "Reports an override whose `until` lies further in the future than the limit "
        "(7 days unless `--override-window-limit` says otherwise), counted from the time of "
        "the check (`--now`).",
        "An override is an incident measure; a long one turns a temporary fail-open bypass "
        "into a permanent one that nobody reviews.",
        'override tier low fail_mode open until 2099-01-01T00:00:00Z reason "INC-1"',
        "Shorten the window and extend it deliberately if the incident lasts.",
    ),
    Code(
        "DG305", "vacuous-condition", _W, "a condition cannot narrow anything in practice",
        "Reports `topic` conditions that match every topic (`topic **`), `env` conditions "
        "that list every declared env, and `cidr in` conditions that include `0.0.0.0/0` or "
        "`::/0` (every request network of that family).",
        "A condition that holds everywhere usually means its author expected it to restrict "
        "something: `cidr in 0.0.0.0/0` does not mean 'the public internet'.",
        "rule deny-public\n  when cidr in 0.0.0.0/0\n  then deny",
        "Delete the condition, or write the one you meant; to catch public ranges write "
        "`cidr not in 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16`.",
    ),
    Code(
        "DG306", "tier-overlap", _I, "a topic is matched by patterns of two tiers",
        "Reports a pair of tier patterns from different tiers that match a common topic; "
        "the topic belongs to the higher tier.",
        "The lower tier's pattern says one thing about those topics and the tiers say "
        "another; the overlap is often intended (a sensitive exception inside a broad "
        "read-only tier) but should be visible.",
        "tier high topics infra.iam.** fail_mode closed\n"
        "tier low topics infra.**.read fail_mode open",
        "Nothing, when the exception is intended; otherwise narrow one of the patterns.",
    ),
    Code(
        "DG307", "unclassified-topic", _W, "a rule applies to topics no tier classifies",
        "Reports a rule whose topic conditions admit topics that no tier pattern matches; "
        "those topics fall into the default tier.",
        "Risk tiers decide fail modes, dashboards and the high-risk checks; a topic that "
        "lands in the default tier by omission is classified by accident.",
        "tier low topics **.read fail_mode open\nrule throttle-writes\n  "
        "when topic db.*.write\n  then throttle",
        "Add the topics to a tier.",
    ),
    Code(
        "DG308", "default-allow", _W, "the policy allows what no rule decides",
        "Reports `default_decision allow`, with a request the default allows.",
        "A fail-safe policy denies what it does not know about; with a default allow every "
        "new action type is allowed until someone writes a rule for it.",
        "default_decision allow",
        "Use `default_decision deny` and allow what should be allowed with rules.",
    ),
)

CODES: dict[str, Code] = {code.code: code for code in _CODES}
CODES_BY_NAME: dict[str, Code] = {code.name: code for code in _CODES}


def lookup(code_or_name: str) -> Code | None:
    """The code registered under ``code_or_name`` (``DG101`` or ``undeclared-env``)."""
    key = code_or_name.strip()
    return CODES.get(key.upper()) or CODES_BY_NAME.get(key.lower())
