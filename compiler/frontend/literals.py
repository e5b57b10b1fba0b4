"""The DSL's quoted strings: the value a STRING literal stands for.

Apart from the parse-tree transformer so that the direct reader uses it without
importing Lark (`lint` of a valid policy never imports it).
"""

from __future__ import annotations

_ESCAPES = {'\\"': '"', "\\\\": "\\", "\\n": "\n", "\\t": "\t"}


def decode_string(literal: str) -> str:
    """The value of a quoted STRING token (the grammar only admits the escapes handled here)."""
    body = literal[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        pair = body[i : i + 2]
        if pair in _ESCAPES:
            out.append(_ESCAPES[pair])
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)
