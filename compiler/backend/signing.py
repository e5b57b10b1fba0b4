"""Ed25519 keys and bundle signatures, the signing half (``dualgate keygen``, ``--sign-key``).

Verification lives in ``dualgate.runtime.signatures``; both sign and check the same
``signing_message`` of the content hash, so signing never changes the content.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from dualgate.runtime.bundle_format import (
    CONTENT_HASH_KEY,
    SIGNATURE_ALGORITHM,
    SIGNATURE_KEY,
    signing_message,
)
from dualgate.runtime.signatures import key_id


class SigningKeyError(ValueError):
    """A private key that cannot be used; ``str(error)`` says why."""


@dataclass(frozen=True)
class KeyPair:
    """A new key pair as PEM text: PKCS#8 private key, SubjectPublicKeyInfo public key."""

    private_pem: bytes
    public_pem: bytes
    key_id: str


def generate_key_pair() -> KeyPair:
    """A fresh Ed25519 key pair."""
    private = Ed25519PrivateKey.generate()
    public = private.public_key()
    return KeyPair(
        private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()),
        public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
        key_id(public),
    )


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in the (unencrypted) PEM file at ``path``."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise SigningKeyError(f"cannot read private key `{path}`: {error.strerror}") from None
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as error:
        raise SigningKeyError(f"`{path}` is not an unencrypted PEM private key ({error})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"`{path}` is not an Ed25519 private key")
    return key


def sign_bundle(document: dict[str, Any], private_key: Ed25519PrivateKey) -> dict[str, Any]:
    """``document`` with a signature over its content hash (the content is unchanged)."""
    value = private_key.sign(signing_message(document[CONTENT_HASH_KEY]))
    return {**document, SIGNATURE_KEY: {
        "algorithm": SIGNATURE_ALGORITHM,
        "key_id": key_id(private_key.public_key()),
        "value": base64.b64encode(value).decode("ascii"),
    }}
