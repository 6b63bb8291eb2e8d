"""The Image tab's handlers: progress, the image saved on this server, refusals and failures."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from PIL import Image

from studio.services.config import StudioSettings
from studio.services.shared import Services
from studio.turns.calls import Caller
from studio.turns.failures import describe_failure
from studio.turns.images import ImageHandlers, ImageUpdate
from tests.conftest import IMAGE_URL, MockedWebsim
from websim_core import InvalidRequestError, Settings, WebsimTimeoutError
from websim_core.catalog import IMAGE_PATH
from websim_core.emulator import Emulator, Fault


@pytest.fixture
async def services(emulator: Emulator) -> AsyncIterator[Services]:
    running = Services(Settings(base_url=emulator.base_url), StudioSettings(requests_per_minute=0))
    yield running
    await running.close()


async def generate(
    handlers: ImageHandlers, prompt: str, aspect_ratio: str = "1:1", model: str = "flux"
) -> list[ImageUpdate]:
    return [
        update async for update in handlers.generate(prompt, aspect_ratio, model, Caller("tab-1"))
    ]


async def test_generate_reports_progress_then_the_image_in_its_ratio(services: Services) -> None:
    updates = await generate(ImageHandlers(services), "  a lighthouse at dawn ", "16:9")

    assert updates[0].status == "Waiting for Websim…"
    done = updates[-1]
    assert not done.failed and done.caption == "a lighthouse at dawn"
    assert done.image is not None and done.image.suffix == ".png"
    with Image.open(done.image) as image:
        width, height = image.size
    assert width * 9 == height * 16


async def test_the_image_file_is_named_from_its_prompt_and_ratio(services: Services) -> None:
    first = await generate(ImageHandlers(services), "A lighthouse on a cliff!", "16:9")
    again = await generate(ImageHandlers(services), "A lighthouse on a cliff!", "16:9")

    image = first[-1].image
    assert image is not None and image.name == "websim-a-lighthouse-on-a-cliff-16x9.png"
    # A folder of its own, named by the content like the image kept under its content's name.
    kept = image.parent.with_suffix(".png")
    assert kept.parent == services.files.images
    assert kept.read_bytes() == image.read_bytes()
    assert kept.stat().st_ino == image.stat().st_ino  # a link, not a second copy
    assert again[-1].image == image


async def test_retries_show_in_the_status(
    services: Services, emulator: Emulator, waits: list[float]
) -> None:
    emulator.script("image", Fault.status(503, retry_after="2"))

    statuses = [update.status for update in await generate(ImageHandlers(services), "a cat")]

    assert "Websim answered 503, retrying in 2 s (attempt 2 of 4)…" in statuses
    assert statuses[-1] == "Done: 1:1, flux."


async def test_a_blank_prompt_or_unknown_ratio_fails_before_sending(
    services: Services, emulator: Emulator
) -> None:
    handlers = ImageHandlers(services)

    blank = await generate(handlers, "   ")
    odd_ratio = await generate(handlers, "a cat", "7:3")

    assert [(update.failed, update.refused) for update in blank] == [(True, True)]
    assert "prompt" in blank[0].status
    assert "aspect_ratio must be one of 1:1, 16:9" in odd_ratio[0].status
    assert emulator.requests == []


async def test_an_upstream_error_is_one_sentence(services: Services, emulator: Emulator) -> None:
    emulator.script("image", Fault.status(400, message="prompt was flagged"))

    updates = await generate(ImageHandlers(services), "a cat")

    assert updates[-1].failed and not updates[-1].refused  # it was sent
    assert updates[-1].status == "Websim answered 400 Bad Request: prompt was flagged."


async def test_the_session_rate_limit_applies_to_images(emulator: Emulator) -> None:
    services = Services(Settings(base_url=emulator.base_url), StudioSettings(requests_per_minute=1))
    try:
        handlers = ImageHandlers(services)
        await generate(handlers, "one")
        second = await generate(handlers, "two")
    finally:
        await services.close()

    assert second[-1].failed and "try again in 60 seconds" in second[-1].status
    assert second[-1].refused
    assert len(emulator.requests) == 1


async def test_the_api_returns_a_file_on_this_server(services: Services) -> None:
    path = await ImageHandlers(services).api_generate_image(
        "a cat", "9:16", "flux", Caller("client-1")
    )

    with Image.open(path) as image:
        width, height = image.size
    assert width * 16 == height * 9


async def test_the_api_raises_on_bad_input(services: Services) -> None:
    with pytest.raises(InvalidRequestError, match="model: must be one of flux for image"):
        await ImageHandlers(services).api_generate_image(
            "a cat", "1:1", "gpt-4o", Caller("client-1")
        )


@pytest.mark.parametrize(
    ("url", "refusal"),
    [
        ("http://127.0.0.1:8080/latest/meta-data.png", "Websim's image URL was refused: "),
        ("http://169.254.169.254/latest/meta-data/", "Websim's image URL was refused: "),
        ("http://[::1]/x.png", "Websim's image URL was refused: "),
        ("javascript:alert(1)", "Websim's image reply had a URL that is not http(s)"),
        ("data:image/png;base64,AAAA", "Websim's image URL was refused: must be an http or"),
    ],
)
async def test_a_public_websim_cannot_send_the_server_to_private_or_odd_urls(
    mocked: MockedWebsim, url: str, refusal: str
) -> None:
    mocked.post(IMAGE_URL, payload={"url": url})
    services = Services(Settings(base_url="https://websim.ai"), StudioSettings())
    try:
        updates = await generate(ImageHandlers(services), "a cat")
    finally:
        await services.close()

    assert updates[-1].failed and updates[-1].image is None
    assert updates[-1].status.startswith(refusal)


async def test_an_image_that_stalls_after_websim_answers_still_ends_by_the_deadline(
    tmp_path: Path,
) -> None:
    """Websim answers after 1 s with the URL of an image that never arrives: the call ends at
    its 2 s deadline, not after the download's own timeout, and says which setting to raise."""
    stalled, released = asyncio.Event(), asyncio.Event()

    async def answer(request: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.json_response({"url": f"http://{request.host}/stalled.png"})

    async def stall(request: web.Request) -> web.Response:
        stalled.set()
        await released.wait()
        return web.Response(body=b"", content_type="image/png")

    websim = web.Application()
    websim.router.add_post(IMAGE_PATH, answer)
    websim.router.add_get("/stalled.png", stall)
    runner = web.AppRunner(websim)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    services = Services(
        Settings(base_url=f"http://127.0.0.1:{port}", timeout=30),
        StudioSettings(deadline=2, requests_per_minute=0),
        files_root=tmp_path,
    )
    started = time.monotonic()
    try:
        with pytest.raises(WebsimTimeoutError) as failure:
            await ImageHandlers(services).api_generate_image(
                "a fox", "1:1", "flux", Caller("script")
            )
        took = time.monotonic() - started
    finally:
        released.set()
        await services.close()
        await runner.cleanup()
    assert stalled.is_set()
    assert 1.9 < took < 2.6, f"{took:.2f} s"
    assert "did not arrive within the call's deadline" in str(failure.value)
    assert describe_failure(failure.value, "http://websim").endswith(" Try again.")


# -- several at once ----------------------------------------------------------------------------


async def count_of(
    handlers: ImageHandlers, count: object, caller: str = "tab-1"
) -> list[ImageUpdate]:
    updates = handlers.generate("a red fox", "4:3", "flux", Caller(caller), count)  # type: ignore[arg-type]
    return [update async for update in updates]


async def test_several_images_come_at_once_each_named_and_in_its_ratio(
    services: Services, emulator: Emulator
) -> None:
    updates = await count_of(ImageHandlers(services), 4)

    done = updates[-1]
    assert not done.failed and done.caption == "a red fox"
    assert len(emulator.requests) == 4
    assert [image.name for image in done.images] == [
        "websim-a-red-fox-4x3.png",
        "websim-a-red-fox-4x3-2.png",
        "websim-a-red-fox-4x3-3.png",
        "websim-a-red-fox-4x3-4.png",
    ]
    for path in done.images:
        with Image.open(path) as image:
            width, height = image.size
        assert width * 3 == height * 4
        assert services.files.kept_name(path) is not None  # served from the kept images' route


async def test_several_images_are_counted_all_or_none(emulator: Emulator) -> None:
    services = Services(Settings(base_url=emulator.base_url), StudioSettings(requests_per_minute=4))
    try:
        handlers = ImageHandlers(services)
        await count_of(handlers, 2)  # two left
        refused = await count_of(handlers, 4)
        sent_after_refusal = len(emulator.requests)
        two = await count_of(handlers, 2)  # exactly what is left
        none_left = await count_of(handlers, 1)
    finally:
        await services.close()

    assert [(update.failed, update.refused) for update in refused] == [(True, True)]
    assert "try again in" in refused[0].status
    assert sent_after_refusal == 2  # nothing of the four was sent
    assert not two[-1].failed and len(two[-1].images) == 2
    assert none_left[-1].refused
    assert len(emulator.requests) == 4


async def test_one_failure_among_several_fails_them_all_in_one_sentence(
    services: Services, emulator: Emulator
) -> None:
    emulator.script("image", Fault.status(400, message="prompt was flagged"))

    updates = await count_of(ImageHandlers(services), 3)

    assert updates[-1].failed and not updates[-1].refused and updates[-1].images == ()
    assert updates[-1].status == "Websim answered 400 Bad Request: prompt was flagged."


@pytest.mark.parametrize("count", [0, 5, 100, "4", True, None])
async def test_a_number_of_images_out_of_range_is_refused_before_sending(
    services: Services, emulator: Emulator, count: object
) -> None:
    updates = await count_of(ImageHandlers(services), count)

    assert [(update.failed, update.refused) for update in updates] == [(True, True)]
    assert updates[0].status == "That request cannot be sent: the number of images must be 1 to 4."
    assert emulator.requests == []
