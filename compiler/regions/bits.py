"""Sets of atoms as Python integers: bit ``i`` set means atom ``i`` is in the set.

Python's arbitrary-precision integers make union, intersection and complement single
C-level operations, which keeps the region engine fast without a dependency.
"""

from __future__ import annotations


def lowest_bit(bits: int) -> int:
    """The index of the lowest set bit of a non-empty bitset."""
    return (bits & -bits).bit_length() - 1


def bit_indices(bits: int) -> list[int]:
    """The indices of the set bits, ascending."""
    indices = []
    while bits:
        low = bits & -bits
        indices.append(low.bit_length() - 1)
        bits ^= low
    return indices
