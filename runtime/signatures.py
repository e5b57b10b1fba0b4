"""Ed25519 signatures over a bundle's content hash (the ``cryptography`` package).

Imported only when a public key is configured or a bundle is signed, so a runtime that
loads unsigned bundles does not load ``cryptography`` at all.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from typing import TYPE_CHECKING, Any

from dualgate.runtime.bundle_format import (
    CONTENT_HASH_KEY,
    SIGNATURE_KEY,
    signing_message,
)
from dualgate.runtime.errors import BundleError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

def load_public_key(key: Any) -> Ed25519PublicKey:
    """An Ed25519 public key from a key object, PEM bytes, or the path of a PEM file.

    Raises ``BundleError`` when the key cannot be read or is not an Ed25519 public key.
    """
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    if isinstance(key, Ed25519PublicKey):
        return key
    if isinstance(key, str | os.PathLike):
        try:
            with open(key, "rb") as file:
                key = file.read()
        except OSError as error:
            raise BundleError(f"cannot read public key `{key}`: {error.strerror}") from None
    if not isinstance(key, bytes):
        raise BundleError("a public key is a key object, PEM bytes or a path to a PEM file")
    if b"PRIVATE KEY-----" in key:
        raise BundleError("this is a private key: give the public key (the `.pub` file "
                          "`dualgate keygen` writes), and keep the private key secret")
    try:
        loaded = load_pem_public_key(key)
    except (ValueError, TypeError):
        raise BundleError("the public key is not a PEM public key") from None
    if not isinstance(loaded, Ed25519PublicKey):
        raise BundleError("the public key is not an Ed25519 key")
    return loaded


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short, stable name of a public key: the first 16 hex digits of its SHA-256."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def verify_signature(document: dict[str, Any], public_key: Ed25519PublicKey) -> None:
    """Raise ``BundleError`` unless ``document`` carries a valid signature by ``public_key``.

    The content hash must already have been checked against the content.
    """
    from cryptography.exceptions import InvalidSignature

    signature = document.get(SIGNATURE_KEY)
    if signature is None:
        raise BundleError("the bundle is not signed, and a public key is configured")
    if not isinstance(signature, dict) or not isinstance(signature.get("value"), str):
        raise BundleError("the bundle's signature is malformed")
    expected = key_id(public_key)
    if signature.get("key_id") != expected:
        raise BundleError(
            f"the bundle is signed by key `{signature.get('key_id')}`, not by the configured "
            f"key `{expected}`"
        )
    try:
        value = base64.b64decode(signature["value"], validate=True)
        public_key.verify(value, signing_message(document[CONTENT_HASH_KEY]))
    except (InvalidSignature, binascii.Error, ValueError):
        raise BundleError("the bundle's signature does not verify with the configured key") \
            from None
