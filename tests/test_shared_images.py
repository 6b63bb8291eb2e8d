"""Kept images shared through a real `redis-server`: capped per image and in all, oldest out
first, and a Redis that does not answer costs a short wait, said once."""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import pytest

from studio.openai.routes import image_refusal
from studio.services.files import name_of
from studio.services.shared_images import Seen, SharedImage, SharedImages
from tests.test_shared_limits import redis_server, redis_url

__all__ = ["redis_server", "redis_url"]  # the fixtures, shared with the limits' tests


def image(number: int, size: int = 1000) -> tuple[str, bytes]:
    data = bytes([number]) * size
    return name_of(data, ".png"), data


async def test_the_oldest_images_go_first_past_the_cap_and_big_ones_stay_local(
    redis_url: str,
) -> None:
    store = SharedImages(redis_url, max_age=60, max_image_bytes=1500, max_bytes=2500)
    try:
        images = [image(number) for number in range(3)]
        before = time.time()
        for name, data in images:
            await store.keep(name, data)
        big_name, big = image(9, 2000)
        await store.keep(big_name, big)

        oldest, *kept = [await store.find(name) for name, _ in images]
        assert oldest is Seen.REMOVED  # pushed out by the third, made all the same
        assert [found.data for found in kept if isinstance(found, SharedImage)] == [
            data for _, data in images[1:]
        ]
        assert all(isinstance(f, SharedImage) and f.kept_at >= before for f in kept)
        assert await store.find(big_name) is Seen.UNKNOWN  # over the cap for one image
        assert await store.find(name_of(b"never", ".png")) is Seen.UNKNOWN
    finally:
        await store.close()


async def test_an_image_past_its_age_is_removed_but_remembered(redis_url: str) -> None:
    store = SharedImages(redis_url, max_age=0.3, max_image_bytes=10_000, max_bytes=10_000)
    try:
        name, data = image(42)
        await store.keep(name, data)
        assert isinstance(await store.find(name), SharedImage)
        await asyncio.sleep(0.5)
        assert await store.find(name) is Seen.REMOVED
    finally:
        await store.close()


async def test_a_redis_that_does_not_answer_costs_half_a_second_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}"
        store = SharedImages(url, max_age=60, max_image_bytes=10_000, max_bytes=10_000)
        try:
            name, data = image(7)
            with caplog.at_level(logging.WARNING, "websim_studio.files"):
                started = time.monotonic()
                await store.keep(name, data)
                assert time.monotonic() - started < 1.0
                assert store.degraded
                started = time.monotonic()
                assert await store.find(name) is Seen.UNREACHABLE  # not tried again yet
                assert time.monotonic() - started < 0.1
        finally:
            await store.close()
    warnings = [r for r in caplog.records if "shared image store unavailable" in r.message]
    assert len(warnings) == 1


@pytest.mark.parametrize(
    ("seen", "max_age", "status", "message"),
    [
        (Seen.REMOVED, 21600, 404, "This image is no longer kept: images are kept for 6 hours."),
        (Seen.REMOVED, 1800, 404, "This image is no longer kept: images are kept for 30 minutes."),
        (Seen.REMOVED, 1, 404, "This image is no longer kept: images are kept for 1 second."),
        (Seen.UNKNOWN, 60, 404, "No image by that name was made here; check its address."),
        (
            Seen.UNREACHABLE,
            60,
            503,
            "This image cannot be fetched right now; try again in a few seconds.",
        ),
    ],
)
def test_an_address_without_its_image_says_why(
    seen: Seen, max_age: float, status: int, message: str
) -> None:
    refusal = image_refusal(seen, max_age)
    assert (refusal.status, refusal.message) == (status, message)
