"""The typed IR: what a policy means, independent of how it was written.

Immutable pydantic models. Every node may carry the ``span`` it came from, but spans
never take part in equality or hashing, so the DSL and YAML forms of one policy give
equal IR. Structural validity (pattern and network syntax, aware timestamps, names)
is enforced by the models; cross-references (declared envs, unique ids) are checked
by ``frontend.lowering`` so that they become diagnostics with locations.

The models' validators are built on first validation (``defer_build``), not at import:
lowering checks every value itself and builds the IR with ``Node.trusted``, so a
command that only reads policies (`dualgate lint`) never pays for building them.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    field_validator,
)

from dualgate.compiler.frontend.source import Span
from dualgate.compiler.networks import Network, parse_network
from dualgate.compiler.topics import parse_pattern, pattern_text
from dualgate.runtime.vocabulary import Decision, FailMode, TierName

#: Names of policies, rules and envs: a letter or digit, then letters, digits, `_-.`.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]


PolicyNetwork = Annotated[
    Network,
    AfterValidator(lambda n: parse_network(str(n))),
    PlainSerializer(str, return_type=str),
]


class Node(BaseModel):
    """Base of all IR nodes: frozen, strict about keys, equal when their meaning is."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    span: Span | None = Field(default=None, exclude=True, repr=False)

    #: Fields that say where something was written, not what it means.
    _location_fields: ClassVar[frozenset[str]] = frozenset({"span"})

    @classmethod
    def trusted(cls, **values: Any) -> Self:
        """The node holding ``values`` as they are, unvalidated, for a caller that has made
        every check the validators make (lowering). It is what ``model_construct`` builds
        (fields in their declared order, defaults filled in, the fields given recorded as
        set) without that method's handling of aliases and extra keys, which the IR has
        none of, at about half its cost; a missing required field is a ``KeyError``."""
        node = cls.__new__(cls)
        fields = {
            name: values[name] if default is _REQUIRED or name in values else default
            for name, default in _defaults(cls)
        }
        object.__setattr__(node, "__dict__", fields)
        object.__setattr__(node, "__pydantic_fields_set__", set(values))
        object.__setattr__(node, "__pydantic_extra__", None)
        object.__setattr__(node, "__pydantic_private__", None)
        return node

    def _key(self) -> tuple[Any, ...]:
        return tuple(v for k, v in self.__dict__.items() if k not in self._location_fields)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Node)
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._key()))


_REQUIRED = object()
_DEFAULTS: dict[type[Node], tuple[tuple[str, Any], ...]] = {}


def _defaults(cls: type[Node]) -> tuple[tuple[str, Any], ...]:
    """``(field, default)`` for each field of ``cls`` in order (``_REQUIRED``: no default)."""
    found = _DEFAULTS.get(cls)
    if found is None:
        found = _DEFAULTS[cls] = tuple(
            (name, _REQUIRED if info.is_required() else info.get_default(
                call_default_factory=True))
            for name, info in cls.__pydantic_fields__.items()
        )
    return found


class TopicPattern(Node):
    """A topic pattern such as ``infra.*.delete`` or ``payments.**``."""

    segments: tuple[str, ...]

    @field_validator("segments")
    @classmethod
    def _valid(cls, segments: tuple[str, ...]) -> tuple[str, ...]:
        return parse_pattern(pattern_text(segments))

    @classmethod
    def parse(cls, text: str, span: Span | None = None) -> TopicPattern:
        """The pattern written as ``text``; raises ``PatternError`` if malformed."""
        # parse_pattern is the check ``_valid`` makes; validating again would repeat it.
        return cls.trusted(segments=parse_pattern(text), span=span)

    @property
    def text(self) -> str:
        return pattern_text(self.segments)

    def __str__(self) -> str:
        return self.text


class EnvDecl(Node):
    """A declared environment; protected envs are held to the strictest governance."""

    name: Name
    protected: bool = False


class TopicCondition(Node):
    """``topic P1, P2``: the topic matches one of the patterns (or none, if negated)."""

    attribute: Literal["topic"] = "topic"
    negated: bool = False
    patterns: tuple[TopicPattern, ...] = Field(min_length=1)


class EnvCondition(Node):
    """``env E1, E2``: the env is one of the listed envs (or none, if negated)."""

    attribute: Literal["env"] = "env"
    negated: bool = False
    envs: tuple[Name, ...] = Field(min_length=1)


class CidrCondition(Node):
    """``cidr in N1, N2``: the request network is inside one of them (negated: exact complement)."""

    attribute: Literal["cidr"] = "cidr"
    negated: bool = False
    networks: tuple[PolicyNetwork, ...] = Field(min_length=1)


Condition = Annotated[
    TopicCondition | EnvCondition | CidrCondition, Field(discriminator="attribute")
]


class Rule(Node):
    """A first-match rule: when every condition holds, ``decision`` applies."""

    id: Name
    conditions: tuple[Condition, ...] = ()
    decision: Decision
    reason: str | None = None


class Tier(Node):
    """A risk tier: the topics it classifies and the gates' fail mode for them."""

    name: TierName
    patterns: tuple[TopicPattern, ...] = Field(min_length=1)
    fail_mode: FailMode


class Override(Node):
    """A time-boxed change of a tier's fail mode (an incident measure)."""

    tier: TierName
    fail_mode: FailMode = FailMode.OPEN
    until: AwareDatetime
    reason: str


class Policy(Node):
    """One policy: envs, defaults, tiers, rules in evaluation order, overrides."""

    name: Name
    envs: tuple[EnvDecl, ...] = ()
    default_decision: Decision = Decision.DENY
    default_tier: TierName = TierName.HIGH
    tiers: tuple[Tier, ...] = ()
    rules: tuple[Rule, ...] = ()
    overrides: tuple[Override, ...] = ()
    #: Where ``default_decision`` was declared (None when it was left to its default).
    default_decision_span: Span | None = Field(default=None, exclude=True, repr=False)

    _location_fields: ClassVar[frozenset[str]] = frozenset({"span", "default_decision_span"})

    @property
    def env_names(self) -> tuple[str, ...]:
        return tuple(env.name for env in self.envs)


#: RFC 3339 date-time text; the zone is optional here so that its absence gets its own message.
RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?$"
)
#: A date written where a timestamp belongs, which gets a message of its own.
DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def format_timestamp(value: datetime) -> str:
    """RFC 3339 text for an aware timestamp, with `Z` for UTC."""
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
