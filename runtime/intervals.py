"""The deepest of a set of networks containing a request, by one bisect.

Networks (CIDR blocks) are laminar: two are disjoint or one holds the other. Their
boundaries cut a family's address space into elementary intervals, in each of which
every address lies in the same networks, so the deepest network containing an address
is a property of its interval: ``columns[bisect_right(bounds, address)]``, one C-level
binary search instead of one lookup per distinct prefix length.

A request may also be a network: the networks containing it are those containing its
first address whose prefix is at most the request's (a block aligned to its size that
holds the first address of a smaller aligned block holds all of it), so the answer is
found from the first address's deepest network by walking to enclosing ones while
their prefix is longer than the request's (``NetworkIndex.column``).

Guarantee: ``NetworkIndex.column`` gives the column of the deepest listed network that
contains the request network, or the family's "outside" column when none does;
``tests/test_cold_path.py`` checks it against a scan of the networks.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

__all__ = ["Family", "NetworkIndex", "family", "network_index"]

#: One family's elementary intervals: ``bounds`` (ascending, from 0) and, one place
#: later (``columns[0]`` is unused), the column of each interval:
#: ``columns[bisect_right(bounds, a)]`` is that of the deepest network holding ``a``.
Family = tuple[list[int], list[int]]


def family(networks: Sequence[tuple[int, int, int]], outside: int, width: int,
           prefix_of: list[int], parent_of: list[int]) -> Family:
    """The intervals of distinct ``networks`` ((address, prefix, column) triples, in any
    order) in a family of ``width`` bits; addresses in none of them get ``outside``.
    Also records each network's prefix and enclosing column in ``prefix_of`` and
    ``parent_of``. One sort and one sweep: this runs when a class is first used."""
    if not networks:
        return [0], [outside, outside]
    top = 1 << width
    bounds = [0]
    columns = [outside, outside]
    # The networks holding the sweep's position, outermost first: (end, column).
    stack: list[tuple[int, int]] = []
    # By address, then widest first: a network comes after every network holding it.
    # Each step starts an interval at `position` with `column`: it replaces one that
    # starts there, and none is kept that has its predecessor's column.
    for address, prefix, column in [*sorted(networks), (top, 0, outside)]:
        while stack and stack[-1][0] < address:
            position = stack.pop()[0] + 1
            closing = stack[-1][1] if stack else outside
            if position >= top:
                continue
            if bounds[-1] == position:
                if len(bounds) > 1 and columns[-2] == closing:
                    bounds.pop()
                    columns.pop()
                else:
                    columns[-1] = closing
            elif columns[-1] != closing:
                bounds.append(position)
                columns.append(closing)
        if address >= top:
            break  # the sentinel, which closed every open network
        prefix_of[column] = prefix
        parent_of[column] = stack[-1][1] if stack else outside
        stack.append((address + (1 << (width - prefix)) - 1, column))
        if bounds[-1] == address:
            if len(bounds) > 1 and columns[-2] == column:
                bounds.pop()
                columns.pop()
            else:
                columns[-1] = column
        else:
            bounds.append(address)
            columns.append(column)
    return bounds, columns


class NetworkIndex:
    """The networks of one cidr layout, both families, ready for ``column``.

    ``prefix[c]`` and ``parent[c]`` are the prefix of column ``c``'s network and the
    column of the deepest listed network enclosing it (``outside`` columns have prefix
    -1, so a walk stops there).
    """

    __slots__ = ("parent", "prefix", "v4", "v6")

    def __init__(self, v4: Family, v6: Family, prefix: list[int], parent: list[int]) -> None:
        self.v4 = v4
        self.v6 = v6
        self.prefix = prefix
        self.parent = parent

    def column(self, version: int, address: int, length: int) -> int:
        """The column of a request network (see the module docstring)."""
        bounds, columns = self.v4 if version == 4 else self.v6
        column = columns[bisect_right(bounds, address)]
        prefix, parent = self.prefix, self.parent
        while prefix[column] > length:
            column = parent[column]
        return column


def network_index(v4: Sequence[tuple[int, int]], v6: Sequence[tuple[int, int]],
                  first_column: int, outside_v4: int, outside_v6: int) -> NetworkIndex:
    """The index of a layout: its distinct v4 networks ((address, prefix) pairs) take
    the columns from ``first_column`` in the order given, its v6 networks those after."""
    count = first_column + len(v4) + len(v6)
    prefix = [-1] * count
    parent = list(range(count))
    after = first_column + len(v4)
    return NetworkIndex(
        family([(a, p, c) for c, (a, p) in enumerate(v4, first_column)], outside_v4, 32,
               prefix, parent),
        family([(a, p, c) for c, (a, p) in enumerate(v6, after)], outside_v6, 128,
               prefix, parent),
        prefix, parent)
