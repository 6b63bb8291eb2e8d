"""The Image tab's and the `/generate_image` API's handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from websim_core import ImageResponse, Progress, WebsimError
from websim_core.validation import validate_aspect_ratio, validate_model, validate_prompt

from .failures import capitalised, describe_failure
from .rate_limit import SessionRateLimitError
from .services import Services


@dataclass(frozen=True)
class ImageUpdate:
    """One step of a generation: what to say, and once it is done, the image and its caption."""

    status: str
    image: Path | None = None
    caption: str = ""
    failed: bool = False


class ImageHandlers:
    """Image generation through the process's shared Websim client."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def generate(
        self, prompt: str, aspect_ratio: str, model: str, session: str
    ) -> AsyncIterator[ImageUpdate]:
        """Yield progress, then the image saved on this server, or one failed update."""
        try:
            await self._checked(prompt, aspect_ratio, model, session)
            image: Path | None = None
            prompt = prompt.strip()
            async for item in self.services.client.generate_image_stream(
                prompt, aspect_ratio=aspect_ratio, model=model
            ):
                if isinstance(item, Progress):
                    yield ImageUpdate(capitalised(str(item)) + "…")
                elif isinstance(item, ImageResponse):
                    yield ImageUpdate("Downloading the image…")
                    image = await self.services.save_image(item.url)
            if image is not None:
                yield ImageUpdate(f"Done: {aspect_ratio}, {model}.", image, prompt)
        except (SessionRateLimitError, WebsimError) as error:
            yield ImageUpdate(describe_failure(error, self.services.websim.base_url), failed=True)

    async def api_generate_image(
        self, prompt: str, aspect_ratio: str, model: str, session: str
    ) -> Path:
        """One image for programs, as a file on this server.

        Raises `WebsimError` when Websim fails or the input is unusable (before anything is
        sent), and `SessionRateLimitError` when this session is over its share.
        """
        await self._checked(prompt, aspect_ratio, model, session)
        response = await self.services.client.generate_image(
            prompt.strip(), aspect_ratio=aspect_ratio, model=model
        )
        return await self.services.save_image(response.url)

    async def _checked(self, prompt: str, aspect_ratio: str, model: str, session: str) -> None:
        """Validate before anything is sent, then count the request against the session."""
        validate_prompt(prompt)
        validate_aspect_ratio(aspect_ratio)
        validate_model(model, "image")
        self.services.limiter.check(session)
