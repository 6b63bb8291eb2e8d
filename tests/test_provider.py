"""The seed's `Websim` provider, served by the pooled client, against the emulator."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import warnings
from collections.abc import AsyncIterator
from typing import Any

import pytest

from websim_core import ImageResponse, InvalidRequestError, Websim, WebsimClient
from websim_core.emulator import Emulator
from websim_core.provider import _pool

from .conftest import HELLO


@pytest.fixture
async def websim(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Emulator]:
    """The provider pointed at the emulator, its pooled clients closed after the test."""
    monkeypatch.setenv("WEBSIM_BASE_URL", emulator.base_url)
    yield emulator
    await Websim.close()


async def collect(**kwargs: Any) -> list[Any]:
    return [result async for result in Websim.create_async_generator(**kwargs)]


def test_the_seeds_attributes() -> None:
    assert Websim.url == "https://websim.ai"
    assert Websim.login_url is None
    assert Websim.chat_api_endpoint == "https://websim.ai/api/v1/inference/run_chat_completion"
    assert Websim.image_api_endpoint == "https://websim.ai/api/v1/inference/run_image_generation"
    assert Websim.working is True
    assert Websim.needs_auth is False
    assert Websim.use_nodriver is False
    assert Websim.supports_stream is False
    assert Websim.supports_system_message is True
    assert Websim.supports_message_history is True
    assert Websim.default_model == "gemini-1.5-pro"
    assert Websim.default_image_model == "flux"
    assert Websim.image_models == ["flux"]
    assert Websim.models == ["gemini-1.5-pro", "gemini-1.5-flash", "flux"]
    assert len(Websim.generate_project_id()) == 19
    assert len(Websim.generate_project_id(for_image=True)) == 20
    assert Websim().url == "https://websim.ai"  # on instances too


async def test_chat_models_yield_the_reply_text(websim: Emulator) -> None:
    assert await collect(model="gemini-1.5-flash", messages=HELLO) == [
        "Emulator reply to 1 message. You said: Hello"
    ]


async def test_image_models_yield_one_image_response(websim: Emulator) -> None:
    messages = [{"role": "user", "content": "a red fox"}]
    [image] = await collect(model="flux", messages=messages, aspect_ratio="16:9")
    assert isinstance(image, ImageResponse)
    assert image.prompt == "a red fox" and image.aspect_ratio == "16:9"
    assert websim.requests[0].body["prompt"] == "a red fox"


async def test_an_explicit_prompt_wins_over_the_last_user_message(websim: Emulator) -> None:
    messages = [
        {"role": "user", "content": "first idea"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "second idea"}]},
    ]
    [from_messages] = await collect(model="flux", messages=messages)
    [from_prompt] = await collect(model="flux", messages=messages, prompt="a blue whale")
    assert from_messages.prompt == "second idea"
    assert from_prompt.prompt == "a blue whale"


async def test_a_blank_prompt_falls_back_to_the_messages(websim: Emulator) -> None:
    [image] = await collect(model="flux", messages=[*HELLO], prompt="   ")
    assert image.prompt == "Hello"


async def test_an_image_model_with_nothing_to_draw_names_the_prompt(websim: Emulator) -> None:
    with pytest.raises(InvalidRequestError, match=r"^prompt: give a prompt"):
        await collect(model="flux", messages=[{"role": "system", "content": "x"}])
    assert websim.requests == []


async def test_project_id_and_unknown_keywords(websim: Emulator) -> None:
    await collect(model="", messages=HELLO, project_id="ke3_xh5gai3gjkmruomu", temperature=0.2)
    assert websim.requests[0].body["project_id"] == "ke3_xh5gai3gjkmruomu"


async def test_unknown_models_are_refused(websim: Emulator) -> None:
    with pytest.raises(InvalidRequestError, match=r"^model: "):
        await collect(model="gpt-4o", messages=HELLO)


async def test_calls_share_one_pooled_client_and_connection(websim: Emulator) -> None:
    for _ in range(3):
        await collect(model="gemini-1.5-pro", messages=HELLO)
    await collect(model="flux", messages=HELLO)
    assert websim.connections == 1


async def test_a_proxy_gets_a_client_of_its_own(websim: Emulator) -> None:
    direct = await _pool.client(None)
    proxied = await _pool.client("http://127.0.0.1:3128")
    assert direct is await _pool.client(None)
    assert proxied is not direct
    assert proxied.settings.proxy == "http://127.0.0.1:3128"


def test_the_pool_closes_itself_when_asyncio_run_ends() -> None:
    """A seed-style caller never closes the provider; no session may leak all the same."""
    clients: list[WebsimClient] = []

    async def main() -> None:
        async with Emulator() as emulator:
            os.environ["WEBSIM_BASE_URL"] = emulator.base_url
            try:
                async for reply in Websim.create_async_generator("gemini-1.5-pro", HELLO):
                    assert reply
                clients.append(await _pool.client(None))
            finally:
                del os.environ["WEBSIM_BASE_URL"]

    def run() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("error", ResourceWarning)
            asyncio.run(main())
            gc.collect()

    # A thread of its own: asyncio.run needs a thread with no running loop.
    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=10)
    [client] = clients
    assert client.closed
    assert client._session is None
