"""The cidr dimension: request networks sorted by their deepest containing policy network.

Atoms (docs/design.md, "Analysis"): "absent" (the request carries no cidr); for each distinct
network ``N`` of the policy, the request networks whose deepest containing policy network
is ``N`` (``N`` itself is one, so the atom is never empty); and per address family the
request networks inside no policy network (empty when the policy names that family's
``/0``). A condition ``cidr in N1, ...`` holds on an atom exactly when the atom's network
lies inside one of the ``Ni``: the policy networks containing a request form a chain, and
the deepest one is inside ``Ni`` exactly when ``Ni`` is on that chain.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from dualgate.compiler.networks import Network

_EVERYTHING: dict[int, Network] = {
    4: ipaddress.IPv4Network("0.0.0.0/0"), 6: ipaddress.IPv6Network("::/0"),
}

#: Readable witnesses tried first for "in no policy network" (documentation ranges).
_UNCOVERED_CANDIDATES = {
    4: ("192.0.2.1/32", "198.51.100.1/32", "203.0.113.1/32", "0.0.0.0/0"),
    6: ("2001:db8::1/128", "3fff::1/128", "::/0"),
}


@dataclass(frozen=True)
class CidrAtom:
    """One class of request networks (or the absent cidr)."""

    #: The deepest policy network containing the class; None for "absent" and "uncovered".
    network: Network | None
    #: 4 or 6; None for "absent".
    family: int | None
    #: A request cidr in the class, as written in a request; None means "no cidr".
    witness: str | None

    @property
    def absent(self) -> bool:
        return self.family is None


class CidrAtoms:
    """The cidr atoms of a set of policy networks, and conditions as atom bitsets.

    Bit ``i`` of a bitset stands for ``atoms[i]``. Atom 0 is "absent".
    """

    def __init__(self, networks: Iterable[Network]) -> None:
        distinct = sorted(set(networks), key=lambda n: (n.version, int(n.network_address),
                                                         n.prefixlen))
        self._index: dict[Network, int] = {}
        atoms: list[CidrAtom] = [CidrAtom(None, None, None)]
        for family in (4, 6):
            family_networks = [n for n in distinct if n.version == family]
            for network in family_networks:
                self._index[network] = len(atoms)
                atoms.append(CidrAtom(network, family, _request_text(network)))
            uncovered = _uncovered_witness(family, family_networks)
            if uncovered is not None:
                atoms.append(CidrAtom(None, family, uncovered))
        self.atoms: tuple[CidrAtom, ...] = tuple(atoms)
        outside = {atom.family: i for i, atom in enumerate(atoms)
                   if atom.network is None and atom.family is not None}
        self._everything: dict[int, int] = {
            family: self._index.get(_EVERYTHING[family], outside.get(family, -1))
            for family in (4, 6)
        }
        self.all_bits = (1 << len(atoms)) - 1
        self._inside = self._inside_bits(distinct)

    def _inside_bits(self, networks: list[Network]) -> dict[Network, int]:
        """For each policy network, the bitset of the atoms whose network lies inside it."""
        present = {(n.version, n.prefixlen, int(n.network_address)) for n in networks}
        lengths = {family: sorted({n.prefixlen for n in networks if n.version == family})
                   for family in (4, 6)}
        inside = {n: 1 << self._index[n] for n in networks}
        for network in networks:
            bit = 1 << self._index[network]
            address, width = int(network.network_address), network.max_prefixlen
            for length in lengths[network.version]:
                if length >= network.prefixlen:
                    break
                mask = ((1 << length) - 1) << (width - length) if length else 0
                key = (network.version, length, address & mask)
                if key in present:
                    ancestor = type(network)((address & mask, length))
                    inside[ancestor] |= bit
        return inside

    def index_of(self, network: Network) -> int:
        """The atom whose network is the policy network ``network``."""
        return self._index[network]

    def atom_of_everything(self, family: int) -> int:
        """The atom of the request ``0.0.0.0/0`` (family 4) or ``::/0`` (family 6).

        That request lies inside no policy network but the family's ``/0``, so its atom
        is the ``/0``'s when the policy names it and "in no policy network" otherwise.
        """
        return self._everything[family]

    def condition_bits(self, networks: Iterable[Network], negated: bool) -> int:
        """The atoms on which ``cidr [not] in networks`` holds."""
        bits = 0
        for network in networks:
            bits |= self._inside[network]
        return self.all_bits & ~bits if negated else bits

    def atom_of(self, request: Network | None) -> int:
        """The atom of a (normalized) request network, or of the absent cidr."""
        if request is None:
            return 0
        best: int | None = None
        best_length = -1
        for network, index in self._index.items():
            if (network.version == request.version and network.prefixlen > best_length
                    and request.subnet_of(network)):  # type: ignore[arg-type]
                best, best_length = index, network.prefixlen
        if best is not None:
            return best
        return next(i for i, atom in enumerate(self.atoms)
                    if atom.network is None and atom.family == request.version)


def _request_text(network: Network) -> str:
    """How a request writes ``network``: a bare address for a single host."""
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


def _uncovered_witness(family: int, networks: list[Network]) -> str | None:
    """A request network of ``family`` inside no policy network, or None if none exists."""
    for text in _UNCOVERED_CANDIDATES[family]:
        candidate = ipaddress.ip_network(text)
        if not any(candidate.subnet_of(n) for n in networks):  # type: ignore[arg-type]
            return _request_text(candidate)
    return None
