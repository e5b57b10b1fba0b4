"""``Node.trusted`` builds what the validating constructor builds from valid values, field
for field, without importing pydantic."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings

from dualgate.compiler import ir
from dualgate.runtime.vocabulary import Decision
from tests.profiles import examples
from tests.strategies import policies


def nodes(value: object) -> Iterator[ir.Node]:
    """``value`` and every node inside it."""
    if isinstance(value, ir.Node):
        yield value
        for field in value.__dict__.values():
            yield from nodes(field)
    elif isinstance(value, tuple):
        for item in value:
            yield from nodes(item)


@settings(max_examples=examples(60), deadline=None)
@given(policies())
def test_trusted_builds_what_the_validating_constructor_builds(policy: ir.Policy) -> None:
    for node in nodes(policy):
        cls = type(node)
        defaults = dict(ir._defaults(cls))
        # The fields that differ from their defaults, and the spans: what a caller gives.
        given_fields = {k: v for k, v in node.__dict__.items()
                        if k in node._location_fields or v != defaults[k]}
        trusted, constructed = cls.trusted(**given_fields), cls(**given_fields)
        assert list(trusted.__dict__.items()) == list(constructed.__dict__.items())
        assert trusted == constructed == node
        assert trusted.model_dump() == constructed.model_dump()


def test_trusted_fills_in_defaults_and_needs_the_required_fields() -> None:
    rule = ir.Rule.trusted(id="r", decision=Decision.DENY)
    assert rule.__dict__ == ir.Rule(id="r", decision=Decision.DENY).__dict__
    with pytest.raises(KeyError):
        ir.Rule.trusted(id="r")
