"""Errors the runtime raises: only for bundles, never for request data."""

from __future__ import annotations


class BundleError(ValueError):
    """A bundle was refused: unreadable, malformed, tampered with, or of an unknown format.

    ``str(error)`` is one lowercase line naming the fault, suitable for logs.
    """
