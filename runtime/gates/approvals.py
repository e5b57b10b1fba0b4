"""Approvals bound to a policy snapshot and a job: Ed25519-signed, short-lived, used once.

When a gate holds a job for a person (``require_human``) it hands out an
``ApprovalRequest``: the job id and a ``Binding`` of the job hash, the content hash of
the bundle that decided, the deciding rule, the topic and the env. An approver's tool
signs it (``sign_approval``) with the approver's Ed25519 private key into an
``ApprovalToken`` that names the approver, the signing key, an expiry and a unique token
id. The signature covers all of it (``dualgate-approval-v1\\n`` + the canonical JSON of
the payload), so no field can be changed, and a signature made for anything else, a
bundle included, can never pass as an approval.

``ApprovalVerifier.verify`` checks a token against the approvers' public keys and the
clock; the dispatch gate then compares its binding with what the current bundle decides
and claims it in a ``UsedTokens`` store, so each token admits its job once.
``cryptography`` is imported only when a token is signed or verified.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from dualgate.runtime.bundle_format import canonical_bytes
from dualgate.runtime.errors import BundleError
from dualgate.runtime.signatures import key_id, load_public_key
from dualgate.runtime.validation import parse_timestamp

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

TOKEN_VERSION = 1
_SIGNING_PREFIX = b"dualgate-approval-v1\n"
#: Longest accepted encoded token; anything longer is malformed without being parsed.
MAX_TOKEN_LENGTH = 8192
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


class ApprovalError(ValueError):
    """An approval that cannot be made or read; ``str(error)`` says why in one line."""


class Refusal(StrEnum):
    """Why a token was not accepted: the ``reason`` a dispatch gate reports."""

    REQUIRED = "approval-required"  # no token came with the job
    MALFORMED = "approval-malformed"  # not a token this runtime reads
    UNKNOWN_KEY = "approval-unknown-key"  # the approver or its key is not configured
    BAD_SIGNATURE = "approval-bad-signature"  # forged or altered
    EXPIRED = "approval-expired"
    OTHER_JOB = "approval-other-job"  # another job id, topic or env
    JOB_CHANGED = "approval-job-changed"  # the job hash differs: the job was edited
    RULE_CHANGED = "approval-rule-changed"  # the bundle asks for approval by another rule
    STALE = "approval-stale"  # the bundle changed since: ask again
    REUSED = "approval-reused"
    STORE_FULL = "approval-store-full"  # the used-token store cannot record it: refused
    STORE_ERROR = "approval-store-error"  # the used-token store raised: refused


class Binding(NamedTuple):
    """What an approval is bound to: the job's content and the snapshot that held it.

    (A named tuple: ``ApprovalRequest.binding`` builds one from a request's fields.)"""

    job_hash: str
    bundle: str
    rule: str | None
    topic: str
    env: str

    def to_json(self) -> dict[str, Any]:
        return {"job_hash": self.job_hash, "bundle": self.bundle, "rule": self.rule,
                "topic": self.topic, "env": self.env}

    @classmethod
    def from_json(cls, value: object) -> Binding:
        if not isinstance(value, dict) or set(value) != _BINDING_KEYS:
            raise ApprovalError("the binding is not an object of job_hash, bundle, rule, "
                                "topic and env")
        rule = value["rule"]
        fields = [value[k] for k in ("job_hash", "bundle", "topic", "env")]
        if not all(isinstance(f, str) for f in fields) or not (
                rule is None or isinstance(rule, str)):
            raise ApprovalError("the binding's fields are not strings")
        return cls(value["job_hash"], value["bundle"], rule, value["topic"], value["env"])


_BINDING_KEYS = frozenset({"job_hash", "bundle", "rule", "topic", "env"})


class ApprovalRequest(tuple[str, str, str, "str | None", str, str]):
    """What a held job needs approved: sign it with ``sign_approval``.

    ``ApprovalRequest(job_id, binding)``: immutable, one flat tuple of the job id and
    the binding's fields (so that a gate builds it in one step on every hold); equal
    requests are equal tuples. ``binding`` gives those fields as a ``Binding``."""

    __slots__ = ()

    def __new__(cls, job_id: str, binding: Binding) -> ApprovalRequest:
        return tuple.__new__(cls, (job_id, *binding))

    @property
    def job_id(self) -> str:
        return self[0]

    @property
    def binding(self) -> Binding:
        return tuple.__new__(Binding, self[1:])

    def __getnewargs__(self) -> tuple[str, Binding]:
        return self[0], self.binding  # copy and pickle call __new__ with these

    def __repr__(self) -> str:
        return f"ApprovalRequest(job_id={self[0]!r}, binding={self.binding!r})"

    def to_json(self) -> dict[str, Any]:
        return {"job_id": self[0], "binding": self.binding.to_json()}


@dataclass(frozen=True)
class ApprovalToken:
    """A signed approval of one ``ApprovalRequest``; ``encode()`` gives its text form."""

    token_id: str
    job_id: str
    binding: Binding
    approver: str
    key_id: str
    expires: str  # RFC 3339
    signature: bytes

    @property
    def expires_at(self) -> float:
        return parse_timestamp(self.expires, "expires").timestamp()

    def payload(self) -> dict[str, Any]:
        """What the signature covers."""
        return {"v": TOKEN_VERSION, "token_id": self.token_id, "job_id": self.job_id,
                "binding": self.binding.to_json(), "approver": self.approver,
                "key_id": self.key_id, "expires": self.expires}

    def encode(self) -> str:
        """``<base64url payload>.<base64url signature>``, the form a job carries."""
        return f"{_b64(canonical_bytes(self.payload()))}.{_b64(self.signature)}"

    @classmethod
    def decode(cls, text: object) -> ApprovalToken:
        """The token written by ``encode``; raises ``ApprovalError`` for anything else."""
        if not isinstance(text, str) or len(text) > MAX_TOKEN_LENGTH:
            raise ApprovalError("an approval token is a string of at most "
                                f"{MAX_TOKEN_LENGTH} characters")
        parts = text.split(".")
        if len(parts) != 2:
            raise ApprovalError("an approval token is `<payload>.<signature>`")
        try:
            data = _unb64(parts[0])
            payload = json.loads(data.decode("utf-8"))
            signature = _unb64(parts[1])
            canonical = canonical_bytes(payload) == data
        except (ValueError, TypeError, binascii.Error, RecursionError):
            raise ApprovalError("the approval token is not base64url JSON") from None
        if not canonical:
            # One text per token: what was signed can be written in exactly one way.
            raise ApprovalError("the approval token's payload is not in canonical form")
        return cls._from_payload(payload, signature)

    @classmethod
    def _from_payload(cls, payload: object, signature: bytes) -> ApprovalToken:
        keys = {"v", "token_id", "job_id", "binding", "approver", "key_id", "expires"}
        if not isinstance(payload, dict) or set(payload) != keys:
            raise ApprovalError("the approval token's payload has other fields than "
                                "v, token_id, job_id, binding, approver, key_id, expires")
        if payload["v"] != TOKEN_VERSION:
            raise ApprovalError(f"unknown approval token version `{payload['v']}`")
        texts = [payload[k] for k in ("token_id", "job_id", "approver", "key_id", "expires")]
        if not all(isinstance(t, str) and t for t in texts):
            raise ApprovalError("the approval token's fields are not non-empty strings")
        try:
            parse_timestamp(payload["expires"], "expires")
        except BundleError:
            raise ApprovalError("the approval token's expiry is no RFC 3339 timestamp") \
                from None
        return cls(payload["token_id"], payload["job_id"], Binding.from_json(
            payload["binding"]), payload["approver"], payload["key_id"],
            payload["expires"], signature)


def sign_approval(request: ApprovalRequest, *, approver: str, private_key: Any,
                  expires_at: float, token_id: str | None = None) -> ApprovalToken:
    """A token approving ``request``, signed by ``approver``'s key, valid until
    ``expires_at`` (seconds since the epoch). ``private_key`` is an Ed25519 private key
    object, unencrypted PEM bytes or the path of such a file."""
    key = load_private_key(private_key)
    if not approver:
        raise ApprovalError("an approval names its approver")
    expires = datetime.fromtimestamp(expires_at, UTC).isoformat().replace("+00:00", "Z")
    unsigned = ApprovalToken(token_id or uuid.uuid4().hex, request.job_id, request.binding,
                             approver, key_id(key.public_key()), expires, b"")
    return replace(unsigned, signature=key.sign(_message(unsigned)))


def load_private_key(key: Any) -> Ed25519PrivateKey:
    """An Ed25519 private key from a key object, unencrypted PEM bytes or a PEM path."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    if isinstance(key, Ed25519PrivateKey):
        return key
    if isinstance(key, str | os.PathLike):
        try:
            with open(key, "rb") as file:
                key = file.read()
        except OSError as error:
            raise ApprovalError(f"cannot read private key `{key}`: {error.strerror}") \
                from None
    if not isinstance(key, bytes):
        raise ApprovalError("a private key is a key object, PEM bytes or a path to a PEM file")
    try:
        loaded = load_pem_private_key(key, password=None)
    except (ValueError, TypeError):
        raise ApprovalError("the private key is not an unencrypted PEM private key") \
            from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ApprovalError("the private key is not an Ed25519 key")
    return loaded


class ApprovalVerifier:
    """Checks tokens against the configured approvers' public keys and the clock.

    ``approvers`` maps an approver's name to one public key or several (key objects, PEM
    bytes or PEM paths, as ``dualgate.runtime.signatures.load_public_key`` reads them);
    a token is authentic only when signed by a key configured for the approver it names.
    Safe to share between threads.
    """

    def __init__(self, approvers: Mapping[str, Any], *,
                 clock: Callable[[], float] = time.time) -> None:
        self._keys: dict[tuple[str, str], Ed25519PublicKey] = {}
        for name, keys in approvers.items():
            many = keys if isinstance(keys, list | tuple) else (keys,)
            for key in _public_keys(many):
                self._keys[(name, key_id(key))] = key
        self._clock = clock

    def verify(self, token: ApprovalToken | str) -> tuple[ApprovalToken | None, Refusal | None]:
        """The token and None when it is authentic and unexpired, else why not.

        Never raises on token data: a token that cannot be read is ``MALFORMED``.
        """
        from cryptography.exceptions import InvalidSignature

        try:
            parsed = token if isinstance(token, ApprovalToken) else ApprovalToken.decode(token)
            expires_at = parsed.expires_at
            message = _message(parsed)
        except (ApprovalError, BundleError, TypeError, ValueError):
            return None, Refusal.MALFORMED
        key = self._keys.get((parsed.approver, parsed.key_id))
        if key is None:
            return parsed, Refusal.UNKNOWN_KEY
        try:
            key.verify(parsed.signature, message)
        except (InvalidSignature, TypeError, ValueError):
            return parsed, Refusal.BAD_SIGNATURE
        if self._clock() >= expires_at:
            return parsed, Refusal.EXPIRED
        return parsed, None


class Claim(StrEnum):
    """The outcome of claiming a token for a job."""

    CLAIMED = "claimed"
    REUSED = "reused"
    FULL = "full"


class UsedTokens(Protocol):
    """Where a dispatch gate records used tokens. ``claim`` must be atomic: of two
    concurrent claims of the same (job id, token id), exactly one gets ``CLAIMED``."""

    def claim(self, job_id: str, token_id: str, expires_at: float) -> Claim: ...


class MemoryUsedTokens:
    """A bounded in-memory ``UsedTokens`` for one process.

    A token past its expiry is refused by the verifier anyway, so the store forgets
    expired entries to make room; when it is full of unexpired ones it refuses new
    claims (``FULL``: the job stays held) rather than forget a token that could then be
    replayed. Several gate processes need a shared store (a database or Redis behind
    the same interface).
    """

    def __init__(self, capacity: int = 100_000, *,
                 clock: Callable[[], float] = time.time) -> None:
        if capacity < 1:
            raise ValueError("the capacity of a used-token store is at least 1")
        self.capacity = capacity
        self._clock = clock
        self._used: dict[tuple[str, str], float] = {}
        self._expiries: list[tuple[float, tuple[str, str]]] = []
        self._lock = threading.Lock()

    def claim(self, job_id: str, token_id: str, expires_at: float) -> Claim:
        key = (job_id, token_id)
        with self._lock:
            if key in self._used:
                return Claim.REUSED
            if len(self._used) >= self.capacity:
                self._forget_expired(self._clock())
                if len(self._used) >= self.capacity:
                    return Claim.FULL
            self._used[key] = expires_at
            heapq.heappush(self._expiries, (expires_at, key))
            return Claim.CLAIMED

    def __len__(self) -> int:
        return len(self._used)

    def _forget_expired(self, now: float) -> None:
        while self._expiries and self._expiries[0][0] <= now:
            _, key = heapq.heappop(self._expiries)
            del self._used[key]


def _public_keys(keys: Iterable[Any]) -> list[Ed25519PublicKey]:
    try:
        return [load_public_key(key) for key in keys]
    except BundleError as error:
        raise ApprovalError(str(error)) from None


def _message(token: ApprovalToken) -> bytes:
    return _SIGNING_PREFIX + canonical_bytes(token.payload())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if _BASE64URL.fullmatch(text) is None:
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:  # unused bits set: another spelling of the same bytes
        raise ValueError("not canonical base64url")
    return data
