"""The Image tab's and the `/generate_image` API's handlers."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from websim_core import ImageResponse, Progress, WebsimError
from websim_core.validation import validate_aspect_ratio, validate_model, validate_prompt

from ..services.rate_limit import ClientRateLimitError
from ..services.shared import Services
from .calls import Caller, tracked
from .download_names import image_stem
from .failures import capitalised, describe_failure


@dataclass(frozen=True)
class ImageUpdate:
    """One step of a generation: what to say, and once it is done, the image and its caption.

    A failed update is `refused` when nothing was sent: the input, or the caller's share of
    requests, stopped it first.
    """

    status: str
    image: Path | None = None
    caption: str = ""
    failed: bool = False
    refused: bool = False


class ImageHandlers:
    """Image generation through the process's shared Websim client."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def generate(
        self, prompt: str, aspect_ratio: str, model: str, caller: Caller
    ) -> AsyncIterator[ImageUpdate]:
        """Yield progress, then the image saved on this server, or one failed update.

        The image's file is named from its prompt and ratio, the name a browser gives its
        download.
        """
        sent = False
        ends_at = time.monotonic() + self.services.studio.deadline
        try:
            async with tracked(self.services, "image", caller):
                prompt = await self._checked(prompt, aspect_ratio, model, caller)
                sent = True
                image: Path | None = None
                async for item in self.services.client.generate_image_stream(
                    prompt,
                    aspect_ratio=aspect_ratio,
                    model=model,
                    deadline=self.services.studio.deadline,
                ):
                    if isinstance(item, Progress):
                        yield ImageUpdate(capitalised(str(item)) + "…")
                    elif isinstance(item, ImageResponse):
                        yield ImageUpdate("Downloading the image…")
                        time_left = ends_at - time.monotonic()
                        image = await self.services.save_image(item.url, time_left=time_left)
                        image = named(image, image_stem(prompt, aspect_ratio))
            if image is not None:
                yield ImageUpdate(f"Done: {aspect_ratio}, {model}.", image, prompt)
        except (ClientRateLimitError, WebsimError) as error:
            wording = describe_failure(error, self.services.websim.base_url)
            yield ImageUpdate(wording, failed=True, refused=not sent)

    async def api_generate_image(
        self, prompt: object, aspect_ratio: object, model: object, caller: Caller
    ) -> Path:
        """One image for programs, as a file on this server.

        Raises `WebsimError` when Websim fails or the input is unusable (before anything is
        sent), and `ClientRateLimitError` when the caller is over its share.
        """
        return (await self.api_generate_images(prompt, aspect_ratio, model, caller, 1))[0]

    async def api_generate_images(
        self, prompt: object, aspect_ratio: object, model: object, caller: Caller, count: int
    ) -> list[Path]:
        """`count` images of one prompt, made at once: one call, counted as `count` requests.

        The caller's allowance is spent for all of them before any is asked for, or for none
        (a caller 2 short of `count` gets the refusal, and Websim no request). The first
        failure cancels the others and is raised, as `api_generate_image` raises it.
        """
        async with tracked(self.services, "image", caller):
            ends_at = time.monotonic() + self.services.studio.deadline
            checked = await self._checked(prompt, aspect_ratio, model, caller, count)
            made = [
                asyncio.ensure_future(self._made(checked, str(aspect_ratio), str(model), ends_at))
                for _ in range(count)
            ]
            try:
                return list(await asyncio.gather(*made))
            finally:
                for image in made:
                    image.cancel()

    async def _made(self, prompt: str, aspect_ratio: str, model: str, ends_at: float) -> Path:
        """One image, asked for and downloaded by `ends_at` (on `time.monotonic`'s clock)."""
        response = await self.services.client.generate_image(
            prompt,
            aspect_ratio=aspect_ratio,
            model=model,
            deadline=self.services.studio.deadline,
        )
        return await self.services.save_image(response.url, time_left=ends_at - time.monotonic())

    async def _checked(
        self, prompt: object, aspect_ratio: object, model: object, caller: Caller, count: int = 1
    ) -> str:
        """Validate before anything is sent, then count `count` requests against the caller;
        the prompt as it will be sent."""
        checked = validate_prompt(prompt)
        validate_aspect_ratio(aspect_ratio)
        validate_model(model, "image")
        await self.services.limiter.hit(caller.key, cost=count)
        return checked


def named(kept: Path, stem: str) -> Path:
    """The image at `kept` under the name `stem`, as well as its own.

    A browser saves a served file under the file's name (Gradio's `orig_name`), and `kept` is
    named by its content. So the image gets a folder of its own, named like it by content (so
    nobody finds another's image by guessing), and a hard link named `stem` in it: no second
    copy, and the sweep that ages out `kept` ages out the link with it (they share their times).
    """
    folder = kept.with_suffix("")
    path = folder / (stem + kept.suffix)
    try:
        folder.mkdir(exist_ok=True)
        os.link(kept, path)
    except FileExistsError:
        pass  # the same image asked for with the same words before
    except OSError:
        return kept  # swept meanwhile, or no hard links here: the content's name will do
    return path
