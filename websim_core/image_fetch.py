"""ImageFetcher: download the image behind a Websim image URL, refusing to be turned on our network.

A web app that re-serves Websim's images fetches a URL that came from outside. Unchecked, a URL
such as ``http://169.254.169.254/`` would make the app read its own cloud metadata (SSRF). So
every hop is checked twice: its host, when an IP literal (aiohttp never resolves those), and
every address DNS gives for a name, in the resolver the connection is made from.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from .client import describe_client_error
from .errors import (
    InvalidRequestError,
    ResponseFormatError,
    UpstreamError,
    WebsimConnectionError,
    WebsimTimeoutError,
)

_MIB = 1024 * 1024
_CHUNK_BYTES = 64 * 1024
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# The images fetched, by media type, and the extension each is kept under: all of them types a
# browser shows. image/svg+xml is left out on purpose: served from the app's own origin, an SVG
# can run script.
EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "image/avif": ".avif",
    "image/bmp": ".bmp",
}


@dataclass(frozen=True)
class FetchedImage:
    """An image downloaded from Websim: its bytes, media type and the URL it came from."""

    data: bytes
    content_type: str
    url: str

    @property
    def extension(self) -> str:
        """The file extension for `content_type`, such as ".png"; "" for a type not fetched."""
        return EXTENSIONS.get(self.content_type, "")


def is_local_url(url: str) -> bool:
    """True when the URL's host is a localhost name or an IP literal that is not public.

    No DNS lookup is made: a name other than localhost counts as not local.
    """
    try:
        host = URL(url).host
    except ValueError:
        return False
    if host is None:
        return False
    host = host.rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    address = _ip_literal(host)
    return address is not None and not _is_public(address)


class RefusedAddressError(OSError):
    """Raised by `PublicAddressResolver`; `fetch` re-raises it as `InvalidRequestError`."""


class PublicAddressResolver(AbstractResolver):
    """A resolver that drops every non-public address, so a connection can only go to a vetted one.

    Checking a name once and connecting later leaves a DNS-rebinding gap; here the checked
    addresses are the only ones the connector ever sees. Refusal raises `OSError`, as aiohttp
    expects of a resolver.
    """

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner if inner is not None else aiohttp.DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        public = [result for result in results if _is_public(ipaddress.ip_address(result["host"]))]
        if not public:
            raise RefusedAddressError(
                f"refused: {host} resolves only to loopback, private or other non-public addresses"
            )
        return public

    async def close(self) -> None:
        await self._inner.close()


class ImageFetcher:
    """Downloads images over one pooled aiohttp session; `async with` it or `await close()`.

    `allow_private` lifts the address checks, for an emulator or a Websim on your own network.
    """

    def __init__(
        self,
        *,
        allow_private: bool = False,
        max_bytes: int = 20 * _MIB,
        timeout: float = 30.0,
        max_redirects: int = 3,
        ssl: ssl.SSLContext | bool = True,
    ) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        if not timeout > 0:
            raise ValueError("timeout must be more than 0 seconds")
        if max_redirects < 0:
            raise ValueError("max_redirects must be 0 or more")
        self.allow_private = allow_private
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.max_redirects = max_redirects
        self._ssl = ssl
        self._session: aiohttp.ClientSession | None = None
        self._resolver: AbstractResolver | None = None
        self._closed = False

    @classmethod
    def for_base_url(cls, base_url: str, **kwargs: Any) -> ImageFetcher:
        """A fetcher for the Websim at `base_url`: private addresses allowed only if it is local."""
        return cls(allow_private=is_local_url(base_url), **kwargs)

    async def __aenter__(self) -> ImageFetcher:
        self._open_session()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        """Whether `close()` has been called; a closed fetcher fetches nothing more."""
        return self._closed

    async def close(self) -> None:
        """Close the session, its connections and resolver. Calling it again does nothing."""
        self._closed = True
        session, self._session = self._session, None
        resolver, self._resolver = self._resolver, None
        if session is not None:
            await session.close()
        if resolver is not None:  # the connector closes only a resolver it made itself
            await resolver.close()

    def _open_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("this ImageFetcher is closed")
        if self._session is None:
            self._resolver = None if self.allow_private else PublicAddressResolver()
            connector = aiohttp.TCPConnector(resolver=self._resolver, ssl=self._ssl)
            self._session = aiohttp.ClientSession(
                connector=connector,
                # Image hosts have no business setting cookies that ride along to the next user.
                cookie_jar=aiohttp.DummyCookieJar(),
                # A proxy from the environment would connect on our behalf, past the resolver.
                trust_env=False,
                timeout=aiohttp.ClientTimeout(total=None),
            )
        return self._session

    async def fetch(self, url: str, *, time_left: float | None = None) -> FetchedImage:
        """Download the image at `url`, following up to `max_redirects` redirects.

        `time_left`, what is left of the caller's own deadline, cuts the download short of
        `timeout`: the image is part of the call the caller is waiting on.
        """
        target = self._checked_url(url)
        session = self._open_session()
        limit = self.timeout if time_left is None else max(0.0, min(self.timeout, time_left))
        try:
            # One deadline for the whole download, every redirect included.
            async with asyncio.timeout(limit):
                for hop in range(self.max_redirects + 1):
                    async with session.get(
                        target, allow_redirects=False, headers={"Accept": "image/*"}
                    ) as response:
                        if response.status not in _REDIRECT_STATUSES:
                            return await _read_image(response, self.max_bytes)
                        if hop == self.max_redirects:
                            raise UpstreamError(
                                f"{target.host} redirected more than {self.max_redirects} times",
                                status=response.status,
                            )
                        target = self._checked_url(_redirect_target(response))
        except TimeoutError:
            within = f"{self.timeout:g} s" if limit == self.timeout else "the call's deadline"
            raise WebsimTimeoutError(
                f"the image at {target.host} did not arrive within {within}"
            ) from None
        except aiohttp.InvalidURL:
            raise InvalidRequestError("url", f"{str(target)[:80]} is not a valid URL") from None
        except aiohttp.ClientError as error:
            if isinstance(error, aiohttp.ClientConnectorError) and isinstance(
                error.os_error, RefusedAddressError
            ):
                raise InvalidRequestError("url", str(error.os_error)) from None
            raise WebsimConnectionError(describe_client_error(error, str(target))) from None
        raise AssertionError("unreachable: the last hop returns or raises")

    def _checked_url(self, url: str) -> URL:
        """`url` parsed, if it is http(s) with a host that is public or allowed."""
        try:
            parsed = URL(url)
        except (TypeError, ValueError):
            raise InvalidRequestError("url", f"{url!r:.80} is not a valid URL") from None
        if parsed.scheme not in ("http", "https"):
            scheme = f"{parsed.scheme}:" if parsed.scheme else "no scheme"
            raise InvalidRequestError("url", f"must be an http or https URL, not {scheme}")
        if not parsed.host:
            raise InvalidRequestError("url", f"{url[:80]} has no host")
        address = _ip_literal(parsed.host)
        if not self.allow_private and address is not None and not _is_public(address):
            raise InvalidRequestError(
                "url", f"refused: {parsed.host} is a loopback, private or other non-public address"
            )
        return parsed


def _redirect_target(response: aiohttp.ClientResponse) -> str:
    location = response.headers.get("Location")
    if not location:
        raise UpstreamError(
            f"{response.url.host} answered {response.status} without a Location",
            status=response.status,
        )
    try:
        return str(response.url.join(URL(location)))
    except ValueError:
        raise UpstreamError(
            f"{response.url.host} redirected to an invalid URL: {location[:80]!r}",
            status=response.status,
        ) from None


async def _read_image(response: aiohttp.ClientResponse, max_bytes: int) -> FetchedImage:
    host = response.url.host
    if not 200 <= response.status < 300:
        message = f"the image at {host} answered {response.status} {response.reason or ''}"
        raise UpstreamError(message.rstrip(), status=response.status, detail=response.reason or "")
    if response.content_type not in EXTENSIONS:
        raise ResponseFormatError(f"expected an image from {host}, got {response.content_type}")
    too_large = f"image larger than {_describe_size(max_bytes)}"
    if (response.content_length or 0) > max_bytes:
        raise ResponseFormatError(f"{too_large}: {host} sends {response.content_length:,} bytes")
    data = bytearray()
    async for chunk in response.content.iter_chunked(_CHUNK_BYTES):
        data += chunk
        if len(data) > max_bytes:
            raise ResponseFormatError(too_large)
    sniffed = _sniff(data)
    if sniffed is None:
        raise ResponseFormatError(
            f"the body labelled {response.content_type} from {host} is not an image"
        )
    # The bytes, not the label, decide the type: a browser told the wrong one may refuse it.
    return FetchedImage(bytes(data), sniffed, str(response.url))


def _sniff(data: bytes | bytearray) -> str | None:
    """The image type the leading bytes announce, or None if they are no image we accept."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:12] in (b"ftypavif", b"ftypavis"):
        return "image/avif"
    if data.startswith(b"BM"):
        return "image/bmp"
    return None


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        # The kernel sends ::ffff:a.b.c.d to a.b.c.d, and 6to4 carries an IPv4 address too.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return _is_public(embedded)
        if address.is_site_local:
            return False
    # is_global alone lets multicast through (224.0.0.0/4 and ff0e::/16 count as global).
    return address.is_global and not (address.is_multicast or address.is_reserved)


def _describe_size(size: int) -> str:
    return f"{size / _MIB:g} MiB" if size >= _MIB else f"{size:,} bytes"
