"""The Image tab's and the `/generate_image` API's handlers."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from websim_core import ImageResponse, InvalidRequestError, Progress, WebsimError
from websim_core.validation import validate_aspect_ratio, validate_model, validate_prompt

from ..services.rate_limit import ClientRateLimitError
from ..services.shared import Services
from .calls import Caller, tracked
from .download_names import image_stem
from .failures import capitalised, describe_failure

# Images of one prompt made at once, on the page and in /v1's `n`: each is a request to Websim.
MAX_IMAGES = 4


@dataclass(frozen=True)
class ImageUpdate:
    """One step of a generation: what to say, and once it is done, the images and their caption.

    A failed update is `refused` when nothing was sent: the input, or the caller's share of
    requests, stopped it first.
    """

    status: str
    images: tuple[Path, ...] = ()
    caption: str = ""
    failed: bool = False
    refused: bool = False

    @property
    def image(self) -> Path | None:
        """The first image, once they are made."""
        return self.images[0] if self.images else None


class ImageHandlers:
    """Image generation through the process's shared Websim client."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def generate(
        self, prompt: str, aspect_ratio: str, model: str, caller: Caller, count: int = 1
    ) -> AsyncIterator[ImageUpdate]:
        """Yield progress, then `count` images of the prompt saved on this server, or one failed
        update.

        The `count` are asked for at once and counted as `count` requests, all or none (see
        `api_generate_images`); the progress said is the first one's. Each file is named from
        the prompt and ratio (the second `-2`, and so on), the name a browser gives its
        download.
        """
        sent = False
        ends_at = time.monotonic() + self.services.studio.deadline
        others: list[asyncio.Future[Path]] = []
        try:
            async with tracked(self.services, "image", caller):
                if type(count) is not int or not 1 <= count <= MAX_IMAGES:
                    raise InvalidRequestError("the number of images", f"must be 1 to {MAX_IMAGES}")
                prompt = await self._checked(prompt, aspect_ratio, model, caller, count)
                sent = True
                others = [
                    asyncio.ensure_future(self._made(prompt, aspect_ratio, model, ends_at))
                    for _ in range(count - 1)
                ]
                first: Path | None = None
                async for item in self.services.client.generate_image_stream(
                    prompt,
                    aspect_ratio=aspect_ratio,
                    model=model,
                    deadline=self.services.studio.deadline,
                ):
                    if isinstance(item, Progress):
                        yield ImageUpdate(capitalised(str(item)) + "…")
                    elif isinstance(item, ImageResponse):
                        yield ImageUpdate(
                            "Downloading the image…"
                            if count == 1
                            else f"Downloading the images ({count})…"
                        )
                        time_left = ends_at - time.monotonic()
                        first = await self.services.save_image(item.url, time_left=time_left)
                made = [first, *await asyncio.gather(*others)] if first is not None else []
            if made:
                stem = image_stem(prompt, aspect_ratio)
                kept = tuple(
                    named(image, stem if number == 1 else f"{stem}-{number}")
                    for number, image in enumerate(made, 1)
                )
                yield ImageUpdate(f"Done: {aspect_ratio}, {model}.", kept, prompt)
        except (ClientRateLimitError, WebsimError) as error:
            wording = describe_failure(error, self.services.websim.base_url)
            yield ImageUpdate(wording, failed=True, refused=not sent)
        finally:
            for other in others:
                other.cancel()

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
