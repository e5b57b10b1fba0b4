"""The joint region space of two policies: one set of atoms both are decided over.

One topic automaton over both policies' rule and tier patterns, both sets of networks,
and an env atom per env either declares plus one for every env neither declares. Each
policy gets its own ``RegionSpace`` (rule boxes, topic classes) over these shared atoms,
so a first-match cell of one and a cell of the other meet exactly when some request lies
in both.

An env a policy does not declare never reaches its rules (``unknown-env``), unless the
policy declares no envs at all and so accepts every env; ``accepted`` holds, per side,
the env atoms that reach the rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from dualgate.compiler.ir import EnvDecl, Policy
from dualgate.compiler.regions import Dimensions, EnvAtoms, RegionSpace
from dualgate.compiler.regions.env_atoms import ANY_ENV_WITNESS
from dualgate.compiler.regions.space import Progress

#: The witness env for "an env neither policy declares" when one of them declares envs.
UNDECLARED_ENV_WITNESS = "undeclared"


@dataclass(frozen=True)
class Side:
    """One policy over the joint atoms."""

    policy: Policy
    space: RegionSpace
    #: The env atoms whose requests reach the rules (the others are ``unknown-env``).
    accepted: int


class JointSpace:
    """Both policies' region spaces over shared atoms (see the module docstring)."""

    def __init__(self, base: Policy, head: Policy, progress: Progress | None = None) -> None:
        declared: dict[str, bool] = {}
        for policy in (base, head):
            for env in policy.envs:
                declared[env.name] = declared.get(env.name, False) or env.protected
        self.neither = _fresh_env(declared)
        decls = [EnvDecl(name=name, protected=protected) for name, protected in declared.items()]
        self.envs = EnvAtoms([*decls, EnvDecl(name=self.neither)])
        #: The atom of the envs neither policy declares.
        self.neither_atom = len(decls)
        self.dimensions = Dimensions.of((base, head), self.envs)
        self.base = self._side(base, progress)
        self.head = self._side(head, progress)

    def _side(self, policy: Policy, progress: Progress | None) -> Side:
        # Cells are computed by the sweep, only for the classes whose rules changed.
        space = RegionSpace(policy, progress, dimensions=self.dimensions, cells=False)
        accepted = (self.envs.condition_bits(policy.env_names, negated=False)
                    if policy.envs else self.envs.all_bits)
        return Side(policy, space, accepted)

    def env_name(self, atom: int) -> str | None:
        """The env an atom stands for; None for the envs neither policy declares."""
        return None if atom == self.neither_atom else self.envs.names[atom]

    def protected(self, atom: int) -> bool:
        """True when either policy marks the env protected."""
        return bool(self.envs.protected_bits >> atom & 1)


def _fresh_env(declared: dict[str, bool]) -> str:
    """A valid env name neither policy declares, readable in a witness."""
    stem = UNDECLARED_ENV_WITNESS if declared else ANY_ENV_WITNESS
    candidate, counter = stem, 0
    while candidate in declared:
        counter += 1
        candidate = f"{stem}{counter}"
    return candidate
