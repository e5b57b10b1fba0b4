"""JSON read with orjson when it is installed, giving exactly what ``json.loads`` gives.

orjson parses several times faster than the standard library, but the two differ at the
edges: orjson refuses ``NaN``, ``Infinity``, lone surrogate escapes and nesting deeper
than 1,024 (which ``json.loads`` reads, or refuses in its own words), and it reads an
integer beyond 64 bits as a float (which ``json.loads`` reads exactly). Everything else,
strings and every other number, both read alike. So orjson's value is used only when it
cannot hold such a float, and otherwise the functions here return ``UNREAD``, for the
caller to read the text with ``json.loads``, which then decides and words the outcome:
a caller's results never depend on whether orjson is installed, only its speed does.

- ``read_fast`` (small documents: a request line, a request body) checks the value:
  without a float anywhere in it, every number was an integer orjson read exactly;
- ``read_fast_large`` (a bundle of megabytes, which holds no floats) checks the bytes
  first: without a run of 19 digits (2**63 has 19) there is no integer beyond 64 bits.
  With ``guard=False`` it skips that check (a pass over every byte) for a caller that
  refuses any float in the value and then reads the text again with the guard: such a
  caller accepts only values without a float, which both parsers read alike (the bundle
  loader does this: its checks refuse a float anywhere in a bundle).

The runtime imports this module without needing orjson.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

#: What the readers return when the text must be read by ``json.loads`` instead.
UNREAD: Final = object()

_orjson_loads: Callable[[bytes | memoryview], Any] | None
try:
    from orjson import loads as _orjson_loads
except ImportError:  # the runtime's own dependencies do not include orjson
    _orjson_loads = None

#: Whether orjson is installed (without it, the readers always return ``UNREAD``).
AVAILABLE: Final = _orjson_loads is not None

#: Types of values that hold no float (a container is looked into).
_SCALARS = frozenset({str, int, bool, type(None)})
#: Digits kept (as ``0``), every other byte a space: a long run of digits is then found
#: by a substring search, at C speed even in megabytes.
_DIGITS_ONLY = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_RUN = b"0" * 19


def read_fast(data: bytes) -> Any:
    """``data`` parsed by orjson where that equals ``json.loads(data.decode("utf-8"))``,
    else ``UNREAD``. Never raises."""
    if _orjson_loads is None:
        return UNREAD
    try:
        value = _orjson_loads(data)
    except ValueError:  # orjson.JSONDecodeError, invalid UTF-8 included
        return UNREAD
    try:
        return UNREAD if _holds_float(value) else value
    except RecursionError:  # nested deeper than Python recurses: json.loads decides
        return UNREAD


def read_fast_large(data: bytes | memoryview, *, guard: bool = True) -> Any:
    """As ``read_fast``, for a large document with few floats: its bytes are searched for
    a run of digits before parsing, instead of the value walked after.

    With ``guard=False`` the bytes are not searched: the value may then hold a float
    where ``json.loads`` reads an integer beyond 64 bits, and is what ``json.loads`` gives
    only if it holds no float at all (the caller checks). Never raises."""
    # (`bytes` of bytes is the same object; of a view, a copy.)
    if _orjson_loads is None or (guard and _LONG_RUN in bytes(data).translate(_DIGITS_ONLY)):
        return UNREAD
    try:
        return _orjson_loads(data)
    except ValueError:
        return UNREAD


def _holds_float(value: Any) -> bool:
    kind = type(value)
    if kind is dict:
        values = value.values()
    elif kind is list:
        values = value
    else:
        return kind is float
    # The common case, a container of scalars, is decided by one pass in C.
    if set(map(type, values)) <= _SCALARS:
        return False
    return any(_holds_float(item) for item in values)
