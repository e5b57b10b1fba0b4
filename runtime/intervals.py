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
without a listed network in between: the walk skips every enclosing network above ``m``
(none is listed) by plain comparisons, and bisects again only if it passes ``m``, which
then did not hold the request. Nothing is built per class, and the walk is at most one
step per prefix length, whatever the number of rules.

A request may also be a network: the networks containing it are those containing its
first address whose prefix is at most the request's (a block aligned to its size that
holds the first address of a smaller aligned block holds all of it), so the chain starts
at the first address's deepest network and skips enclosing ones while their prefix is
longer than the request's (``NetworkIndex.deepest``).

Guarantee: ``column_in(layout, index.deepest(...), ...)`` is the column of the deepest
network of the layout that contains the request network, or the family's "outside"
column when none does; ``tests/test_cold_path.py`` checks it against a scan.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

__all__ = ["OUTSIDE", "Family", "NetworkIndex", "column_in", "family", "network_index"]

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


class NetworkIndex:
    """Every network of a bundle, both families, ready for ``deepest``.

    ``prefix[n]`` and ``parent[n]`` are network ``n``'s prefix and the number of the
    deepest network enclosing it (``OUTSIDE`` for none).
    """

    __slots__ = ("parent", "prefix", "v4_bounds", "v4_deepest", "v6_bounds", "v6_deepest")

    def __init__(self, v4: Family, v6: Family, prefix: list[int], parent: list[int]) -> None:
        self.v4_bounds, self.v4_deepest = v4
        self.v6_bounds, self.v6_deepest = v6
        self.prefix = prefix
        self.parent = parent

    def deepest(self, version: int, address: int, length: int) -> int:
        """The deepest network holding the request network (``version``, first
        ``address``, prefix ``length``), or ``OUTSIDE`` (see the module docstring)."""
        if version == 4:
            network = self.v4_deepest[bisect_right(self.v4_bounds, address)]
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


def column_in(layout: list[int], network: int, parent: list[int], first_column: int,
              outside: int) -> int:
    """The column of the first of ``network`` and its enclosing networks that ``layout``
    lists (ascending numbers of networks numbered as ``table.networks`` orders them; the
    i-th in column ``first_column + i``), or ``outside`` when it lists none of them."""
    while network != OUTSIDE:
        at = bisect_right(layout, network) - 1
        if at < 0:
            break
        listed = layout[at]
        # Enclosing networks numbered above `listed` are not in the layout: skip them.
        while network > listed:
            network = parent[network]
        if network == listed:
            return first_column + at
    return outside
