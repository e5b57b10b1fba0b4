"""The deepest of a bundle's networks containing a request, by one bisect.

Networks (CIDR blocks) are laminar: two are disjoint or one holds the other. Their
boundaries cut a family's address space into elementary intervals, in each of which
every address lies in the same networks, so the deepest network containing an address
is a property of its interval: ``deepest[bisect_right(bounds, address)]``, one C-level
binary search instead of one lookup per distinct prefix length.

One index serves a whole bundle: it holds every network of ``table.networks`` and is
built once, at load. A topic class needs the deepest network of its *layout* (a subset,
listed by network number): every network holding the request lies on the chain from the
deepest one overall to its enclosing networks, so the class's is the first of that chain
its layout lists (``column_in``). Numbered as ``table.networks`` orders them (by family,
address, then prefix), a network comes after every network holding it, and the networks
inside it follow it without a gap. So the largest listed number ``m`` at most the
chain's current network ``n`` is the only listed network that can be ``n`` or hold it
without a listed network in between: one bisect in ``n``'s chain of enclosing networks
(``NetworkIndex.chain``, ascending) skips every one above ``m`` (none is listed), and
the layout is bisected again only if the chain passes ``m``, which then did not hold the
request. Nothing is built per class, and each round passes a listed network, at most one
per prefix length on the chain, whatever the number of rules.

A request may also be a network: the networks containing it are those containing its
first address whose prefix is at most the request's (a block aligned to its size that
holds the first address of a smaller aligned block holds all of it), so the chain starts
at the first address's deepest network and skips enclosing ones while their prefix is
longer than the request's (``NetworkIndex.deepest``).

An IPv4 bisect does not search all the bounds: the address's top bits pick a block (a
power-of-two aligned range of addresses, at least a /16: some four blocks per bound,
at most 65,536 of them) and ``v4_starts`` the bounds below its first and past its last
address, between which the bisect searches. A block holds few bounds even where the
networks crowd (a 100,000-rule policy's 8,500 bounds in 1,300 /16s: a few probes instead
of fourteen, each a likely cache miss); the table is a list of one int a block, built
by one counting pass.

Guarantee: ``column_in(layout, index.deepest(...), ...)`` is the column of the deepest
network of the layout that contains the request network, or the family's "outside"
column when none does; ``tests/test_cold_path.py`` checks it against a scan.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate

__all__ = ["OUTSIDE", "Family", "NetworkIndex", "block_starts", "column_in", "family",
           "network_index"]

#: The network index of "in no network" (the chain's end).
OUTSIDE = -1

#: One family's elementary intervals: ``bounds`` (ascending, from 0) and, one place
#: later (``deepest[0]`` is unused), the index of the deepest network of each interval:
#: ``deepest[bisect_right(bounds, a)]`` is that of the deepest network holding ``a``.
Family = tuple[list[int], list[int]]


def family(networks: Sequence[tuple[int, int, int]], outside: int, width: int,
           prefix_of: list[int], parent_of: list[int]) -> Family:
    """The intervals of distinct ``networks`` ((address, prefix, number) triples, in any
    order) in a family of ``width`` bits; addresses in none of them get ``outside``.
    Also records each network's prefix and the number of the network enclosing it
    (``outside`` for none) in ``prefix_of`` and ``parent_of``. One sort and one sweep."""
    if not networks:
        return [0], [outside, outside]
    top = 1 << width
    bounds = [0]
    deepest = [outside, outside]
    # The networks holding the sweep's position, outermost first: (end, number).
    stack: list[tuple[int, int]] = []
    # By address, then widest first: a network comes after every network holding it.
    # Each step starts an interval at `position` with `number`: it replaces one that
    # starts there, and none is kept that has its predecessor's number.
    for address, prefix, number in [*sorted(networks), (top, 0, outside)]:
        while stack and stack[-1][0] < address:
            position = stack.pop()[0] + 1
            closing = stack[-1][1] if stack else outside
            if position >= top:
                continue
            if bounds[-1] == position:
                if len(bounds) > 1 and deepest[-2] == closing:
                    bounds.pop()
                    deepest.pop()
                else:
                    deepest[-1] = closing
            elif deepest[-1] != closing:
                bounds.append(position)
                deepest.append(closing)
        if address >= top:
            break  # the sentinel, which closed every open network
        prefix_of[number] = prefix
        parent_of[number] = stack[-1][1] if stack else outside
        stack.append((address + (1 << (width - prefix)) - 1, number))
        if bounds[-1] == address:
            if len(bounds) > 1 and deepest[-2] == number:
                bounds.pop()
                deepest.pop()
            else:
                deepest[-1] = number
        else:
            bounds.append(address)
            deepest.append(number)
    return bounds, deepest


#: The narrowest IPv4 block (a /16: 65,536 blocks at most) and blocks per bound.
_WIDEST_V4_BLOCKS = 16
_BLOCKS_PER_BOUND = 4


def block_starts(bounds: list[int], width: int,
                 widest: int = _WIDEST_V4_BLOCKS) -> tuple[int, list[int]]:
    """(``shift``, ``starts``) for ascending ``bounds`` of a ``width``-bit family: blocks
    of ``1 << shift`` addresses, about ``_BLOCKS_PER_BOUND`` per bound but at most
    ``1 << widest``, and ``starts[b]``, the number of bounds below block ``b``'s first
    address (``b`` up to the block count, inclusive). So for an address ``a`` of block
    ``b = a >> shift``, ``bisect_right(bounds, a) == bisect_right(bounds, a, starts[b],
    starts[b + 1])``: the bounds at most ``a`` are those below block ``b`` and some of
    block ``b``'s own."""
    bits = min(widest, width, (_BLOCKS_PER_BOUND * len(bounds)).bit_length())
    shift = width - bits
    counts = [0] * ((1 << bits) + 1)
    for bound in bounds:
        counts[(bound >> shift) + 1] += 1
    # One shared int a count (at most one a bound) instead of one a block: at 100,000
    # rules 8,500 objects instead of 65,536 (2.5 MiB), fewer lines for requests to miss.
    shared = list(range(len(bounds) + 1))
    return shift, list(map(shared.__getitem__, accumulate(counts)))


class NetworkIndex:
    """Every network of a bundle, both families, ready for ``deepest``.

    ``prefix[n]`` and ``parent[n]`` are network ``n``'s prefix and the number of the
    deepest network enclosing it (``OUTSIDE`` for none). ``v4_shift`` and ``v4_starts``
    narrow an IPv4 bisect to the address's block (``block_starts``). ``chain[n]`` is the
    tuple of ``n`` and the networks enclosing it, outermost first: ascending numbers when
    the networks are in ``table.networks`` order (a network before its subnets), so one
    bisect finds the deepest of them numbered up to any bound.
    """

    __slots__ = ("chain", "parent", "prefix", "v4_bounds", "v4_deepest", "v4_shift",
                 "v4_starts", "v6_bounds", "v6_deepest")

    def __init__(self, v4: Family, v6: Family, prefix: list[int], parent: list[int]) -> None:
        self.v4_bounds, self.v4_deepest = v4
        self.v4_shift, self.v4_starts = block_starts(self.v4_bounds, 32)
        self.v6_bounds, self.v6_deepest = v6
        self.prefix = prefix
        self.parent = parent
        self.chain = _chains(parent)

    def deepest_v4(self, address: int) -> int:
        """The deepest network holding the IPv4 ``address``, or ``OUTSIDE`` (what
        ``Evaluator.decide`` does inline)."""
        block, starts = address >> self.v4_shift, self.v4_starts
        return self.v4_deepest[bisect_right(self.v4_bounds, address, starts[block],
                                            starts[block + 1])]

    def deepest(self, version: int, address: int, length: int) -> int:
        """The deepest network holding the request network (``version``, first
        ``address``, prefix ``length``), or ``OUTSIDE`` (see the module docstring)."""
        if version == 4:
            network = self.deepest_v4(address)
        else:
            network = self.v6_deepest[bisect_right(self.v6_bounds, address)]
        prefix, parent = self.prefix, self.parent
        while network != OUTSIDE and prefix[network] > length:
            network = parent[network]
        return network


def network_index(networks: Sequence[tuple[int, int, int]]) -> NetworkIndex:
    """The index of distinct ``networks`` ((version, address, prefix) triples, as
    ``parse_network`` gives them): network ``n`` is ``networks[n]``."""
    prefix = [0] * len(networks)
    parent = [OUTSIDE] * len(networks)
    v4 = [(a, p, n) for n, (v, a, p) in enumerate(networks) if v == 4]
    v6 = [(a, p, n) for n, (v, a, p) in enumerate(networks) if v == 6]
    return NetworkIndex(family(v4, OUTSIDE, 32, prefix, parent),
                        family(v6, OUTSIDE, 128, prefix, parent), prefix, parent)


def _chains(parent: list[int]) -> list[tuple[int, ...]]:
    """Each network's chain (``NetworkIndex.chain``), each made from its parent's once:
    at most 33 (IPv4) or 129 (IPv6) numbers a network."""
    chains: list[tuple[int, ...] | None] = [None] * len(parent)
    for number in range(len(parent)):
        unknown = []  # `number` and the networks enclosing it whose chain is not made yet
        network = number
        while network != OUTSIDE and chains[network] is None:
            unknown.append(network)
            network = parent[network]
        chain = () if network == OUTSIDE else chains[network]
        for network in reversed(unknown):
            chain = chains[network] = (*chain, network)  # type: ignore[misc]
    return chains  # type: ignore[return-value]  # no None is left


def column_in(layout: Sequence[int], network: int, chains: Sequence[Sequence[int]],
              first_column: int, outside: int) -> int:
    """The column of the first of ``network`` and its enclosing networks that ``layout``
    lists (ascending numbers of networks numbered as ``table.networks`` orders them; the
    i-th in column ``first_column + i``), or ``outside`` when it lists none of them.
    ``chains`` is ``NetworkIndex.chain``: the walk up the enclosing networks is a bisect
    in the network's chain, once for each listed network that is not on it."""
    if network == OUTSIDE:
        return outside
    chain = chains[network]
    while True:
        at = bisect_right(layout, network) - 1
        if at < 0:
            return outside
        listed = layout[at]
        # The deepest of the chain numbered up to `listed`: the enclosing networks
        # numbered above it are not in the layout.
        up = bisect_right(chain, listed) - 1
        if up < 0:
            return outside
        network = chain[up]
        if network == listed:
            return first_column + at
