"""Waivers: owned, reasoned, time-boxed exceptions for soft-mandatory changes.

A waiver file is YAML validated by ``schemas/waivers.schema.json``::

    version: v1
    waivers:
      - id: refunds-bot
        match: {policy: payments, env: production, topic: "payments.refund.**",
                rule: approve-refunds}
        owner: payments-team@example.com
        reason: the refunds bot replaces manual approval, see RISK-142
        expires: 2026-12-20T00:00:00Z

A waiver **covers** a change when every match field it gives holds: ``policy`` equals the
policy's declared name; ``env`` equals the change's env (so a waiver with an env never
covers a tier change or a deleted file, which have none); ``rule`` is the deciding rule on
the base or the head side; and ``topic`` is a topic pattern that matches the topic of
*every* request in the change by the policy language's own matching (``*`` one segment,
``**`` any number, whole-topic), decided exactly by ``review.waiver_regions``, so in
particular it matches the witness. A deleted file is covered only by a waiver without a
topic, or with ``**``.

A waiver that is malformed, expired (``expires`` at or before now) or expires further ahead
than the limit (30 days by default) covers nothing and is reported; so is a second waiver
with an id already used. Problems carry the YAML line and column.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from dualgate.compiler.diagnostics import shown
from dualgate.compiler.frontend.loader import decode_source
from dualgate.compiler.frontend.source import Span
from dualgate.compiler.frontend.yaml_front import JsonPath, read_yaml_data
from dualgate.compiler.ir import RFC3339, TopicPattern, format_timestamp
from dualgate.compiler.topics import PatternError
from dualgate.schemas import load_schema

ProblemKind = Literal["malformed", "expired", "unused"]


@dataclass(frozen=True)
class Waiver:
    """One valid waiver: who accepts what, why, and until when."""

    id: str
    policy: str
    env: str | None
    topic: TopicPattern | None
    rule: str | None
    owner: str
    reason: str
    expires: datetime
    span: Span

    def matches(self, policy: str, env: str | None, rules: tuple[str | None, ...]) -> bool:
        """Whether the policy, env and rule fields hold for a change (the topic is left to
        ``review.waiver_regions``, which needs the whole change); ``rules`` are the deciding
        rules on both sides."""
        return (
            self.policy == policy
            and (self.env is None or self.env == env)
            and (self.rule is None or self.rule in rules)
        )

    def covers_deletion(self, policy: str) -> bool:
        """Whether this waiver covers deleting the policy: no env, no rule, any topic."""
        return self.matches(policy, None, ()) and (self.topic is None or self.topic.text == "**")

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "match": {"policy": self.policy, "env": self.env,
                      "topic": self.topic.text if self.topic else None, "rule": self.rule},
            "owner": self.owner,
            "reason": self.reason,
            "expires": format_timestamp(self.expires),
            "location": _where(self.span),
        }


@dataclass(frozen=True)
class WaiverProblem:
    """A waiver that covers nothing, and why: malformed, expired or unused."""

    kind: ProblemKind
    message: str
    span: Span
    waiver: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "waiver": self.waiver, "message": self.message,
                "path": self.span.path, "line": self.span.line, "column": self.span.column}


@dataclass(frozen=True)
class WaiverFile:
    """The valid waivers of one file and the problems of the others."""

    path: str
    waivers: tuple[Waiver, ...]
    problems: tuple[WaiverProblem, ...]


class WaiverFileError(Exception):
    """The waiver file cannot be read at all (an I/O problem, not a malformed waiver)."""


def load_waivers(path: Path, display: str, *, now: datetime, max_days: int) -> WaiverFile:
    """The waivers in ``path``; raises :class:`WaiverFileError` only when it is unreadable."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise WaiverFileError(
            f"cannot read waivers `{display}`: {(error.strerror or str(error)).lower()}"
        ) from None
    return parse_waivers(data, display, now=now, max_days=max_days)


def parse_waivers(data: bytes, display: str, *, now: datetime, max_days: int) -> WaiverFile:
    """The waivers in the bytes of a waiver file named ``display``."""
    source, problems = decode_source(data, display)
    if source is None or problems:
        return WaiverFile(display, (), tuple(
            WaiverProblem("malformed", d.message, d.span) for d in problems
        ))
    document, spans, errors = read_yaml_data(source, load_schema("waivers"))
    if document is None:
        return WaiverFile(display, (), tuple(
            WaiverProblem("malformed", d.message, d.span) for d in errors
        ))
    # A schema error inside one waiver spoils only that waiver; any other spoils the file.
    spoiled: dict[int, list[WaiverProblem]] = {}
    whole: list[WaiverProblem] = []
    for error in errors:
        index = _waiver_index(error.span, spans)
        problem = WaiverProblem("malformed", error.message, error.span,
                                _id_at(document, index) if index is not None else None)
        if index is None:
            whole.append(problem)
        else:
            spoiled.setdefault(index, []).append(problem)
    if whole:
        return WaiverFile(display, (), tuple(whole + [p for ps in spoiled.values() for p in ps]))

    limit = now + timedelta(days=max_days)
    waivers: list[Waiver] = []
    found: list[WaiverProblem] = []
    seen: dict[str, Span] = {}
    for index, entry in enumerate(document["waivers"]):
        if index in spoiled:
            found.extend(spoiled[index])
            continue
        waiver = _waiver(entry, ("waivers", index), spans, now=now, limit=limit,
                         max_days=max_days)
        if isinstance(waiver, WaiverProblem):
            found.append(waiver)
        elif waiver.id in seen:
            found.append(WaiverProblem(
                "malformed",
                f"waiver id `{waiver.id}` is already used at line {seen[waiver.id].line}",
                waiver.span, waiver.id))
        else:
            seen[waiver.id] = waiver.span
            waivers.append(waiver)
    return WaiverFile(display, tuple(waivers), tuple(found))


def _waiver(
    entry: dict[str, Any], path: JsonPath, spans: dict[JsonPath, Span], *, now: datetime,
    limit: datetime, max_days: int,
) -> Waiver | WaiverProblem:
    waiver_id = str(entry["id"])
    match = entry["match"]
    topic: TopicPattern | None = None
    if "topic" in match:
        try:
            topic = TopicPattern.parse(match["topic"])
        except PatternError as error:
            return WaiverProblem(
                "malformed", f"`{shown(match['topic'])}` is not a topic pattern: {error}",
                spans[(*path, "match", "topic")], waiver_id)
    expires_span = spans[(*path, "expires")]
    expires = _timestamp(entry["expires"])
    if expires is None:
        return WaiverProblem(
            "malformed",
            f"`{shown(entry['expires'])}` is not an RFC 3339 timestamp with a zone "
            "such as 2026-12-01T00:00:00Z", expires_span, waiver_id)
    if expires <= now:
        return WaiverProblem(
            "expired", f"waiver `{waiver_id}` expired at {format_timestamp(expires)}",
            expires_span, waiver_id)
    if expires > limit:
        return WaiverProblem(
            "malformed",
            f"waiver `{waiver_id}` expires {format_timestamp(expires)}, more than "
            f"{max_days} days ahead", expires_span, waiver_id)
    return Waiver(
        id=waiver_id, policy=match["policy"], env=match.get("env"), topic=topic,
        rule=match.get("rule"), owner=entry["owner"], reason=entry["reason"],
        expires=expires, span=spans[path],
    )


def _timestamp(text: str) -> datetime | None:
    if not RFC3339.match(text):
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def _waiver_index(span: Span, spans: dict[JsonPath, Span]) -> int | None:
    """The index of the waiver whose YAML holds ``span``, or None outside every waiver."""
    for path, where in spans.items():
        if len(path) == 2 and path[0] == "waivers" and isinstance(path[1], int):
            start, end = (where.line, where.column), (where.end_line, where.end_column)
            if start <= (span.line, span.column) < end:
                return path[1]
    return None


def _id_at(document: Any, index: int) -> str | None:
    entry = document.get("waivers", [])[index] if isinstance(document, dict) else None
    value = entry.get("id") if isinstance(entry, dict) else None
    return value if isinstance(value, str) else None


def _where(span: Span) -> str:
    return f"{span.path}:{span.line}:{span.column}"
