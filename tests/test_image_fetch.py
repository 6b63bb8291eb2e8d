"""ImageFetcher over real loopback sockets: what it downloads, and every way it refuses."""

from __future__ import annotations

import asyncio
import io
import ipaddress
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from websim_core import (
    InvalidRequestError,
    ResponseFormatError,
    UpstreamError,
    WebsimClient,
    WebsimConnectionError,
    WebsimTimeoutError,
    image_fetch,
)
from websim_core.catalog import aspect_ratio_size
from websim_core.emulator import Emulator
from websim_core.emulator.images import render_png
from websim_core.image_fetch import (
    FetchedImage,
    ImageFetcher,
    PublicAddressResolver,
    RefusedAddressError,
    is_local_url,
)

PNG = render_png(4, 3, "test")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class ImageHost:
    """A loopback web server that records the path of every request it receives."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.handlers: dict[str, Handler] = {}
        self.port = 0
        self._runner: web.AppRunner | None = None

    def serve(
        self, path: str, body: bytes = PNG, content_type: str = "image/png", **kw: Any
    ) -> None:
        async def answer(request: web.Request) -> web.StreamResponse:
            return web.Response(body=body, content_type=content_type, **kw)

        self.handlers[path] = answer

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        # handler_cancellation: a handler left waiting by a client that gave up must not linger.
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.paths.append(request.path)
        handler = self.handlers.get(request.path)
        if handler is None:
            return web.Response(status=404, text="<html><h1>Not here</h1></html>")
        return await handler(request)


class FakeDNS(AbstractResolver):
    """Answers lookups from a table, so tests choose what a name resolves to without DNS."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.closed = False

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in self.table[host]
        ]

    async def close(self) -> None:
        self.closed = True


@pytest.fixture
async def image_host() -> AsyncIterator[ImageHost]:
    host = ImageHost()
    host.serve("/image.png")
    await host.start()
    yield host
    await host.stop()


@pytest.fixture
async def fetcher() -> AsyncIterator[ImageFetcher]:
    """A fetcher allowed to reach loopback, for tests about what happens after connecting."""
    async with ImageFetcher(allow_private=True) as opened:
        yield opened


@pytest.fixture
async def strict() -> AsyncIterator[ImageFetcher]:
    """A fetcher with the default address checks."""
    async with ImageFetcher() as opened:
        yield opened


@pytest.fixture
def loopback_is_public(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Treat 127.0.0.1 alone as public, and resolve *.test names with FakeDNS.

    The only server a test can run is on loopback, so this is how a strict fetcher gets a first
    hop that is allowed; everything else about the checks stays real.
    """
    real_is_public = image_fetch._is_public
    dns = FakeDNS({"images.test": ["127.0.0.1"], "rebound.test": ["127.0.0.2", "10.0.0.1"]})

    def is_public(address: IPAddress) -> bool:
        return address == ipaddress.ip_address("127.0.0.1") or real_is_public(address)

    monkeypatch.setattr(image_fetch, "_is_public", is_public)
    monkeypatch.setattr(image_fetch, "PublicAddressResolver", lambda: PublicAddressResolver(dns))
    yield


# -- what it downloads ---------------------------------------------------------------------------


async def test_fetches_an_emulator_image_at_its_promised_size(emulator: Emulator) -> None:
    async with WebsimClient(emulator.base_url) as client:
        reply = await client.generate_image("a red fox", aspect_ratio="16:9")
    async with ImageFetcher.for_base_url(emulator.base_url) as fetcher:
        assert fetcher.allow_private
        image = await fetcher.fetch(reply.url)
    assert (image.content_type, image.extension, image.url) == ("image/png", ".png", reply.url)
    with Image.open(io.BytesIO(image.data)) as decoded:
        assert decoded.format == "PNG"
        assert decoded.size == aspect_ratio_size("16:9", emulator.image_long_side)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_loopback_urls_load_when_private_addresses_are_allowed(
    image_host: ImageHost, fetcher: ImageFetcher, host: str
) -> None:
    # The counterpart of the refusals below: the same URLs do reach the server when allowed.
    image = await fetcher.fetch(image_host.url("/image.png", host))
    assert image.data == PNG
    assert image_host.paths == ["/image.png"]


async def test_the_bytes_decide_the_content_type(
    image_host: ImageHost, fetcher: ImageFetcher
) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (2, 2)).save(buffer, format="JPEG")
    image_host.serve("/photo", body=buffer.getvalue(), content_type="image/png")
    image = await fetcher.fetch(image_host.url("/photo"))
    assert (image.content_type, image.extension) == ("image/jpeg", ".jpg")


@pytest.mark.parametrize(
    ("content_type", "extension"),
    [
        ("image/png", ".png"),
        ("image/jpeg", ".jpg"),
        ("image/webp", ".webp"),
        ("image/gif", ".gif"),
        ("image/avif", ".avif"),
        ("text/plain", ""),
    ],
)
def test_extension_follows_the_content_type(content_type: str, extension: str) -> None:
    assert FetchedImage(b"", content_type, "https://x.test/a").extension == extension


# -- refused destinations ------------------------------------------------------------------------


async def test_a_fetcher_for_websim_refuses_loopback(image_host: ImageHost) -> None:
    async with ImageFetcher.for_base_url("https://websim.ai") as fetcher:
        assert not fetcher.allow_private
        with pytest.raises(InvalidRequestError, match="refused"):
            await fetcher.fetch(image_host.url("/image.png"))
    assert image_host.paths == []


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "100.64.0.1",
        "169.254.169.254",
        "0.0.0.0",
        "224.0.0.1",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:169.254.169.254]",
        "[fe80::1]",
        "[fc00::1]",
        "[::]",
    ],
)
async def test_non_public_ip_literals_are_refused_before_connecting(
    image_host: ImageHost, strict: ImageFetcher, host: str
) -> None:
    with pytest.raises(InvalidRequestError, match="refused") as caught:
        await strict.fetch(image_host.url("/image.png", host))
    assert caught.value.field == "url"
    assert image_host.paths == []


async def test_localhost_is_refused_by_the_resolver(
    image_host: ImageHost, strict: ImageFetcher
) -> None:
    with pytest.raises(InvalidRequestError, match="localhost resolves only to") as caught:
        await strict.fetch(image_host.url("/image.png", "localhost"))
    assert caught.value.field == "url"
    assert image_host.paths == []


async def test_the_resolver_keeps_only_public_addresses() -> None:
    dns = FakeDNS(
        {"mixed.test": ["127.0.0.1", "93.184.216.34", "10.1.2.3", "::ffff:169.254.169.254"]}
        | {"v6.test": ["fe80::1", "2606:4700::1111"]}
    )
    resolver = PublicAddressResolver(dns)
    assert [r["host"] for r in await resolver.resolve("mixed.test", 443)] == ["93.184.216.34"]
    assert [r["host"] for r in await resolver.resolve("v6.test", 443)] == ["2606:4700::1111"]
    await resolver.close()
    assert dns.closed


async def test_the_resolver_refuses_a_name_with_only_private_addresses() -> None:
    resolver = PublicAddressResolver(FakeDNS({"intranet.test": ["10.0.0.5", "fd00::5"]}))
    # An OSError is what aiohttp's connector expects a failed lookup to raise.
    with pytest.raises(RefusedAddressError, match=r"intranet\.test resolves only to"):
        await resolver.resolve("intranet.test", 80)
    assert issubclass(RefusedAddressError, OSError)


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.2:{port}/image.png",
        "http://rebound.test:{port}/image.png",
        "file:///etc/passwd",
    ],
)
@pytest.mark.usefixtures("loopback_is_public")
async def test_every_redirect_hop_is_checked_again(image_host: ImageHost, location: str) -> None:
    image_host.serve(
        "/hop", status=302, headers={"Location": location.format(port=image_host.port)}
    )
    async with ImageFetcher() as fetcher:
        with pytest.raises(InvalidRequestError, match=r"refused|must be an http"):
            await fetcher.fetch(image_host.url("/hop", "images.test"))
    assert image_host.paths == ["/hop"]


@pytest.mark.usefixtures("loopback_is_public")
async def test_a_redirect_to_an_allowed_host_is_followed(image_host: ImageHost) -> None:
    # Proves the refusals above come from the redirect target, not from the first hop.
    image_host.serve("/hop", status=302, headers={"Location": "/image.png"})
    async with ImageFetcher() as fetcher:
        image = await fetcher.fetch(image_host.url("/hop", "images.test"))
    assert image.data == PNG
    assert image.url == image_host.url("/image.png", "images.test")
    assert image_host.paths == ["/hop", "/image.png"]


async def test_redirects_are_followed_up_to_the_cap(image_host: ImageHost) -> None:
    for hop in range(1, 6):
        image_host.serve(f"/r{hop}", status=307, headers={"Location": f"/r{hop - 1}"})
    image_host.serve("/r0")
    async with ImageFetcher(allow_private=True, max_redirects=3) as fetcher:
        assert (await fetcher.fetch(image_host.url("/r3"))).data == PNG
        image_host.paths.clear()
        with pytest.raises(UpstreamError, match="redirected more than 3 times") as caught:
            await fetcher.fetch(image_host.url("/r4"))
    assert caught.value.status == 307
    assert image_host.paths == ["/r4", "/r3", "/r2", "/r1"]


async def test_a_redirect_without_location_is_an_upstream_error(
    image_host: ImageHost, fetcher: ImageFetcher
) -> None:
    image_host.serve("/moved", status=301)
    with pytest.raises(UpstreamError, match="301 without a Location"):
        await fetcher.fetch(image_host.url("/moved"))


@pytest.mark.parametrize(
    "url",
    [
        "data:image/png;base64,iVBORw0KGgo=",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "ftp://example.com/a.png",
        "http:///a.png",
        "//example.com/a.png",
        "",
    ],
)
async def test_only_http_urls_with_a_host_are_fetched(fetcher: ImageFetcher, url: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await fetcher.fetch(url)
    assert caught.value.field == "url"


# -- what comes back -----------------------------------------------------------------------------


async def test_a_declared_size_over_the_cap_is_refused_before_reading(
    image_host: ImageHost,
) -> None:
    image_host.serve("/big", body=PNG + bytes(1024 * 1024))
    async with ImageFetcher(allow_private=True, max_bytes=1024 * 1024) as fetcher:
        with pytest.raises(ResponseFormatError, match=r"image larger than 1 MiB: .* sends 1,0"):
            await fetcher.fetch(image_host.url("/big"))


async def test_a_streamed_body_is_cut_off_at_the_cap(image_host: ImageHost) -> None:
    chunk, total = bytes(64 * 1024), 256 * 1024 * 1024
    sent = 0
    finished = asyncio.Event()

    async def endless(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        response.enable_chunked_encoding()  # no Content-Length to refuse early
        await response.prepare(request)
        try:
            await response.write(PNG)
            while sent < total:
                await response.write(chunk)
                sent += len(chunk)
        except (ConnectionError, asyncio.CancelledError):
            pass  # the fetcher hung up, as it should
        finally:
            finished.set()
        return response

    image_host.handlers["/endless"] = endless
    async with ImageFetcher(allow_private=True, max_bytes=100_000) as fetcher:
        with pytest.raises(ResponseFormatError, match="image larger than 100,000 bytes"):
            await fetcher.fetch(image_host.url("/endless"))
    await asyncio.wait_for(finished.wait(), 5)
    assert sent < total // 4  # socket buffers hold a few MiB at most; the rest was never sent


@pytest.mark.parametrize("content_type", ["text/html", "image/svg+xml", "application/json"])
async def test_a_non_image_content_type_is_refused(
    image_host: ImageHost, fetcher: ImageFetcher, content_type: str
) -> None:
    image_host.serve("/thing", content_type=content_type)
    with pytest.raises(ResponseFormatError, match=re.escape(f"got {content_type}")):
        await fetcher.fetch(image_host.url("/thing"))


async def test_html_labelled_as_an_image_is_refused(
    image_host: ImageHost, fetcher: ImageFetcher
) -> None:
    image_host.serve("/fake.png", body=b"<!doctype html><title>Login</title>")
    with pytest.raises(
        ResponseFormatError, match=r"labelled image/png from 127\.0\.0\.1 is not an image"
    ):
        await fetcher.fetch(image_host.url("/fake.png"))


async def test_a_missing_image_is_an_upstream_error_without_the_page(
    image_host: ImageHost, fetcher: ImageFetcher
) -> None:
    with pytest.raises(UpstreamError) as caught:
        await fetcher.fetch(image_host.url("/gone.png"))
    assert caught.value.status == 404
    assert "404 Not Found" in str(caught.value)
    assert "<" not in str(caught.value)


async def test_a_closed_port_is_a_connection_error(fetcher: ImageFetcher) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(WebsimConnectionError, match="connection refused"):
        await fetcher.fetch(f"http://127.0.0.1:{port}/image.png")


async def test_a_server_that_never_answers_times_out(image_host: ImageHost) -> None:
    async def hang(request: web.Request) -> web.StreamResponse:
        await asyncio.Event().wait()
        raise AssertionError("unreachable: cancelled when the fetcher hangs up")

    image_host.handlers["/slow"] = hang
    async with ImageFetcher(allow_private=True, timeout=0.1) as fetcher:
        with pytest.raises(WebsimTimeoutError, match=r"did not arrive within 0.1 s"):
            await fetcher.fetch(image_host.url("/slow"))


async def test_a_closed_fetcher_fetches_nothing(image_host: ImageHost) -> None:
    fetcher = ImageFetcher(allow_private=True)
    await fetcher.fetch(image_host.url("/image.png"))
    await fetcher.close()
    await fetcher.close()
    assert fetcher.closed
    with pytest.raises(RuntimeError, match="closed"):
        await fetcher.fetch(image_host.url("/image.png"))


# -- is_local_url --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:8765", True),
        ("http://localhost:7860/", True),
        ("http://LOCALHOST", True),
        ("http://app.localhost/", True),
        ("http://192.168.1.20:7860", True),
        ("http://[::1]:8000", True),
        ("http://[::ffff:10.0.0.1]/", True),
        ("https://websim.ai", False),
        ("https://8.8.8.8/", False),
        ("http://[2606:4700::1111]/", False),
        ("http://localhost.example.com/", False),
        ("not a url", False),
        ("", False),
    ],
)
def test_is_local_url(url: str, local: bool) -> None:
    assert is_local_url(url) is local


NON_PUBLIC_NETWORKS = [
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "100.64.0.0/10",
    "224.0.0.0/4",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
]


def _url(address: IPAddress) -> str:
    return f"http://[{address}]/" if address.version == 6 else f"http://{address}/"


@given(st.sampled_from(NON_PUBLIC_NETWORKS).flatmap(lambda net: st.ip_addresses(network=net)))
def test_every_non_public_address_is_local(address: IPAddress) -> None:
    assert is_local_url(_url(address))
    if address.version == 4:
        assert is_local_url(_url(ipaddress.IPv6Address(f"::ffff:{address}")))


@given(
    st.sampled_from(["8.0.0.0/8", "93.184.0.0/16", "2606:4700::/32"]).flatmap(
        lambda net: st.ip_addresses(network=net)
    )
)
def test_public_addresses_are_not_local(address: IPAddress) -> None:
    assert not is_local_url(_url(address))
