"""The bundle format: what the compiler writes and the runtime loads, defined once.

A bundle is one JSON document (``schemas/bundle.schema.json`` describes it) with three
keys: ``content`` (everything the runtime uses), ``content_sha256`` (the SHA-256 of the
content's canonical form: keys sorted, no insignificant whitespace, UTF-8) and,
optionally, ``signature`` (Ed25519 over ``signing_message(content_sha256)``).

A bundle file is the canonical form of the whole document plus a newline. Keys sort
``content`` first, so the file starts with ``{"content":`` followed by the content's
canonical bytes: the runtime hashes those bytes as they lie in the file instead of
serializing the parsed content again (``split_canonical``), which keeps loading a large
bundle fast. A document in any other layout is still accepted when its re-serialized
content matches the hash.
"""

from __future__ import annotations

import hashlib
import json
import re
from array import array
from collections.abc import Mapping
from typing import Any

#: The value of ``content.format``: what kind of document this is.
FORMAT_NAME = "dualgate-bundle"
#: The version of the layout below. A runtime refuses versions it does not know.
FORMAT_VERSION = 4

#: A bundle file starts with `{"content":` (or another envelope key, when not canonical)
#: and names its format near the start; no policy (DSL or YAML) starts so and holds it.
_BUNDLE_START = re.compile(rb'\A\s*\{\s*"(?:content|content_sha256|signature)"\s*:')
_BUNDLE_FORMAT = re.compile(rb'"format"\s*:\s*"' + FORMAT_NAME.encode() + rb'"')


def looks_like_bundle(data: bytes) -> bool:
    """True when ``data`` is laid out as a bundle document, whatever the file is called
    (a cheap look at its first 4 KB, for telling bundles from policies)."""
    return _BUNDLE_START.match(data) is not None and \
        _BUNDLE_FORMAT.search(data, 0, 4096) is not None


CONTENT_KEY = "content"
CONTENT_HASH_KEY = "content_sha256"
SIGNATURE_KEY = "signature"

SIGNATURE_ALGORITHM = "ed25519"
#: Signatures cover this prefix and the content hash, so that a signature made for
#: something else (another format, another purpose) can never pass as a bundle's.
_SIGNING_PREFIX = b"dualgate-bundle-signature-v1\n"

#: Table columns every cidr layout has before its networks.
COLUMN_ABSENT = 0
COLUMN_OUTSIDE_V4 = 1
COLUMN_OUTSIDE_V6 = 2
FIRST_NETWORK_COLUMN = 3

#: A plane entry for "no rule matched": the default decision applies.
DEFAULT_ENTRY = -1

# The content, for the record (the loader checks all of it):
#
#   rules            columns, one entry per rule in evaluation order: id, decision,
#                    reason (or null), line and column (where the rule starts, 1-based,
#                    both null when unknown; version 2 wrote a [line, column] pair per
#                    rule, or null, as location) and conditions (as written in the
#                    canonical layout, joined by " and ": `topic a.*, b and env not dev
#                    and cidr in 10.0.0.0/8`; "" for a rule without conditions)
#   table.topics     the topic automaton: from state 0, a segment leads to
#                    transitions[next[s]][segment] if listed, else to other[s]; class[s]
#                    is the class of the topics that end in s (-1: none can, only the
#                    start state); exact[topic] is the class of each topic the policy
#                    writes literally (what the walk gives). transitions lists each
#                    distinct map of literal edges once, in the order of the first state
#                    using it: most states of a large policy share one with others.
#                    (Version 2 wrote every state's map in place as next[s]: 3 stores
#                    each once, a third of the maps to parse and check at 100,000 rules.)
#   table.classes    columns, one entry per class: tier (the risk tier of its topics),
#                    layout (the index of its layout) and plane (where its plane starts in
#                    table.planes; it has one entry per env, or one without envs, times the
#                    columns of its layout). (Version 2 wrote a [tier, layout, plane]
#                    triple per class, and each plane as a list of its own.)
#   table.networks   every distinct network of the rules' cidr conditions, once, v4 first,
#                    each family by address then prefix
#   table.layouts    [network index, ...], ascending: the networks that matter to the
#                    classes using it; a request's column is that of the deepest listed
#                    network containing it (the i-th listed has column
#                    FIRST_NETWORK_COLUMN + i, so v4 first), else COLUMN_OUTSIDE_V4 /
#                    COLUMN_OUTSIDE_V6, or COLUMN_ABSENT without a cidr. (Version 1 wrote
#                    each layout's network texts in place: 2 stores each network once.)
#   table.planes     every plane, one after another in one list; a plane is row-major
#                    env x column: the index of the deciding rule, or DEFAULT_ENTRY
#   table.tier_entries  {"high": [...], "medium": [...], "low": [...]}: the entries the
#                    planes of each tier's classes hold, ascending, so that the runtime
#                    makes those verdicts at load instead of on a request's first use.
#                    A hint, which decides nothing: a verdict it misses is made on first
#                    use, one it names needlessly is made for nothing. (New in version 4.)

_PREFIX = b'{"' + CONTENT_KEY.encode() + b'":'
_SUFFIX = re.compile(
    rb',"' + CONTENT_HASH_KEY.encode() + rb'":"[0-9a-f]{64}"(,"' + SIGNATURE_KEY.encode()
    + rb'":\{[^{}]*\})?\}\n?\Z'
)


def class_count(table: Mapping[str, Any]) -> int:
    """The number of topic classes of a bundle's ``table`` (one per entry of its columns)."""
    return len(table["classes"]["tier"])


def plane_count(table: Mapping[str, Any]) -> int:
    """The number of distinct planes of a bundle's ``table`` (the starts its classes name)."""
    return len(set(table["classes"]["plane"]))


def canonical_bytes(value: Any) -> bytes:
    """The canonical form of a JSON value: sorted keys, compact separators, UTF-8. An
    ``array`` of integers (a loaded bundle's ``table.planes``) is written as the list
    it holds, so a loaded document serializes to the bytes it was read from."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
        default=_as_json,
    ).encode("utf-8")


def _as_json(value: object) -> list[int]:
    """What ``json.dumps`` writes for a value it cannot write itself: an array's list."""
    if isinstance(value, array):
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def content_hash(content: Mapping[str, Any]) -> str:
    """The hex SHA-256 of the canonical form of a bundle's content."""
    return hashlib.sha256(canonical_bytes(content)).hexdigest()


def envelope(content: Mapping[str, Any]) -> dict[str, Any]:
    """An unsigned bundle document around ``content``."""
    return {CONTENT_KEY: dict(content), CONTENT_HASH_KEY: content_hash(content)}


def signing_message(content_sha256: str) -> bytes:
    """The bytes an Ed25519 bundle signature signs."""
    return _SIGNING_PREFIX + content_sha256.encode("ascii")


def serialize(document: Mapping[str, Any]) -> bytes:
    """The bytes of a bundle file: the canonical form and a newline."""
    return canonical_bytes(document) + b"\n"


def split_canonical(data: bytes) -> tuple[memoryview, bytes] | None:
    """For a file laid out as ``serialize`` writes it: the content's bytes (a view into
    ``data``: megabytes not copied), and the rest of the document with the content
    replaced by ``0``; None for any other layout.

    The envelope after the content is tiny and of a fixed shape, so it is found from the
    end of the file; whatever the content holds cannot move that boundary.
    """
    if not data.startswith(_PREFIX):
        return None
    match = _SUFFIX.search(data, max(len(_PREFIX), len(data) - 512))
    if match is None:
        return None
    return (memoryview(data)[len(_PREFIX):match.start()],
            _PREFIX + b"0" + data[match.start():])
