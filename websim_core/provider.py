"""`Websim`: the provider interface of the seed (gpt4f style), served by the pooled client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from typing import Any, ClassVar
from weakref import WeakKeyDictionary

from .catalog import (
    CHAT_MODELS,
    CHAT_PATH,
    DEFAULT_ASPECT_RATIO,
    DEFAULT_CHAT_MODEL,
    DEFAULT_IMAGE_MODEL,
    IMAGE_MODELS,
    IMAGE_PATH,
)
from .client import WebsimClient
from .errors import InvalidRequestError
from .ids import generate_project_id
from .replies import ImageResponse
from .settings import Settings
from .validation import Message


class _FromSettings:
    """A class attribute worked out from the environment's settings each time it is read."""

    def __init__(self, compute: Callable[[Settings], str]) -> None:
        self._compute = compute

    def __get__(self, instance: object, owner: type | None = None) -> str:
        return self._compute(Settings.from_env())


class Websim:
    """Chat and image generation through Websim, in the seed's provider shape.

    `create_async_generator` yields the reply text for chat models and one `ImageResponse` for
    image models. Calls share one pooled `WebsimClient` per event loop, configured from the
    environment; it closes when the loop shuts down (`asyncio.run` does this), or on
    `await Websim.close()`.
    """

    url = _FromSettings(lambda settings: settings.base_url)
    login_url: ClassVar[str | None] = None
    chat_api_endpoint = _FromSettings(lambda settings: settings.base_url + CHAT_PATH)
    image_api_endpoint = _FromSettings(lambda settings: settings.base_url + IMAGE_PATH)
    working: ClassVar[bool] = True
    needs_auth: ClassVar[bool] = False
    use_nodriver: ClassVar[bool] = False
    supports_stream: ClassVar[bool] = False
    supports_system_message: ClassVar[bool] = True
    supports_message_history: ClassVar[bool] = True
    default_model: ClassVar[str] = DEFAULT_CHAT_MODEL
    default_image_model: ClassVar[str] = DEFAULT_IMAGE_MODEL
    image_models: ClassVar[list[str]] = list(IMAGE_MODELS)
    models: ClassVar[list[str]] = [*CHAT_MODELS, *IMAGE_MODELS]

    generate_project_id = staticmethod(generate_project_id)

    @classmethod
    async def create_async_generator(
        cls,
        model: str,
        messages: Sequence[Message],
        prompt: str | None = None,
        proxy: str | None = None,
        aspect_ratio: str = DEFAULT_ASPECT_RATIO,
        project_id: str | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[str | ImageResponse]:
        """Yield Websim's answer: reply text for a chat model, an `ImageResponse` for an image one.

        For images an explicit, non-blank `prompt` wins over the last user message. Other
        keyword arguments callers of providers commonly pass (`stream`, `temperature`, ...) are
        accepted and ignored: Websim's API takes none of them.
        """
        client = await _pool.client(proxy)
        model = model or cls.default_model
        if model in cls.image_models:
            image_prompt = prompt if prompt and prompt.strip() else _last_user_text(messages)
            if not image_prompt:
                raise InvalidRequestError(
                    "prompt", "give a prompt, or messages whose last user message has text"
                )
            yield await client.generate_image(
                image_prompt, aspect_ratio=aspect_ratio, model=model, project_id=project_id
            )
        else:
            yield await client.chat(messages, model=model, project_id=project_id)

    @classmethod
    async def close(cls) -> None:
        """Close the pooled clients of the running event loop."""
        await _pool.close()


def _last_user_text(messages: Sequence[Message]) -> str:
    """The text of the last user message; text parts joined when the content is a list."""
    if isinstance(messages, str) or not isinstance(messages, Sequence):
        return ""
    for message in reversed(messages):
        if not isinstance(message, Mapping) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content.strip()
        if isinstance(content, list):
            texts = [part.get("text", "") for part in content if isinstance(part, Mapping)]
            return " ".join(text.strip() for text in texts if isinstance(text, str)).strip()
        return ""
    return ""


_Clients = dict[tuple[object, ...], WebsimClient]


class _ClientPool:
    """One WebsimClient per event loop and settings, so every provider call reuses connections.

    aiohttp sessions belong to the loop they were made on, hence one set per loop. Each set is
    closed by an async generator parked in the loop: loops call `aclose()` on their live async
    generators as they shut down (`loop.shutdown_asyncgens()`), so callers who never close the
    provider still leak no connections.
    """

    def __init__(self) -> None:
        self._by_loop: WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[_Clients, AsyncGenerator[None, None]]
        ] = WeakKeyDictionary()

    async def client(self, proxy: str | None) -> WebsimClient:
        settings = Settings.from_env().with_overrides(proxy=proxy)
        key = (
            settings.base_url,
            settings.proxy,
            settings.timeout,
            settings.max_retries,
            tuple(sorted(settings.extra_headers.items())),
            settings.project_id,
        )
        clients = await self._clients_of_running_loop()
        client = clients.get(key)
        if client is None or client.closed:
            client = clients[key] = WebsimClient(settings=settings)
        return client

    async def close(self) -> None:
        entry = self._by_loop.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            await entry[1].aclose()

    async def _clients_of_running_loop(self) -> _Clients:
        loop = asyncio.get_running_loop()
        entry = self._by_loop.get(loop)
        if entry is None:
            clients: _Clients = {}
            closer = _close_at_shutdown(clients)
            await anext(closer)  # parks it in the loop's set of live async generators
            entry = self._by_loop[loop] = (clients, closer)
        return entry[0]


async def _close_at_shutdown(clients: _Clients) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        for client in clients.values():
            await client.close()
        clients.clear()


_pool = _ClientPool()
