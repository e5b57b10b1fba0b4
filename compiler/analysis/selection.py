"""``--select`` / ``--ignore``: which findings a run reports.

Items are codes (``DG202``), names (``shadowed-rule``) or code prefixes (``DG2``,
``DG30``), as in ruff. Only findings that depend on a valid policy can be chosen: the
analysis codes (DG2xx, DG3xx) and the suppression codes (DG03x). Input, syntax and
semantic errors are reported whenever they occur, since nothing can be analyzed
past them.
"""

from __future__ import annotations

from collections.abc import Iterable

from dualgate.compiler.analysis.passes import ANALYSIS_CODES
from dualgate.compiler.codes import CODES, CODES_BY_NAME, Code

#: Codes a suppression comment may name.
SUPPRESSIBLE: frozenset[Code] = ANALYSIS_CODES
#: Codes ``--select`` and ``--ignore`` may name.
SELECTABLE: frozenset[Code] = ANALYSIS_CODES | {
    CODES_BY_NAME["invalid-suppression"], CODES_BY_NAME["unused-suppression"]
}


class SelectionError(ValueError):
    """An item of ``--select`` or ``--ignore`` that names no selectable code."""


def resolve_selection(select: Iterable[str] = (), ignore: Iterable[str] = ()) -> frozenset[Code]:
    """The selectable codes chosen by ``select`` (default: all) minus those in ``ignore``."""
    chosen = set(SELECTABLE)
    selected = [_expand(item, "select") for item in select]
    if selected:
        chosen = set().union(*selected)
    for item in ignore:
        chosen -= _expand(item, "ignore")
    return frozenset(chosen)


def _expand(item: str, option: str) -> set[Code]:
    key = item.strip()
    if key.upper() == "ALL":
        return set(SELECTABLE)
    by_name = CODES_BY_NAME.get(key.lower())
    matched = {by_name} if by_name else {c for c in CODES.values()
                                         if c.code.startswith(key.upper()) and key}
    if not matched:
        raise SelectionError(f"`{item}` is no diagnostic code, name or code prefix")
    choosable = matched & SELECTABLE
    if not choosable:
        code = sorted(matched, key=lambda c: c.code)[0]
        raise SelectionError(
            f"`{item}` cannot be given to --{option}: {code.code} ({code.name}) is reported "
            "whenever it occurs; only analysis codes (DG2xx, DG3xx) and DG03x can be chosen"
        )
    return choosable
