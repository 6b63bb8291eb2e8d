"""`Websim` as a gpt4free provider: `g4f.client.AsyncClient(provider=Websim)` chats and draws.

`websim_core.Websim` has the seed's shape without depending on g4f; this subclass is also a real
`AsyncGeneratorProvider` and `ProviderModelMixin`, so g4f's clients, API server and retry
providers take it like any of their own. It runs on the same pooled client per event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

try:
    from g4f import errors as g4f_errors  # type: ignore[import-untyped]
    from g4f.providers.base_provider import (  # type: ignore[import-untyped]
        AsyncGeneratorProvider,
        ProviderModelMixin,
    )
    from g4f.providers.response import (  # type: ignore[import-untyped]
        ImageResponse as G4fImageResponse,
    )
except ImportError as missing:
    raise ImportError(
        "websim_core.g4f needs gpt4free (g4f), which is not installed: "
        "pip install 'websim-studio[g4f]'"
    ) from missing

from .catalog import DEFAULT_ASPECT_RATIO
from .errors import InvalidRequestError, RateLimitError, UpstreamError, WebsimError
from .provider import Websim as _CoreWebsim
from .replies import ImageResponse
from .validation import Message

__all__ = ["Websim"]


# The core class comes first so that its attributes (the seed's `url`, `models`,
# `supports_stream = False`, ...) win over g4f's defaults for them (`url = None`, `models = []`).
class Websim(_CoreWebsim, AsyncGeneratorProvider, ProviderModelMixin):  # type: ignore[misc]
    """Chat and image generation through Websim, as a gpt4free provider.

    `create_async_generator` yields the reply text for chat models and one g4f `ImageResponse`
    for image models; errors are websim_core's, and also g4f's own where g4f acts on the type.
    """

    @classmethod
    async def create_async_generator(
        cls,
        model: str | None,
        messages: Sequence[Message],
        prompt: str | None = None,
        proxy: str | None = None,
        aspect_ratio: str = DEFAULT_ASPECT_RATIO,
        project_id: str | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[str | Any]:
        """Yield Websim's answer: the reply text for a chat model, a g4f `ImageResponse` for an
        image one.

        The model is resolved by g4f's rules (`get_model`: none or "auto" is the default; else
        the model named, or the first whose name ends with the one given). g4f's
        `images.generate` passes the prompt and no model unless told one, so a call with a
        prompt and no model draws with the default image model. Other keyword arguments g4f
        passes (`stream`, `api_key`, `timeout`, ...) are accepted and ignored.
        """
        if not model and prompt:
            model = cls.default_image_model
        try:
            async for result in super().create_async_generator(
                cls.get_model(model),
                messages,
                prompt=prompt,
                proxy=proxy,
                aspect_ratio=aspect_ratio,
                project_id=project_id,
                **kwargs,
            ):
                if isinstance(result, ImageResponse):
                    yield G4fImageResponse(result.images, result.alt)
                else:
                    yield result
        except WebsimError as error:
            # Reclassed in place: websim_core's errors take keyword arguments a copy would not
            # get back, and the traceback stays the original's.
            error.__class__ = _with_g4f_class(error)
            raise


def _with_g4f_class(error: WebsimError) -> type[WebsimError]:
    """The error's class, joined with the g4f error class g4f's code acts on, when there is one.

    g4f looks at error types in a few places: its API server answers `RateLimitError` with 429,
    `MissingAuthError` with 401 and `ModelNotFoundError` with 404 (anything else is a 500), and
    its retry providers do not count `MissingAuthError` against a provider's health. The joined
    class keeps the websim_core class, its attributes and message, so `except` clauses written
    for either library catch it.
    """
    g4f_class = _g4f_class_for(error)
    if g4f_class is None or isinstance(error, g4f_class):
        return type(error)
    return _joined(type(error), g4f_class)


def _g4f_class_for(error: WebsimError) -> type[Exception] | None:
    if isinstance(error, InvalidRequestError):
        return _G4F_MODEL_NOT_FOUND if error.field == "model" else None
    if not isinstance(error, UpstreamError):
        return None  # connection, timeout and reply-format errors have no g4f counterpart
    if isinstance(error, RateLimitError) or error.status == 429:
        return _G4F_RATE_LIMITED
    if error.status in (401, 403):
        # Websim refusing this caller wants a cookie or another host (WEBSIM_EXTRA_HEADERS).
        return _G4F_MISSING_AUTH
    if error.status == 400:
        return _G4F_BAD_REQUEST
    return _G4F_STATUS_ERROR


_G4F_MODEL_NOT_FOUND: type[Exception] = g4f_errors.ModelNotFoundError
_G4F_RATE_LIMITED: type[Exception] = g4f_errors.RateLimitError
_G4F_MISSING_AUTH: type[Exception] = g4f_errors.MissingAuthError
_G4F_BAD_REQUEST: type[Exception] = g4f_errors.BadRequestError
_G4F_STATUS_ERROR: type[Exception] = g4f_errors.ResponseStatusError


def _joined(websim_class: type[WebsimError], g4f_class: type[Exception]) -> type[WebsimError]:
    joined = _JOINED.get((websim_class, g4f_class))
    if joined is None:
        namespace = {"__module__": __name__, "__doc__": websim_class.__doc__}
        joined = _JOINED[websim_class, g4f_class] = type(
            websim_class.__name__, (websim_class, g4f_class), namespace
        )
    return joined


_JOINED: dict[tuple[type[WebsimError], type[Exception]], type[WebsimError]] = {}
