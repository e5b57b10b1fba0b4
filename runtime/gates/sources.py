"""Where a holder's bundle comes from: a file, or an ``http(s)://`` URL.

A source answers ``fetch(etag)`` with the bundle's bytes, or with ``None`` when it can
tell cheaply that nothing changed (an HTTP ``304 Not Modified`` to ``If-None-Match``).
Whether the bytes are a new bundle is the holder's business (it compares their hash).
Any failure to reach or read the source is a ``SourceError`` with one lowercase line.
"""

from __future__ import annotations

import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, NamedTuple, Protocol

#: The largest bundle a source returns; a bigger answer is refused unread.
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
DEFAULT_TIMEOUT = 10.0


class SourceError(Exception):
    """The source could not be read; ``str(error)`` says why in one line."""


class Fetched(NamedTuple):
    """What a fetch got: the bytes (None: unchanged since ``etag``) and the ETag the
    source gave them (None when it gives none)."""

    data: bytes | None
    etag: str | None


class Source(Protocol):
    """A place bundles are fetched from."""

    @property
    def name(self) -> str: ...

    def fetch(self, etag: str | None) -> Fetched: ...


class FileSource:
    """A bundle file, read whole on every fetch (the holder compares its hash)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)

    @property
    def name(self) -> str:
        return self.path

    def fetch(self, etag: str | None) -> Fetched:
        try:
            with open(self.path, "rb") as file:
                data = file.read(DEFAULT_MAX_BYTES + 1)
        except OSError as error:
            raise SourceError(f"cannot read `{self.path}`: "
                              f"{(error.strerror or str(error)).lower()}") from None
        if len(data) > DEFAULT_MAX_BYTES:
            raise SourceError(f"`{self.path}` holds more than {DEFAULT_MAX_BYTES} bytes")
        return Fetched(data, None)


class SafeRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects, but never from ``https`` to anything else (a downgrade would
    let a network attacker serve the bundle, or read the request's headers), and sends
    the ``sensitive`` headers (the source's own) only to the origin they were given
    for: a redirect to another scheme, host or port goes without them."""

    def __init__(self, sensitive: tuple[str, ...] = ()) -> None:
        # urllib keeps header names capitalized ("Authorization", "X-token").
        self.sensitive = tuple(name.capitalize() for name in sensitive)

    # urllib's signature, positional arguments and all.
    def redirect_request(self, req: urllib.request.Request, fp: Any,  # noqa: PLR0917
                         code: int, msg: str, headers: Any,
                         newurl: str) -> urllib.request.Request | None:
        old, new = urllib.parse.urlsplit(req.full_url), urllib.parse.urlsplit(newurl)
        if old.scheme.lower() == "https" and new.scheme.lower() != "https":
            raise urllib.error.URLError(
                f"refused a redirect from https to `{new.scheme}` (a downgrade)")
        redirected = super().redirect_request(req, fp, code, msg, headers, newurl)
        if redirected is not None and _origin(old) != _origin(new):
            for name in self.sensitive:
                redirected.remove_header(name)
        return redirected


def _origin(url: urllib.parse.SplitResult) -> tuple[str, str | None, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme.lower())
    return url.scheme.lower(), url.hostname, url.port or default


class HttpSource:
    """A bundle served over HTTP(S), fetched with ``If-None-Match`` when an ETag is
    known: ``304`` means unchanged. Redirects are followed, except from https to http
    (refused); ``timeout`` bounds each connect and read; ``headers`` are sent with
    every request (an authorization token, say), and not past a redirect to another
    origin; ``context`` sets TLS (default: the system's CAs, certificates verified)."""

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT,
                 headers: dict[str, str] | None = None,
                 max_bytes: int = DEFAULT_MAX_BYTES,
                 context: ssl.SSLContext | None = None) -> None:
        if not url.lower().startswith(("http://", "https://")):
            raise ValueError(f"`{url}` is no http:// or https:// URL")
        self.url = url
        self.timeout = timeout
        self.context = context
        self.headers = dict(headers or {})
        self.max_bytes = max_bytes
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=context), SafeRedirects(tuple(self.headers)))

    @property
    def name(self) -> str:
        return self.url

    def fetch(self, etag: str | None) -> Fetched:
        headers = {"Accept": "application/json", **self.headers}
        if etag is not None:
            headers["If-None-Match"] = etag
        request = urllib.request.Request(self.url, headers=headers)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                data = response.read(self.max_bytes + 1)
                given = response.headers.get("ETag")
        except urllib.error.HTTPError as error:
            error.close()
            if error.code == 304:
                return Fetched(None, error.headers.get("ETag") or etag)
            raise SourceError(f"`{self.url}` answered {error.code} "
                              f"{str(error.reason).lower()}") from None
        except urllib.error.URLError as error:
            reason = error.reason
            text = reason.strerror if isinstance(reason, OSError) and reason.strerror \
                else str(reason)
            raise SourceError(f"cannot reach `{self.url}`: {text.lower()}") from None
        except (OSError, ValueError) as error:  # timeouts, resets, a malformed answer
            raise SourceError(f"cannot read `{self.url}`: {str(error).lower() or 'failed'}") \
                from None
        if len(data) > self.max_bytes:
            raise SourceError(f"`{self.url}` serves more than {self.max_bytes} bytes")
        return Fetched(data, given)


def open_source(source: str | os.PathLike[str] | Source) -> Source:
    """An ``http://`` or ``https://`` URL as an ``HttpSource``, a path as a
    ``FileSource``; a source object (an ``HttpSource`` with headers, say) as it is."""
    if not isinstance(source, str | os.PathLike):
        return source
    if isinstance(source, str) and source.lower().startswith(("http://", "https://")):
        return HttpSource(source)
    return FileSource(source)
