"""Loading a bundle: read, authenticate, validate, then serve decisions.

``load_bundle`` accepts a path, the bytes of a bundle file, or a parsed document. It
refuses (``BundleError``) anything that is not a bundle of a known format version, whose
content hash does not match its content, whose signature does not verify with the
configured public key (or that is unsigned while a key is configured), or whose
structure is unsound. What it returns decides every request without raising.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from dualgate.runtime.bundle_format import (
    CONTENT_HASH_KEY,
    CONTENT_KEY,
    SIGNATURE_KEY,
    content_hash,
    split_canonical,
)
from dualgate.runtime.errors import BundleError
from dualgate.runtime.evaluator import (
    DEFAULT_CIDR_CACHE_SIZE,
    DEFAULT_TOPIC_CACHE_SIZE,
    Evaluator,
)
from dualgate.runtime.fastjson import UNREAD, read_fast_large
from dualgate.runtime.validation import check_content, check_envelope, check_version
from dualgate.runtime.verdict import Verdict
from dualgate.runtime.vocabulary import FailMode, TierName

BundleSource = str | os.PathLike[str] | bytes | bytearray | Mapping[str, Any]


class Decide(Protocol):
    """The signature of ``Bundle.decide``."""

    def __call__(self, topic: object, env: object, cidr: object = None) -> Verdict: ...


@dataclass(frozen=True)
class TierInfo:
    """A declared tier as the bundle records it."""

    name: TierName
    fail_mode: FailMode
    patterns: tuple[str, ...]


class Bundle:
    """A loaded, verified bundle: its metadata and ``decide``.

    ``decide(topic, env, cidr=None)`` is the evaluator's own method, bound here so the
    hot path costs no extra call. ``document`` is the bundle document as read; when
    ``load_bundle`` read it from bytes or a file, its ``table.planes`` is the evaluator's
    ``array("i")`` of them (not a second copy as a list), which ``serialize`` writes as
    the list it holds and ``load_bundle`` accepts again. Treat ``document`` as read-only:
    those planes are the ones ``decide`` reads.
    """

    def __init__(self, document: dict[str, Any], evaluator: Evaluator, *,
                 verified_key: str | None) -> None:
        self.document = document
        self.content: dict[str, Any] = document[CONTENT_KEY]
        self.evaluator = evaluator
        self.decide: Decide = evaluator.decide
        #: The id of the public key whose signature was verified, or None.
        self.verified_key = verified_key

    @property
    def policy(self) -> str:
        return str(self.content["policy"])

    @property
    def content_hash(self) -> str:
        return str(self.document[CONTENT_HASH_KEY])

    @property
    def source_sha256(self) -> str:
        return str(self.content["source"]["sha256"])

    @property
    def signed(self) -> bool:
        return SIGNATURE_KEY in self.document

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(self.content["rules"]["id"])

    @property
    def tiers(self) -> tuple[TierInfo, ...]:
        return tuple(
            TierInfo(TierName(t["name"]), FailMode(t["fail_mode"]), tuple(t["patterns"]))
            for t in self.content["tiers"]
        )

    def fail_mode(self, tier: TierName) -> FailMode:
        """The effective fail mode of ``tier`` now (overrides applied)."""
        return self.evaluator.fail_mode(tier)

    def tier_of(self, topic: object) -> TierName | None:
        """The risk tier of ``topic``, None when it is no valid topic; never raises."""
        return self.evaluator.tier_of(topic)

    def __repr__(self) -> str:
        return f"<Bundle {self.policy} {self.content_hash[:12]}>"


def load_bundle(
    source: BundleSource,
    *,
    public_key: Any = None,
    clock: Callable[[], float] | None = None,
    topic_cache_size: int = DEFAULT_TOPIC_CACHE_SIZE,
    cidr_cache_size: int = DEFAULT_CIDR_CACHE_SIZE,
) -> Bundle:
    """Load and verify a bundle (see the module docstring); raises ``BundleError``.

    ``public_key`` (an Ed25519 public key object, PEM bytes or a PEM file path) makes a
    valid signature by that key mandatory. ``clock`` returns the current time in seconds
    since the epoch (default ``time.time``); it decides which overrides are active.
    The cache sizes bound how many distinct topics and cidrs the evaluator remembers.
    """
    key = None
    if public_key is not None:
        from dualgate.runtime.signatures import load_public_key

        key = load_public_key(public_key)
    options: dict[str, Any] = {"topic_cache_size": topic_cache_size,
                               "cidr_cache_size": cidr_cache_size}
    if clock is not None:
        options["clock"] = clock
    with _cyclic_gc_paused():
        data = _bytes_of(source)
        try:
            return _load(data, key, options, guarded=False)
        except _ReadAgainError:
            pass
        # orjson read the text unguarded and the bundle was refused: it may hold an
        # integer beyond 64 bits that orjson read as a float (which the checks refuse
        # anywhere) and json.loads reads exactly. Whatever the guarded read gives,
        # accepted or refused, is then what json.loads alone would give.
        return _load(data, key, options, guarded=True)


class _ReadAgainError(Exception):
    """A bundle read by orjson without the digit-run guard was refused: read it again."""


def _load(source: bytes | Mapping[str, Any], key: Any, options: dict[str, Any], *,
          guarded: bool) -> Bundle:
    """Read, authenticate and check ``source``, and build its evaluator.

    Raises ``BundleError``, or ``_ReadAgainError`` instead when orjson read the text
    without the guard (``guarded=False``): that refusal may be orjson's reading alone.
    """
    document, hashed, unguarded = _read(source, guarded)
    try:
        content = check_envelope(document)
        check_version(content)
        if hashed != document[CONTENT_HASH_KEY] and not isinstance(source, Mapping):
            # Content laid out otherwise than canonically: compare its canonical form.
            hashed = _hash_of_parsed(document)
        if hashed != document[CONTENT_HASH_KEY]:
            raise BundleError(
                "the content hash does not match the content: the bundle was modified "
                "after it was compiled"
            )
        verified_key = None
        if key is not None:
            from dualgate.runtime.signatures import key_id, verify_signature

            verify_signature(document, key)
            verified_key = key_id(key)
        networks = check_content(content)
    except BundleError:
        if unguarded:
            raise _ReadAgainError from None
        raise
    evaluator = Evaluator(content, document[CONTENT_HASH_KEY], networks=networks, **options)
    if not isinstance(source, Mapping):
        # The document read here shares the evaluator's array of the planes instead of
        # keeping the parsed list beside it: at 100,000 rules some 700,000 integer
        # objects, 24 MiB of the loaded bundle's memory. A caller's own document is left
        # as it was given.
        content["table"]["planes"] = evaluator.planes
    return Bundle(document, evaluator, verified_key=verified_key)


def _bytes_of(source: BundleSource) -> bytes | Mapping[str, Any]:
    """The bytes of a bundle file (read once), or the parsed document as given."""
    if isinstance(source, Mapping):
        return source
    if isinstance(source, str | os.PathLike):
        path = os.fspath(source)
        try:
            with open(path, "rb") as file:
                return file.read()
        except OSError as error:
            raise BundleError(f"cannot read bundle `{path}`: {error.strerror}") from None
    if not isinstance(source, bytes | bytearray):
        raise BundleError("a bundle is a path, the bytes of a bundle file or a parsed document")
    return bytes(source)


def _read(source: bytes | Mapping[str, Any], guarded: bool) -> tuple[Any, str | None, bool]:
    """The parsed document, the hash of its content (None when it has none), and whether
    orjson read it without the digit-run guard."""
    if isinstance(source, Mapping):
        document = dict(source)
        return document, _hash_of_parsed(document), False
    parts = split_canonical(source)
    if parts is not None:
        # The canonical layout: hash the content's bytes as they lie in the file.
        content_bytes, rest = parts
        document, _ = _json(rest, True)
        if isinstance(document, dict) and document.get(CONTENT_KEY) == 0:
            document[CONTENT_KEY], unguarded = _json(content_bytes, guarded)
            return document, hashlib.sha256(content_bytes).hexdigest(), unguarded
    document, unguarded = _json(source, guarded)
    return document, _hash_of_parsed(document), unguarded


def _hash_of_parsed(document: Any) -> str | None:
    content = document.get(CONTENT_KEY) if isinstance(document, dict) else None
    if not isinstance(content, dict):
        return None
    try:
        return content_hash(content)
    except (TypeError, ValueError, RecursionError):
        raise BundleError("the bundle holds values that are not JSON") from None


def _json(data: bytes | memoryview, guarded: bool) -> tuple[Any, bool]:
    """The parsed text, and whether orjson read it without the guard (see ``fastjson``)."""
    # orjson, when installed, parses a large bundle in about half the time (a view, as
    # well as bytes); the standard library reads whatever it would read differently, and
    # words every refusal.
    if not guarded:
        document = read_fast_large(data, guard=False)
        if document is not UNREAD:
            return document, True
        # orjson cannot read it (or is not installed): json.loads decides.
        data = bytes(data)  # the slower reads: a copy costs little beside them
    else:
        data = bytes(data)
        document = read_fast_large(data)
        if document is not UNREAD:
            return document, False
    try:
        # Decoded explicitly: `json.loads` on bytes would also accept UTF-16 and UTF-32.
        return json.loads(data.decode("utf-8")), False
    except UnicodeDecodeError:
        raise BundleError("the bundle is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise BundleError(
            f"the bundle is not JSON: {error.msg.lower()} at line {error.lineno} column "
            f"{error.colno}"
        ) from None
    except RecursionError:
        raise BundleError("the bundle is nested too deeply to be JSON a runtime reads") \
            from None


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a bundle is parsed and built.

    A large bundle is millions of acyclic objects; collections triggered while they are
    allocated rescan them all and made loading many times slower.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
