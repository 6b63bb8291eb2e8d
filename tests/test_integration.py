"""WebsimClient against the emulator over real loopback sockets."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
import trustme

from websim_core import (
    AttemptRecord,
    ImageResponse,
    Progress,
    RateLimitError,
    ResponseFormatError,
    RetryPolicy,
    UpstreamError,
    WebsimClient,
    WebsimConnectionError,
    WebsimError,
    WebsimTimeoutError,
)
from websim_core.catalog import aspect_ratio_size
from websim_core.emulator import Emulator, Fault

from .conftest import HELLO


async def test_chat_round_trip_strips_the_padded_reply(emulator: Emulator) -> None:
    async with WebsimClient(emulator.base_url) as client:
        reply = await client.chat([{"role": "system", "content": "Be brief."}, *HELLO])
    assert reply == "Emulator reply to 2 messages. You said: Hello"
    [request] = emulator.requests
    assert request.kind == "chat"
    assert request.headers["websim-flags"] == ""
    assert request.headers["content-type"] == "text/plain;charset=UTF-8"
    assert request.body["messages"][1] == HELLO[0]


async def test_image_parts_reach_the_emulator_unchanged(emulator: Emulator) -> None:
    parts = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
    async with WebsimClient(emulator.base_url) as client:
        reply = await client.chat([{"role": "user", "content": parts}])
    assert "What is this?" in reply and "1 image" in reply
    assert emulator.requests[0].body["messages"][0]["content"] == parts


@pytest.mark.parametrize("ratio", ["1:1", "16:9", "9:21", "4:5"])
async def test_generated_image_has_the_requested_ratio(emulator: Emulator, ratio: str) -> None:
    async with WebsimClient(emulator.base_url) as client:
        image = await client.generate_image("a lighthouse at dusk", aspect_ratio=ratio)
        assert isinstance(image, ImageResponse)
        assert image.url.startswith(emulator.base_url + "/images/")
        async with aiohttp.ClientSession() as session, session.get(image.url) as response:
            png = await response.read()
    width = int.from_bytes(png[16:20], "big")
    height = int.from_bytes(png[20:24], "big")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert (width, height) == aspect_ratio_size(ratio, 512)


async def test_sequential_calls_reuse_one_keep_alive_connection(emulator: Emulator) -> None:
    async with WebsimClient(emulator.base_url) as client:
        for _ in range(5):
            await client.chat(HELLO)
        await client.generate_image("a fox")
    assert len(emulator.requests) == 6
    assert emulator.connections == 1


async def test_a_hundred_concurrent_calls_run_in_parallel() -> None:
    latency = 0.5
    async with Emulator(latency=latency) as emulator, WebsimClient(emulator.base_url) as client:
        started = time.perf_counter()
        replies = await asyncio.gather(
            *(client.chat([{"role": "user", "content": f"call {n}"}]) for n in range(100))
        )
        elapsed = time.perf_counter() - started
    assert replies == [f"Emulator reply to 1 message. You said: call {n}" for n in range(100)]
    # One after another these would take 50 s; in parallel, about one latency.
    assert elapsed < latency * 4, elapsed
    assert emulator.connections == 100


async def test_the_pool_size_bounds_open_connections() -> None:
    async with (
        Emulator(latency=0.05) as emulator,
        WebsimClient(emulator.base_url, pool_size=10) as client,
    ):
        await asyncio.gather(*(client.chat(HELLO) for _ in range(50)))
    assert emulator.connections == 10


async def test_the_timeout_fires_on_time(emulator: Emulator) -> None:
    emulator.script("chat", Fault.hang(30))
    async with WebsimClient(emulator.base_url, timeout=0.3, max_retries=0) as client:
        started = time.perf_counter()
        with pytest.raises(WebsimTimeoutError, match=r"^Websim did not answer within 0\.3 s$"):
            await client.chat(HELLO)
        elapsed = time.perf_counter() - started
    assert 0.29 <= elapsed < 0.8, elapsed


async def test_a_timed_out_attempt_is_retried(
    emulator: Emulator, fast_retries: RetryPolicy
) -> None:
    emulator.script("chat", Fault.hang(30), Fault.hang(30))
    async with WebsimClient(emulator.base_url, timeout=0.2, retry_policy=fast_retries) as client:
        assert await client.chat(HELLO) == "Emulator reply to 1 message. You said: Hello"
    assert len(emulator.requests) == 3


async def test_the_deadline_stops_the_call_across_retries(emulator: Emulator) -> None:
    emulator.script("chat", *[Fault.hang(30)] * 4)
    async with WebsimClient(emulator.base_url, timeout=10) as client:
        started = time.perf_counter()
        with pytest.raises(WebsimTimeoutError) as caught:
            await client.chat(HELLO, deadline=0.6)
        elapsed = time.perf_counter() - started
    assert 0.55 <= elapsed < 1.2, elapsed
    # The deadline the caller gave, not whatever fraction of it the last attempt had left.
    assert str(caught.value) == "Websim did not answer within the 0.6 s deadline"


async def test_each_attempt_is_timed_for_metrics(
    emulator: Emulator, fast_retries: RetryPolicy
) -> None:
    emulator.script("chat", Fault.status(503), Fault.hang(0.2))
    seen: list[AttemptRecord] = []
    async with WebsimClient(
        emulator.base_url, retry_policy=fast_retries, on_attempt=seen.append
    ) as client:
        await client.chat(HELLO)
    assert [(r.attempt, r.outcome, r.status) for r in seen] == [
        (1, "http_error", 503),
        (2, "ok", 200),
    ]
    assert seen[0].seconds < 0.2 <= seen[1].seconds < 1


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_an_unreachable_host_is_a_websim_error(fast_retries: RetryPolicy) -> None:
    port = _closed_port()
    async with WebsimClient(f"http://127.0.0.1:{port}", retry_policy=fast_retries) as client:
        with pytest.raises(WebsimConnectionError) as caught:
            await client.chat(HELLO)
    assert isinstance(caught.value, WebsimError)
    message = str(caught.value)
    assert message.startswith(f"could not connect to 127.0.0.1:{port}: connection refused")
    assert message.endswith(" (after 4 attempts)")


async def test_rate_limit_with_retry_after_is_waited_out(emulator: Emulator) -> None:
    emulator.script("chat", Fault.status(429, retry_after_ms="150"))
    seen: list[Progress] = []
    async with WebsimClient(emulator.base_url) as client:
        started = time.perf_counter()
        await client.chat(HELLO, on_progress=seen.append)
        elapsed = time.perf_counter() - started
    assert elapsed >= 0.15
    assert str(seen[1]) == "rate limited (429), retrying in 0.1 s (attempt 2 of 4)"
    assert seen[1].delay == 0.15


async def test_rate_limit_without_retry_after_backs_off(
    emulator: Emulator, fast_retries: RetryPolicy
) -> None:
    emulator.script("image", *[Fault.status(429, message="Slow down")] * 4)
    async with WebsimClient(emulator.base_url, retry_policy=fast_retries) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.generate_image("a fox")
    assert str(caught.value) == (
        "Websim answered 429 Too Many Requests: Slow down (after 4 attempts)"
    )
    assert len(emulator.requests) == 4


async def test_a_cloudflare_page_is_summarised(emulator: Emulator) -> None:
    emulator.script("chat", Fault.html(403))
    async with WebsimClient(emulator.base_url) as client:
        with pytest.raises(UpstreamError) as caught:
            await client.chat(HELLO)
    assert str(caught.value) == (
        'Websim answered 403 Forbidden: a Cloudflare challenge page ("Just a moment...")'
    )
    assert len(emulator.requests) == 1


async def test_server_errors_then_success(emulator: Emulator, fast_retries: RetryPolicy) -> None:
    emulator.script("chat", Fault.html(502, "websim.ai | 502: Bad gateway"), Fault.status(503))
    async with WebsimClient(emulator.base_url, retry_policy=fast_retries) as client:
        assert await client.chat(HELLO)
    assert len(emulator.requests) == 3


async def test_a_dropped_connection_is_retried(
    emulator: Emulator, fast_retries: RetryPolicy
) -> None:
    emulator.script("image", Fault.disconnect())
    async with WebsimClient(emulator.base_url, retry_policy=fast_retries) as client:
        assert (await client.generate_image("a fox")).url
    assert len(emulator.requests) == 2


@pytest.mark.parametrize(
    ("kind", "fault", "words"),
    [
        ("image", Fault.missing_field(), "no image `url`"),
        ("chat", Fault.missing_field(), "no text `content`"),
        ("image", Fault.malformed_json(), "not JSON"),
        ("chat", Fault.malformed_json(), "^Websim's chat reply was cut off or garbled"),
    ],
)
async def test_replies_breaking_the_contract(
    emulator: Emulator, kind: str, fault: Fault, words: str
) -> None:
    emulator.script(kind, fault)  # type: ignore[arg-type]
    async with WebsimClient(emulator.base_url) as client:
        with pytest.raises(ResponseFormatError, match=words):
            if kind == "chat":
                await client.chat(HELLO)
            else:
                await client.generate_image("a fox")


async def test_random_faults_are_absorbed_by_retries(fast_retries: RetryPolicy) -> None:
    async with (
        Emulator(fault_rate=0.3, seed=7) as emulator,
        WebsimClient(emulator.base_url, retry_policy=fast_retries) as client,
    ):
        results = await asyncio.gather(
            *(client.chat(HELLO) for _ in range(40)), return_exceptions=True
        )
    failures = [result for result in results if isinstance(result, BaseException)]
    assert len(emulator.requests) > 40  # some calls needed retries
    # 0.3**4 per call: with this seed every call gets through within four attempts.
    assert failures == []


@pytest.fixture(scope="module")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def tls_emulator(certificate_authority: trustme.CA) -> AsyncIterator[Emulator]:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate_authority.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    async with Emulator(ssl_context=server_context) as emulator:
        yield emulator


async def test_tls_with_a_trusted_ca(
    tls_emulator: Emulator, certificate_authority: trustme.CA
) -> None:
    client_context = ssl.create_default_context()
    certificate_authority.configure_trust(client_context)
    async with WebsimClient(tls_emulator.base_url, ssl=client_context) as client:
        for _ in range(3):
            await client.chat(HELLO)
    assert tls_emulator.base_url.startswith("https://")
    assert tls_emulator.connections == 1


async def test_tls_with_an_untrusted_certificate_is_refused(
    tls_emulator: Emulator, fast_retries: RetryPolicy
) -> None:
    async with WebsimClient(tls_emulator.base_url, retry_policy=fast_retries) as client:
        with pytest.raises(WebsimConnectionError, match="TLS certificate is not trusted"):
            await client.chat(HELLO)
    assert tls_emulator.requests == []
