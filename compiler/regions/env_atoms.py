"""The env dimension: one atom per declared env, or a single atom when none are declared.

A request with an undeclared env never reaches the rules (it is denied as
``unknown-env``), so the declared envs are the whole space the rules see. A policy that
declares no envs accepts any env and has no env conditions: one atom stands for all.
"""

from __future__ import annotations

from collections.abc import Iterable

from dualgate.compiler.ir import EnvDecl
from dualgate.compiler.regions.bits import lowest_bit

#: The env a witness names when the policy declares none (any env would do).
ANY_ENV_WITNESS = "default"


class EnvAtoms:
    """Declared envs as bit positions; bit ``i`` of a bitset stands for ``names[i]``."""

    def __init__(self, envs: Iterable[EnvDecl]) -> None:
        declared = tuple(envs)
        self.declared = bool(declared)
        self.names: tuple[str, ...] = (
            tuple(e.name for e in declared) if declared else (ANY_ENV_WITNESS,)
        )
        self._bit = {name: 1 << i for i, name in enumerate(self.names)}
        self.all_bits = (1 << len(self.names)) - 1
        self.protected_bits = sum(self._bit[e.name] for e in declared if e.protected)

    def condition_bits(self, envs: Iterable[str], negated: bool) -> int:
        """The atoms on which ``env [not] envs`` holds."""
        bits = 0
        for name in envs:
            bits |= self._bit[name]
        return self.all_bits & ~bits if negated else bits

    def atom_of(self, env: str) -> int | None:
        """The atom of a request env; None when the env is not declared."""
        if not self.declared:
            return 0
        bit = self._bit.get(env)
        return None if bit is None else bit.bit_length() - 1

    def witness(self, bits: int) -> str:
        """The env named by the lowest atom in ``bits`` (which must not be empty)."""
        return self.names[lowest_bit(bits)]
