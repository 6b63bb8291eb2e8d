"""Replicas that survive each other: `python app.py` twice, sharing a real `redis-server`.

Any replica serves an image any of them handed out, for as long as images are kept; a Redis
that stops answering costs a short wait, never a hung call; a replica asked for the stream of
an event it does not hold says so in a sentence.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import aiohttp
import httpx
import openai
import pytest

from tests.app_process import EmulatorProcess, RunningApp, emulator_process, running_app
from tests.test_public_server import call
from tests.test_shared_limits import redis_server, redis_url

__all__ = ["redis_server", "redis_url"]  # the fixtures, shared with the limits' tests

NOT_HELD = (
    "The server handling this reply went away, or the reply's id is wrong; send the request again."
)
# The first test to use `replicas` waits for two servers to start: on a busy 2-core machine,
# half a minute each.
TWO_STARTS = pytest.mark.timeout(150)
# Short, so that a test can outwait it.
MAX_AGE = 3


@pytest.fixture(scope="module")
def upstream() -> Iterator[EmulatorProcess]:
    with emulator_process() as running:
        yield running


@pytest.fixture(scope="module")
def replicas(
    redis_url: str, upstream: EmulatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[RunningApp]]:
    settings = {
        "WEBSIM_BASE_URL": upstream.url,
        "WEBSIM_STUDIO_SECRET": "replicas",
        "WEBSIM_STUDIO_REQUESTS_PER_MINUTE": "0",
        "WEBSIM_STUDIO_LIMITS_STORAGE": redis_url,
        "WEBSIM_STUDIO_FILES_MAX_AGE": str(MAX_AGE),
    }
    folder = tmp_path_factory.mktemp("replicas")
    with ExitStack() as stack:
        yield [
            stack.enter_context(running_app([], folder / f"replica-{n}.log", **settings))
            for n in range(2)
        ]


def generate(app: RunningApp, prompt: str) -> str:
    """An image's URL, as /v1 hands it out to the official SDK."""
    client = openai.OpenAI(base_url=app.url + "v1", api_key="-", max_retries=0, timeout=30)
    with client:
        url = client.images.generate(prompt=prompt, model="flux").data[0].url
    assert url is not None
    return url


def fetch(app: RunningApp, url: str) -> httpx.Response:
    """`url`'s path, asked of `app`: what a load balancer sending it there would get."""
    path = httpx.URL(url).raw_path.decode()
    return httpx.get(app.url.rstrip("/") + path, timeout=10, trust_env=False)


@TWO_STARTS
def test_any_replica_serves_an_image_another_handed_out_until_it_ages_out(
    replicas: list[RunningApp],
) -> None:
    first, second = replicas
    url = generate(first, "a lighthouse for two replicas")
    made_at = time.monotonic()

    there, elsewhere = fetch(first, url), fetch(second, url)
    again = fetch(second, url)  # now from the second replica's own disk

    assert there.status_code == elsewhere.status_code == again.status_code == 200
    assert elsewhere.content == there.content == again.content
    assert there.content.startswith(b"\x89PNG")
    for header in ("content-type", "cache-control", "content-length"):
        assert elsewhere.headers[header] == there.headers[header], header
    assert elsewhere.headers["content-type"] == "image/png"

    time.sleep(max(0.0, MAX_AGE + 0.5 - (time.monotonic() - made_at)))
    for replica in replicas:
        gone = fetch(replica, url)
        assert gone.status_code == 404
        assert gone.json()["error"]["message"] == (
            f"This image is no longer kept: images are kept for {MAX_AGE} seconds."
        )
    never = fetch(second, url.rsplit("/", 1)[0] + "/" + "0" * 32 + ".png")
    assert never.status_code == 404
    assert never.json()["error"]["message"] == (
        "No image by that name was made here; check its address."
    )
    for replica in replicas:
        assert "Traceback" not in replica.output()


@TWO_STARTS
def test_a_frozen_redis_costs_a_short_wait_and_each_replica_serves_its_own(
    redis_server: tuple[str, subprocess.Popen[bytes]], replicas: list[RunningApp]
) -> None:
    first, second = replicas
    shared = generate(first, "an image made before Redis froze")
    redis = redis_server[1]
    redis.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        own = generate(first, "an image made while Redis is frozen")
        assert time.monotonic() - started < 3
        started = time.monotonic()
        unreachable = fetch(second, shared)
        assert time.monotonic() - started < 2
        assert fetch(first, own).status_code == 200  # from its own disk
        ready = httpx.get(second.url + "readyz", timeout=5, trust_env=False)
        assert ready.status_code == 200 and ready.json()["images_storage"] == "degraded"
    finally:
        redis.send_signal(signal.SIGCONT)
    assert unreachable.status_code == 503
    assert unreachable.json()["error"]["message"] == (
        "This image cannot be fetched right now; try again in a few seconds."
    )
    warning = "shared image store unavailable"
    assert first.output().count(warning) == 1 and second.output().count(warning) == 1


def test_without_redis_an_image_is_served_by_the_replica_that_made_it(
    upstream: EmulatorProcess, tmp_path: Path
) -> None:
    settings = {"WEBSIM_BASE_URL": upstream.url, "WEBSIM_STUDIO_REQUESTS_PER_MINUTE": "0"}
    with running_app([], tmp_path / "alone.log", **settings) as app:
        url = generate(app, "a lighthouse alone")
        assert fetch(app, url).status_code == 200
        never = fetch(app, url.rsplit("/", 1)[0] + "/" + "1" * 32 + ".png")
        assert never.status_code == 404 and "No image by that name" in never.text


async def test_a_stream_of_an_event_this_replica_never_held_gets_a_sentence(
    upstream: EmulatorProcess, tmp_path: Path
) -> None:
    settings = {"WEBSIM_BASE_URL": upstream.url, "WEBSIM_STUDIO_REQUESTS_PER_MINUTE": "0"}
    with running_app([], tmp_path / "one.log", **settings) as app:
        foreign = "0123456789abcdef0123456789abcdef"
        paths = [
            f"gradio_api/queue/data?session_hash={foreign}",
            f"gradio_api/call/chat/{foreign}",
            f"gradio_api/call/v2/chat/{foreign}",
        ]
        async with aiohttp.ClientSession() as session:
            for path in paths:
                async with session.get(app.url + path) as response:
                    assert response.status == 404, path
                    assert await response.json() == {"detail": NOT_HELD}
        # An event it does hold is streamed as ever.
        assert call(app.url, "chat", ["Hello", [], "gemini-1.5-pro", ""]).startswith(
            "complete: Emulator reply"
        )
        output = app.output()
    assert "Traceback" not in output and "Exception in ASGI application" not in output
    for path in paths:
        assert output.count(f" GET /{path.split('?')[0]} 404 ") == 1, path
