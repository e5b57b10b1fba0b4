"""AST -> IR, reporting every reason the AST is not a valid policy.

Lowering validates each value (names, patterns, networks, decisions, tiers, fail
modes, timestamps) and the cross-references between statements (declared envs and
tiers, unique ids, one declaration per setting). It returns the IR only when it found
no error, so every later stage can trust the IR it gets.

Every check the IR models' validators make is made here first (with a diagnostic), so
the IR is built with ``Node.trusted``: validating again would only repeat them, at
about three times the cost of the whole rest of lowering. ``tests/test_lowering.py``
checks that the result equals the validated models.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TypeVar

from dualgate.compiler.diagnostics import MESSAGE_WIDTH, Diagnostic, Related, shown, suggest
from dualgate.compiler.frontend import ast
from dualgate.compiler.frontend.keywords import KEYWORDS
from dualgate.compiler.frontend.source import Span
from dualgate.compiler.ir import (
    DATE_ONLY,
    NAME_PATTERN,
    RFC3339,
    CidrCondition,
    Condition,
    EnvCondition,
    EnvDecl,
    Override,
    Policy,
    Rule,
    Tier,
    TopicCondition,
    TopicPattern,
)
from dualgate.compiler.networks import Network, NetworkError, parse_network
from dualgate.compiler.topics import PatternError
from dualgate.runtime.vocabulary import (
    DECISION_ALIASES,
    MAX_ENV_LENGTH,
    Decision,
    FailMode,
    TierName,
)

T = TypeVar("T")
E = TypeVar("E", Decision, TierName, FailMode)

_TIER_NAMES = {tier.value: tier for tier in TierName}
_FAIL_MODES = {mode.value: mode for mode in FailMode}

_NAME = re.compile(NAME_PATTERN)


def lower(file: ast.PolicyFile, *, yaml: bool = False) -> tuple[Policy | None,
                                                               list[Diagnostic]]:
    """The IR of ``file`` and no diagnostics, or None and at least one error.

    ``yaml`` says the file was written in the YAML form, so that helps show its syntax.
    """
    lowering = _Lowering(yaml=yaml)
    policy = lowering.policy(file)
    errors = [d for d in lowering.diagnostics if d.is_error]
    return (None if errors else policy), lowering.diagnostics


def lower_timestamp(word: ast.Word) -> tuple[datetime | None, list[Diagnostic]]:
    """The aware timestamp ``word`` writes, or None and the diagnostic saying why not
    (the checks and messages of an override's `until`)."""
    lowering = _Lowering()
    return lowering.timestamp(word), lowering.diagnostics


def _choices(values: Iterable[str]) -> str:
    quoted = [f"`{v}`" for v in values]
    return ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _declared_envs_help(name: str, declared: list[str]) -> str:
    if len(declared) > 1:
        return f"declared envs are {_choices(declared)}"
    if declared:
        return f"the only declared env is `{declared[0]}`"
    return f"add `{name}` to `envs`"


class _Lowering:
    def __init__(self, *, yaml: bool = False) -> None:
        self.diagnostics: list[Diagnostic] = []
        self.yaml = yaml
        # What each valid text read as: a policy repeats its envs, decisions and networks
        # across thousands of rules. Only values are kept (a node carries its own span),
        # and only valid ones, so every invalid word is still reported where it is.
        self.valid_names: set[str] = set()
        self.segments: dict[str, tuple[str, ...]] = {}
        self.networks: dict[str, Network] = {}

    def report(
        self, name: str, message: str, span: Span, help: str | None = None,
        related: Iterable[Related] = (),
    ) -> None:
        self.diagnostics.append(Diagnostic.of(
            name, shown(message, MESSAGE_WIDTH), span,
            None if help is None else shown(help, MESSAGE_WIDTH), related
        ))

    # --- values ------------------------------------------------------------------

    def name(self, word: ast.Word, what: str) -> str | None:
        if what == "env name" and len(word.text) > MAX_ENV_LENGTH:
            # The runtime denies a longer env before any rule (invalid-env), and refuses
            # a bundle that declares one.
            self.report(
                "invalid-name", f"env name `{shown(word.text)}` has {len(word.text):,} "
                f"characters, more than the {MAX_ENV_LENGTH} a request's env may have",
                word.span,
                help="use a shorter name",
            )
            return None
        if word.text in self.valid_names:
            return word.text
        if word.text in KEYWORDS:
            self.report(
                "invalid-name", f"{what} `{word.text}` is a reserved keyword", word.span,
                help="keywords cannot be names (the .policy form could not express it); "
                "choose another name",
            )
            return None
        # fullmatch: `$` alone would accept a trailing newline, which the IR refuses.
        if _NAME.fullmatch(word.text):
            self.valid_names.add(word.text)
            return word.text
        bad = next((c for c in word.text if not re.match(r"[A-Za-z0-9_.-]", c)), None)
        if not word.text:
            message = f"{what} is empty"
        elif bad:
            message = f"{what} `{word.text}` contains `{bad}`"
        else:
            message = f"{what} `{word.text}` must start with a letter or digit"
        self.report(
            "invalid-name", message, word.span,
            help="names use ASCII letters, digits, `_`, `-` and `.`, "
            "starting with a letter or digit",
        )
        return None

    def known(self, word: ast.Word, table: Mapping[str, E], code: str, what: str) -> E | None:
        """The value ``word`` names in ``table``; an unknown word is reported as ``code``."""
        value = table.get(word.text)
        if value is None:
            canonical = list(dict.fromkeys(str(v) for v in table.values()))
            self.report(
                code, f"unknown {what} `{word.text}`", word.span,
                help=suggest(word.text, table) or f"a {what} is {_choices(canonical)}",
            )
        return value

    def decision(self, word: ast.Word) -> Decision | None:
        return self.known(word, DECISION_ALIASES, "unknown-decision", "decision")

    def tier_name(self, word: ast.Word) -> TierName | None:
        return self.known(word, _TIER_NAMES, "unknown-tier", "tier")

    def fail_mode(self, word: ast.Word) -> FailMode | None:
        return self.known(word, _FAIL_MODES, "unknown-fail-mode", "fail mode")

    def pattern(self, word: ast.Word) -> TopicPattern | None:
        segments = self.segments.get(word.text)
        if segments is not None:
            return TopicPattern.trusted(segments=segments, span=word.span)
        if word.text in KEYWORDS:
            self.report(
                "invalid-topic-pattern",
                f"invalid topic pattern `{word.text}`: a one-segment pattern cannot be a "
                "reserved keyword",
                word.span, help="the .policy form could not express it; use a dotted topic",
            )
            return None
        try:
            pattern = TopicPattern.parse(word.text, word.span)
        except PatternError as error:
            self.report(
                "invalid-topic-pattern", f"invalid topic pattern `{shown(word.text)}`: {error}",
                word.span,
                help="segments use ASCII letters, digits, `_` and `-`; "
                "`*` matches one segment, `**` any number",
            )
            return None
        self.segments[word.text] = pattern.segments
        return pattern

    def network(self, word: ast.Word) -> Network | None:
        network = self.networks.get(word.text)
        if network is not None:
            return network
        try:
            network = self.networks[word.text] = parse_network(word.text)
        except NetworkError as error:
            help = (
                f"did you mean `{error.suggestion}`? (for the single host, write "
                f"`{word.text.split('/')[0]}`)"
                if error.suggestion
                else "write a network such as `10.0.0.0/8` or `2001:db8::/32`, "
                "or a single address"
            )
            self.report("invalid-network", str(error), word.span, help=help)
            return None
        return network

    def timestamp(self, word: ast.Word) -> datetime | None:
        text = word.text
        if DATE_ONLY.match(text):
            self.report(
                "invalid-timestamp", f"`{text}` is a date, not a timestamp", word.span,
                help=f"write a time and a zone, e.g. `{text}T00:00:00Z`",
            )
            return None
        match = RFC3339.match(text)
        try:
            value = datetime.fromisoformat(text.upper()) if match else None
        except ValueError:
            value = None
        if value is None:
            self.report(
                "invalid-timestamp", f"`{text}` is not a timestamp", word.span,
                help="write an RFC 3339 timestamp such as `2026-12-01T00:00:00Z`",
            )
            return None
        if value.tzinfo is None:
            self.report(
                "invalid-timestamp", f"timestamp `{text}` has no time zone", word.span,
                help=f"append `Z` for UTC: `{text}Z`",
            )
            return None
        return value

    def all_of(self, words: Iterable[ast.Word], convert: Callable[[ast.Word], T | None]) -> (
        tuple[T, ...] | None
    ):
        """Every word converted, or None (after reporting) when any is invalid."""
        converted = []
        valid = True
        for word in words:
            value = convert(word)
            if value is None:
                valid = False  # the rest are still converted, to report them too
            else:
                converted.append(value)
        return tuple(converted) if valid else None

    # --- statements ----------------------------------------------------------------

    def single(self, statements: list[T], keyword: str, span_of: Callable[[T], Span]) -> T | None:
        """The first declaration of a setting; later ones are reported."""
        for again in statements[1:]:
            self.report(
                "duplicate-declaration", f"`{keyword}` is declared more than once",
                span_of(again), help="keep one declaration",
                related=[Related(span_of(statements[0]), "first declared here")],
            )
        return statements[0] if statements else None

    def policy(self, file: ast.PolicyFile) -> Policy | None:
        by_type: dict[type, list[ast.Statement]] = {}
        for statement in file.statements:
            by_type.setdefault(type(statement), []).append(statement)

        def of(kind: type[T]) -> list[T]:
            return by_type.get(kind, [])  # type: ignore[return-value]

        header = self.single(of(ast.PolicyDecl), "policy", lambda s: s.span)
        envs_decl = self.single(of(ast.EnvsDecl), "envs", lambda s: s.span)
        default_decision = self.single(of(ast.DefaultDecisionDecl), "default_decision",
                                       lambda s: s.span)
        default_tier = self.single(of(ast.DefaultTierDecl), "default_tier", lambda s: s.span)

        name = self.name(header.name, "policy name") if header else None
        if header is None:
            path = file.source.path if file.source else "<policy>"
            self.report(
                "missing-policy-name", "the policy does not declare its name",
                Span(path, 1, 1, 1, 2), help="start the file with `policy NAME`",
            )
        envs = self.envs(envs_decl)
        decision = self.decision(default_decision.decision) if default_decision else Decision.DENY
        tier = self.tier_name(default_tier.tier) if default_tier else TierName.HIGH
        tiers = self.tiers(of(ast.TierDecl))
        # By name, even when the declaration has other errors: those are reported there.
        declared_tiers = {d.name.text for d in of(ast.TierDecl)}
        rules = self.rules(of(ast.RuleDecl), envs, envs_decl)
        overrides = [self.override(o, declared_tiers) for o in of(ast.OverrideDecl)]

        if self.diagnostics or name is None or decision is None or tier is None:
            return None
        return Policy.trusted(
            name=name,
            envs=tuple(envs),
            default_decision=decision,
            default_tier=tier,
            tiers=tuple(t for t in tiers if t is not None),
            rules=tuple(r for r in rules if r is not None),
            overrides=tuple(o for o in overrides if o is not None),
            span=header.span if header else None,
            default_decision_span=default_decision.span if default_decision else None,
        )

    def envs(self, decl: ast.EnvsDecl | None) -> list[EnvDecl]:
        envs: list[EnvDecl] = []
        first_seen: dict[str, ast.EnvEntry] = {}
        for entry in decl.entries if decl else ():
            name = self.name(entry.name, "env name")
            if name is None:
                continue
            if name in first_seen:
                self.report(
                    "duplicate-env", f"env `{name}` is declared twice", entry.name.span,
                    help="remove the repetition",
                    related=[Related(first_seen[name].name.span, "first declared here")],
                )
                continue
            first_seen[name] = entry
            envs.append(EnvDecl.trusted(name=name, protected=entry.protected,
                                                span=entry.span))
        return envs

    def tiers(self, decls: list[ast.TierDecl]) -> list[Tier | None]:
        tiers: list[Tier | None] = []
        first_seen: dict[TierName, ast.TierDecl] = {}
        for decl in decls:
            name = self.tier_name(decl.name)
            patterns = self.all_of(decl.topics, self.pattern)
            fail_mode = self.fail_mode(decl.fail_mode)
            if name is not None and name in first_seen:
                self.report(
                    "duplicate-tier", f"tier `{name}` is declared twice", decl.name.span,
                    help="merge the topic lists into one declaration",
                    related=[Related(first_seen[name].span, "first declared here")],
                )
                continue
            if name is not None:
                first_seen[name] = decl
            if name is TierName.HIGH and fail_mode is FailMode.OPEN:
                self.report(
                    "fail-open-high-tier", "the high tier must fail closed",
                    decl.fail_mode.span,
                    help="high-tier actions have external side effects; use `fail_mode closed`",
                )
                fail_mode = None
            if name is None or patterns is None or fail_mode is None:
                tiers.append(None)
                continue
            tiers.append(Tier.trusted(name=name, patterns=patterns, fail_mode=fail_mode,
                                              span=decl.span))
        return tiers

    def rules(
        self, decls: list[ast.RuleDecl], envs: list[EnvDecl], envs_decl: ast.EnvsDecl | None
    ) -> list[Rule | None]:
        rules: list[Rule | None] = []
        first_seen: dict[str, ast.RuleDecl] = {}
        declared = [e.name for e in envs]
        for decl in decls:
            rule_id = self.name(decl.id, "rule id")
            if rule_id is not None and rule_id in first_seen:
                self.report(
                    "duplicate-rule-id", f"rule id `{rule_id}` is already used", decl.id.span,
                    help="give every rule its own id",
                    related=[Related(first_seen[rule_id].id.span, "first used here")],
                )
                rule_id = None
            elif rule_id is not None:
                first_seen[rule_id] = decl
            conditions = []
            valid = rule_id is not None
            for written in decl.conditions:
                condition = self.condition(written, declared, envs_decl)
                if condition is None:
                    valid = False
                else:
                    conditions.append(condition)
            decision = self.decision(decl.decision)
            if not valid or decision is None:
                rules.append(None)
                continue
            rules.append(
                Rule.trusted(
                    id=rule_id,
                    conditions=tuple(conditions),
                    decision=decision,
                    reason=decl.reason.value if decl.reason else None,
                    span=decl.span,
                )
            )
        return rules

    def condition(
        self, condition: ast.Condition, declared: list[str], envs_decl: ast.EnvsDecl | None
    ) -> Condition | None:
        negated, span = condition.negated, condition.span
        if condition.attribute == "topic":
            patterns = self.all_of(condition.values, self.pattern)
            return None if patterns is None else TopicCondition.trusted(
                negated=negated, patterns=patterns, span=span
            )
        if condition.attribute == "env":
            names = self.all_of(condition.values, lambda w: self.declared_env(w, declared,
                                                                              envs_decl))
            return None if names is None else EnvCondition.trusted(
                negated=negated, envs=names, span=span
            )
        networks = self.all_of(condition.values, self.network)
        return None if networks is None else CidrCondition.trusted(
            negated=negated, networks=networks, span=span
        )

    def declared_env(
        self, word: ast.Word, declared: list[str], envs_decl: ast.EnvsDecl | None
    ) -> str | None:
        name = self.name(word, "env name")
        if name is None or name in declared:
            return name
        if envs_decl is None:
            self.report(
                "undeclared-env", f"env `{name}` is used but the policy declares no envs",
                word.span, help="declare the policy's envs, e.g. "
                + (f"`envs: [{name}]`" if self.yaml else f"`envs {name}`"),
            )
        else:
            self.report(
                "undeclared-env", f"env `{name}` is not declared", word.span,
                help=suggest(name, declared) or _declared_envs_help(name, declared),
                related=[Related(envs_decl.span, "envs are declared here")],
            )
        return None

    def override(self, decl: ast.OverrideDecl, declared_tiers: set[str]) -> Override | None:
        tier = self.tier_name(decl.tier)
        if tier is not None and tier not in declared_tiers:
            self.report(
                "override-undeclared-tier", f"override of tier `{tier}`, which is not declared",
                decl.tier.span, help="declare "
                + (f"`tiers: [{{name: {tier}, topics: [...], fail_mode: closed}}]`" if self.yaml
                   else f"`tier {tier} topics ... fail_mode closed`") + " first",
            )
            tier = None
        fail_mode = self.fail_mode(decl.fail_mode)
        if fail_mode is FailMode.CLOSED:
            self.report(
                "unknown-fail-mode", "an override can only set `fail_mode open`",
                decl.fail_mode.span,
                help="to close a tier, change its `fail_mode` and remove the override",
            )
            fail_mode = None
        until = self.timestamp(decl.until)
        if tier is None or fail_mode is None or until is None:
            return None
        return Override.trusted(
            tier=tier, fail_mode=fail_mode, until=until, reason=decl.reason.value,
            span=decl.span,
        )
