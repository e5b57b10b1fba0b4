"""JSON read with orjson when it is installed, giving exactly what ``json.loads`` gives.

orjson parses several times faster than the standard library, but the two differ at the
edges: orjson refuses ``NaN``, ``Infinity``, lone surrogate escapes and nesting deeper
than 1,024 (which ``json.loads`` reads or refuses with its own words), and it reads an
integer beyond 64 bits as a float (which ``json.loads`` reads exactly). ``read_fast``
therefore returns orjson's value only for text orjson accepts and that holds no run of 19
or more digits (every integer orjson could turn into a float has one); for anything else
it returns ``UNREAD`` and the caller reads the text with ``json.loads``, which then decides
and words the outcome. So a caller's results never depend on whether orjson is installed:
only its speed does. The runtime imports this module without needing orjson.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

#: What ``read_fast`` returns when the text must be read by ``json.loads`` instead.
UNREAD: Final = object()
#: A run of digits long enough to hold an integer beyond 64 bits (2**63 has 19 digits).
_LONG_DIGITS = re.compile(rb"[0-9]{19}")

_orjson_loads: Callable[[bytes], Any] | None
try:
    from orjson import loads as _orjson_loads
except ImportError:  # the runtime's own dependencies do not include orjson
    _orjson_loads = None

#: Whether orjson is installed (``read_fast`` then always returns ``UNREAD``).
AVAILABLE: Final = _orjson_loads is not None


def read_fast(data: bytes) -> Any:
    """``data`` parsed by orjson where that equals ``json.loads(data.decode("utf-8"))``,
    else ``UNREAD``. Never raises."""
    if _orjson_loads is None or _LONG_DIGITS.search(data) is not None:
        return UNREAD
    try:
        return _orjson_loads(data)
    except ValueError:  # orjson.JSONDecodeError, invalid UTF-8 included
        return UNREAD
