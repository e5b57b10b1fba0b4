"""The typed IR: what a policy means, independent of how it was written.

Immutable nodes (frozen dataclasses) typed for pydantic: constructing one validates it,
and ``model_validate``, ``model_dump``, ``model_copy`` and ``model_json_schema`` work as
on pydantic models. Every node may carry the ``span`` it came from, but spans never
take part in equality, hashing or dumps, so the DSL and YAML forms of one policy give
equal IR. Structural validity (pattern and network syntax, aware timestamps, names)
is enforced by the validators; cross-references (declared envs, unique ids) are checked
by ``frontend.lowering`` so that they become diagnostics with locations.

pydantic is imported, and the validators built, on the first validation, dump or schema:
lowering checks every value itself and builds the IR with ``Node.trusted``, so a command
that only reads policies (`dualgate lint`, in every pre-commit hook) never imports it.
The constraints pydantic enforces are written so that they cost nothing until then: the
field metadata pydantic reads from ``dataclasses.field`` (``min_length``, ``exclude``),
and ``Deferred`` types that say what pydantic type they stand for when it asks.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import (
    TYPE_CHECKING,
    Annotated,
    Any,
    ClassVar,
    Literal,
    Self,
    TypeVar,
    dataclass_transform,
)

from dualgate.compiler.frontend.source import Span
from dualgate.compiler.networks import Network, parse_network
from dualgate.compiler.topics import parse_pattern, pattern_text
from dualgate.runtime.vocabulary import Decision, FailMode, TierName

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler, TypeAdapter
    from pydantic_core import CoreSchema

#: Names of policies, rules and envs: a letter or digit, then letters, digits, `_-.`.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class Deferred:
    """Annotation metadata standing for the pydantic type ``build(annotated type)``
    returns, built only when pydantic generates a schema (``build`` imports pydantic)."""

    def __init__(self, build: Callable[[Any], Any]) -> None:
        self.build = build

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler,
    ) -> CoreSchema:
        return handler.generate_schema(self.build(source))


def _name_type(source: Any) -> Any:
    from pydantic import StringConstraints

    return Annotated[source, StringConstraints(pattern=NAME_PATTERN)]


def _network_type(source: Any) -> Any:
    from pydantic import AfterValidator, PlainSerializer

    return Annotated[
        source,
        AfterValidator(lambda n: parse_network(str(n))),
        PlainSerializer(str, return_type=str),
    ]


def _aware_type(source: Any) -> Any:
    from pydantic import AwareDatetime

    return AwareDatetime


def _segments_type(source: Any) -> Any:
    from pydantic import AfterValidator

    # The check TopicPattern.parse makes, on the text the segments spell.
    return Annotated[source, AfterValidator(lambda s: parse_pattern(pattern_text(s)))]


def _condition_type(source: Any) -> Any:
    from pydantic import Discriminator

    return Annotated[source, Discriminator("attribute")]


Name = Annotated[str, Deferred(_name_type)]
PolicyNetwork = Annotated[Network, Deferred(_network_type)]
AwareTimestamp = Annotated[datetime, Deferred(_aware_type)]
Segments = Annotated[tuple[str, ...], Deferred(_segments_type)]

#: pydantic reads these from ``dataclasses.field``'s metadata.
_NOT_EMPTY = {"min_length": 1}
_LOCATION = {"exclude": True}


_T = TypeVar("_T")


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(field,))
def _node(cls: type[_T]) -> type[_T]:
    """An IR node class: a frozen dataclass whose constructor validates (``Node.__init__``)."""
    return dataclass(frozen=True, eq=False, init=False, kw_only=True)(cls)


@_node
class Node:
    """Base of all IR nodes: frozen, strict about keys, equal when their meaning is."""

    #: pydantic's configuration of every node (it reads it from here).
    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}

    span: Span | None = field(default=None, repr=False, metadata=_LOCATION)

    #: Fields that say where something was written, not what it means.
    _location_fields: ClassVar[frozenset[str]] = frozenset({"span"})

    def __init__(self, **values: Any) -> None:
        """The node holding ``values`` validated (and converted) as pydantic validates
        a model's fields; raises ``pydantic.ValidationError`` for invalid values."""
        validated = _adapter(type(self)).validate_python(values)
        object.__setattr__(self, "__dict__", validated.__dict__)

    @classmethod
    def trusted(cls, **values: Any) -> Self:
        """The node holding ``values`` as they are, unvalidated, for a caller that has made
        every check the validators make (lowering): fields in their declared order,
        defaults filled in; a missing required field is a ``KeyError``."""
        node = cls.__new__(cls)
        fields = {
            name: values[name] if default is _REQUIRED or name in values else default
            for name, default in _defaults(cls)
        }
        object.__setattr__(node, "__dict__", fields)
        return node

    @classmethod
    def model_validate(cls, value: Any) -> Self:
        """``value`` (a mapping, or a node of this class) validated into a node."""
        validated: Self = _adapter(cls).validate_python(value)
        return validated

    @classmethod
    def model_validate_json(cls, text: str | bytes) -> Self:
        """The node JSON ``text`` describes, validated."""
        validated: Self = _adapter(cls).validate_json(text)
        return validated

    @classmethod
    def model_json_schema(cls) -> dict[str, Any]:
        """The JSON schema of this node's mapping form (what ``model_validate`` accepts)."""
        return _adapter(cls).json_schema()

    def model_dump(self, **options: Any) -> dict[str, Any]:
        """The node as nested dicts (spans left out); ``options`` as pydantic's
        ``dump_python`` takes them (``mode="json"``...)."""
        dumped: dict[str, Any] = _adapter(type(self)).dump_python(self, **options)
        return dumped

    def model_dump_json(self, **options: Any) -> str:
        """The node as JSON text (spans left out)."""
        return _adapter(type(self)).dump_json(self, **options).decode("utf-8")

    def model_copy(self, *, update: dict[str, Any] | None = None) -> Self:
        """A copy with the fields in ``update`` replaced, unvalidated (as pydantic's
        ``model_copy``): the caller vouches for the new values."""
        copy = type(self).__new__(type(self))
        object.__setattr__(copy, "__dict__", {**self.__dict__, **(update or {})})
        return copy

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
            (f.name, f.default if f.default is not dataclasses.MISSING
             else _REQUIRED if f.default_factory is dataclasses.MISSING
             else f.default_factory())
            for f in dataclasses.fields(cls)
        )
    return found


_ADAPTERS: dict[type[Node], TypeAdapter[Any]] = {}


def _adapter(cls: type[Node]) -> TypeAdapter[Any]:
    """pydantic's validator and serializer of ``cls``, built on first use."""
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        from pydantic import TypeAdapter

        adapter = _ADAPTERS[cls] = TypeAdapter(cls)
    return adapter


@_node
class TopicPattern(Node):
    """A topic pattern such as ``infra.*.delete`` or ``payments.**``."""

    segments: Segments

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


@_node
class EnvDecl(Node):
    """A declared environment; protected envs are held to the strictest governance."""

    name: Name
    protected: bool = False


@_node
class TopicCondition(Node):
    """``topic P1, P2``: the topic matches one of the patterns (or none, if negated)."""

    attribute: Literal["topic"] = "topic"
    negated: bool = False
    patterns: tuple[TopicPattern, ...] = field(metadata=_NOT_EMPTY)


@_node
class EnvCondition(Node):
    """``env E1, E2``: the env is one of the listed envs (or none, if negated)."""

    attribute: Literal["env"] = "env"
    negated: bool = False
    envs: tuple[Name, ...] = field(metadata=_NOT_EMPTY)


@_node
class CidrCondition(Node):
    """``cidr in N1, N2``: the request network is inside one of them (negated: exact complement)."""

    attribute: Literal["cidr"] = "cidr"
    negated: bool = False
    networks: tuple[PolicyNetwork, ...] = field(metadata=_NOT_EMPTY)


Condition = Annotated[
    TopicCondition | EnvCondition | CidrCondition, Deferred(_condition_type)
]


@_node
class Rule(Node):
    """A first-match rule: when every condition holds, ``decision`` applies."""

    id: Name
    conditions: tuple[Condition, ...] = ()
    decision: Decision
    reason: str | None = None


@_node
class Tier(Node):
    """A risk tier: the topics it classifies and the gates' fail mode for them."""

    name: TierName
    patterns: tuple[TopicPattern, ...] = field(metadata=_NOT_EMPTY)
    fail_mode: FailMode


@_node
class Override(Node):
    """A time-boxed change of a tier's fail mode (an incident measure)."""

    tier: TierName
    fail_mode: FailMode = FailMode.OPEN
    until: AwareTimestamp
    reason: str


@_node
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
    default_decision_span: Span | None = field(default=None, repr=False, metadata=_LOCATION)

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
